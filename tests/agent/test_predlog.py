"""The prediction log's framed records: input matrices and many-row outputs as raw bytes after the JSON line,
compressed as they are written, read back exactly; a record cut short anywhere (the kill or power cut mid-write)
is dropped, never a complete one."""

from __future__ import annotations

import json
import os

import numpy as np

from serving.agent.predlog import OPEN_SUFFIX, RAW_SUFFIX, ZST_SUFFIX, PredictionLog, read_segments


def _entries():
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    scores = np.linspace(0, 1, 4)
    return [
        {"t": 1.0, "id": "one", "n": 1, "x": [[1.5, "masked:ab", None]], "y": {"score": [0.25], "label": [1]}},
        {"t": 2.0, "id": "many", "n": 4, "x": matrix, "y": {"score": scores, "label": np.array([0, 1, 1, 0])}},
        {"t": 3.0, "id": "after", "n": 4, "x": matrix[::-1].copy(), "y": {"score": scores[::-1].copy()}},
    ]


def _same(logged: dict, written: dict) -> None:
    assert logged.keys() == written.keys()
    for key, value in written.items():
        if isinstance(value, np.ndarray):
            assert isinstance(logged[key], np.ndarray) and logged[key].dtype == value.dtype
            assert np.array_equal(logged[key], value)
        elif isinstance(value, dict):
            _same(logged[key], value)
        else:
            assert logged[key] == value


def _decompressed(data: bytes) -> bytes:
    import io

    import zstandard

    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True) as reader:
        return reader.read()


def _framed(entries) -> bytes:
    """The records as an earlier agent wrote them raw: a JSON line, then the arrays' bytes."""
    from serving.agent.predlog import _described, _encode

    out = []
    for entry in entries:
        blobs = []
        described = _described(entry, blobs)
        if blobs:
            out += [_encode({"raw": sum(len(b) for b in blobs), **described}) + b"\n", *[bytes(b) for b in blobs]]
        else:
            out.append(_encode(entry) + b"\n")
    return b"".join(out)


def test_records_with_raw_bytes_read_back_exactly_open_and_compressed(tmp_path):
    import hashlib

    from serving.agent.predlog import _SEALED

    reported = []
    plog = PredictionLog(tmp_path, mask_key=b"k" * 32, on_closed=reported.append)
    written = _entries()
    for entry in written:
        plog.write([entry])
    segment = next(tmp_path.glob(f"*{OPEN_SUFFIX}"))
    raw = _decompressed(segment.read_bytes())  # compressed as written, every record whole on the file
    assert raw == _framed(written) and b"b64" not in raw
    assert (np.arange(12, dtype=np.float32).reshape(4, 3) / 7).tobytes() in raw  # as in memory
    for logged, entry in zip(read_segments(tmp_path), written, strict=True):
        _same(logged, entry)
    plog.close()
    (sealed,) = tmp_path.iterdir()
    assert sealed.name.endswith(ZST_SUFFIX) and sealed.read_bytes().endswith(_SEALED)
    assert reported == [{"name": sealed.name, "sha256": hashlib.sha256(sealed.read_bytes()).hexdigest(),
                         "records": 3, "first_at": "1970-01-01T00:00:01+00:00",
                         "last_at": "1970-01-01T00:00:03+00:00"}]
    for logged, entry in zip(read_segments(tmp_path), written, strict=True):
        _same(logged, entry)


def test_an_open_segment_cut_short_at_any_byte_keeps_every_whole_record_and_seals(tmp_path):
    """The kill or power cut mid-write: whatever byte the file ends at, the records written whole before it read
    back and are sealed at the next start; the one cut short is dropped."""
    source = tmp_path / "source"
    plog = PredictionLog(source, mask_key=b"k" * 32)
    written = _entries() * 2
    ends = []
    for entry in written:
        plog.write([entry])
        ends.append(plog.size)
    data = next(source.glob(f"*{OPEN_SUFFIX}")).read_bytes()
    plog.close()
    _cut_everywhere(tmp_path, data, OPEN_SUFFIX, written, ends)


def _cut_everywhere(tmp_path, data: bytes, suffix: str, written: list, ends: list) -> None:
    """The segment cut at every byte: the records whose ends it holds read back, are sealed at the next start,
    and nothing is left open."""
    for cut in range(len(data) + 1):
        folder = tmp_path / f"cut-{cut}"
        folder.mkdir()
        (folder / f"20261203T000000-000000-1{suffix}").write_bytes(data[:cut])
        complete = sum(1 for end in ends if end <= cut)
        assert [e["id"] for e in read_segments(folder)] == [e["id"] for e in written[:complete]], cut
        reported = []
        again = PredictionLog(folder, mask_key=b"k" * 32, on_closed=reported.append)  # seals the leftover
        again.close()
        assert sum(r["records"] for r in reported) == complete, cut
        assert [e["id"] for e in read_segments(folder)] == [e["id"] for e in written[:complete]], cut
        assert not list(folder.glob(f"*{suffix}")), cut


