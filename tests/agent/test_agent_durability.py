"""A prediction that was answered is in the log, whatever happens to the agent process afterwards."""

from __future__ import annotations

import threading
import time

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
