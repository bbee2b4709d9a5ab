"""A prediction that was answered is in the log, whatever happens to the agent process afterwards."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from serving.agent.predlog import OPEN_SUFFIX, ZST_SUFFIX, read_segments
from tests.agent.conftest import TOKEN, call, record

pytestmark = pytest.mark.slow


def test_sigkill_under_load_loses_no_answered_prediction(gbdt_release, agent_factory):
    agent = agent_factory(gbdt_release, "--log-max-mb", "0.2")  # small segments: rotation happens under load too
    answered: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def client(n: int) -> None:
        sequence = 0
        while not stop.is_set():
            sequence += 1
            rid = f"c{n}-{sequence}"
            rows = [record(gbdt_release.x[(n + sequence) % len(gbdt_release.x)])] * (1 + sequence % 3)
            try:
                status, headers, _payload = call(f"{agent.url}/v1/models/gbdt/predict", {"records": rows},
                                                 headers={"X-Request-Id": rid})
            except OSError as exc:  # the kill: connections reset, answers never sent
                failures.append(str(exc))
                return
            if status == 200:
                assert headers["x-request-id"] == rid
                answered.append(rid)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    agent.kill()
    stop.set()
    for thread in threads:
        thread.join(30)
    assert len(answered) > 20  # enough answers in flight to matter, even on a loaded machine
    folder = agent.state / "log" / "1"
    assert any(p.name.endswith(OPEN_SUFFIX) for p in folder.iterdir())  # the open segment, as the kill left it
    logged_before = {entry["id"] for entry in read_segments(folder)}
    assert set(answered) <= logged_before

    again = agent_factory(gbdt_release, state=agent.state, port=agent.port)  # compresses what the kill left open
    assert call(f"{again.url}/v1/models/gbdt/predict", {"features": record(gbdt_release.x[0])},
                headers={"X-Request-Id": "after-restart"})[0] == 200
    again.stop()
    entries = list(read_segments(folder))
    logged = [entry["id"] for entry in entries]
    assert set(answered) <= set(logged) and "after-restart" in logged
    assert len(logged) == len(set(logged))  # each answer once
    assert all(p.name.endswith(ZST_SUFFIX) for p in folder.iterdir() if not p.name.startswith("."))
    import hashlib
    import json

    digests = [json.loads(p.read_text()) for p in (agent.state / "outbox" / "log-digests").glob("*.json")]
    segments = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()
                if p.name.endswith(ZST_SUFFIX)}
    # Every segment reported with its digest; a segment the kill caught between its report and its rename is sealed
    # again into the same bytes and reported again, which the control plane stores once.
    assert {d["name"]: d["sha256"] for d in digests} == segments


def test_sigterm_under_load_finishes_the_requests_in_flight_and_leaves_everything_sealed(gbdt_release, agent_factory):
    """An operator's restart: SIGTERM while keep-alive clients send batches. The agent stops taking connections,
    answers what it has, seals its log and writes its last window, and exits 0 within seconds. No request gets an
    error status; a connection fails at most once, as the agent closes it; every answer is in the log exactly
    once, and the window counts what the log holds."""
    import http.client
    import json
    import signal

    agent = agent_factory(gbdt_release)
    body = json.dumps({"records": [record(row) for row in gbdt_release.x[:256]]}).encode()
    answered: list[str] = []
    statuses: list[int] = []
    failures: dict[int, int] = {}
    stop = threading.Event()

    def client(n: int) -> None:
        connection, sequence = None, 0
        while not stop.is_set():
            sequence += 1
            rid = f"c{n}-{sequence}"
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=30)
                connection.request("POST", "/v1/models/gbdt/predict", body,
                                   {"Content-Type": "application/json", "X-Request-Id": rid,
                                    "Authorization": "Bearer " + TOKEN})
                answer = connection.getresponse()
                answer.read()
            except ConnectionRefusedError:  # the listener is closed: nothing was sent
                stop.wait(0.05)
                connection = None
                continue
            except (OSError, http.client.HTTPException):
                failures[n] = failures.get(n, 0) + 1
                connection = None
                continue
            statuses.append(answer.status)
            if answer.status == 200:
                answered.append(rid)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    sent = time.monotonic()
    agent.process.send_signal(signal.SIGTERM)
    assert agent.process.wait(20) == 0, agent.log()[-3000:]
    took = time.monotonic() - sent
    stop.set()
    for thread in threads:
        thread.join(30)
    assert took < 10 and len(answered) > 10, (took, len(answered))
    assert set(statuses) == {200}, statuses
    assert all(count <= 1 for count in failures.values()), failures
    folder = agent.state / "log" / "1"
    logged = [entry["id"] for entry in read_segments(folder)]
    assert set(answered) <= set(logged) and len(logged) == len(set(logged))
    assert all(p.name.endswith(ZST_SUFFIX) for p in folder.iterdir() if not p.name.startswith("."))
    windows = [json.loads(p.read_text()) for p in (agent.state / "outbox" / "windows").glob("*.json")]
    assert sum(w["requests"] for w in windows) == len(logged)
    assert sum(w["predictions"] for w in windows) == 256 * len(logged)


def test_a_log_the_os_will_not_take_refuses_the_prediction_clearly_and_answers_nothing_unlogged(
        gbdt_release, agent_factory, tmp_path):
    """The agent under a file-size limit (RLIMIT_FSIZE): the OS refuses a segment's writes past 1 MB, as a full disk
    would. The prediction in hand is refused with 503 ``log_unavailable`` and Retry-After on both routes, in each
    route's error shape: never answered, nor counted against the day's stop-limit. The host turns unready for a
    few seconds, says so once in its own log (no stack per request), counts it on /metrics, and carries on in a
    fresh segment. The log holds exactly the answered requests."""
    import json

    from tests.agent.conftest import variant

    limited = variant(gbdt_release, tmp_path / "limited", max_decisions_per_day=10**6)
    agent = agent_factory(limited, file_limit=1_000_000)
    rng = np.random.default_rng(5)
    answered, refused = [], []
    for n in range(40):
        rid = f"r{n}"
        # rows that differ from request to request, as traffic does (a repeated body compresses to nothing)
        matrix = (gbdt_release.x[:1024] * (1 - 1e-3 * rng.random((1024, gbdt_release.x.shape[1])))).astype(np.float32)
        if n % 2:
            status, headers, payload = call(f"{agent.url}/v1/models/gbdt/predict",
                                            {"records": [record(row) for row in matrix[:200]]},
                                            headers={"X-Request-Id": rid})
        else:
            data = matrix.tobytes()
            header = json.dumps({"inputs": [{"name": "X", "shape": list(matrix.shape), "datatype": "FP32",
                                             "parameters": {"binary_data_size": len(data)}}]}).encode()
            status, headers, payload = call(f"{agent.url}/v2/models/gbdt/infer", raw=header + data,
                                            headers={"Inference-Header-Content-Length": str(len(header)),
                                                     "Content-Type": "application/octet-stream", "X-Request-Id": rid})
        assert status in (200, 503), (status, payload[:300])
        if status == 200:
            answered.append(rid)
            continue
        refused.append(rid)
        body = json.loads(payload)
        error = body["error"] if n % 2 else {"code": "log_unavailable", "message": body["error"]}
        assert error["code"] == "log_unavailable" and "cannot be written" in error["message"], body
        headers = {key.lower(): value for key, value in headers.items()}
        assert headers["retry-after"] == "5" and headers["x-request-id"] == rid
        if len(refused) == 1:
            status, _h, ready = call(f"{agent.url}/v2/health/ready")
            [reason] = json.loads(ready)["reasons"]
            assert status == 503 and reason.startswith("the prediction log of deployment 1 cannot be written: ")
    assert refused and len(answered) > 20, (answered, refused)
    metrics = call(f"{agent.url}/metrics")[2].decode()
    assert f"mg_agent_log_write_failures_total {len(refused)}" in metrics
    assert f'outcome="log_unavailable"}} {len(refused)}' in metrics
    agent.stop()
    entries = list(read_segments(agent.state / "log" / "1"))
    assert sorted(entry["id"] for entry in entries) == sorted(answered)
    from serving.agent.core import DailyCounter

    assert DailyCounter(agent.state / "counters" / "1.bin").value() == sum(entry["n"] for entry in entries)
    segments = list((agent.state / "log" / "1").iterdir())
    assert len(segments) > 1 and all(p.stat().st_mode & 0o077 == 0 for p in segments)  # resealed ones private too
    text = agent.log()
    assert "cannot be written" in text and "Traceback" not in text, text[-3000:]


def test_a_disk_nearly_full_is_reported_before_a_prediction_is_refused(gbdt_release, tmp_path):
    """The heartbeat reports the state directory's disk as nearly full below the floor (an alert on the control
    plane, before any write fails) and not above it; /metrics carries the free space."""
    import os

    from serving.agent.agent import Agent, Config

    def agent(floor: int) -> Agent:
        made = Agent(Config(state_dir=tmp_path / f"state-{floor}", release=gbdt_release.folder,
                            signature=gbdt_release.signature, public_key=gbdt_release.public_key,
                            allow_anonymous=True, log_disk_floor_bytes=floor))
        made.start()
        return made

    stats = os.statvfs(tmp_path)
    free = stats.f_bavail * stats.f_frsize
    tight = agent(free * 4)
    [problem] = [p for p in tight.heartbeat_body()["problems"] if p["kind"] == "log_disk_low"]
    assert "MB free for the prediction log" in problem["message"] and str(tight.root) in problem["message"]
    assert problem["args"]["path"] == str(tight.root) and problem["args"]["floor_mb"] == (free * 4) >> 20
    assert f"{problem['args']['free_mb']} MB free" in problem["message"]
    metrics = tight.metrics_text().decode()
    reported = int(next(line.split()[1] for line in metrics.splitlines()
                        if line.startswith("mg_agent_log_disk_free_bytes ")))
    assert abs(reported - free) < free // 10 + (64 << 20)
    roomy = agent(0)
    assert not [p for p in roomy.heartbeat_body()["problems"] if p["kind"] == "log_disk_low"]


def test_windows_the_disk_refuses_are_kept_and_written_later_in_order(gbdt_release, tmp_path, monkeypatch):
    """A full disk when a window closes: the outbox takes nothing and keeps its sequence free, the agent keeps the
    window (its end time fixed) and writes it before the next one once the disk takes writes again; none lost,
    none twice."""
    import errno
    import json
    import os

    from serving.agent import windows as windows_module
    from serving.agent.agent import Agent, Config

    agent = Agent(Config(state_dir=tmp_path / "state", release=gbdt_release.folder, signature=gbdt_release.signature,
                         public_key=gbdt_release.public_key, allow_anonymous=True))
    agent.start()
    (loaded,) = agent.served["gbdt"].all()

    def close_one(requests: int) -> list:
        for _ in range(requests):
            loaded.window.answered(1.0, 1)
        return agent.close_windows()

    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(windows_module.os, "fsync", full)
    agent.write_windows(close_one(3))
    agent.write_windows(close_one(4))
    outbox = agent.root / "outbox" / "windows"
    assert not list(outbox.glob("*.json")) and not list(outbox.glob(".*.part")) and len(agent._unwritten) == 2
    monkeypatch.setattr(windows_module.os, "fsync", real_fsync)
    agent.write_windows(close_one(5))
    written = [json.loads(p.read_text()) for p in sorted(outbox.glob("*.json"))]
    assert [w["requests"] for w in written] == [3, 4, 5] and agent._unwritten == []
    assert [w["sequence"] for w in written] == [1, 2, 3]
    assert written[0]["ended_at"] <= written[1]["ended_at"] <= written[2]["ended_at"]
    assert agent.report_unwritten() == []


def test_windows_the_disk_still_refuses_at_a_stop_go_to_the_log_in_full(gbdt_release, tmp_path, monkeypatch,
                                                                        caplog):
    """Stopping with the disk still full, the windows kept in memory cannot outlive the process: each is written to
    the agent's log, whole, for an operator to deliver by hand, instead of vanishing without a word."""
    import errno
    import json
    import logging
    import os

    from serving.agent import windows as windows_module
    from serving.agent.agent import Agent, Config

    agent = Agent(Config(state_dir=tmp_path / "state", release=gbdt_release.folder, signature=gbdt_release.signature,
                         public_key=gbdt_release.public_key, allow_anonymous=True))
    agent.start()
    (loaded,) = agent.served["gbdt"].all()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(windows_module.os, "fsync", full)
    for requests in (3, 4):
        for _ in range(requests):
            loaded.window.answered(1.0, 1)
        agent.write_windows(agent.close_windows())
    with caplog.at_level(logging.ERROR, logger="mg.agent"):
        lost = agent.report_unwritten()
    assert [w["requests"] for w in lost] == [3, 4] and all(w["sequence"] is None for w in lost)
    [record] = [r for r in caplog.records if "could not be written to disk" in r.getMessage()]
    logged = json.loads(record.getMessage().split("are not delivered: ", 1)[1])
    assert logged == lost and logged[0]["deployment"] == 1 and logged[0]["version"] == loaded.version
