"""Reason codes for served decisions: exact path-dependent TreeSHAP (equal to shap's own C++ kernel), on request,
on the JSON route and beside OIP v2's infer, logged with the prediction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kernels import treeshap
from kernels.onnx_trees import parse_tree_ensemble
from serving.agent import devrelease
from serving.agent.predlog import read_segments
from tests.agent.conftest import Built, call, record

pytestmark = pytest.mark.slow


def _reference(built: Built, rows: np.ndarray) -> tuple[np.ndarray, float]:
    ens = parse_tree_ensemble(built.artifact)
    result = treeshap.cext_reference(ens, ens.prepare(rows), ens.prepare(built.x), "path_dependent")
    return result.values[:, :, -1], float(result.expected_value[-1])


def test_json_route_explains_exactly_and_logs_the_reasons(gbdt_release, agent_factory):
    agent = agent_factory(gbdt_release)
    rows = gbdt_release.x[:3]
    status, _h, payload = call(f"{agent.url}/v1/models/gbdt/predict",
                               {"records": [record(r) for r in rows], "explain": True},
                               headers={"X-Request-Id": "explained-1"})
    assert status == 200, payload
    predictions = json.loads(payload)["predictions"]
    expected_shap, expected_value = _reference(gbdt_release, rows)
    for prediction, shap_row in zip(predictions, expected_shap, strict=True):
        explanation = prediction["explanation"]
        assert explanation["algorithm"] == "tree_path_dependent" and explanation["scale"] == "log-odds"
        got = np.array([explanation["shap"][f"x{i}"] for i in range(30)])
        assert got == pytest.approx(shap_row, abs=1e-6)
        assert explanation["expected_value"] == pytest.approx(expected_value, abs=1e-6)
        logit = np.log(prediction["score"] / (1 - prediction["score"]))
        assert got.sum() + explanation["expected_value"] == pytest.approx(logit, abs=1e-4)  # they add up
        top = [reason["feature"] for reason in explanation["reasons"]]
        assert top == [f"x{i}" for i in np.argsort(-np.abs(shap_row))[:3]]
    unexplained = call(f"{agent.url}/v1/models/gbdt/predict", {"features": record(rows[0])})
    assert "explanation" not in json.loads(unexplained[2])["predictions"][0]
    agent.stop()
    logged = {e["id"]: e for e in read_segments(agent.state / "log" / "1")}
    assert np.array(logged["explained-1"]["explain"]["shap"]) == pytest.approx(expected_shap, abs=1e-5)


def test_oip_explain_extension_returns_shap_values_beside_the_outputs(gbdt_release, agent_factory):
    agent = agent_factory(gbdt_release)
    rows = gbdt_release.x[10:14]
    data = rows.astype(np.float32).tobytes()
    header = json.dumps({"inputs": [{"name": "X", "shape": [4, 30], "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(data)}}]}).encode()
    status, _h, payload = call(f"{agent.url}/v2/models/gbdt/explain", raw=header + data,
                               headers={"Inference-Header-Content-Length": str(len(header))})
    assert status == 200, payload
    body = json.loads(payload)
    shap_values = next(o for o in body["outputs"] if o["name"] == "shap_values")
    assert shap_values["shape"] == [4, 30]
    expected_shap, _ = _reference(gbdt_release, rows)
    assert np.array(shap_values["data"]).reshape(4, 30) == pytest.approx(expected_shap, abs=1e-6)
    assert body["parameters"]["scale"] == "log-odds" and len(body["parameters"]["reasons"]) == 4
    assert {o["name"] for o in body["outputs"]} >= {"label", "probabilities", "shap_values"}


def test_a_model_without_trees_says_it_cannot_explain(agent_factory, tmp_path, gbdt_release):
    x, y = devrelease.data(rows=600)
    artifact = devrelease.train("mlp", x, y)
    folder, signature = devrelease.write_release(tmp_path / "mlp" / "release", artifact, x, key=gbdt_release.key,
                                                 passport="mlp", task="regression")
    agent = agent_factory(Built(folder, signature, gbdt_release.public_key, gbdt_release.key, artifact, x))
    status, _h, payload = call(f"{agent.url}/v1/models/mlp/predict", {"features": record(x[0]), "explain": True})
    assert status == 422 and json.loads(payload)["error"]["code"] == "explain_unavailable"
    body = {"inputs": [{"name": "X", "shape": [1, 30], "datatype": "FP32", "data": x[0].tolist()}]}
    status, _h, payload = call(f"{agent.url}/v2/models/mlp/explain", body)
    assert status == 422 and json.loads(payload)["code"] == "explain_unavailable"
    assert call(f"{agent.url}/v1/models/mlp/predict", {"features": record(x[0])})[0] == 200
