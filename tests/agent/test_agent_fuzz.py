"""Thousands of damaged requests against a real agent: valid bodies of every route (the JSON route, OIP v2 JSON
tensors, OIP v2 binary tensors, the explain extension) with a value swapped for another type, a key dropped or
added, bytes flipped or cut, a header lying about lengths. Every answer is a 2xx or a 4xx in its route's error
shape with the request's id; the agent stays up; every answered request is in the prediction log."""

from __future__ import annotations

import copy
import http.client
import json
import random

import numpy as np
import pytest

from serving.agent import oip
from serving.agent.app import App, _decode_predict
from serving.agent.predlog import read_segments
from serving.agent.schema import RequestInvalid
from tests.agent.conftest import TOKEN, record

ROUNDS = 2500
HOSTILE = [None, True, False, 0, -1, 1, 2 ** 70, -(2 ** 70), 1e308, -1e308, 1e-320, 0.5, "", "x" * 5000, "NaN",
           "Infinity", "1.5", "\u202e\u0000", [], {}, [[]], [None], {"": None}, [1.0] * 31, "FP64", "BYTES", "INT8",
           [-1, 30], [0, 30], [2 ** 40, 30], [1, 2 ** 40], [30], [1, 1, 30], "X", "Y"]


def _seeds(x: np.ndarray) -> list[tuple[str, dict, str]]:
    rows = x[:3].astype(np.float32)
    named = [record(row) for row in rows]
    tensor = {"name": "X", "shape": [3, 30], "datatype": "FP32", "data": rows.ravel().tolist()}
    return [
        ("/v1/models/gbdt/predict", {"records": named}, "json"),
        ("/v1/models/gbdt/predict", {"features": named[0], "explain": True}, "json"),
        ("/v2/models/gbdt/infer", {"id": "a", "inputs": [tensor], "outputs": [{"name": "probabilities"}]}, "json"),
        ("/v2/models/gbdt/explain", {"inputs": [tensor]}, "json"),
        ("/v2/models/gbdt/versions/1/infer", {"inputs": [{**tensor, "data": rows.tolist()}]}, "json"),
        ("/v2/models/gbdt/infer", {"inputs": [{"name": "X", "shape": [3, 30], "datatype": "FP32",
                                                "parameters": {"binary_data_size": rows.nbytes}}],
                                    "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]},
         "binary"),
    ]


def _nodes(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:40]):
            yield from _nodes(item, (*path, index))


def _damage_tree(rng: random.Random, body: dict) -> dict:
    body = copy.deepcopy(body)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        path = rng.choice([p for p in _nodes(body) if p])
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        last, kind = path[-1], rng.random()
        if kind < 0.6:
            parent[last] = copy.deepcopy(rng.choice(HOSTILE))
        elif kind < 0.75 and isinstance(parent, dict):
            del parent[last]
        elif kind < 0.85 and isinstance(parent, dict):
            parent[rng.choice(["extra", "x99", "parameters", "datatype", "__proto__"])] = rng.choice(HOSTILE)
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(rng.choice(HOSTILE)))
        else:
            parent[last] = [parent[last]] * 2
    return body


def _damage_bytes(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    kind = rng.random()
    if kind < 0.4 and data:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind < 0.7:
        data = data[: rng.randrange(len(data) + 1)]
    elif kind < 0.85:
        at = rng.randrange(len(data) + 1)
        data[at:at] = rng.choice([b"[" * 5000, b"{\"a\":" * 3000, b"\xff\xfe", b"\x00" * 17, b"1e99999", b","])
    else:
        data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    return bytes(data)


def _request(rng: random.Random, seeds, x: np.ndarray, rid: str) -> tuple[str, bytes, dict]:
    path, body, kind = rng.choice(seeds)
    if "id" in body:  # an OIP request's own id, which its answer carries in place of the header's
        body = {**body, "id": f"{rid}-oip"}
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    damaged = _damage_tree(rng, body) if rng.random() < 0.7 else body
    header = json.dumps(damaged, allow_nan=True).encode()
    if kind == "binary":
        data = x[:3].astype(np.float32).tobytes()
        length = len(header)
        if rng.random() < 0.3:
            length = rng.choice([-1, 0, 1, length - 1, length + 1, len(header) + len(data), 2 ** 63, "1e3", "", "x"])
        headers["Inference-Header-Content-Length"] = str(length)
        headers["Content-Type"] = "application/octet-stream"
        payload = header + (data[: rng.randrange(len(data))] if rng.random() < 0.2 else data)
    else:
        payload = header
    if rng.random() < 0.3:
        payload = _damage_bytes(rng, payload)
    if rng.random() < 0.05:
        headers.pop("Authorization")
    return path, payload, headers


def _error_shape(path: str, body) -> bool:
    if path.startswith("/v2"):
        return isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("code"), str)
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and {"code", "message", "field", "details"} <= error.keys()