def test_a_whole_segment_left_open_by_a_kill_before_its_rename_keeps_its_bytes_and_digest(tmp_path):
    """Sealed, reported, then killed before the rename: the next start reports the same name and digest again
    (the control plane stores it once) and renames it."""
    import shutil

    reported = []
    plog = PredictionLog(tmp_path / "a", mask_key=b"k" * 32, on_closed=reported.append)
    for entry in _entries():
        plog.write([entry])
    with plog._lock:
        closed = plog._finish_locked()
    whole = closed[0].read_bytes()
    shutil.copyfile(closed[0], tmp_path / "left-open")
    plog._seal(*closed)
    (tmp_path / "b").mkdir()
    shutil.copyfile(tmp_path / "left-open", tmp_path / "b" / closed[0].name)
    again = []
    PredictionLog(tmp_path / "b", mask_key=b"k" * 32, on_closed=again.append).close()
    assert again[0] == reported[0] and (tmp_path / "b" / reported[0]["name"]).read_bytes() == whole


def test_a_raw_segment_left_by_an_earlier_agent_cut_short_at_any_byte_is_compressed_whole_records_only(tmp_path):
    written = _entries()
    raw = _framed(written)
    ends = [len(_framed(written[: i + 1])) for i in range(len(written))]
    _cut_everywhere(tmp_path, raw, RAW_SUFFIX, written, ends)


def test_a_segment_of_plain_json_lines_left_by_an_earlier_agent_is_compressed_and_read(tmp_path):
    lines = [{"t": 1.0, "id": "old-1", "x": {"dtype": "<f4", "shape": [1, 1], "b64": "AACAPw=="}},
             {"t": 2.0, "id": "old-2", "x": [[1.0]]}]
    (tmp_path / "20261201T000000-000000-9.jsonl").write_bytes(b"".join(json.dumps(e).encode() + b"\n"
                                                                       for e in lines) + b'{"t": 3.0, "id"')
    reported = []
    plog = PredictionLog(tmp_path, mask_key=b"k" * 32, on_closed=reported.append)
    plog.write([{"t": 4.0, "id": "new", "x": np.ones((2, 2), dtype=np.float32)}])
    plog.close()
    assert [r["records"] for r in reported] == [2, 1] and reported[0]["name"].endswith(".jsonl.zst")
    assert [e["id"] for e in read_segments(tmp_path)] == ["old-1", "old-2", "new"]
    assert not [p for p in os.listdir(tmp_path) if p.endswith((".jsonl", RAW_SUFFIX, OPEN_SUFFIX))]


def test_a_segment_of_mixed_records_compresses_to_frames_that_give_back_its_bytes_and_its_digest(tmp_path):
    """Runs of JSON-line records and of records with raw tensor bytes go to frames of their own (levels for each):
    the file decompresses, frame after frame, into exactly the records' bytes, reads back record by record, and
    the digest reported is the sha256 of the file on disk."""
    import hashlib

    closed = []
    plog = PredictionLog(tmp_path, mask_key=b"k" * 32, on_closed=closed.append)
    rng = np.random.default_rng(7)
    written = []
    for i in range(30):  # alternating runs: 1, 2, 3 ... records of one kind
        for _ in range(i % 4 + 1):
            if i % 2:
                entry = {"t": float(len(written)), "id": f"m{len(written)}", "n": 64,
                         "x": rng.normal(size=(64, 30)).astype(np.float32), "y": {"score": rng.random(64)}}
            else:
                entry = {"t": float(len(written)), "id": f"s{len(written)}", "n": 1, "x": [[1.0, 2.0]],
                         "y": {"score": [0.5]}}
            written.append(entry)
            plog.write([entry])
    plog.close()
    (segment,) = tmp_path.glob(f"*{ZST_SUFFIX}")
    data = segment.read_bytes()
    assert closed[-1]["sha256"] == hashlib.sha256(data).hexdigest() and closed[-1]["records"] == len(written)
    assert data.count(b"\x28\xb5\x2f\xfd") >= 30  # a frame (its magic number) for each run, at least
    assert _decompressed(data) == _framed(written)
    for logged, entry in zip(read_segments(tmp_path), written, strict=True):
        _same(logged, entry)


def test_the_open_segment_reserves_disk_blocks_ahead_and_its_size_stays_what_was_written(tmp_path):
    """Blocks are reserved ahead of the writes (Linux: fallocate, keeping the size), never past a step beyond what
    was written; the file's size is exactly the records', so a crash leaves nothing a reader would take."""
    import sys

    from serving.agent.predlog import RESERVE_STEP

    plog = PredictionLog(tmp_path, mask_key=b"k" * 32)
    for entry in _entries() * 20:
        plog.write([entry])
    info = os.stat(plog.path)
    assert info.st_size == plog.size
    if sys.platform == "linux":
        assert plog.size + RESERVE_STEP // 2 <= info.st_blocks * 512 <= plog.size + RESERVE_STEP + (1 << 20)
    assert len(list(read_segments(tmp_path))) == 60
    plog.close()


