"""The tamper-evident audit chain: append (inside the caller's transaction) and verify."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import os
from dataclasses import dataclass

import msgspec
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from core.actors import Actor, SystemActor, require_actor
from core.context import request_id_var
from governance.audit.checkpoints import checkpoint_latest
from governance.audit.models import AuditChainHead, AuditEvent

GENESIS_HASH = "0" * 64


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _stable_number(text: str):
    """A float as every database gives it back: PostgreSQL's jsonb writes 1.2e+20 as 120000000000000000000, which
    reads back as an int, so such a float is stored as that int (the decimal value of its shortest repr)."""
    if "e+" in text or "E+" in text:
        return int(decimal.Decimal(text))
    return float(text)


def _normalise(value):
    """JSON round-trip so that what is hashed is exactly what the database gives back."""
    return json.loads(_canonical(value or {}), parse_float=_stable_number)


def event_hash(event: AuditEvent) -> str:
    """sha256 over every recorded field of the event and the previous event's hash."""
    payload = {
        "seq": event.seq,
        "occurred_at": event.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "actor_repr": event.actor_repr,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "passport_key": event.passport_key,
        "digests": event.digests,
        "data": event.data,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
    }
    return hashlib.sha256(_canonical(payload).encode()).hexdigest()


def audit_append(
    *,
    actor: Actor,
    action: str,
    obj: models.Model,
    digests: dict | None = None,
    data: dict | None = None,
    passport_key: str = "",
) -> AuditEvent:
    """Append one event to the chain.

    Must run inside the transaction that makes the change it records, so that the change and its event
    commit or roll back together. Locks the chain head, so concurrent appends are serialised.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_append must run inside the transaction of the change it records")
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head = AuditChainHead.objects.create(pk=1, last_seq=0, last_hash=GENESIS_HASH)
    actor = require_actor(actor)
    is_user = not isinstance(actor, SystemActor)
    event = AuditEvent(
        seq=head.last_seq + 1,
        occurred_at=timezone.now(),
        actor=actor if is_user else None,
        actor_repr=actor.get_username()[:200],
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:300],
        passport_key=passport_key,
        digests=_normalise(digests),
        data=_normalise(data),
        request_id=request_id_var.get(),
        prev_hash=head.last_hash,
    )
    event.hash = event_hash(event)
    event.save(force_insert=True)
    head.last_seq, head.last_hash = event.seq, event.hash
    head.save(update_fields=["last_seq", "last_hash"])
    return event


@dataclass(frozen=True)
class ChainVerification:
    """Result of walking the chain: ``ok`` or the first broken event and why.

    ``first_missing_seq``: the first event that should exist and does not (a gap, or a tail that the latest
    signed checkpoint vouches for). ``checkpoint``: the checkpoint verified against, if any;
    ``rejected_checkpoints``: files that claimed to be checkpoints but whose signature does not hold.
    """

    ok: bool
    events_checked: int
    head_hash: str
    first_broken_seq: int | None = None
    first_broken_id: int | None = None
    reason: str = ""
    first_missing_seq: int | None = None
    checkpoint: dict | None = None
    rejected_checkpoints: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "events_checked": self.events_checked,
            "head_hash": self.head_hash,
            "first_broken_seq": self.first_broken_seq,
            "first_broken_id": self.first_broken_id,
            "first_missing_seq": self.first_missing_seq,
            "reason": self.reason,
            "checkpoint": self.checkpoint,
            "rejected_checkpoints": list(self.rejected_checkpoints),
        }


_FAST_DECODE = msgspec.json.Decoder().decode
_FAST_ENCODE = msgspec.json.Encoder(order="sorted").encode
# JSON columns come as text, decoded by msgspec (psycopg's own JSON loader, json.loads, would triple the walk)
_COLUMNS = ("seq, id, {when}, actor_id, actor_repr, action, object_type, object_id, object_repr, passport_key, "
            "digests{cast}, data{cast}, request_id, prev_hash, hash")
_PG_WHEN = "(occurred_at AT TIME ZONE 'UTC')::text"  # '2025-01-01 00:00:01.5' (no zone): see _iso_utc
PAGE = 20_000


def _pg_pages(cursor, table: str, first: int, last: int | None):
    """Rows with ``first <= seq (<= last)`` in pages of PAGE, by keyset on the unique seq index: plain cursors
    that each fetch a page are twice as fast as one server-side cursor, and memory stays at one page."""
    sql = (f"SELECT {_COLUMNS.format(when=_PG_WHEN, cast='::text')} FROM {table} "  # noqa: S608 (no input in it)
           f"WHERE seq >= %s{' AND seq <= %s' if last is not None else ''} ORDER BY seq LIMIT {PAGE}")
    while True:
        cursor.execute(sql, [first, last] if last is not None else [first])
        rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        if len(rows) < PAGE:
            return
        first = rows[-1][0] + 1


def _event_rows():
    """The chain's rows in order, as plain tuples straight from the database (no model instances: verifying a
    million events is bound by this loop). Columns: seq, id, occurred_at (ISO text in UTC on PostgreSQL, the
    stored value elsewhere), actor_id, actor_repr, action, object_type, object_id, object_repr, passport_key,
    digests, data, request_id, prev_hash, hash. Runs in the caller's transaction (see :func:`audit_verify`)."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            yield from _pg_pages(cursor, table, 1, None)
        return
    with connection.chunked_cursor() as cursor:
        cursor.execute(f"SELECT {_COLUMNS.format(when='occurred_at', cast='')} FROM {table} ORDER BY seq")  # noqa: S608
        while rows := cursor.fetchmany(VERIFY_BATCH):
            yield rows


