"""The 100% prediction log (no Django: this runs on the serving hosts).

Every answered prediction is one record: a JSON line with time, request id, deployment, version, role, client,
latency, the inputs (personal-data columns masked before they touch disk) and the outputs. A numeric input matrix
(the tensors of OIP v2) is not spelt out in the JSON: the line starts ``{"raw":N,`` and the matrix's N bytes
follow the newline as they are in memory, the line naming its dtype, shape and place (``{"dtype", "shape",
"raw": [offset, length]}``); :func:`read_segments` gives it back as a numpy array. A 1,024-row request of 30
float32 features so costs one 123 kB copy instead of a base64 text a third larger.

The record is compressed and written to the open segment (``*.plogz``) with one ``writev`` call *before* the
answer leaves. The segment is a Zstandard stream written once, never rewritten: runs of JSON-line records in
frames at level 1, runs of records with raw tensor bytes in frames at a fast level (``TENSOR_LEVEL``), each record
flushed as whole blocks, so a process killed with SIGKILL loses nothing it answered (the kernel holds the bytes)
and a reader decodes every record written whole. A thread ``fdatasync``s the segment every second, so a power loss
costs at most the last second. A record cut short by a crash was never answered: readers stop at it.

Segments rotate by size or age: the frame is finished, a skippable frame marks the segment whole, it goes to
disk, its sha256 (taken of the bytes as they were written) and record count are queued for the control plane,
and it is renamed ``*.plog.zst``, a standard ``.zst`` file. A segment a crash left open is sealed at the next
start: whole, as it is (the same bytes, the same digest); torn, its whole records compressed again. Raw segments
of earlier agents (``*.plog``, ``*.jsonl``) are compressed then. Nothing written is ever dropped.

Compressing as it writes, the agent writes each byte once: a 1,024-row request's record went to disk raw, was
read back, compressed and written again (about 150 us of CPU for the bench's repeated body, 260 us for distinct
rows); compressed at once it costs 12-22 us before a smaller write.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import io
import json
import logging
import os
import struct
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np
import zstandard

_encode = msgspec.json.Encoder().encode
log = logging.getLogger("mg.agent.predlog")
RAW_SUFFIX, ZST_SUFFIX = ".plog", ".plog.zst"
_NAME_TIME = "%Y%m%dT%H%M%S-%f"  # a segment's name begins with the UTC time it was opened
OPEN_SUFFIX = ".plogz"  # the open segment, compressed as it is written
_SEALED = struct.pack("<II", 0x184D2A5E, 8) + b"mg-whole"  # a Zstandard skippable frame: the segment is whole
OLD_SUFFIXES = (".jsonl", ".jsonl.zst")  # segments of agents before the framed format: plain JSON lines
_FRAMED = b'{"raw":'
# Zstandard levels: JSON lines compress well at level 1 (2.7x, about 1.6 us a single-record request); raw tensor
# bytes (continuous floats) hardly compress at any level (1.08x at level 1, 150 us for 123 kB), so their records
# go into frames of their own at a fast level, near the cost of a copy (30 us), which still finds the repeats of
# integer-valued columns (2.6x).
TEXT_LEVEL, TENSOR_LEVEL = 1, -50
RESERVE_STEP = 8 << 20  # disk blocks reserved ahead of the open segment's writes


class LogUnavailable(OSError):
    """The disk refused a record (full, read-only, a file-size limit): the prediction it holds must not be answered."""


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
        self._sealing: list[threading.Thread] = []
        self._compressors = {False: zstandard.ZstdCompressor(level=TEXT_LEVEL),
                             True: zstandard.ZstdCompressor(level=TENSOR_LEVEL)}
        self.records_total = 0
        self.bytes_total = 0
        self.failures = 0  # records the disk refused
        self.failure: str | None = None  # why the last write failed, while no write has succeeded since
        self.failed_at = 0.0  # time.monotonic() of the last refused write
        self._unsealed: list[tuple] = []  # closed segments the disk would not let be sealed yet, oldest first
        for leftover in sorted(self.folder.glob(f"*{OPEN_SUFFIX}")):
            self._reseal(leftover)  # a segment a crash left open: everything in it was answered
        for leftover in sorted([*self.folder.glob(f"*{RAW_SUFFIX}"), *self.folder.glob(f"*{OLD_SUFFIXES[0]}")]):
            self._compress(leftover)  # a raw segment an earlier agent left open
        self._open()
        self._syncer = threading.Thread(target=self._sync_loop, name="predlog-sync", daemon=True)
        self._syncer.start()

    # ------------------------------------------------------------------ writing

    def _open(self) -> None:
        now = datetime.now(UTC)
        name = f"{now:{_NAME_TIME}}-{os.getpid()}{OPEN_SUFFIX}"
        self.path = self.folder / name
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.opened, self.size, self.records, self.reserved = time.monotonic(), 0, 0, 0
        self.first_at = self.last_at = None
        self._frame, self._framed, self._digest, self._torn = None, None, hashlib.sha256(), False

    def mask(self, value) -> str:
        """A personal-data value replaced by a keyed digest: equal values stay joinable, the value is gone."""
        digest = hmac.new(self.mask_key, str(value).encode("utf-8", "replace"), hashlib.sha256).hexdigest()
        return f"masked:{digest[:16]}"

    def write(self, entries: list[dict]) -> None:
        """Append ``entries`` (one per record), compressed, with a single write; returns once the kernel has them.
        A numpy array as a value of an entry, or of a dict in it, is written as raw bytes after the entry's line."""
        records = []
        for entry in entries:
            blobs: list = []
            described = _described(entry, blobs)
            if not blobs:
                records.append((False, _encode(entry) + b"\n"))
            else:
                records.append((True, [_encode({"raw": sum(len(blob) for blob in blobs), **described}) + b"\n",
                                       *blobs]))
        with self._lock:
            try:
                self._write_locked(records, entries)
            except OSError as exc:
                self._refused_locked(exc)
                raise LogUnavailable(exc.errno, f"The prediction log cannot be written ({exc.strerror or exc}); "
                                                "nothing is answered that is not logged.") from exc
            if self.failure is not None:
                log.warning("the prediction log in %s is written again", self.folder)
                self.failure = None

    def _write_locked(self, records: list, entries: list[dict]) -> None:
        if self.fd < 0:  # a fresh segment could not be opened after a refused write: try again
            self._open()
        chunks = []
        for framed, parts in records:
            if self._frame is None or self._framed is not framed:  # a run of records of one kind: one frame
                if self._frame is not None:
                    chunks.append(self._frame.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH))
                self._frame, self._framed = self._compressors[framed].compressobj(), framed
            if framed:
                chunks.extend(self._frame.compress(part) for part in parts)
            else:
                chunks.append(self._frame.compress(parts))
        chunks.append(self._frame.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))  # every record whole on the file
        self._append(chunks)
        self.records += len(entries)
        self.records_total += len(entries)
        self.first_at = self.first_at or entries[0].get("t")
        self.last_at = entries[-1].get("t")
        if self.size >= self.max_bytes or time.monotonic() - self.opened >= self.max_seconds:
            self._rotate_locked()

    def _refused_locked(self, exc: OSError) -> None:
        """After a write the disk refused. The compressor has taken the lost record into its frame, so the segment
        cannot go on: one that holds whole records is sealed as far as they go, in a thread, and a fresh one
        opened; an empty one is cut back to nothing and kept, so that a disk refusing every write costs no new
        file and no sealing thread a request."""
        self.failures += 1
        self.failed_at = time.monotonic()
        if self.failure is None:
            log.warning("the prediction log in %s cannot be written: %s; requests are refused (503) until it can",
                        self.folder, exc)
        self.failure = str(exc.strerror or exc)
        if self.fd < 0:
            return
        if self.size == 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
                self._frame, self._framed, self._digest, self._torn = None, None, hashlib.sha256(), False
                return
        self._torn = True
        try:
            self._rotate_locked()
        except OSError as again:  # no fresh segment either: the next write tries to open one
            log.warning("no new prediction log segment in %s: %s", self.folder, again)
            self.fd = -1

    def _append(self, chunks: list) -> None:
        size = sum(len(chunk) for chunk in chunks)
        if size < 65536:  # one copy of a few compressed bytes costs less than a call per chunk
            chunks = [b"".join(chunks)]
        if self.size + size > self.reserved:
            self.reserved = self.size + size + RESERVE_STEP
            _reserve(self.fd, self.size, self.reserved - self.size)
        try:
            written = os.write(self.fd, chunks[0]) if len(chunks) == 1 else os.writev(self.fd, chunks)
        except OSError:
            self._torn = True
            raise
        if written != size:  # a full disk mid-write: the stream is torn here; sealed from what reads back
            self._torn = True
            raise OSError(errno.ENOSPC, f"the disk took {written} of {size} bytes")
        for chunk in chunks:
            self._digest.update(chunk)
        self.size += size
        self.bytes_total += size
        self._dirty = True

    def _rotate_locked(self) -> None:
        closed = self._finish_locked()
        self._open()
        sealing = threading.Thread(target=self._seal_or_leave, args=closed, name="predlog-seal", daemon=True)
        self._sealing = [t for t in self._sealing if t.is_alive()] + [sealing]
        sealing.start()

    def _finish_locked(self) -> tuple:
        """End the open segment's frame and mark it whole (a skippable frame a reader passes over); close it."""
        if self.fd < 0:
            return (None, None, 0, None, None)
        torn = self._torn
        if not torn and self.size:
            chunks = [self._frame.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)] if self._frame is not None else []
            try:
                self._append([*chunks, _SEALED])
            except OSError:
                torn = True
        os.close(self.fd)  # its bytes reach the disk in the sealing thread, not under the writers' lock
        self.fd = -1
        return (self.path, None if torn else self._digest.hexdigest(), self.records, self.first_at, self.last_at)

    def _seal_or_leave(self, *closed) -> None:
        """:meth:`_seal` in its thread: a segment the disk (or the outbox of its report) will not take now stays
        open on disk, and the sync thread tries again every second (sealing is idempotent: the same bytes, the
        same report); a restart seals it too."""
        try:
            self._seal(*closed)
        except OSError as exc:
            log.warning("prediction log segment %s not sealed yet (%s); tried again every second", closed[0], exc)
            with self._lock:
                self._unsealed.append(closed)

    def _seal_again(self) -> None:
        with self._lock:
            waiting, self._unsealed = self._unsealed, []
        for index, closed in enumerate(waiting):
            try:
                self._seal(*closed)
            except OSError:
                with self._lock:
                    self._unsealed[:0] = waiting[index:]
                return
            log.warning("prediction log segment %s sealed", closed[0])

    def _seal(self, path: Path | None, digest: str | None, records: int, first_at, last_at) -> None:
        """The closed segment to disk, reported, renamed to its final name (a kill before the rename seals the same
        bytes again at the next start, which the control plane takes as the same file)."""
        if path is None:
            return
        if digest is None or records == 0:
            return self._reseal(path)
        with open(path, "rb") as closed:
            os.fdatasync(closed.fileno())
        target = path.with_name(path.name[: -len(OPEN_SUFFIX)] + ZST_SUFFIX)
        self.on_closed({"name": target.name, "sha256": digest, "records": records, "first_at": _iso(first_at),
                        "last_at": _iso(last_at)})
        os.replace(path, target)

    def _reseal(self, path: Path) -> None:
        """A segment left open: whole (it ends with the mark), it keeps its bytes; torn (a kill or a full disk cut
        it short), its complete records are compressed again into the sealed file, deterministically."""
        data_end = path.stat().st_size
        with open(path, "rb") as handle:
            os.fdatasync(handle.fileno())
            handle.seek(max(0, data_end - len(_SEALED)))
            whole = data_end >= len(_SEALED) and handle.read() == _SEALED
        target = path.with_name(path.name[: -len(OPEN_SUFFIX)] + ZST_SUFFIX)
        if whole:
            records, first, last = 0, None, None
            with open(path, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256")
                handle.seek(0)
                for line, _blob in _compressed_records(handle):
                    records += 1
                    first = first or _stamp(line)
                    last = line
            self.on_closed({"name": target.name, "sha256": digest.hexdigest(), "records": records,
                            "first_at": first, "last_at": _stamp(last)})
            os.replace(path, target)
            return
        self._rewrite(path, target, _compressed_records)

    def _compress(self, raw: Path) -> None:
        """A raw segment of an earlier agent (JSON lines, raw bytes after them) compressed into a sealed file."""
        with open(raw, "rb") as closed:  # the raw segment on disk first: a power cut while compressing loses nothing
            os.fdatasync(closed.fileno())
        suffix = RAW_SUFFIX if raw.name.endswith(RAW_SUFFIX) else OLD_SUFFIXES[0]
        self._rewrite(raw, raw.with_name(raw.name[: -len(suffix)] + suffix + ".zst"), _records)

    def _rewrite(self, source: Path, target: Path, read) -> None:
        """The whole records of ``source`` (``read(handle)`` yields them) compressed into ``target``, to disk,
        reported, and ``source`` removed. Reported before ``source`` goes: a kill in between writes the same bytes
        again at the next start (the compression is deterministic), which the control plane takes as the same
        file."""
        partial = target.with_name(f".{target.name}.part")
        sink_fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # as private as the open segment
        with open(source, "rb") as handle, open(sink_fd, "wb") as sink:
            hashed = _Hashed(sink)  # the digest of the bytes as they are written: the file is not read again
            records, first, last = _compress_records(read(handle), hashed)
            if records:
                hashed.write(_SEALED)
            sink.flush()
            os.fsync(sink.fileno())
        if records == 0:
            partial.unlink()
            source.unlink()
            return
        os.replace(partial, target)
        self.on_closed({"name": target.name, "sha256": hashed.digest.hexdigest(), "records": records,
                        "first_at": first, "last_at": _stamp(last)})
        source.unlink()

    def _sync_loop(self) -> None:
        while not self._closing.wait(1.0):
            try:
                self.sync()
                if self._unsealed:
                    self._seal_again()
                with self._lock:
                    if self.fd >= 0 and self.records and time.monotonic() - self.opened >= self.max_seconds:
                        self._rotate_locked()
            except OSError as exc:  # the disk again: the thread goes on, and the next write says so to its request
                log.warning("prediction log in %s: %s", self.folder, exc)

    def sync(self) -> None:
        """The open segment to disk. The flush runs on a duplicate of the file descriptor outside the lock, so that
        requests keep writing while the disk works (under the lock, a flush of a second of 1,024-row requests held
        every writer for milliseconds)."""
        with self._lock:
            if not self._dirty or self.fd < 0:
                return
            self._dirty = False
            fd = os.dup(self.fd)
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            closed = self._finish_locked()
        try:
            self._seal(*closed)
        except OSError as exc:  # the disk still refuses: the next start seals it
            log.warning("prediction log segment %s not sealed (%s); the next start seals it", closed[0], exc)
        for sealing in self._sealing:  # segments rotated just before: sealed and reported before the agent stops
            sealing.join()
        self._seal_again()  # and any the disk refused before, if it takes them now


def _fallocate():
    try:
        import ctypes

        fallocate = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return None
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fallocate.restype = ctypes.c_int
    return fallocate


_FALLOCATE = _fallocate()
_KEEP_SIZE = 1  # FALLOC_FL_KEEP_SIZE


def _reserve(fd: int, offset: int, length: int) -> None:
    """Reserve the disk blocks of the next ``RESERVE_STEP`` bytes of a segment ahead of its writes (Linux
    ``fallocate`` with ``FALLOC_FL_KEEP_SIZE``: the file's size stays what was written, so readers and the
    compressor see nothing else). Appends then fill blocks already allocated instead of asking the filesystem for
    each page: a 1,024-row request's write 80 -> 67 us on ext4, for one call every 8 MB. Where the call or the
    filesystem does not support it, or the disk is full, appends allocate as they go."""
    if _FALLOCATE is not None:
        _FALLOCATE(fd, _KEEP_SIZE, offset, length)


class _Hashed:
    """A file that hashes what is written to it (sha256)."""

    def __init__(self, sink):
        self.sink, self.digest = sink, hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return self.sink.write(data)

    def flush(self) -> None:
        self.sink.flush()


def _described(entry: dict, blobs: list, depth: int = 0) -> dict:
    """``entry`` with each numpy array (at the top or one dict down) replaced by its place among ``blobs``."""
    out = None
    for key, value in entry.items():
        if isinstance(value, np.ndarray):
            array = np.ascontiguousarray(value)
            offset = sum(len(blob) for blob in blobs)
            blobs.append(memoryview(array).cast("B"))
            value = {"dtype": array.dtype.str, "shape": list(array.shape), "raw": [offset, array.nbytes]}
        elif depth == 0 and isinstance(value, dict):
            inner = _described(value, blobs, 1)
            if inner is value:
                continue
            value = inner
        else:
            continue
        if out is None:
            out = dict(entry)
        out[key] = value
    return entry if out is None else out


def _compress_records(segment, sink) -> tuple[int, str | None, bytes | None]:
    """Every record of ``segment`` (``_records``) into ``sink`` as Zstandard frames: a run of JSON-line records in
    one frame at ``TEXT_LEVEL``, a run of records with raw bytes in one at ``TENSOR_LEVEL``. Returns the count,
    the first record's time and the last record's line."""
    compressors = {False: zstandard.ZstdCompressor(level=TEXT_LEVEL),
                   True: zstandard.ZstdCompressor(level=TENSOR_LEVEL)}
    records, first, last, frame, framed = 0, None, None, None, None
    for line, blob in segment:  # a torn last record stops it: its write never completed
        if frame is None or framed != (blob is not None):
            if frame is not None:
                frame.close()
            framed = blob is not None
            frame = compressors[framed].stream_writer(sink, closefd=False)
        frame.write(line)
        if blob is not None:
            frame.write(blob)
        records += 1
        if records == 1:
            first = _stamp(line)
        last = line
    if frame is not None:
        frame.close()
    return records, first, last


def _compressed_records(handle):
    """The whole records of a compressed segment, a torn tail left out."""
    with _frames(handle) as reader:
        yield from _records(io.BufferedReader(reader))


def _records(stream):
    """(line, raw bytes or None) of every complete record of a segment, in order; stops at a torn one."""
    while True:
        line = stream.readline()
        if not line.endswith(b"\n"):
            return  # the end, or a line cut short
        blob = None
        if line.startswith(_FRAMED):
            size = line[len(_FRAMED): line.index(b",", len(_FRAMED))]
            blob = stream.read(int(size))
            if len(blob) != int(size):
                return  # its bytes cut short
        yield line, blob


def segment_paths(folder: Path) -> list[Path]:
    """The segments of ``folder`` (sealed, raw and open), oldest first: their names begin with the time they were
    opened."""
    if not Path(folder).is_dir():
        return []
    suffixes = (ZST_SUFFIX, OLD_SUFFIXES[1], OPEN_SUFFIX, RAW_SUFFIX, OLD_SUFFIXES[0])
    return [path for path in sorted(Path(folder).iterdir())
            if not path.name.startswith(".") and path.name.endswith(suffixes)]


def opened_at(path: Path) -> float | None:
    """When a segment was opened, from its name (``20261203T101500-123456-<pid>...``); None for another name."""
    try:
        moment = datetime.strptime(path.name[:22], _NAME_TIME)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC).timestamp()


