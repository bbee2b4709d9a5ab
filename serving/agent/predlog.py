"""The 100% prediction log (no Django: this runs on the serving hosts).

Every answered prediction is one JSON line: time, request id, deployment, version, role, client, latency, the
inputs (personal-data columns masked before they touch disk) and the outputs. The line is written to the open
segment with one ``write`` call *before* the answer leaves, so a process killed with SIGKILL loses nothing it
answered (the kernel holds the bytes); a thread ``fdatasync``s the segment every second, so a power loss costs at
most the last second.

Segments rotate by size or age: the closed segment is compressed (Zstandard, level 1: some 380 MB/s of a core,
smaller than gzip's level 6 at a seventeenth of its cost), its sha256 and record count are queued
for the control plane, and the raw file goes. A segment left uncompressed by a crash is compressed at the next
start, so nothing written is ever dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import zstandard

_encode = msgspec.json.Encoder().encode
RAW_SUFFIX, ZST_SUFFIX = ".jsonl", ".jsonl.zst"


class PredictionLog:
    def __init__(self, folder: Path, *, mask_key: bytes, max_bytes: int = 64 << 20, max_seconds: float = 3600.0,
                 on_closed=None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.mask_key = mask_key
        self.max_bytes, self.max_seconds = max_bytes, max_seconds
        self.on_closed = on_closed or (lambda entry: None)
        self._lock = threading.Lock()
        self._dirty = False
        self._closing = threading.Event()
        self.records_total = 0
        self.bytes_total = 0
        for leftover in sorted(self.folder.glob(f"*{RAW_SUFFIX}")):
            self._compress(leftover)  # a segment a crash left open: everything in it was answered
        self._open()
        self._syncer = threading.Thread(target=self._sync_loop, name="predlog-sync", daemon=True)
        self._syncer.start()

    # ------------------------------------------------------------------ writing

    def _open(self) -> None:
        now = datetime.now(UTC)
        name = f"{now:%Y%m%dT%H%M%S}-{now.microsecond:06d}-{os.getpid()}{RAW_SUFFIX}"
        self.path = self.folder / name
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.opened, self.size, self.records = time.monotonic(), 0, 0
        self.first_at = self.last_at = None

    def mask(self, value) -> str:
        """A personal-data value replaced by a keyed digest: equal values stay joinable, the value is gone."""
        digest = hmac.new(self.mask_key, str(value).encode("utf-8", "replace"), hashlib.sha256).hexdigest()
        return f"masked:{digest[:16]}"

    def write(self, entries: list[dict]) -> None:
        """Append ``entries`` (one per record) with a single write; returns once the kernel has them."""
        data = b"".join(_encode(entry) + b"\n" for entry in entries)
        with self._lock:
            os.write(self.fd, data)
            self.size += len(data)
            self.records += len(entries)
            self.records_total += len(entries)
            self.bytes_total += len(data)
            stamp = entries[-1].get("t")
            self.first_at = self.first_at or entries[0].get("t")
            self.last_at = stamp
            self._dirty = True
            if self.size >= self.max_bytes or time.monotonic() - self.opened >= self.max_seconds:
                self._rotate_locked()

    def _rotate_locked(self) -> None:
        os.fdatasync(self.fd)
        os.close(self.fd)
        closed = self.path
        self._open()
        threading.Thread(target=self._compress, args=(closed,), name="predlog-compress", daemon=True).start()

    def _compress(self, raw: Path) -> None:
        target = raw.with_name(raw.name[: -len(RAW_SUFFIX)] + ZST_SUFFIX)
        partial = target.with_name(f".{target.name}.part")
        records, first, last = 0, None, None
        with open(raw, "rb") as source, open(partial, "wb") as sink:
            with zstandard.ZstdCompressor(level=1).stream_writer(sink, closefd=False) as zipped:
                for line in source:
                    if not line.endswith(b"\n"):
                        break  # a torn last line cannot be an answered prediction: its write never completed
                    zipped.write(line)
                    records += 1
                    if records == 1:
                        first = _stamp(line)
                    last = line
            sink.flush()
            os.fsync(sink.fileno())
        if records == 0:
            partial.unlink()
            raw.unlink()
            return
        os.replace(partial, target)
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        # Reported before the raw file goes: a kill in between compresses it again at the next start into the same
        # bytes (the compression is deterministic), which the control plane takes as the same file.
        self.on_closed({"name": target.name, "sha256": digest, "records": records, "first_at": first,
                        "last_at": _stamp(last)})
        raw.unlink()

    def _sync_loop(self) -> None:
        while not self._closing.wait(1.0):
            self.sync()
            with self._lock:
                if self.records and time.monotonic() - self.opened >= self.max_seconds:
                    self._rotate_locked()

    def sync(self) -> None:
        with self._lock:
            if self._dirty:
                os.fdatasync(self.fd)
                self._dirty = False

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            os.fdatasync(self.fd)
            os.close(self.fd)
            closed, self.fd = self.path, -1
        self._compress(closed)


def read_segments(folder: Path):
    """Every record in ``folder``, compressed segments and the open one, oldest first."""
    if not Path(folder).is_dir():
        return
    for path in sorted(Path(folder).iterdir()):
        if path.name.endswith(ZST_SUFFIX) and not path.name.startswith("."):
            with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as reader:
                for line in io.BufferedReader(reader):
                    yield json.loads(line)
        elif path.name.endswith(RAW_SUFFIX):
            with open(path, "rb") as handle:
                for line in handle:
                    if line.endswith(b"\n"):
                        yield json.loads(line)


def _stamp(line: bytes | None) -> str | None:
    if not line:
        return None
    try:
        value = json.loads(line).get("t")
    except ValueError:
        return None
    return datetime.fromtimestamp(value, UTC).isoformat() if isinstance(value, int | float) else value
