"""A prediction that was answered is in the log, whatever happens to the agent process afterwards."""

from __future__ import annotations

import threading
import time

import pytest

from serving.agent.predlog import OPEN_SUFFIX, ZST_SUFFIX, read_segments
from tests.agent.conftest import call, record

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