@pytest.mark.slow
def test_damaged_requests_get_4xx_in_their_shape_and_answered_ones_are_all_logged(gbdt_release, agent_factory):
    agent = agent_factory(gbdt_release)
    rng = random.Random(20261203)
    seeds = _seeds(gbdt_release.x)
    connection = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=30)
    answered, statuses = [], {}
    for n in range(ROUNDS):
        rid = f"fz-{n}"
        path, payload, headers = _request(rng, seeds, gbdt_release.x, rid)
        connection.request("POST", path, body=payload, headers={**headers, "X-Request-Id": rid})
        answer = connection.getresponse()
        raw = answer.read()
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
        context = f"{rid} {path} {headers} {payload[:300]!r} -> {answer.status} {raw[:600]!r}"
        assert 200 <= answer.status < 500, context
        assert answer.getheader("x-request-id") in (rid, f"{rid}-oip"), context
        json_length = answer.getheader("inference-header-content-length")  # binary outputs follow the JSON
        try:
            # strict UTF-8, as RFC 8259 asks of JSON between systems
            body = json.loads(raw[: int(json_length) if json_length else None].decode())
        except ValueError as exc:
            raise AssertionError(f"{context}: {exc}") from None
        if answer.status == 200:
            answered.append(answer.getheader("x-request-id"))
        else:
            assert _error_shape(path, body), context
        if answer.getheader("connection", "").lower() == "close":
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=30)
    connection.close()
    # The damage reached every kind of answer: answered, refused by the schema, by the parser, by the token check.
    assert statuses.get(200, 0) > ROUNDS // 10 and {400, 401, 422} <= statuses.keys(), statuses
    assert agent.process.poll() is None
    agent.stop()
    logged = {entry["id"] for entry in read_segments(agent.state / "log" / "1")}
    assert set(answered) <= logged


DEEP = [b"[" * 100_000, b'{"a":' * 100_000, b'{"records": ' + b"[" * 100_000, b'{"features": {"x0": ' + b"[" * 50_000,
        b'{"inputs": [{"name": "X", "shape": [1], "datatype": "FP32", "data": ' + b"[" * 100_000 + b"]" * 100_000
        + b"}]}"]


@pytest.mark.parametrize("body", DEEP, ids=["array", "object", "records", "feature", "tensor-data"])
def test_a_body_nested_past_any_decoders_depth_is_a_400_on_every_decoder(body, monkeypatch):
    """msgspec and the standard library give up on deep nesting with RecursionError, which is no request error of
    theirs: each decoding step turns it into one (it had been an empty 500)."""
    with pytest.raises(RequestInvalid) as refused:
        _decode_predict(body)
    assert (refused.value.status, refused.value.code) == (400, "invalid_request")
    for large in (16384, 1 << 40):  # simdjson first, and the general decoder alone
        monkeypatch.setattr(oip, "LARGE", large)
        with pytest.raises(RequestInvalid) as refused:
            oip.decode(body, None)
        assert refused.value.status == 400 and refused.value.code in ("invalid_request", "invalid_tensor")
        with pytest.raises(RequestInvalid) as refused:  # the same body as a binary request's JSON header
            oip.decode(body + b"\0" * 8, len(body))
        assert refused.value.status == 400


class _Scope:
    def __init__(self, path: str):
        self.path, self.method, self.headers = path, "POST", {"x-request-id": "fault-1"}


