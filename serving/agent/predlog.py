"""The 100% prediction log (no Django: this runs on the serving hosts).

Every answered prediction is one record: a JSON line with time, request id, deployment, version, role, client,
latency, the inputs (personal-data columns masked before they touch disk) and the outputs. A numeric input matrix
(the tensors of OIP v2) is not spelt out in the JSON: the line starts ``{"raw":N,`` and the matrix's N bytes
follow the newline as they are in memory, the line naming its dtype, shape and place (``{"dtype", "shape",
"raw": [offset, length]}``); :func:`read_segments` gives it back as a numpy array. A 1,024-row request of 30
float32 features so costs one 123 kB copy instead of a base64 text a third larger.

The record is written to the open segment with one ``writev`` call *before* the answer leaves, so a process killed
with SIGKILL loses nothing it answered (the kernel holds the bytes); a thread ``fdatasync``s the segment every
second, so a power loss costs at most the last second. A record whose line or bytes were cut short by a crash was
never answered: readers and the compressor stop at it.

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
import numpy as np
import zstandard

_encode = msgspec.json.Encoder().encode
RAW_SUFFIX, ZST_SUFFIX = ".plog", ".plog.zst"
OLD_SUFFIXES = (".jsonl", ".jsonl.zst")  # segments of agents before the framed format: plain JSON lines
_FRAMED = b'{"raw":'


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
        for leftover in sorted([*self.folder.glob(f"*{RAW_SUFFIX}"), *self.folder.glob(f"*{OLD_SUFFIXES[0]}")]):
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
        """Append ``entries`` (one per record) with a single write; returns once the kernel has them. A numpy
        array as a value of an entry, or of a dict in it, is written as raw bytes after the entry's line."""
        parts: list = []
        for entry in entries:
            blobs: list = []
            described = _described(entry, blobs)
            if not blobs:
                parts.append(_encode(entry) + b"\n")
                continue
            parts.append(_encode({"raw": sum(len(blob) for blob in blobs), **described}) + b"\n")
            parts.extend(blobs)
        size = sum(len(part) for part in parts)
        with self._lock:
            written = os.writev(self.fd, parts) if len(parts) > 1 else os.write(self.fd, parts[0])
            if written != size:  # a full disk: what is on the file is a torn record, which readers skip
                raise OSError(f"the prediction log took {written} of {size} bytes")
            self.size += size
            self.records += len(entries)
            self.records_total += len(entries)
            self.bytes_total += size
            stamp = entries[-1].get("t")
            self.first_at = self.first_at or entries[0].get("t")
            self.last_at = stamp
            self._dirty = True
            if self.size >= self.max_bytes or time.monotonic() - self.opened >= self.max_seconds:
                self._rotate_locked()

    def _rotate_locked(self) -> None:
        os.close(self.fd)  # its bytes reach the disk in the compressing thread, not under the writers' lock
        closed = self.path
        self._open()
        threading.Thread(target=self._compress, args=(closed,), name="predlog-compress", daemon=True).start()

    def _compress(self, raw: Path) -> None:
        with open(raw, "rb") as closed:  # the raw segment on disk first: a power cut while compressing loses nothing
            os.fdatasync(closed.fileno())
        suffix = RAW_SUFFIX if raw.name.endswith(RAW_SUFFIX) else OLD_SUFFIXES[0]
        target = raw.with_name(raw.name[: -len(suffix)] + suffix + ".zst")
        partial = target.with_name(f".{target.name}.part")
        records, first, last = 0, None, None
        with open(raw, "rb") as source, open(partial, "wb") as sink:
            with zstandard.ZstdCompressor(level=1).stream_writer(sink, closefd=False) as zipped:
                for line, blob in _records(source):  # a torn last record stops it: its write never completed
                    zipped.write(line)
                    if blob:
                        zipped.write(blob)
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
            os.fdatasync(self.fd)
            os.close(self.fd)
            closed, self.fd = self.path, -1
        self._compress(closed)


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


def read_segments(folder: Path):
    """Every record in ``folder``, compressed segments and the open one, oldest first; an input matrix written
    as raw bytes comes back as a numpy array."""
    if not Path(folder).is_dir():
        return
    for path in sorted(Path(folder).iterdir()):
        if path.name.startswith("."):
            continue
        if path.name.endswith((ZST_SUFFIX, OLD_SUFFIXES[1])):
            with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as reader:
                yield from _entries(io.BufferedReader(reader))
        elif path.name.endswith((RAW_SUFFIX, OLD_SUFFIXES[0])):
            with open(path, "rb") as handle:
                yield from _entries(handle)


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


def _stamp(line: bytes | None) -> str | None:
    if not line:
        return None
    try:
        value = json.loads(line).get("t")
    except ValueError:
        return None
    return datetime.fromtimestamp(value, UTC).isoformat() if isinstance(value, int | float) else value
