"""Large JSON inference requests are read by simdjson: the same request, the same doubles bit for bit and the same
refusals as the general decoder, which still reads everything else."""

from __future__ import annotations

import json
import random

import msgspec
import numpy as np
import pytest

from serving.agent import oip
from serving.agent.schema import RequestInvalid


def _request(data, datatype="FP64", **extra) -> bytes:
    count = len(data) if isinstance(data, list) else 1
    return json.dumps({"id": "r-1", "inputs": [{"name": "X", "shape": [count], "datatype": datatype, "data": data}],
                       **extra}).encode()


def _general(body: bytes, monkeypatch):
    with monkeypatch.context() as patched:
        patched.setattr(oip, "LARGE", 1 << 40)
        return _outcome(body)


def _outcome(body: bytes):
    try:
        request, tensors = oip.decode(body, None)
    except RequestInvalid as refused:
        return ("refused", refused.status, refused.code, refused.feature, refused.rule, refused.record)
    values = {name: np.asarray(v, dtype=oip.DTYPES[t.datatype]).tobytes() if t.datatype in oip.FLOATS else v
              for name, (t, v) in tensors.items()}
    described = {"id": request.id, "parameters": request.parameters,
                 "outputs": [(o.name, o.parameters) for o in request.outputs or []],
                 "inputs": [(t.name, t.datatype, t.shape, t.parameters) for t in request.inputs]}
    return ("read", described, values)


def test_numbers_come_out_as_the_general_decoders_doubles_bit_for_bit(monkeypatch):
    rng = random.Random(7)
    numbers = []
    for _ in range(20_000):
        kind = rng.random()
        if kind < 0.3:
            numbers.append(round(rng.gauss(0, 10), rng.randint(0, 8)))
        elif kind < 0.5:
            numbers.append(rng.uniform(-1e5, 1e5))
        elif kind < 0.6:
            numbers.append(float(np.float32(rng.gauss(0, 1))))
        elif kind < 0.7:
            numbers.append(rng.randint(-10**18, 10**18))  # integers, past 2**53 too
        else:
            numbers.append(rng.gauss(0, 1) * 10 ** rng.randint(-300, 300))
    body = _request(numbers + [-0, -0.0, 0.5])
    assert len(body) >= oip.LARGE and oip._decode_large(body) is not None
    read = _outcome(body)
    assert read == _general(body, monkeypatch)
    expected = msgspec.json.decode(json.dumps(numbers + [-0, -0.0, 0.5]), type=list[float])
    assert read[2]["X"] == np.asarray(expected, dtype=np.float64).tobytes()


@pytest.mark.parametrize("damage", [
    lambda d: d.__setitem__(41, "7"), lambda d: d.__setitem__(41, True), lambda d: d.__setitem__(41, None),
    lambda d: d.__setitem__(41, [1.0, 2.0]), lambda d: d.append(1.0),
])
def test_anything_but_numbers_goes_to_the_general_decoder_and_is_refused_alike(damage, monkeypatch):
    data = [round(0.001 * i, 3) for i in range(3000)]
    damage(data)
    body = _request(data)
    body = body.replace(b'"shape": [%d]' % len(data), b'"shape": [3000]')
    assert _outcome(body) == _general(body, monkeypatch)
    assert _outcome(body)[0] == "refused"


@pytest.mark.parametrize("text", [b"1e999", b"NaN", b"123456789012345678901234567890", b"-"])
def test_numbers_simdjson_will_not_read_are_the_general_decoders(text, monkeypatch):
    numbers = ", ".join(["0.5"] * 3000)
    body = (b'{"inputs": [{"name": "X", "shape": [3001], "datatype": "FP32", "data": [' + numbers.encode() + b", "
            + text + b"]}]}")
    assert oip._decode_large(body) is None
    assert _outcome(body) == _general(body, monkeypatch)


def test_other_tensors_fields_and_outputs_come_through(monkeypatch):
    numbers = [round(0.01 * i, 2) for i in range(3000)]
    body = json.dumps({
        "id": 'a "[data]" : [1,2] {',
        "parameters": {"binary_data_output": True, "weights": numbers},
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
        "inputs": [{"name": "A", "shape": [100, 30], "datatype": "FP32", "data": numbers},
                   {"name": "B", "shape": [100, 30], "datatype": "FP16",
                    "data": [numbers[i:i + 30] for i in range(0, 3000, 30)]}]}).encode()
    read = _outcome(body)
    assert read == _general(body, monkeypatch) and read[0] == "read"
    request, tensors = oip.decode(body, None)
    assert request.id == 'a "[data]" : [1,2] {' and request.parameters["weights"] == numbers
    assert request.outputs[0].parameters == {"binary_data": True}
    assert tensors["A"][1].dtype == np.float32 and tensors["A"][1].shape == (100, 30)
    assert tensors["B"][1].dtype == np.float16
    mixed = json.loads(body)
    mixed["inputs"].append({"name": "C", "shape": [2], "datatype": "BYTES", "data": ["x", "y"]})
    assert oip._decode_large(json.dumps(mixed).encode()) is None  # not all floats: the general decoder


def test_a_parser_left_in_use_is_replaced(monkeypatch):
    body = _request([0.25] * 4000)
    alive = oip._Simd.parser.parse(body)  # a document whose proxies are still held
    assert _outcome(body)[0] == "read"
    del alive
    for _ in range(3):
        assert _outcome(body)[0] == "read"