def _iso_utc(value) -> str:
    """The event time as ``event_hash`` writes it (``2025-01-01T00:00:01.000001+00:00``), from a datetime or
    from the text a database gives: PostgreSQL's UTC timestamp text, or the value SQLite stores."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":  # 'YYYY-MM-DD HH:MM:SS.ffffff', UTC: the common case, fast
            return f"{value[:10]}T{value[11:]}+00:00"
        value = dt.datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _row_payload(row, decode) -> dict:
    """What ``event_hash`` hashes, from a row of :func:`_event_rows`; ``decode`` reads its JSON columns."""
    data, digests = row[11], row[10]
    return {
        "seq": row[0], "occurred_at": _iso_utc(row[2]), "actor_id": row[3], "actor_repr": row[4], "action": row[5],
        "object_type": row[6], "object_id": row[7], "object_repr": row[8], "passport_key": row[9],
        "digests": decode(digests) if isinstance(digests, str | bytes) else digests,
        "data": decode(data) if isinstance(data, str | bytes) else data,
        "request_id": row[12], "prev_hash": row[13],
    }


def _row_hash(row) -> str:
    """``event_hash`` of a row: the same canonical JSON of the same fields (a test holds the two to the same
    bytes on hostile values)."""
    return hashlib.sha256(_canonical(_row_payload(row, json.loads)).encode()).hexdigest()


def _row_hash_fast(row) -> str:
    """The same hash through msgspec, about five times faster; it writes some floats differently from the
    standard library (1e-7 for 1e-07), so a row whose fast hash does not match is hashed again exactly by
    :func:`_row_hash` before it is called altered."""
    return hashlib.sha256(_FAST_ENCODE(_row_payload(row, _FAST_DECODE))).hexdigest()


def _row_matches(row) -> bool:
    try:
        if _row_hash_fast(row) == row[14]:
            return True
    except (msgspec.MsgspecError, OverflowError, TypeError, ValueError):
        pass
    return _row_hash(row) == row[14]


VERIFY_BATCH = 5000
PARALLEL_FROM = 100_000  # events; below this, starting processes costs more than it saves


@dataclass
class _Walk:
    """What walking a stretch of the chain found: how far it got, its ends, and the first problem."""

    first_seq: int
    checked: int = 0
    first_found: int | None = None  # seq and id of the first row read, and the hash it links to
    first_found_id: int | None = None
    first_prev: str | None = None
    last_hash: str | None = None
    at_anchor: tuple[str, int] | None = None
    problem: tuple[int, int | None, str, int | None] | None = None  # seq, id, reason, first missing seq


def _gap(expected: int, found: int, pk: int | None) -> tuple:
    return (found, pk, f"sequence gap: expected #{expected}, found #{found} (an event was removed)", expected)


def _walk(pages, *, first_seq: int, first_prev: str | None, anchor_seq: int | None) -> _Walk:
    """Check the rows of ``pages`` from ``first_seq`` on: sequence without gaps, links, hashes. ``first_prev``:
    the hash the first row must link to (None: the caller checks it against the stretch before)."""
    walk = _Walk(first_seq=first_seq)
    expected_seq, expected_prev = first_seq, first_prev
    for rows in pages:
        for row in rows:
            seq, pk, prev_hash, recorded = row[0], row[1], row[13], row[14]
            if walk.first_found is None:
                walk.first_found, walk.first_found_id, walk.first_prev = seq, pk, prev_hash
            if seq != expected_seq:
                walk.problem = _gap(expected_seq, seq, pk)
            elif expected_prev is not None and prev_hash != expected_prev:
                walk.problem = (seq, pk, "previous-hash link does not match the preceding event", None)
            elif not _row_matches(row):
                walk.problem = (seq, pk, "recorded hash does not match the event's contents (the row was altered)",
                                None)
            if walk.problem:
                return walk
            if seq == anchor_seq:
                walk.at_anchor = (recorded, pk)
            expected_prev, expected_seq, walk.checked, walk.last_hash = recorded, seq + 1, walk.checked + 1, recorded
    return walk


def _walk_parallel(processes: int, last_seq: int, anchor_seq: int | None) -> list[_Walk]:
    """Walk ``processes`` stretches of seq 1..last_seq at once, in forked processes that read the caller's
    snapshot (``pg_export_snapshot``), each on a connection of its own; the stretches are joined by the caller.

    A child touches nothing it inherited but the code: it opens its own connection, writes its result to a pipe
    and leaves with ``os._exit``, so the parent's connection and state are never used by two processes."""
    import psycopg  # PostgreSQL only
    import psycopg.sql

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
    params = connection.get_connection_params()
    conninfo = psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if k in (
        "dbname", "user", "password", "host", "port", "sslmode", "options")})
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    size = -(-last_seq // processes)
    stretches = [(lo, min(lo + size - 1, last_seq)) for lo in range(1, last_seq + 1, size)]
    children = []
    for lo, hi in stretches:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(read)
            code = 0
            try:
                with psycopg.connect(conninfo) as conn, conn.cursor() as cursor:
                    cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    cursor.execute(psycopg.sql.SQL("SET TRANSACTION SNAPSHOT {}").format(psycopg.sql.Literal(snapshot)))
                    walk = _walk(_pg_pages(cursor, table, lo, hi), first_seq=lo, first_prev=None,
                                 anchor_seq=anchor_seq)
                    payload = msgspec.json.encode(walk.__dict__)
            except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
                payload, code = msgspec.json.encode({"error": f"{type(exc).__name__}: {exc}"}), 1
            with os.fdopen(write, "wb") as out:
                out.write(payload)
            os._exit(code)
        os.close(write)
        children.append((pid, read))
    walks, errors = [], []
    for pid, read in children:
        with os.fdopen(read, "rb") as handle:
            raw = handle.read()
        os.waitpid(pid, 0)
        data = msgspec.json.decode(raw) if raw else {"error": "the verifying process ended without an answer"}
        if "error" in data:
            errors.append(data["error"])
            continue
        walk = _Walk(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
        walks.append(walk)
    if errors:
        raise RuntimeError("audit verification failed in a worker process: " + "; ".join(errors))
    return walks


def _join(walks: list[_Walk]) -> _Walk:
    """One walk from consecutive stretches: each must go on at the seq after the last one checked, linked to its
    hash; the first problem in chain order wins."""
    whole = _Walk(first_seq=1)
    expected_prev = GENESIS_HASH
    for walk in walks:
        if walk.first_found is None:  # nothing in this stretch: the next one (or the head) shows the gap
            continue
        expected_seq = whole.checked + 1
        if walk.first_found != expected_seq:
            whole.problem = _gap(expected_seq, walk.first_found, walk.first_found_id)
            return whole
        if walk.first_prev != expected_prev:
            whole.problem = (expected_seq, walk.first_found_id,
                             "previous-hash link does not match the preceding event", None)
            return whole
        whole.checked += walk.checked
        whole.at_anchor = walk.at_anchor or whole.at_anchor
        if walk.checked:
            whole.last_hash = expected_prev = walk.last_hash
        if walk.problem:
            whole.problem = walk.problem
            return whole
    return whole


def audit_verify(*, against_checkpoint: bool = True, processes: int | None = None) -> ChainVerification:
    """Walk every event in order; recompute each hash and check each link and the sequence; then hold the end of
    the chain against the head row and against the latest signed checkpoint kept outside the database, which
    catches a tail that was deleted together with a rewound head.

    On PostgreSQL the walk reads one snapshot (REPEATABLE READ), so events appended meanwhile are neither half
    seen nor mistaken for a moved head; long chains are walked by ``processes`` (default: the CPUs, at most
    ``MG_AUDIT_VERIFY_PROCESSES``) forked processes sharing that snapshot."""
    latest = checkpoint_latest() if against_checkpoint else None
    anchor = latest.checkpoint if latest else None
    extra = {"checkpoint": anchor.as_dict() if anchor else None,
             "rejected_checkpoints": latest.rejected if latest else ()}
    anchor_seq = anchor.seq if anchor else None
    postgres, outer = connection.vendor == "postgresql", connection.in_atomic_block
    with transaction.atomic():
        if postgres and not outer:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        head = AuditChainHead.objects.filter(pk=1).first()
        wanted = processes or min(os.cpu_count() or 1, int(getattr(settings, "MG_AUDIT_VERIFY_PROCESSES", 4)))
        if postgres and not outer and wanted > 1 and head is not None and head.last_seq >= PARALLEL_FROM:
            top = max(head.last_seq, _max_seq())
            walk = _join(_walk_parallel(wanted, top, anchor_seq))
        else:
            walk = _walk(_event_rows(), first_seq=1, first_prev=GENESIS_HASH, anchor_seq=anchor_seq)
    checked, last = walk.checked, walk.last_hash or GENESIS_HASH
    if walk.problem:
        seq, pk, reason, missing = walk.problem
        return ChainVerification(False, checked, last, seq, pk, reason, missing, **extra)
    if anchor is not None and anchor.seq > checked:
        return ChainVerification(
            False, checked, last, checked + 1, None,
            f"events #{checked + 1} to #{anchor.seq} are missing: the checkpoint signed at {anchor.time} vouches "
            f"for {anchor.seq} events and the database holds {checked}", checked + 1, **extra)
    if anchor is not None and anchor.seq > 0 and walk.at_anchor and walk.at_anchor[0] != anchor.hash:
        return ChainVerification(
            False, checked, last, anchor.seq, walk.at_anchor[1],
            f"event #{anchor.seq} differs from the checkpoint signed at {anchor.time}: the chain was rewritten "
            "up to there", **extra)
    if head is not None and (head.last_seq != checked or head.last_hash != last):
        missing = checked + 1 if head.last_seq > checked else None
        return ChainVerification(
            False, checked, last, checked, None, "chain head does not match the last event (events removed)",
            missing, **extra)
    if extra["rejected_checkpoints"]:
        return ChainVerification(
            False, checked, last, None, None,
            "files in the checkpoint folders are not validly signed checkpoints: "
            + ", ".join(extra["rejected_checkpoints"]), **extra)
    return ChainVerification(True, checked, last, **extra)


def _max_seq() -> int:
    return AuditEvent.objects.aggregate(top=models.Max("seq"))["top"] or 0
