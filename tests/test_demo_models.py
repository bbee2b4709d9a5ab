"""Tests for governance.demo.onnx_models: deterministic synthetic demo models exported to ONNX."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

from governance.demo.onnx_models import DEMO_MODEL_KEYS, INPUT_NAME, DemoModel, build_demo_model, build_demo_models

KEYS = ["credit-scoring", "demand-forecast", "fraud-detection", "churn-mlp"]
# The feature each generator shifts in its out-of-time holdout.
DRIFTED_FEATURE = {
    "credit-scoring": "credit_utilization",
    "demand-forecast": "price",
    "fraud-detection": "amount",
    "churn-mlp": "monthly_charges",
}
SMALL = 600  # rows for the tests that build models more than once


@pytest.fixture(scope="module")
def champions() -> dict[str, DemoModel]:
    return {model.key: model for model in build_demo_models()}


@pytest.fixture(scope="module")
def small() -> dict[str, DemoModel]:
    """Quick builds for the tests that need a model more than once."""
    return {key: build_demo_model(key, seed=11, n_rows=SMALL) for key in KEYS}


def _session(model: DemoModel) -> ort.InferenceSession:
    return ort.InferenceSession(model.onnx_bytes, providers=["CPUExecutionProvider"])


def _onnx_outputs(model: DemoModel, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    session = _session(model)
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, {INPUT_NAME: model.input_array(frame)}), strict=True))


def test_build_demo_models_returns_the_four_models_in_order(champions):
    assert list(DEMO_MODEL_KEYS) == KEYS
    assert list(champions) == KEYS
    assert {m.task for m in champions.values()} == {"classification", "regression"}
    assert champions["demand-forecast"].task == "regression"
    assert all(m.variant == "champion" for m in champions.values())


@pytest.mark.parametrize("key", KEYS)
def test_same_seed_gives_identical_artifacts_and_data(small, key):
    first = small[key]
    second = build_demo_model(key, seed=11, n_rows=SMALL)
    assert first.onnx_bytes == second.onnx_bytes
    pd.testing.assert_frame_equal(first.reference, second.reference)
    pd.testing.assert_frame_equal(first.holdout, second.holdout)
    assert first.metrics == second.metrics
    assert first.description == second.description


@pytest.mark.parametrize("key", KEYS)
def test_another_seed_gives_other_data(small, key):
    first = small[key]
    other = build_demo_model(key, seed=12, n_rows=SMALL)
    assert not first.reference.equals(other.reference)
    assert first.onnx_bytes != other.onnx_bytes


@pytest.mark.parametrize("key", KEYS)
def test_onnx_signature(champions, key):
    model = champions[key]
    proto = onnx.load_from_string(model.onnx_bytes)
    onnx.checker.check_model(proto, full_check=True)
    assert len(model.onnx_bytes) < 2 * 1024 * 1024
    assert proto.graph.name == key
    [graph_input] = proto.graph.input
    assert graph_input.name == INPUT_NAME
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    batch, width = graph_input.type.tensor_type.shape.dim
    assert not batch.HasField("dim_value")
    assert width.dim_value == len(model.feature_names)
    outputs = [output.name for output in proto.graph.output]
    assert outputs == (["label", "probabilities"] if model.task == "classification" else ["variable"])
    domains = [entry.domain for entry in proto.opset_import]
    assert len(domains) == len(set(domains))


@pytest.mark.parametrize("key", KEYS)
def test_onnx_runtime_matches_sklearn_on_holdout(champions, key):
    model = champions[key]
    x = model.input_array(model.holdout)
    outputs = _onnx_outputs(model, model.holdout)
    if model.task == "classification":
        np.testing.assert_allclose(outputs["probabilities"], model.estimator.predict_proba(x), rtol=0, atol=1e-4)
        np.testing.assert_array_equal(outputs["label"], model.estimator.predict(x))
    else:
        # float32 output: ~1e-7 relative, so allow 1e-4 absolute plus float32 rounding of values in the hundreds.
        np.testing.assert_allclose(outputs["variable"].ravel(), model.estimator.predict(x), rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("key", KEYS)
def test_frames_have_features_then_target(champions, key):
    model = champions[key]
    assert len(model.reference) == 2800
    assert len(model.holdout) == 1200
    assert model.target not in model.feature_names
    assert len(set(model.feature_names)) == len(model.feature_names)
    for frame in (model.reference, model.holdout):
        assert list(frame.columns) == [*model.feature_names, model.target]
        assert not frame.isna().any().any()
        assert all(pd.api.types.is_numeric_dtype(dtype) for dtype in frame.dtypes)
    if model.task == "classification":
        assert set(model.reference[model.target].unique()) == {0, 1}


def test_feature_counts(champions):
    counts = {key: len(model.feature_names) for key, model in champions.items()}
    assert counts == {"credit-scoring": 10, "demand-forecast": 8, "fraud-detection": 12, "churn-mlp": 6}


def test_fraud_target_is_imbalanced(champions):
    rate = champions["fraud-detection"].reference["is_fraud"].mean()
    assert 0.01 < rate < 0.08


@pytest.mark.parametrize("key", KEYS)
def test_feature_ranges_cover_the_data(champions, key):
    model = champions[key]
    assert list(model.feature_ranges) == model.feature_names
    for name, (low, high) in model.feature_ranges.items():
        assert low < high
        for frame in (model.reference, model.holdout):
            assert frame[name].between(low, high).all(), name


@pytest.mark.parametrize("key", KEYS)
def test_metrics_are_plausible_and_rounded(champions, key):
    metrics = champions[key].metrics
    assert all(round(value, 4) == value for value in metrics.values())
    if champions[key].task == "classification":
        assert set(metrics) == {"auc", "accuracy", "f1"}
        assert 0.7 < metrics["auc"] < 0.99
        assert 0.6 < metrics["accuracy"] < 1.0
        assert 0.1 < metrics["f1"] < 1.0
    else:
        assert set(metrics) == {"mae", "rmse", "r2"}
        assert 0 < metrics["mae"] <= metrics["rmse"]
        assert 0.7 < metrics["r2"] < 1.0


@pytest.mark.parametrize("key", ["credit-scoring", "fraud-detection", "churn-mlp"])
def test_reported_auc_is_reproduced_from_the_onnx_artifact(champions, key):
    model = champions[key]
    scores = _onnx_outputs(model, model.holdout)["probabilities"][:, 1]
    assert roc_auc_score(model.holdout[model.target], scores) == pytest.approx(model.metrics["auc"], abs=1e-3)


@pytest.mark.parametrize("key", KEYS)
def test_holdout_drifts_in_one_feature(champions, key):
    model = champions[key]
    feature = DRIFTED_FEATURE[key]
    assert model.holdout[feature].mean() > model.reference[feature].mean()
    assert ks_2samp(model.reference[feature], model.holdout[feature]).pvalue < 1e-3


@pytest.mark.parametrize("key", KEYS)
def test_challenger_trains_another_model_on_the_same_data(small, key):
    champion = small[key]
    challenger = build_demo_model(key, seed=11, n_rows=SMALL, variant="challenger")
    assert challenger.variant == "challenger"
    pd.testing.assert_frame_equal(champion.reference, challenger.reference)
    pd.testing.assert_frame_equal(champion.holdout, challenger.holdout)
    assert challenger.feature_names == champion.feature_names
    assert challenger.onnx_bytes != champion.onnx_bytes
    assert challenger.algorithm != champion.algorithm
    assert challenger.description.startswith("Challenger")
    assert challenger.onnx_bytes == build_demo_model(key, seed=11, n_rows=SMALL, variant="challenger").onnx_bytes


def test_descriptions_and_algorithms(champions):
    assert champions["credit-scoring"].algorithm.startswith("GradientBoostingClassifier(n_estimators=60")
    assert champions["demand-forecast"].algorithm.startswith("GradientBoostingRegressor(")
    assert champions["fraud-detection"].algorithm.startswith("RandomForestClassifier(")
    assert champions["churn-mlp"].algorithm.startswith("Pipeline(StandardScaler(), MLPClassifier(")
    for model in champions.values():
        assert model.name and model.description.startswith("Champion")
        assert "\n" not in model.description


@pytest.mark.parametrize(
    ("key", "kwargs", "message"),
    [
        ("no-such-model", {}, "unknown demo model"),
        ("credit-scoring", {"variant": "shadow"}, "unknown variant"),
        ("credit-scoring", {"n_rows": 50}, "n_rows"),
    ],
)
def test_bad_arguments_are_rejected(key, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_demo_model(key, **kwargs)