class _Proto:
    def __init__(self):
        self.answers = []

    def response_bytes(self, status, headers, body):
        self.answers.append((status, dict(headers), json.loads(body)))


class _Clients:
    def client(self, authorization):
        raise ZeroDivisionError("a fault of the agent's own")


@pytest.mark.parametrize("path", ["/v1/models/m/predict", "/v2/models/m/infer"])
def test_a_fault_of_the_agents_own_is_answered_in_the_routes_error_shape_and_logged(path, caplog):
    agent = type("Agent", (), {"config": type("Config", (), {"max_body_bytes": 1024})(), "clients": _Clients()})()
    proto = _Proto()
    import asyncio

    asyncio.run(App(agent).__rsgi__(_Scope(path), proto))
    [(status, headers, body)] = proto.answers
    assert status == 500 and headers["x-request-id"] == "fault-1"
    error = body["error"] if path.startswith("/v1") else body
    assert error["code"] == "internal_error" and "ZeroDivisionError" not in json.dumps(body)
    assert "fault-1" in caplog.text and "ZeroDivisionError" in caplog.text


def test_a_request_refused_before_its_body_was_read_leaves_the_connection_open(gbdt_release, agent_factory):
    """An answer sent with the body unread made the server close the connection under the client, whose next
    request on it then failed (a broken pipe, depending on how much of the body had arrived)."""
    agent = agent_factory(gbdt_release)
    connection = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=30)
    good = json.dumps({"features": record(gbdt_release.x[0])}).encode()
    padded = json.dumps({"features": record(gbdt_release.x[0]), "pad": "x" * 200_000}).encode()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    refusals = [("/v1/models/gbdt/predict", {}, 401), ("/v1/models/gbdt/predict", {"Authorization": "Bearer no"}, 401),
                ("/v1/models/nope/predict", bearer, 404), ("/v2/models/gbdt/infer", {}, 401),
                ("/v2/models/nope/infer", bearer, 404), ("/v2/models/gbdt", {}, 404), ("/elsewhere", {}, 404)]
    for path, headers, status in refusals:
        for body in (good, padded):
            connection.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
            answer = connection.getresponse()
            assert (answer.status, answer.getheader("connection")) == (status, None), (path, answer.read())
            answer.read()
            socket_before = connection.sock
            connection.request("POST", "/v1/models/gbdt/predict", body=good,
                               headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
            answer = connection.getresponse()
            assert answer.status == 200 and json.loads(answer.read())["predictions"]
            assert connection.sock is socket_before  # the same connection, not a new one
    connection.close()


ODD_PATHS = ["/", "/v2", "/v2/", "/v2/models", "/v2/models/gbdt", "/v2/models/gbdt/", "/v2/models/gbdt/versions",
             "/v2/models/gbdt/versions/1", "/v2/models/gbdt/versions/1/ready", "/v2/models/gbdt/versions/x/infer",
             "/v2/models/gbdt/versions/99999999999999999999/infer", "/v2/models//infer", "/v2/models/%00/ready",
             "/v2/models/" + "a" * 8000 + "/infer", "/v1/models//predict", "/v1/models/gbdt/predict/",
             "/v1/models/%2e%2e/predict", "/v1/models/gbdt/predict?explain=1", "/metrics?x=1", "/healthz",
             "/v2/health/", "/v2/health/live/x", "/v2/repository/index", "/v2/models/gbdt/stats",
             "/v2/models/gbdt/versions/1/explain"]


def test_every_path_and_method_gets_a_json_answer_with_a_request_id(gbdt_release, agent_factory):
    agent = agent_factory(gbdt_release)
    connection = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=30)
    for path in ODD_PATHS:
        for method in ("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"):
            body = b'{"inputs": []}' if method in ("POST", "PUT") else None
            connection.request(method, path, body=body, headers={"Authorization": f"Bearer {TOKEN}"})
            answer = connection.getresponse()
            raw = answer.read()
            context = (method, path[:60], answer.status, raw[:200])
            assert answer.status < 500 and answer.getheader("x-request-id"), context
            if method != "HEAD" and not path.startswith("/metrics"):
                json.loads(raw)
    connection.close()