def test_a_write_the_disk_cuts_short_fails_loudly_and_loses_no_record_written_before_it(tmp_path, monkeypatch):
    """A full disk mid-record: the write raises, the torn segment is sealed from the records that read back whole,
    and the next record goes to a fresh segment."""
    import pytest

    from serving.agent import predlog

    reported = []
    plog = PredictionLog(tmp_path, mask_key=b"k" * 32, on_closed=reported.append)
    first, torn, after = _entries()
    plog.write([first])
    real = os.write

    def half(fd, data):
        return real(fd, bytes(data)[: len(data) // 2])

    monkeypatch.setattr(predlog.os, "write", half)
    with pytest.raises(OSError, match="took"):
        plog.write([torn])
    monkeypatch.undo()
    plog.write([after])
    plog.close()
    assert [e["id"] for e in read_segments(tmp_path)] == ["one", "after"]
    assert sorted(r["records"] for r in reported) == [1, 1]
    assert not list(tmp_path.glob(f"*{OPEN_SUFFIX}"))


def test_every_record_of_an_open_segment_is_read_and_sealed_whatever_its_length(tmp_path):
    """The open segment as a SIGKILL leaves it (its frame unfinished) at 31 lengths of a load-test-like run: every
    record reads back, and sealing it at the next start keeps every one. zstandard's stream reader, read in 8 kB
    pieces, stopped short of the output it still held for 6 of these 31 (the last record of each: an answered
    prediction lost from the log, and dropped for good when the segment was sealed)."""
    rng = np.random.default_rng(1)
    for count in range(5, 700, 23):
        folder = tmp_path / str(count)
        log = PredictionLog(folder, mask_key=b"k" * 32)
        for i in range(count):
            rows = int(rng.integers(1, 4))
            log.write([{"t": 1.0 + i, "id": f"r{i}", "n": rows, "x": rng.random((rows, 30)).round(6).tolist(),
                        "y": {"score": rng.random(rows).round(6).tolist()}}])
        log._closing.set()  # the kill: nothing finished, nothing sealed
        os.close(log.fd)
        assert [entry["id"] for entry in read_segments(folder)] == [f"r{i}" for i in range(count)], count
        PredictionLog(folder, mask_key=b"k" * 32).close()  # the next start seals it
        sealed = [p for p in folder.iterdir() if p.name.endswith(ZST_SUFFIX)]
        assert len(sealed) == 1 and not any(p.name.endswith(OPEN_SUFFIX) and p.stat().st_size for p in folder.iterdir())
        assert [entry["id"] for entry in read_segments(folder)] == [f"r{i}" for i in range(count)], count


def test_a_disk_refusing_every_write_costs_no_file_and_no_thread_a_record(tmp_path, monkeypatch):
    """A full disk refuses every write: each record raises LogUnavailable (with the disk's reason), the segment with
    whole records is sealed once, and the fresh one is cut back and kept, not replaced for each refused record.
    Once the disk takes writes again, records go on, and every one written before and after reads back."""
    import errno
    import threading

    import pytest

    from serving.agent import predlog

    plog = PredictionLog(tmp_path, mask_key=b"k" * 32)
    first, refused, after = _entries()
    plog.write([first])
    real = os.write

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(predlog.os, "write", full)
    threads = threading.active_count()
    for _ in range(50):
        with pytest.raises(predlog.LogUnavailable, match="No space left on device"):
            plog.write([refused])
    for sealing in plog._sealing:
        sealing.join(10)
    assert threading.active_count() <= threads  # the one sealing thread has ended; none for each record
    assert plog.failures == 50 and plog.failure == "No space left on device"
    segments = sorted(p.name for p in tmp_path.iterdir())
    assert len(segments) == 2 and sum(name.endswith(OPEN_SUFFIX) for name in segments) == 1, segments
    monkeypatch.setattr(predlog.os, "write", real)
    plog.write([after])
    assert plog.failure is None
    plog.close()
    assert [e["id"] for e in read_segments(tmp_path)] == ["one", "after"]


def test_a_segment_whose_sealing_the_disk_refused_is_sealed_and_reported_once_it_can(tmp_path):
    """The report of a rotated segment cannot be written (its outbox is on the full disk): the segment stays open on
    disk, and the sync thread seals and reports it within seconds once the disk takes writes, exactly once."""
    import errno
    import time

    reported, refuse = [], [True]

    def on_closed(entry):
        if refuse[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        reported.append(entry)

    plog = PredictionLog(tmp_path, mask_key=b"k" * 32, max_bytes=1, on_closed=on_closed)  # rotates every record
    first, second, _third = _entries()
    plog.write([first])
    for sealing in plog._sealing:
        sealing.join(10)
    assert len(list(tmp_path.glob(f"*{OPEN_SUFFIX}"))) == 2 and not reported  # the rotated one left open
    refuse[0] = False
    deadline = time.monotonic() + 10
    while not reported and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [entry["records"] for entry in reported] == [1]
    plog.write([second])
    plog.close()
    assert [entry["records"] for entry in reported] == [1, 1]
    assert [e["id"] for e in read_segments(tmp_path)] == ["one", "many"]
    assert not list(tmp_path.glob(f"*{OPEN_SUFFIX}"))
