"""Leases that die with their process: a lock held for as long as a piece of work runs, released by the operating
system or the database the moment the process holding it ends, however it ends (SIGKILL, OOM, a lost host).

Heartbeats tell a silent worker from a busy one only after a timeout; a lease answers at once. Whoever finds a
lease free while the work it guards still looks "running" knows its holder is gone.

- PostgreSQL: a session advisory lock on a connection of the lease's own. The server frees it when the session
  ends, so it works across hosts.
- SQLite: an exclusive ``flock`` on a file next to the database; the kernel frees it when the process dies. All
  processes that share an SQLite file share its host, so that is enough.

Advisory locks are scoped to their database, and the lock files are named after theirs, so names may repeat
across databases.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, Error, connections


class Lease:
    """A held lease; ``release()`` (or leaving the ``with`` block) gives it up. Releasing twice is harmless."""

    def __init__(self, name: str, release):
        self.name, self._release = name, release

    def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _key(name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(f"mg-lease:{name}".encode()).digest()[:8], "big", signed=True)


def _lock_dir(database: str) -> Path:
    if database and database != ":memory:" and not database.startswith("file:"):
        return Path(database).resolve().parent / "leases"
    return Path(tempfile.gettempdir()) / "mg-leases"


def _hold_postgresql(name: str, using: str) -> Lease | None:
    base = connections[using]
    conn = type(base)(dict(base.settings_dict), alias=f"{using}-lease")
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_key(name)])
            held = cursor.fetchone()[0]
    except Exception:
        conn.close()
        raise
    if not held:
        conn.close()
        return None

    def release() -> None:
        # Unlocked in the session before it closes: a closed session's backend frees its locks only when it has
        # exited, a moment later, and a holder taking the lease again at once would find it still held.
        try:
            with contextlib.suppress(Error), conn.cursor() as cursor:  # a session gone took its locks along
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_key(name)])
        finally:
            conn.close()

    return Lease(name, release)  # a killed holder's session ends, and the lock with it


def _hold_sqlite(name: str, using: str) -> Lease | None:
    database = str(connections[using].settings_dict["NAME"])
    folder = _lock_dir(database)
    folder.mkdir(parents=True, exist_ok=True)
    # the database's path is part of the file name: ids repeat across databases kept in one folder
    digest = hashlib.sha256(f"{Path(database).resolve()}\0{name}".encode()).hexdigest()[:32]
    fd = os.open(folder / f"{digest}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None

    def release() -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    return Lease(name, release)


def hold(name: str, *, using: str = DEFAULT_DB_ALIAS) -> Lease | None:
    """Take the lease ``name`` without waiting: a :class:`Lease`, or None when a living process holds it."""
    if connections[using].vendor == "postgresql":
        return _hold_postgresql(name, using)
    return _hold_sqlite(name, using)


def holder_gone(name: str, *, using: str = DEFAULT_DB_ALIAS) -> bool:
    """True when nobody holds the lease (its holder, if there was one, has ended). Takes and frees it at once."""
    lease = hold(name, using=using)
    if lease is None:
        return False
    lease.release()
    return True
