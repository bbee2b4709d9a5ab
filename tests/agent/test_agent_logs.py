"""``python -m serving.agent.logs``: a real agent's log read back by request id and time, and checked against the
digests it reported; a file altered, deleted or slipped in afterwards is named and fails the check."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime

import numpy as np
import pytest

from serving.agent import logs
from serving.agent.predlog import ZST_SUFFIX
from tests.agent.conftest import call, record
from tests.agent.test_agent_serving import _binary_infer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(gbdt_release, tmp_path_factory):
    """An agent that answered 40 JSON requests and a binary one, rotating its log every few records, then stopped
    (the last segment sealed); the digests it queued are what a control plane would hold."""
    from tests.agent.conftest import AgentProcess, free_port

    tmp = tmp_path_factory.mktemp("logs")
    clients = tmp / "clients.json"
    clients.write_text(json.dumps({"clients": []}))
    state = tmp / "state"
    port = free_port()
    agent = AgentProcess(port=port, state=state, args=[
        "--release", str(gbdt_release.folder), "--signature", str(gbdt_release.signature), "--public-key",
        str(gbdt_release.public_key), "--state-dir", str(state), "--clients-file", str(clients),
        "--allow-anonymous", "--port", str(port), "--log-level", "WARNING", "--log-max-mb", "0.002"])
    agent.start()
    try:
        before = time.time()
        for n in range(40):
            status, _h, _p = call(f"{agent.url}/v1/models/gbdt/predict", {"features": record(gbdt_release.x[n])},
                                  token=None, headers={"X-Request-Id": f"req-{n}"})
            assert status == 200
            if n == 19:
                middle = time.time()
        assert _binary_infer(agent, gbdt_release.x[:3], token=None)[0] == 200
    finally:
        agent.stop()
    digests = [json.loads(p.read_text()) for p in sorted((state / "outbox" / "log-digests").glob("*.json"))]
    assert len(digests) >= 3  # rotated under way, and sealed on the way down
    reported = [{**d, "host": None} for d in digests]
    (state / "outbox" / "log-digests").rename(tmp / "delivered")  # as after delivery: the outbox empty
    (state / "outbox" / "log-digests").mkdir()
    return state, reported, before, middle


def _verify(state, reported, tmp_path, capsys, *extra) -> tuple[int, str]:
    path = tmp_path / "digests.json"
    path.write_text(json.dumps({"count": len(reported), "next": None, "previous": None, "results": reported}))
    code = logs.main(["--state-dir", str(state), "verify", "--digests", str(path), *extra])
    return code, capsys.readouterr().out


def test_find_gives_back_a_request_by_its_id_and_records_by_time(served, capsys, gbdt_release):
    state, _reported, before, middle = served
    assert logs.main(["--state-dir", str(state), "find", "--id", "req-7", "--id", "req-31"]) == 0
    found = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [entry["id"] for entry in found] == ["req-7", "req-31"]
    assert found[0]["v"] == 1 and len(found[0]["y"]["score"]) == 1 and found[0]["at"].startswith("20")
    since = datetime.fromtimestamp(middle, UTC).isoformat()
    assert logs.main(["--state-dir", str(state), "find", "--since", since, "--limit", "100"]) == 0
    later = [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()]
    assert "req-19" not in later and "req-20" in later and "req-39" in later and len(later) == 21  # + the binary
    assert logs.main(["--state-dir", str(state), "find", "--limit", "1", "--since",
                      datetime.fromtimestamp(before, UTC).isoformat()]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "req-0"
    binary = [e for e in logs.find(state) if e["n"] == 3]
    assert len(binary) == 1
    assert logs.main(["--state-dir", str(state), "find", "--id", binary[0]["id"]]) == 0
    tensor = json.loads(capsys.readouterr().out)["x"]
    assert np.array_equal(np.asarray(tensor, dtype=np.float32), gbdt_release.x[:3])  # the inputs, bit for bit


def test_verify_passes_a_log_as_reported_and_names_every_file_changed_since(served, tmp_path, capsys):
    state, reported, _before, _middle = served
    code, out = _verify(state, reported, tmp_path, capsys)
    assert code == 0 and f"{len(reported)} ok" in out

    copy = tmp_path / "copy"
    shutil.copytree(state, copy)
    folder = copy / "log" / "1"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(ZST_SUFFIX))
    data = bytearray(files[0].read_bytes())
    data[len(data) // 2] ^= 1
    files[0].write_bytes(bytes(data))  # one bit of one answer changed
    files[1].unlink()  # a file deleted
    shutil.copy(files[2], folder / ("20990101T000000-000000-1" + ZST_SUFFIX))  # a file slipped in
    (copy / "outbox" / "log-digests" / "000000000001.json").write_text(json.dumps(
        {"deployment": 1, "name": "20990101T000001-000000-1" + ZST_SUFFIX}))
    shutil.copy(files[2], folder / ("20990101T000001-000000-1" + ZST_SUFFIX))  # sealed, waiting to be reported
    code, out = _verify(copy, reported, tmp_path, capsys, "--json")
    found = json.loads(out)
    status = {f["name"]: f["status"] for f in found["findings"]}
    assert code == 1 and found["failing"] == 3
    assert status[files[0].name] == "altered" and status[files[1].name] == "missing"
    assert status["20990101T000000-000000-1" + ZST_SUFFIX] == "unreported"
    assert status["20990101T000001-000000-1" + ZST_SUFFIX] == "pending"
    assert [f["status"] for f in found["findings"]].count("ok") == len(reported) - 2


def test_verify_refuses_digests_it_cannot_read_and_a_control_plane_it_may_not_trust(served, tmp_path, capsys):
    state, _reported, _before, _middle = served
    bad = tmp_path / "bad.json"
    for text in ("<html>", json.dumps({"error": {"code": "not_found"}}), json.dumps([{"name": "x"}])):
        bad.write_text(text)
        assert logs.main(["--state-dir", str(state), "verify", "--digests", str(bad)]) == 2
        assert "logs verify:" in capsys.readouterr().err
    token = tmp_path / "token"
    token.write_text("mgt_secret")
    assert logs.main(["--state-dir", str(state), "verify", "--control-plane", "file:///etc", "--token-file",
                      str(token), "--deployment", "1"]) == 2
    assert "not an http(s) URL" in capsys.readouterr().err
    assert logs.main(["--state-dir", str(state), "verify", "--control-plane", "http://127.0.0.1:9", "--token-file",
                      str(token), "--deployment", "1"]) == 2
    assert "could not be read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        logs.main(["--state-dir", str(tmp_path), "find"])
    assert stop.value.code == 2 and "holds no prediction log" in capsys.readouterr().err


def test_a_digest_the_control_plane_refuses_as_changed_is_kept_aside_and_the_rest_delivered(tmp_path):
    """A 409 ``digest_changed`` (the control plane holds another sha256 for the file, and has raised an alert) must
    not hold every later report back: that one report is kept aside for a person, the others go."""
    from serving.agent import controlplane as cp
    from serving.agent.agent import Agent
    from serving.agent.windows import Outbox

    class Plane:
        def __init__(self):
            self.stored: list[str] = []

        def windows(self, items):
            return {}

        def log_digests(self, items):
            for index, item in enumerate(items):
                if item["sha256"] == "b" * 64:
                    raise cp.Refused(409, "digest_changed", "another sha256", {"index": index})
                self.stored.append(item["name"])
            return {}

    agent = Agent.__new__(Agent)
    agent.windows_outbox = Outbox(tmp_path / "windows")
    agent.digests_outbox = Outbox(tmp_path / "digests")
    for name, sha in (("a", "a" * 64), ("b", "b" * 64), ("c", "c" * 64)):
        agent.digests_outbox.put(lambda _seq, n=name, s=sha: {"deployment": 1, "name": n, "sha256": s})
    plane = Plane()
    agent.deliver(plane)
    assert plane.stored == ["a", "c"]  # a stored before the refusal is not sent again
    assert len(agent.digests_outbox) == 0
    kept = list((tmp_path / "digests").glob("*.refused"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["name"] == "b"
    with pytest.raises(cp.Refused):  # any other refusal still stops delivery for the sync loop to report
        agent.digests_outbox.put(lambda _seq: {"deployment": 1, "name": "d", "sha256": "d" * 64})
        plane.log_digests = lambda items: (_ for _ in ()).throw(cp.Refused(403, "permission_denied", "no"))
        agent.deliver(plane)
    assert len(agent.digests_outbox) == 1


def test_files_moved_off_the_host_after_the_retention_are_retired_not_missing(served, tmp_path, capsys):
    state, reported, _before, _middle = served
    copy = tmp_path / "copy"
    shutil.copytree(state, copy)
    oldest = min(reported, key=lambda d: d["last_at"])
    (copy / "log" / "1" / oldest["name"]).unlink()  # shipped to long-term storage
    later = datetime.fromtimestamp(time.time() + 3600, UTC).isoformat()
    code, out = _verify(copy, reported, tmp_path, capsys, "--retained-since", later, "--json")
    status = {f["name"]: f["status"] for f in json.loads(out)["findings"]}
    assert code == 0 and status[oldest["name"]] == "retired"
    code, out = _verify(copy, reported, tmp_path, capsys, "--retained-since", "2020-01-01T00:00:00")
    assert code == 1 and f"missing    1/{oldest['name']}" in out


def test_find_reads_only_the_segments_whose_names_span_the_period(tmp_path, monkeypatch):
    """Five segments an hour apart, one record stamped 10 s before its segment opened (answered slowly across a
    rotation): ``--since``/``--until`` give what a full read gives, and open only the segments that can hold them."""
    from serving.agent import predlog

    folder = tmp_path / "log" / "1"
    base = datetime(2026, 12, 3, 10, 0, tzinfo=UTC).timestamp()
    for hour in range(5):
        plog = predlog.PredictionLog(folder, mask_key=b"k" * 32)
        opened = base + hour * 3600
        stamps = [opened - 10] if hour == 3 else []
        stamps += [opened + minute * 60 for minute in range(0, 60, 15)]
        plog.write([{"t": t, "id": f"r{hour}-{i}", "n": 1, "x": [[1.0]], "y": {"score": [0.5]}}
                    for i, t in enumerate(stamps)])
        plog.close()
        sealed, = folder.glob(f"*{predlog.ZST_SUFFIX}")
        moment = datetime.fromtimestamp(opened, UTC)
        sealed.rename(folder / f"{moment:%Y%m%dT%H%M%S}-000000-1{predlog.ZST_SUFFIX}.kept")
    for kept in folder.glob("*.kept"):
        kept.rename(kept.with_name(kept.name[: -len(".kept")]))
    assert len(predlog.segment_paths(folder)) == 5

    opened_paths = []
    real = logs.read_segment
    monkeypatch.setattr(logs, "read_segment", lambda path: opened_paths.append(path.name[:11]) or real(path))
    everything = list(logs.find(tmp_path))
    assert len(everything) == 21 and len(opened_paths) == 5

    for since, until in [(base + 3 * 3600 - 20, base + 3 * 3600 + 1000), (base + 3600 + 30 * 60, None),
                         (None, base + 2 * 3600 - 1), (base + 4 * 3600 + 45 * 60, base + 9 * 3600)]:
        opened_paths.clear()
        found = [e["id"] for e in logs.find(tmp_path, since=since, until=until)]
        assert found == [e["id"] for e in everything
                         if (since is None or e["t"] >= since) and (until is None or e["t"] <= until)]
        assert found and len(opened_paths) < 5, (since, until, opened_paths)
    opened_paths.clear()
    assert [e["id"] for e in logs.find(tmp_path, since=base + 3 * 3600 - 20, until=base + 3 * 3600 - 5)] == ["r3-0"]
    assert opened_paths == ["20261203T12", "20261203T13"]  # the record stamped before its segment opened: found
