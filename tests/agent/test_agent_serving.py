"""The host agent as a real process on 127.0.0.1: it serves only what verifies, answers both protocols, refuses
every kind of bad request with a 4xx that names the feature and the rule, and logs what it answered."""

from __future__ import annotations

import json
import shutil
import struct
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from serving.agent import devrelease
from serving.agent.predlog import read_segments
from tests.agent.conftest import TOKEN, call, record, variant

pytestmark = pytest.mark.slow


def predict(agent, body, **kw):
    return call(f"{agent.url}/v1/models/gbdt/predict", body, **kw)


def error(payload: bytes) -> dict:
    body = json.loads(payload)["error"]
    return body if isinstance(body, dict) else json.loads(payload)


def test_answers_json_and_oip_with_version_and_request_id(gbdt_release, agent_factory):
    import tritonclient.http as triton

    agent = agent_factory(gbdt_release)
    x = gbdt_release.x[:3]
    status, headers, payload = predict(agent, {"records": [record(row) for row in x]},
                                       headers={"X-Request-Id": "req-abc.1"})
    body = json.loads(payload)
    assert status == 200 and headers["x-request-id"] == "req-abc.1" and headers["x-model-version"] == "1"
    assert body["request_id"] == "req-abc.1" and body["version"] == 1 and body["role"] == "champion"
    import onnxruntime as ort

    session = ort.InferenceSession(gbdt_release.artifact, providers=["CPUExecutionProvider"])
    expected = session.run(None, {"X": x})[1][:, 1]
    assert [p["score"] for p in body["predictions"]] == pytest.approx(expected.tolist(), abs=1e-6)

    client = triton.InferenceServerClient(f"127.0.0.1:{agent.port}")
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("gbdt")
    assert client.get_model_metadata("gbdt")["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 30]}]
    for binary in (True, False):
        tensor = triton.InferInput("X", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=binary)
        result = client.infer("gbdt", [tensor], request_id="tri-1", headers={"Authorization": f"Bearer {TOKEN}"},
                              outputs=[triton.InferRequestedOutput("probabilities", binary_data=binary)])
        assert result.as_numpy("probabilities")[:, 1] == pytest.approx(expected, abs=1e-6)
        assert result.get_response()["model_version"] == "1" and result.get_response()["id"] == "tri-1"


def _binary_infer(agent, matrix: np.ndarray, datatype="FP32", name="X", token=TOKEN):
    data = matrix.tobytes()
    header = json.dumps({"inputs": [{"name": name, "shape": list(matrix.shape), "datatype": datatype,
                                     "parameters": {"binary_data_size": len(data)}}]}).encode()
    return call(f"{agent.url}/v2/models/gbdt/infer", raw=header + data, token=token,
                headers={"Inference-Header-Content-Length": str(len(header)),
                         "Content-Type": "application/octet-stream"})


@pytest.mark.parametrize(("damage", "rule", "feature"), [
    (lambda r: r.pop("x7"), "missing_feature", "x7"),
    (lambda r: r.update(extra=1.0), "unknown_feature", "extra"),
    (lambda r: r.update(x2="1.5"), "wrong_type", "x2"),
    (lambda r: r.update(x2=True), "wrong_type", "x2"),
    (lambda r: r.update(x4=None), "missing_value", "x4"),
    (lambda r: r.update(x5=1e400), "not_finite", "x5"),
    (lambda r: r.update(x6=11.0), "above_max", "x6"),
    (lambda r: r.update(x6=-10.5), "below_min", "x6"),
])
def test_json_route_refuses_each_bad_record_naming_feature_and_rule(gbdt_release, agent_factory, damage, rule,
                                                                    feature):
    agent = agent_factory(gbdt_release)
    good, bad = record(gbdt_release.x[0]), record(gbdt_release.x[1])
    damage(bad)
    raw = json.dumps({"records": [good, bad]}).replace("Infinity", "1e400").encode()
    status, _h, payload = predict(agent, None, raw=raw)
    body = error(payload)
    assert status == 422, payload
    assert body["field"] == feature and body["details"] == {"rule": rule, "record": 1}
    assert feature in body["message"]
    assert sum(1 for _ in read_segments(agent.state / "log" / "1")) == 0  # nothing refused reaches the log


@pytest.mark.parametrize(("value", "rule"), [(np.nan, "not_finite"), (np.inf, "not_finite"), (12.0, "above_max"),
                                             (-11.0, "below_min")])
def test_binary_tensors_get_the_same_refusals(gbdt_release, agent_factory, value, rule):
    agent = agent_factory(gbdt_release)
    matrix = gbdt_release.x[:4].copy()
    matrix[2, 9] = value
    status, _h, payload = _binary_infer(agent, matrix)
    body = json.loads(payload)
    assert status == 422, payload
    assert body["field"] == "x9" and body["details"] == {"rule": rule, "record": 2}
    assert "x9" in body["error"]  # OIP clients read `error` as the message


def test_malformed_tensors_and_bodies_are_refused(gbdt_release, agent_factory):
    agent = agent_factory(gbdt_release, "--max-body-mb", "0.05")
    url = f"{agent.url}/v2/models/gbdt/infer"
    wrong_width = gbdt_release.x[:2, :29].copy()
    assert json.loads(_binary_infer(agent, wrong_width)[2])["details"]["rule"] == "wrong_shape"
    assert _binary_infer(agent, wrong_width)[0] == 422
    assert _binary_infer(agent, gbdt_release.x[:2], name="Y")[0] == 422
    short = _binary_infer(agent, gbdt_release.x[:2])  # sanity: the good one passes
    assert short[0] == 200
    header = json.dumps({"inputs": [{"name": "X", "shape": [2, 30], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 240}}]}).encode()
    status, _h, payload = call(url, raw=header + b"\0" * 100, headers={"Inference-Header-Content-Length":
                                                                       str(len(header))})
    assert status == 422 and json.loads(payload)["code"] == "invalid_tensor"
    status, _h, payload = call(url, raw=b"{}", headers={"Inference-Header-Content-Length": "999"})
    assert status == 400
    json_tensor = {"inputs": [{"name": "X", "shape": [1, 30], "datatype": "FP32",
                               "data": ["a"] + [0.0] * 29}]}
    status, _h, payload = call(url, json_tensor)
    assert status == 422 and json.loads(payload)["details"]["rule"] == "wrong_type"
    status, _h, payload = call(url, raw=b"{not json")
    assert status == 400 and json.loads(payload)["code"] == "invalid_request"
    status, _h, payload = predict(agent, {"records": [record(gbdt_release.x[0])] * 400})
    assert status == 413 and json.loads(payload)["error"]["code"] == "too_large"
    assert predict(agent, {"records": []})[0] == 400
    assert predict(agent, {"rows": [1, 2]})[0] == 400
    status, _h, payload = call(f"{agent.url}/v1/models/nope/predict", {"features": {}})
    assert status == 404 and json.loads(payload)["error"]["code"] == "not_found"


