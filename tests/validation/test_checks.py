"""The test library, checked against scikit-learn and SciPy on the same data and against hand-computed cases.

No database: the checks, the ONNX scorer and the runner are plain functions over numpy, pandas and bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from core.errors import DomainError
from governance.demo.onnx_models import build_demo_model
from validation import thresholds
from validation.checks import calibration, generalisation, metric, performance, quality, robustness, segments, stability
from validation.onnx_predict import OnnxModel
from validation.runner import RunSpec, Source, execute


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(3)
    y = (rng.random(5000) < 0.3).astype(int)
    score = np.clip(0.3 + 0.25 * (y - 0.3) + rng.normal(0, 0.18, 5000), 0.001, 0.999)
    return y, score


def test_classification_metrics_match_scikit_learn(binary):
    y, score = binary
    result = performance.classification(y, score, thresholds={"decision_threshold": 0.5, "auc_min": 0.7})
    m = {name: entry["value"] for name, entry in result["metrics"].items()}
    labels = (score >= 0.5).astype(int)
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, labels), abs=1e-12)
    assert m["precision"] == pytest.approx(skm.precision_score(y, labels), abs=1e-12)
    assert m["recall"] == pytest.approx(skm.recall_score(y, labels), abs=1e-12)
    assert m["f1"] == pytest.approx(skm.f1_score(y, labels), abs=1e-12)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, score), abs=1e-12)
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, score), abs=1e-12)
    # KS: the largest gap between the score distributions of the two classes
    assert m["ks"] == pytest.approx(ks_2samp(score[y == 1], score[y == 0]).statistic, abs=1e-12)
    assert result["charts"]["confusion_matrix"]["matrix"] == skm.confusion_matrix(y, labels).tolist()
    assert result["metrics"]["auc"]["passed"] is (m["auc"] >= 0.7)
    assert result["headline"] == "auc" and result["value"] == m["auc"]
    roc = result["charts"]["roc"]
    assert len(roc["fpr"]) <= 200 and roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0
    json.dumps(result, allow_nan=False)


def test_log_loss_and_brier_are_judged_against_the_no_skill_forecast(binary):
    y, score = binary
    rate = y.mean()
    result = performance.classification(y, score, thresholds={"log_loss_max_ratio": 1.0, "brier_max_ratio": 1.0})
    assert result["metrics"]["log_loss"]["threshold"] == pytest.approx(
        -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate)))
    assert result["metrics"]["brier"]["threshold"] == pytest.approx(rate * (1 - rate))
    useless = performance.classification(y, np.full(len(y), 0.9), thresholds={"brier_max_ratio": 1.0})
    assert useless["metrics"]["brier"]["passed"] is False and useless["status"] == "failed"


def test_one_class_only_is_an_error_not_a_crash():
    result = performance.classification(np.zeros(10), np.linspace(0, 1, 10), thresholds={})
    assert result["status"] == "error" and "one class" in result["note"]


def test_regression_metrics_match_scikit_learn():
    rng = np.random.default_rng(5)
    y = rng.gamma(3.0, 10.0, 3000) + 1
    pred = y * rng.normal(1.0, 0.1, 3000) + rng.normal(0, 2, 3000)
    result = performance.regression(y, pred, thresholds={"r2_min": 0.5, "mape_max": 0.01})
    m = {name: entry["value"] for name, entry in result["metrics"].items()}
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), abs=1e-12)
    assert m["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(y, pred)), abs=1e-12)
    assert m["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred), abs=1e-12)
    assert m["r2"] == pytest.approx(skm.r2_score(y, pred), abs=1e-12)
    assert result["metrics"]["r2"]["passed"] is True and result["metrics"]["mape"]["passed"] is False
    assert result["passed"] is False


def test_reliability_curve_matches_scikit_learn_and_ece_is_the_weighted_gap(binary):
    y, score = binary
    curve = calibration.reliability(y, score, bins=10)
    prob_true, prob_pred = calibration_curve(y, score, n_bins=10, strategy="uniform")
    filled = [i for i, n in enumerate(curve["count"]) if n]
    assert [curve["observed_rate"][i] for i in filled] == pytest.approx(prob_true, abs=1e-12)
    assert [curve["mean_forecast"][i] for i in filled] == pytest.approx(prob_pred, abs=1e-12)
    # hand case: two bins, forecasts 0.1 (observed 0.0) and 0.9 (observed 0.5), 2 rows each
    y2, s2 = np.array([0, 0, 1, 0]), np.array([0.1, 0.1, 0.9, 0.9])
    assert calibration.expected_calibration_error(y2, s2, bins=10) == pytest.approx(0.5 * 0.1 + 0.5 * 0.4)
    result = calibration.calibration(y2, s2, thresholds={"ece_max": 0.05, "bins": 10})
    assert result["value"] == pytest.approx(0.25) and result["passed"] is False


def test_psi_matches_a_hand_computed_case():
    # Reference: four categories of 25% each; validation: 10/20/30/40%.
    # PSI = (.1-.25)ln(.1/.25) + (.2-.25)ln(.2/.25) + (.3-.25)ln(.3/.25) + (.4-.25)ln(.4/.25)
    #     = 0.137444 + 0.011157 + 0.009116 + 0.070501 = 0.228218
    hand = 0.13744360 + 0.01115718 + 0.00911608 + 0.07050056
    assert stability.psi_from_counts([25, 25, 25, 25], [10, 20, 30, 40]) == pytest.approx(hand, abs=1e-6)
    reference = np.repeat([1.0, 2.0, 3.0, 4.0], 25)
    current = np.repeat([1.0, 2.0, 3.0, 4.0], [10, 20, 30, 40])
    as_numbers = stability.psi(reference, current, bins=10)
    as_categories = stability.psi(reference.astype(int).astype(str), current.astype(int).astype(str),
                                  categorical=True)
    assert as_numbers["psi"] == pytest.approx(hand, abs=1e-6)
    assert as_categories["psi"] == pytest.approx(hand, abs=1e-6)
    assert stability.band(as_numbers["psi"]) == "significant"
    assert [stability.band(v) for v in (0.05, 0.1, 0.15, 0.2)] == ["stable", "moderate", "moderate", "significant"]


def test_psi_bins_at_reference_deciles_and_floors_empty_bins():
    reference = np.arange(100, dtype=float)
    assert len(stability.numeric_edges(reference, 10)) == 9
    same = stability.psi(reference, reference.copy())
    assert same["psi"] == pytest.approx(0.0) and same["reference"][:10] == pytest.approx([0.1] * 10)
    # every validation value falls into the first decile: one bin of 100%, nine empty bins floored at 1e-4
    result = stability.psi(reference, np.full(50, 3.0))
    e = stability.EPSILON
    assert result["psi"] == pytest.approx((1 - 0.1) * math.log(1 / 0.1) + 9 * (e - 0.1) * math.log(e / 0.1))
    with_missing = stability.psi(reference, np.array([1.0, np.nan]))
    assert with_missing["bins"][-1] == stability.MISSING and with_missing["current"][-1] == 0.5


def test_stability_judges_every_feature_and_the_score():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"a": rng.normal(size=4000), "b": rng.normal(size=4000)})
    cur = pd.DataFrame({"a": rng.normal(size=4000), "b": rng.normal(1.0, 1.0, size=4000)})
    features = [{"name": "a", "type": "float"}, {"name": "b", "type": "float"}]
    result = stability.stability(ref, cur, features, ref["a"].to_numpy(), cur["a"].to_numpy(),
                                 thresholds={"feature_psi_max": 0.2, "score_psi_max": 0.2, "bins": 10})
    assert result["features"]["a"]["band"] == "stable" and result["features"]["a"]["passed"] is True
    assert result["features"]["b"]["band"] == "significant" and result["features"]["b"]["passed"] is False
    assert result["worst_feature"] == "b" and result["passed"] is False
    assert result["score"]["band"] == "stable"


def test_evidently_drift_finds_the_shifted_column():
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000), "c": rng.choice(["x", "y"], 3000)})
    cur = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(2.0, 1.0, size=3000),
                        "c": rng.choice(["x", "y"], 3000)})
    features = [{"name": "a", "type": "float"}, {"name": "b", "type": "float"}, {"name": "c", "type": "string"}]
    result = stability.evidently_drift(ref, cur, features, thresholds={"drifted_share_max": 0.5}, seed=1)
    assert result["columns"]["b"]["drifted"] is True
    assert result["columns"]["a"]["drifted"] is False and result["columns"]["c"]["drifted"] is False
    assert result["metrics"]["drifted_share"]["value"] == pytest.approx(1 / 3) and result["passed"] is True
    json.dumps(result, allow_nan=False)


def test_quality_counts_missing_out_of_range_and_unseen_per_feature():
    frame = pd.DataFrame({
        "age": [20, 30, None, 150, 40],
        "term": [12, 24, 36, 18, 12.0],
        "region": ["north", "south", "mars", None, "north"],
        "note": [None, None, 1.0, 2.0, 3.0],
    })
    features = [
        {"name": "age", "type": "float", "min": 18, "max": 100, "nullable": False},
        {"name": "term", "type": "int", "categories": [12, 24, 36]},
        {"name": "region", "type": "string", "categories": ["north", "south"], "nullable": True},
        {"name": "note", "type": "float", "nullable": True},
    ]
    limits = {"missing_rate_max": 0.0, "nullable_missing_rate_max": None, "out_of_range_rate_max": 0.0,
              "unseen_rate_max": 0.0}
    result = quality.quality({"validation": frame}, features, thresholds=limits)
    per = result["datasets"]["validation"]["features"]
    assert (per["age"]["missing"], per["age"]["out_of_range"], per["age"]["passed"]) == (1, 1, False)
    assert (per["term"]["unseen"], per["term"]["unseen_examples"]) == (1, ["18.0"])
    assert (per["region"]["missing"], per["region"]["unseen"], per["region"]["unseen_examples"]) == (1, 1, ["mars"])
    assert per["note"]["missing"] == 2 and per["note"]["passed"] is True  # nullable: reported, not judged
    assert sorted(result["failing"]) == ["validation: age", "validation: region", "validation: term"]
    assert result["passed"] is False and result["value"] == 3


def _linear_predict(frame: pd.DataFrame) -> np.ndarray:
    z = 2.0 * frame["signal"].to_numpy(dtype=float) + 0.0 * frame["ignored"].to_numpy(dtype=float)
    return 1 / (1 + np.exp(-z))


def test_robustness_measures_the_drop_under_noise_missing_values_and_single_features():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"signal": rng.normal(size=4000), "ignored": rng.normal(size=4000)})
    y = (rng.random(4000) < _linear_predict(frame)).astype(int)
    features = [{"name": "signal", "type": "float"}, {"name": "ignored", "type": "float"}]
    limits = {"noise_scale": 0.5, "missing_rate": 0.1, "drop_max": 0.5, "feature_drop_max": 0.5}
    result = robustness.robustness(frame, y, features, _linear_predict, task="classification",
                                   scale={"signal": 1.0, "ignored": 1.0}, thresholds=limits, seed=0)
    base = skm.roc_auc_score(y, _linear_predict(frame))
    assert result["metrics"]["baseline"]["value"] == pytest.approx(base)
    assert result["metrics"]["noise_drop"]["value"] > 0.01
    assert result["features"]["ignored"]["drop"] == pytest.approx(0.0, abs=1e-12)
    assert result["worst_feature"] == "signal"
    # the linear model cannot score missing values: those rows are counted and scored as uninformed
    assert result["unscorable_rows"]["missing"] > 0 and result["metrics"]["missing_drop"]["value"] > 0
    again = robustness.robustness(frame, y, features, _linear_predict, task="classification",
                                  scale={"signal": 1.0, "ignored": 1.0}, thresholds=limits, seed=0)
    assert again == result  # seeded: the same disturbances every time


def test_generalisation_gap_and_membership_attack():
    rng = np.random.default_rng(6)
    y_tr, y_ho = rng.integers(0, 2, 2000), rng.integers(0, 2, 2000)
    s_tr = np.clip(y_tr * 0.8 + rng.normal(0.1, 0.1, 2000), 0.01, 0.99)  # memorised: confident and right
    s_ho = np.clip(y_ho * 0.3 + rng.normal(0.35, 0.2, 2000), 0.01, 0.99)
    result = generalisation.generalisation("classification", y_tr, s_tr, y_ho, s_ho, thresholds={"gap_max": 0.05})
    gap = skm.roc_auc_score(y_tr, s_tr) - skm.roc_auc_score(y_ho, s_ho)
    assert result["value"] == pytest.approx(gap) and result["passed"] is False
    assert result["metrics"]["membership_attack_auc"]["value"] > 0.7
    assert result["metrics"]["membership_attack_auc"]["passed"] is None  # evidence, not judged


def test_segments_judge_only_large_enough_segments():
    rng = np.random.default_rng(7)
    region = pd.Series(rng.choice(["a", "b", "tiny"], 3000, p=[0.5, 0.48, 0.02]))
    y = rng.integers(0, 2, 3000)
    score = np.where(region == "b", rng.random(3000), y * 0.6 + rng.random(3000) * 0.4)  # b: random scores
    result = segments.segments("classification", y, score, region, thresholds={"gap_max": 0.1, "min_rows": 200},
                               name="region")
    table = result["segments"]
    assert table["a"]["metric"] == pytest.approx(skm.roc_auc_score(y[region == "a"], score[region == "a"]))
    assert table["a"]["passed"] is True and table["b"]["passed"] is False
    assert table["tiny"]["passed"] is None and table["tiny"]["note"] == "too few rows"
    assert result["worst_segment"] == "b" and result["passed"] is False
    labels = segments.segment_labels(pd.Series(rng.normal(size=1000)), bins=5)
    assert labels.nunique() == 5


def test_thresholds_follow_depth_and_tier():
    basic = thresholds.resolve(tier=3, depth="basic")
    assert basic["tests"] == ["performance", "quality", "explainability"]
    full = thresholds.resolve(tier=1, depth="full")
    assert full["tests"][-1] == "champion" and "robustness" in full["tests"]
    assert full["thresholds"]["performance"]["auc_min"] > thresholds.resolve(
        tier=3, depth="full")["thresholds"]["performance"]["auc_min"]
    override = thresholds.resolve(tier=2, depth="standard", overrides={"performance": {"auc_min": 0.9}})
    assert override["thresholds"]["performance"]["auc_min"] == 0.9
    with pytest.raises(DomainError):
        thresholds.resolve(tier=2, depth="standard", overrides={"performance": {"auc_minimum": 0.9}})
    assert metric(0.5, 0.6)["passed"] is False and metric(0.5)["passed"] is None


@pytest.fixture(scope="module")
def credit():
    return build_demo_model("credit-scoring", n_rows=1500)


def _schema(model) -> dict:
    return {"input": "float_input", "layout": "tensor", "features": [
        {"name": name, "type": "float", "min": model.feature_ranges[name][0], "max": model.feature_ranges[name][1],
         "categories": None, "nullable": False} for name in model.feature_names]}


def test_onnx_scores_match_the_fitted_estimator_in_batches(credit):
    model = OnnxModel(credit.onnx_bytes, _schema(credit), batch_rows=128)
    prediction = model.predict(credit.holdout)
    expected = credit.estimator.predict_proba(credit.input_array(credit.holdout))[:, 1]
    assert prediction.kind == "probabilities" and len(prediction.scores) == len(credit.holdout)
    assert prediction.scores == pytest.approx(expected, abs=1e-5)
    whole = OnnxModel(credit.onnx_bytes, _schema(credit)).predict(credit.holdout)
    assert np.array_equal(whole.scores, prediction.scores)
    with pytest.raises(DomainError, match="'income'"):
        model.predict(credit.holdout.drop(columns=["income"]))


def _source(label, data: bytes, fmt="csv", schema=None) -> Source:
    return Source(label=label, sha256=hashlib.sha256(data).hexdigest(), opener=lambda: io.BytesIO(data), fmt=fmt,
                  feature_schema=schema or {})


def _spec(model, *, validation: bytes | None = None, **extra) -> RunSpec:
    plan = thresholds.resolve(tier=2, depth="full")
    csv = (model.reference.to_csv(index=False).encode(), model.holdout.to_csv(index=False).encode())
    return RunSpec(model=_source("v1", model.onnx_bytes, "onnx", _schema(model)),
                   reference=_source("the reference dataset 'ref'", csv[0]),
                   validation=_source("the validation dataset 'holdout'", validation or csv[1]),
                   target=model.target, tests=tuple(plan["tests"]), thresholds=plan["thresholds"], seed=11, **extra)


def test_runner_runs_every_test_reproducibly(credit):
    steps = []
    spec = _spec(credit, segment_column="loan_term_months")
    first = execute(spec, lambda step, percent: steps.append((step, percent)) or True)
    assert [s for s, _ in steps] == ["load", "predict", *thresholds.TEST_ORDER]
    assert [p for _, p in steps] == sorted(p for _, p in steps) and steps[-1][1] < 100
    tests = first.results["tests"]
    assert set(tests) == set(thresholds.TEST_ORDER)
    assert first.results["task"] == "classification" and first.results["positive_label"] == "1"
    assert tests["performance"]["value"] == pytest.approx(skm.roc_auc_score(
        credit.holdout[credit.target], credit.estimator.predict_proba(credit.input_array(credit.holdout))[:, 1]),
        abs=1e-4)
    assert tests["champion"]["status"] == "skipped" and tests["segments"]["column"] == "loan_term_months"
    assert set(first.record["digests"]) == {"artifact", "reference", "validation"}
    assert first.record["packages"]["onnxruntime"] and first.record["seeds"]["base"] == 11
    second = execute(spec)
    assert json.dumps(second.results, sort_keys=True) == json.dumps(first.results, sort_keys=True)
    json.dumps(first.results, allow_nan=False)


def test_runner_compares_with_the_champion(credit):
    challenger = build_demo_model("credit-scoring", n_rows=1500, variant="challenger")
    spec = _spec(challenger, champion=_source("the champion v1", credit.onnx_bytes, "onnx", _schema(credit)))
    result = execute(spec).results["tests"]["champion"]
    ours = result["metrics"]["challenger"]["value"]
    theirs = result["metrics"]["champion"]["value"]
    assert result["value"] == pytest.approx(ours - theirs)
    assert {row["metric"] for row in result["table"] if row["test"] == "performance"} >= {"auc", "ks", "brier"}
    assert result["champion"]["tests"]["performance"]["value"] == pytest.approx(theirs)


def test_runner_names_the_missing_column_and_checks_digests(credit):
    without = credit.holdout.drop(columns=["income"]).to_csv(index=False).encode()
    with pytest.raises(DomainError, match="validation dataset 'holdout' has no column 'income'"):
        execute(_spec(credit, validation=without))
    spec = _spec(credit)
    tampered = RunSpec(**{**spec.__dict__, "reference": Source(
        label="the reference dataset 'ref'", sha256="0" * 64, opener=spec.reference.opener, fmt="csv")})
    with pytest.raises(DomainError, match="do not match its registered sha256"):
        execute(tampered)


def test_runner_scores_a_regressor_and_skips_calibration():
    demand = build_demo_model("demand-forecast", n_rows=800)
    plan = thresholds.resolve(tier=2, depth="standard")
    csv = [frame.to_csv(index=False).encode() for frame in (demand.reference, demand.holdout)]
    spec = RunSpec(model=_source("v1", demand.onnx_bytes, "onnx", _schema(demand)),
                   reference=_source("ref", csv[0]), validation=_source("holdout", csv[1]), target=demand.target,
                   tests=tuple(plan["tests"]), thresholds=plan["thresholds"], seed=3)
    results = execute(spec).results
    assert results["task"] == "regression" and results["order"] == plan["tests"]
    expected = skm.r2_score(demand.holdout[demand.target], demand.estimator.predict(demand.input_array(demand.holdout)))
    assert results["tests"]["performance"]["value"] == pytest.approx(expected, abs=1e-4)
    assert results["tests"]["calibration"]["status"] == "skipped"
    assert results["tests"]["generalisation"]["metric_name"] == "r2"


def test_a_failed_test_heads_with_the_metric_that_failed_it():
    """The robustness row once read "Failed · drop under Gaussian noise -0.0002 <= 0.02" while the drop with
    missing values (0.057 > 0.02) had failed it."""
    from validation.checks import metric, outcome

    result = outcome(headline="noise_drop", metrics={
        "noise_drop": metric(-0.0002, 0.02, "<="), "missing_drop": metric(0.057, 0.02, "<=")})
    assert result["status"] == "failed"
    assert (result["headline"], result["value"], result["threshold"]) == ("missing_drop", 0.057, 0.02)
    passing = outcome(headline="noise_drop", metrics={
        "noise_drop": metric(0.001, 0.02, "<="), "missing_drop": metric(0.003, 0.02, "<=")})
    assert (passing["status"], passing["headline"], passing["value"]) == ("passed", "noise_drop", 0.001)