def read_segment(path: Path):
    """Every record of one segment; an input matrix written as raw bytes comes back as a numpy array."""
    if path.name.endswith((ZST_SUFFIX, OLD_SUFFIXES[1], OPEN_SUFFIX)):
        with open(path, "rb") as raw, _frames(raw) as reader:
            yield from _entries(io.BufferedReader(reader))
    else:
        with open(path, "rb") as handle:
            yield from _entries(handle)


def read_segments(folder: Path):
    """Every record in ``folder``, compressed segments and the open one, oldest first."""
    for path in segment_paths(folder):
        yield from read_segment(path)


@contextlib.contextmanager
def _frames(raw):
    """The decompressed bytes of a compressed segment, every frame of it in order; a torn or damaged tail (a kill
    or a power cut mid-write) ends it where the last whole block ended."""
    yield _Tolerant(raw)


class _Tolerant(io.RawIOBase):
    """Every frame of a Zstandard stream decompressed in turn, skippable frames passed over, up to the last whole
    block of a frame left unfinished. Not zstandard's ``stream_reader``: read in pieces, it ended an unfinished frame
    short of output it still held, so the last records of a segment a kill left open went unread (and were left
    out when the segment was sealed at the next start)."""

    def __init__(self, raw):
        self.raw = raw
        self.frame = zstandard.ZstdDecompressor().decompressobj()
        self.out = memoryview(b"")
        self.ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.out and not self.ended:
            data = self.raw.read(1 << 17)
            if not data:
                self.ended = True
                break
            self.out = memoryview(self._decompress(data))
        size = min(len(buffer), len(self.out))
        buffer[:size] = self.out[:size]
        self.out = self.out[size:]
        return size

    def _decompress(self, data: bytes) -> bytes:
        parts = []
        try:
            while data:
                parts.append(self.frame.decompress(data))
                if not self.frame.eof:
                    break
                data = self.frame.unused_data  # the next frame begins in these bytes
                self.frame = zstandard.ZstdDecompressor().decompressobj()
        except zstandard.ZstdError:  # damaged bytes: what came before them stands
            self.ended = True
        return b"".join(parts)


def _entries(stream):
    for line, blob in _records(stream):
        entry = json.loads(line)
        if blob is not None:
            del entry["raw"]
            _arrays(entry, blob, 0)
        yield entry


def _arrays(entry: dict, blob: bytes, depth: int) -> None:
    for key, value in entry.items():
        if isinstance(value, dict):
            if isinstance(value.get("raw"), list) and "dtype" in value:
                offset, length = value["raw"]
                entry[key] = np.frombuffer(blob[offset:offset + length], dtype=value["dtype"]).reshape(value["shape"])
            elif depth == 0:
                _arrays(value, blob, 1)


def _iso(stamp) -> str | None:
    return datetime.fromtimestamp(stamp, UTC).isoformat() if isinstance(stamp, int | float) else stamp


def _stamp(line: bytes | None) -> str | None:
    if not line:
        return None
    try:
        value = json.loads(line).get("t")
    except ValueError:
        return None
    return _iso(value)