def test_tokens_are_checked_per_request_and_rate_limited(gbdt_release, agent_factory, tmp_path):
    import hashlib

    clients = tmp_path / "limited.json"
    clients.write_text(json.dumps({"clients": [{"name": "shop", "sha256": hashlib.sha256(TOKEN.encode()).hexdigest()}],
                                   "rate_per_second": 1, "burst": 3}))
    agent = agent_factory(gbdt_release, clients=clients)
    body = {"features": record(gbdt_release.x[0])}
    status, _h, payload = predict(agent, body, token=None)
    assert status == 401 and json.loads(payload)["error"]["code"] == "not_authenticated"
    status, _h, payload = predict(agent, body, token="forged")
    assert status == 401 and json.loads(payload)["error"]["code"] == "authentication_failed"
    assert _binary_infer(agent, gbdt_release.x[:1], token="forged")[0] == 401
    codes = [predict(agent, body)[0] for _ in range(6)]
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:]


def test_client_tokens_change_without_a_restart(gbdt_release, agent_factory, tmp_path):
    import hashlib
    import signal
    import time

    def clients(*tokens: str) -> str:
        return json.dumps({"clients": [{"name": f"c{i}", "sha256": hashlib.sha256(t.encode()).hexdigest()}
                                       for i, t in enumerate(tokens)]})

    path = tmp_path / "rotating.json"
    path.write_text(clients(TOKEN))
    agent = agent_factory(gbdt_release, clients=path)
    body = {"features": record(gbdt_release.x[0])}
    assert predict(agent, body)[0] == 200 and predict(agent, body, token="tok-new")[0] == 401

    path.write_text(clients("tok-new"))  # rotated: picked up by SIGHUP at once (or within a second by itself)
    agent.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while predict(agent, body, token="tok-new")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert predict(agent, body, token="tok-new")[0] == 200
    assert predict(agent, body)[0] == 401  # the removed token stops at the next request

    path.write_text("{not json")  # a broken file keeps the clients in force
    agent.process.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    assert predict(agent, body, token="tok-new")[0] == 200
    assert agent.process.poll() is None and "not reloaded" in agent.log()

    path.write_text(clients(TOKEN, "tok-new"))  # changed on disk, no signal: seen within about a second
    deadline = time.monotonic() + 10
    while predict(agent, body)[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert predict(agent, body)[0] == 200 and predict(agent, body, token="tok-new")[0] == 200


def test_the_log_holds_every_answer_with_personal_data_masked(gbdt_release, agent_factory, tmp_path):
    built = variant(gbdt_release, tmp_path / "masked", personal=["x0"])
    agent = agent_factory(built)
    secret = 1.2345678
    row = record(gbdt_release.x[0])
    row["x0"] = secret
    status, _h, payload = predict(agent, {"records": [row, row]}, headers={"X-Request-Id": "masked-1"})
    assert status == 200
    assert _binary_infer(agent, gbdt_release.x[:2])[0] == 200
    agent.stop()  # the open segment is compressed on a clean stop, its digest queued for the control plane
    entries = list(read_segments(agent.state / "log" / "1"))
    assert [e["n"] for e in entries] == [2, 2] and entries[0]["id"] == "masked-1"
    assert entries[0]["x"][0][0].startswith("masked:") and entries[0]["x"][0][1] == row["x1"]
    assert str(secret) not in (agent.state / "log" / "1").joinpath(next(
        p.name for p in (agent.state / "log" / "1").iterdir())).read_bytes().decode("latin-1")
    assert entries[0]["y"]["label"] and len(entries[0]["y"]["score"]) == 2
    digests = list((agent.state / "outbox" / "log-digests").glob("*.json"))
    assert len(digests) == 1 and json.loads(digests[0].read_text())["records"] == 2


@pytest.mark.parametrize("damage", ["artifact", "manifest", "foreign_key", "expired"])
def test_a_release_that_does_not_verify_is_never_served(gbdt_release, agent_factory, tmp_path, damage):
    copy = tmp_path / "copy"
    shutil.copytree(gbdt_release.folder, copy / "release")
    shutil.copyfile(gbdt_release.signature, copy / "release.sig")
    built = variant(gbdt_release, tmp_path / "unused")
    built.folder, built.signature = copy / "release", copy / "release.sig"
    if damage == "artifact":
        data = bytearray((built.folder / "model.onnx").read_bytes())
        data[-10] ^= 0xFF
        (built.folder / "model.onnx").write_bytes(bytes(data))
    elif damage == "manifest":
        text = (built.folder / "manifest.json").read_text().replace('"max": 10.0', '"max": 1000.0', 1)
        (built.folder / "manifest.json").write_text(text)
    elif damage == "foreign_key":
        other = tmp_path / "other.pem"
        devrelease.signing_key(other)
        built = variant(gbdt_release, tmp_path / "foreign")
        built.key = other
        built = variant(built, tmp_path / "foreign2")
        built.public_key = gbdt_release.public_key  # verified against the control plane's key: not this one
    else:
        built = variant(gbdt_release, tmp_path / "old", approved_until=datetime.now(UTC) - timedelta(minutes=1))
    agent = agent_factory(built, wait=False)
    agent.process.wait(60)
    assert agent.process.returncode != 0
    reason = {"artifact": "signature", "manifest": "signature", "foreign_key": "signature",
              "expired": "expired"}[damage]
    assert reason in agent.log()
    assert not (agent.state / "log" / "1").exists()


def test_stop_limit_refuses_with_a_clear_status_and_survives_sigkill(gbdt_release, agent_factory, tmp_path):
    built = variant(gbdt_release, tmp_path / "limited", max_decisions_per_day=5)
    agent = agent_factory(built)
    body = {"records": [record(row) for row in gbdt_release.x[:2]]}
    assert [predict(agent, body)[0] for _ in range(2)] == [200, 200]  # 4 decisions
    status, headers, payload = predict(agent, body)  # 2 more would make 6
    assert status == 429 and json.loads(payload)["error"]["code"] == "stop_limit_reached"
    assert int(headers["retry-after"]) > 0
    assert predict(agent, {"features": record(gbdt_release.x[0])})[0] == 200  # the 5th
    agent.kill()
    again = agent_factory(built, state=agent.state)
    status, _h, payload = predict(again, {"features": record(gbdt_release.x[0])})
    assert status == 429 and "stop-limit of 5" in json.loads(payload)["error"]["message"]
    status, _h, payload = _binary_infer(again, gbdt_release.x[:1])
    assert status == 429 and json.loads(payload)["code"] == "stop_limit_reached"
    metrics = call(f"{again.url}/metrics")[2].decode()
    assert "mg_agent_stop_limit_reached 1" in metrics


def test_windows_carry_counts_latency_and_drift_and_survive_restart(gbdt_release, agent_factory):
    agent = agent_factory(gbdt_release, "--window-seconds", "5")
    shifted = gbdt_release.x[:300] + 3.0  # every feature moved by three standard deviations
    for chunk in np.array_split(np.clip(shifted, -10, 10), 30):
        assert predict(agent, {"records": [record(row) for row in chunk]})[0] == 200
    predict(agent, {"features": {"x0": 1}})  # one refusal, counted as an error
    outbox = agent.state / "outbox" / "windows"
    import time

    deadline = time.monotonic() + 20
    while not list(outbox.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    agent.stop()
    windows = [json.loads(p.read_text()) for p in sorted(outbox.glob("*.json"))]
    assert windows, agent.log()
    total = {k: sum(w[k] for w in windows) for k in ("requests", "predictions")}
    assert total == {"requests": 31, "predictions": 300}
    assert sum(w["errors"].get("invalid_request", 0) for w in windows) == 1
    busiest = max(windows, key=lambda w: w["predictions"])
    assert busiest["latency_p95_ms"] > 0 and busiest["psi"]["x0"] > 0.2 and busiest["score_psi"] is not None
    sequences = [w["sequence"] for w in windows]
    again = agent_factory(gbdt_release, "--window-seconds", "5", state=agent.state)
    assert predict(again, {"features": record(gbdt_release.x[0])})[0] == 200
    again.stop()
    later = [json.loads(p.read_text())["sequence"] for p in sorted(outbox.glob("*.json"))]
    assert later[: len(sequences)] == sequences and len(later) > len(sequences)
    assert later == sorted(set(later))  # never a sequence twice, so the control plane never stores one twice


def test_binary_bytes_elements_are_length_prefixed():
    from serving.agent import oip

    header = json.dumps({"inputs": [{"name": "s", "shape": [2], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": 4 + 2 + 4 + 3}}]}).encode()
    data = struct.pack("<I", 2) + b"ab" + struct.pack("<I", 3) + b"xyz"
    _request, tensors = oip.decode(header + data, len(header))
    assert tensors["s"][1] == ["ab", "xyz"]


def test_the_agent_runs_without_django():
    """Hosts install the agent, not the control plane: none of its modules may pull Django in."""
    import subprocess
    import sys

    from tests.agent.conftest import ROOT

    code = ("import sys; import serving.agent.__main__, serving.agent.agent, serving.agent.app, "
            "serving.agent.devrelease, serving.agent.logs; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('django', 'rest_framework', 'core', 'governance', 'registry', 'validation')]; "
            "assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_infinity_is_refused_even_without_bounds(gbdt_release, agent_factory, tmp_path):
    built = variant(gbdt_release, tmp_path / "unbounded", bounds=None)
    agent = agent_factory(built)
    for count in (1, 40):  # the small path (lists) and the batch path (numpy) alike
        rows = [record(row) for row in gbdt_release.x[:count]]
        raw = json.dumps({"records": rows}).replace(f'"x3": {rows[-1]["x3"]}', '"x3": 1e400').encode()
        status, _h, payload = predict(agent, None, raw=raw)
        assert status == 422 and error(payload)["details"] == {"rule": "not_finite", "record": count - 1}, payload
        matrix = gbdt_release.x[:count].copy()
        matrix[-1, 3] = -np.inf
        status, _h, payload = _binary_infer(agent, matrix)
        assert status == 422 and json.loads(payload)["details"] == {"rule": "not_finite", "record": count - 1}
        data = [float(v) for v in gbdt_release.x[:count].ravel()]
        body = json.dumps({"inputs": [{"name": "X", "shape": [count, 30], "datatype": "FP32", "data": data}]})
        body = body.replace(json.dumps(data[-27]), "1e400", 1) if count == 1 else body
        if count == 1:
            status, _h, payload = call(f"{agent.url}/v2/models/gbdt/infer", raw=body.encode())
            assert status == 422 and json.loads(payload)["details"]["rule"] == "not_finite", payload


def test_batches_of_records_take_the_vectorised_path_with_the_same_answers(gbdt_release, agent_factory):
    agent = agent_factory(gbdt_release)
    rows = [record(row) for row in gbdt_release.x[:64]]
    status, _h, payload = predict(agent, {"records": rows})
    batch = [p["score"] for p in json.loads(payload)["predictions"]]
    single = [json.loads(predict(agent, {"features": row})[2])["predictions"][0]["score"] for row in rows[:5]]
    assert status == 200 and batch[:5] == pytest.approx(single, abs=1e-7)
    bad = [dict(row) for row in rows]
    bad[40]["x12"] = "7"
    status, _h, payload = predict(agent, {"records": bad})
    assert status == 422 and error(payload)["details"] == {"rule": "wrong_type", "record": 40}
    bad = [dict(row) for row in rows]
    bad[50]["x13"] = 10.5
    status, _h, payload = predict(agent, {"records": bad})
    assert status == 422 and error(payload)["details"] == {"rule": "above_max", "record": 50}
    bad = [dict(row) for row in rows]
    del bad[33]["x1"]
    bad[33]["y"] = 1.0
    status, _h, payload = predict(agent, {"records": bad})
    assert status == 422 and error(payload)["details"]["record"] == 33
    assert error(payload)["details"]["rule"] in ("unknown_feature", "missing_feature")


def test_a_json_tensor_batch_answers_like_binary_whichever_decoder_reads_it(gbdt_release, agent_factory):
    """160 rows as a JSON tensor, a request large enough to be read by simdjson: short decimals, 17-digit doubles
    and nested rows all answer exactly what the same rows in binary answer, and a bad element (which sends the
    request to the general decoder) is refused by name and row."""
    agent = agent_factory(gbdt_release)
    url = f"{agent.url}/v2/models/gbdt/infer"
    from serving.agent import oip

    rows = np.round(gbdt_release.x[:160].astype(np.float64), 4)
    binary = _binary_infer(agent, rows.astype(np.float32))
    assert binary[0] == 200
    expected = json.loads(binary[2])["outputs"]

    def infer(data, shape=(160, 30)):
        body = json.dumps({"inputs": [{"name": "X", "shape": list(shape), "datatype": "FP32", "data": data}]})
        assert oip._decode_large(body.encode()) is not None  # the large-request path
        return call(url, raw=body.encode())

    short, long = rows.ravel().tolist(), rows.astype(np.float32).astype(np.float64).ravel().tolist()
    for data in (short, long, rows.tolist()):
        status, _h, payload = infer(data)
        assert status == 200, payload
        assert json.loads(payload)["outputs"] == expected
    for value, rule in ((12.0, "above_max"), (-11.0, "below_min"), ("1e999", "not_finite"), ('"7"', "wrong_type")):
        text = json.dumps(rows.ravel().tolist()).split(", ")
        text[41 * 30 + 9] = str(value)
        status, _h, payload = call(url, raw=(
            '{"inputs": [{"name": "X", "shape": [160, 30], "datatype": "FP32", "data": ' + ", ".join(text) + "}]}"
        ).encode())
        assert status == 422, payload
        body = json.loads(payload)
        assert body["details"]["rule"] == rule and (body["field"], rule) in (("x9", rule), ("X", "wrong_type"))
        if rule != "wrong_type":
            assert body["details"]["record"] == 41
