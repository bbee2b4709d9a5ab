"""Exact TreeSHAP read from ONNX tree ensembles, against shap's TreeExplainer on the source models.

Tolerance: largest absolute difference under 1e-6 of the output scale; additivity
(values + expected value == model output) on every row.
"""

from __future__ import annotations

import itertools
import warnings
from math import factorial

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

pytest.importorskip("shap")
xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")
pytest.importorskip("onnxmltools")

import shap  # noqa: E402
from onnxmltools import convert_lightgbm, convert_xgboost  # noqa: E402
from onnxmltools.convert.common.data_types import FloatTensorType  # noqa: E402
from skl2onnx import to_onnx  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from kernels import treeshap  # noqa: E402
from kernels.onnx_trees import parse_tree_ensemble  # noqa: E402
from validation.explain import explain_onnx  # noqa: E402
from validation.explain.agnostic import ort_session  # noqa: E402

N_FEATURES = 6
RTOL = 1e-6


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(500, N_FEATURES)).astype(np.float32)
    logit = X[:, 0] + X[:, 1] * X[:, 2] - 0.5 * X[:, 3]
    return {
        "X": X,
        "y_bin": (logit + 0.3 * rng.normal(size=500) > 0).astype(int),
        "y_reg": (2 * X[:, 0] + X[:, 2] * X[:, 3] + np.sin(X[:, 4])).astype(np.float32),
        "y_multi": (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int),
        "rows": rng.normal(size=(40, N_FEATURES)).astype(np.float32),
        "background": X[:80],
    }


_INIT = [("input", FloatTensorType([None, N_FEATURES]))]


def _build(kind: str, data):
    X = data["X"]
    y = {"c": data["y_bin"], "r": data["y_reg"], "m": data["y_multi"]}[kind[-1]]
    name = kind[:-2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "gb":
            cls = GradientBoostingRegressor if kind.endswith("r") else GradientBoostingClassifier
            model = cls(n_estimators=25, max_depth=3, random_state=0).fit(X, y)
            onx = to_onnx(model, X[:1])  # classifier keeps skl2onnx's ZipMap output
        elif name == "rf":
            cls = RandomForestRegressor if kind.endswith("r") else RandomForestClassifier
            model = cls(n_estimators=12, max_depth=5, random_state=0).fit(X, y)
            onx = to_onnx(model, X[:1], options={"zipmap": False} if not kind.endswith("r") else None)
        elif name == "xgb":
            cls = xgb.XGBRegressor if kind.endswith("r") else xgb.XGBClassifier
            model = cls(n_estimators=25, max_depth=3, random_state=0).fit(X, y)
            onx = convert_xgboost(model, initial_types=_INIT)
        else:
            cls = lgb.LGBMRegressor if kind.endswith("r") else lgb.LGBMClassifier
            model = cls(n_estimators=25, num_leaves=12, verbose=-1, random_state=0).fit(X, y)
            kw = {} if kind.endswith("r") else {"zipmap": False}
            onx = convert_lightgbm(model, initial_types=_INIT, **kw)
    return model, onx.SerializeToString()


@pytest.fixture(scope="module")
def models(data):
    cache: dict[str, tuple] = {}

    def get(kind: str):
        if kind not in cache:
            cache[kind] = _build(kind, data)
        return cache[kind]

    return get


def _raw_output(model, X):
    """The source model's raw output (margin for boosted classifiers, P(class 1) for forests)."""
    if isinstance(model, (xgb.XGBClassifier, xgb.XGBRegressor)):
        return model.predict(X, output_margin=True)
    if isinstance(model, (lgb.LGBMClassifier, lgb.LGBMRegressor)):
        return model.predict(X, raw_score=True)
    if isinstance(model, GradientBoostingClassifier):
        return model.decision_function(X)
    if isinstance(model, RandomForestClassifier):
        return model.predict_proba(X)[:, 1]
    return model.predict(X)


def _shap_reference(values, model):
    values = np.asarray(values)
    if isinstance(model, RandomForestClassifier) and values.ndim == 3 and values.shape[2] == 2:
        return values[:, :, 1]  # ONNX keeps one column for binary forests: P(class 1)
    return values


def _assert_close(ours, ref, scale, what):
    diff = float(np.max(np.abs(np.asarray(ours) - np.asarray(ref))))
    assert diff <= RTOL * scale, f"{what}: max |diff| {diff:.3g} > {RTOL:g} x scale {scale:.3g}"


def _assert_additive(exp, output, scale):
    recon = exp.values.sum(axis=1) + exp.expected_value
    _assert_close(recon, np.asarray(output).reshape(recon.shape), scale, "additivity")


def _scale(out):
    out = np.asarray(out, dtype=np.float64)
    return max(float(np.ptp(out)), float(np.abs(out).max()), 1e-3)


# -- interventional ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gb_c", "gb_r", "rf_c", "rf_r", "xgb_c", "xgb_r", "lgb_c", "lgb_r", "lgb_m"])
def test_interventional_matches_tree_explainer(kind, models, data):
    model, onx = models(kind)
    rows, bg = data["rows"], data["background"]
    exp = explain_onnx(onx, rows, background=bg, algorithm="interventional")
    assert exp.algorithm == "tree_interventional"
    assert exp.background_rows == bg.shape[0]
    assert "interventional TreeSHAP" in exp.note and "background" in exp.note

    te = shap.TreeExplainer(model, data=bg, feature_perturbation="interventional")
    ref = _shap_reference(te.shap_values(rows, check_additivity=False), model)
    out = _raw_output(model, rows)
    scale = _scale(out)
    assert exp.values.shape == ref.shape
    _assert_close(exp.values, ref, scale, f"{kind} SHAP values")
    ref_ev = np.asarray(te.expected_value, dtype=np.float64).reshape(-1)
    if isinstance(model, RandomForestClassifier):
        ref_ev = ref_ev[1:]
    _assert_close(np.reshape(exp.expected_value, -1), ref_ev, scale, f"{kind} expected value")
    _assert_additive(exp, out, scale)


def test_interventional_xgboost_multiclass(models, data):
    """shap 0.51 reads XGBoost 3's per-class base_score as one scalar; the values still agree."""
    model, onx = models("xgb_m")
    rows, bg = data["rows"], data["background"]
    exp = explain_onnx(onx, rows, background=bg, algorithm="interventional")
    te = shap.TreeExplainer(model, data=bg, feature_perturbation="interventional")
    out = _raw_output(model, rows)
    scale = _scale(out)
    _assert_close(exp.values, te.shap_values(rows, check_additivity=False), scale, "xgb multiclass values")
    _assert_close(exp.expected_value, _raw_output(model, bg).mean(0), scale, "xgb multiclass expected value")
    _assert_additive(exp, out, scale)


def test_probability_output_interventional_matches_tree_explainer(models, data):
    model, onx = models("gb_c")
    rows, bg = data["rows"], data["background"]
    exp = explain_onnx(onx, rows, background=bg, algorithm="interventional", output="probability")
    assert exp.output_space == "probability" and exp.exact
    te = shap.TreeExplainer(model, data=bg, feature_perturbation="interventional", model_output="probability")
    ref = te.shap_values(rows, check_additivity=False)
    _assert_close(exp.values, ref, 1.0, "probability SHAP values")
    _assert_close(exp.expected_value, te.expected_value, 1.0, "probability expected value")
    _assert_additive(exp, model.predict_proba(rows)[:, 1], 1.0)


def test_background_is_sampled_to_max_background(models, data):
    model, onx = models("gb_r")
    X = data["X"]
    exp = explain_onnx(onx, data["rows"], background=X, algorithm="interventional", max_background=50, seed=3)
    assert exp.background_rows == 50
    assert "50 of the 500 reference rows (seed 3)" in exp.note
    _assert_additive(exp, model.predict(data["rows"]), _scale(model.predict(data["rows"])))
    again = explain_onnx(onx, data["rows"], background=X, algorithm="interventional", max_background=50, seed=3)
    np.testing.assert_array_equal(exp.values, again.values)


# -- path-dependent ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gb_c", "gb_r", "lgb_c", "lgb_r", "lgb_m"])
def test_path_dependent_matches_tree_explainer(kind, models, data):
    """The training data reproduces the model's own covers (no subsampling / bagging)."""
    model, onx = models(kind)
    rows = data["rows"]
    exp = explain_onnx(onx, rows, background=data["X"], algorithm="path_dependent")
    assert exp.algorithm == "tree_path_dependent"
    assert "covers counted by passing the 500 reference rows" in exp.note
    assert exp.details["uncovered_nodes"] == 0
    te = shap.TreeExplainer(model)
    ref = _shap_reference(te.shap_values(rows, check_additivity=False), model)
    out = _raw_output(model, rows)
    scale = _scale(out)
    _assert_close(exp.values, ref, scale, f"{kind} path-dependent SHAP values")
    _assert_close(np.reshape(exp.expected_value, -1), np.reshape(te.expected_value, -1), scale, "expected value")
    _assert_additive(exp, out, scale)


@pytest.mark.parametrize("kind", ["rf_r", "xgb_c", "xgb_r"])
def test_path_dependent_additive_on_other_models(kind, models, data):
    """Bootstrap / hessian covers are not reproducible from data, but the values stay additive and exact."""
    model, onx = models(kind)
    rows = data["rows"]
    exp = explain_onnx(onx, rows, background=data["X"], algorithm="path_dependent")
    out = _raw_output(model, rows)
    _assert_additive(exp, out, _scale(out))
    ens = parse_tree_ensemble(onx)
    ref = treeshap.cext_reference(ens, ens.prepare(rows), ens.prepare(data["X"]), "path_dependent")
    _assert_close(exp.values, ref.values[:, :, 0], _scale(out), "tables vs shap C++ kernel")


def test_path_dependent_probability_is_rescaled_and_additive(models, data):
    model, onx = models("lgb_c")
    rows = data["rows"]
    exp = explain_onnx(onx, rows, background=data["X"], algorithm="path_dependent", output="probability")
    assert not exp.exact and "rescaled" in exp.output_space and "rescaled" in exp.note
    _assert_additive(exp, model.predict_proba(rows)[:, 1], 1.0)


def test_multiclass_probability_is_additive(models, data):
    model, onx = models("lgb_m")
    rows = data["rows"]
    exp = explain_onnx(onx, rows, background=data["background"], output="probability")
    assert exp.values.shape == (rows.shape[0], N_FEATURES, 3)
    _assert_additive(exp, model.predict_proba(rows), 1.0)


def test_probability_of_regressor_is_refused(models, data):
    _, onx = models("gb_r")
    with pytest.raises(ValueError, match="regressor"):
        explain_onnx(onx, data["rows"], background=data["background"], output="probability")


# -- tables vs shap's C++ kernel, deep trees ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gb_c", "lgb_m"])
def test_tables_match_shap_kernel_with_deep_tree_routing(kind, models, data):
    _, onx = models(kind)
    ens = parse_tree_ensemble(onx)
    rows, bg = ens.prepare(data["rows"][:15]), ens.prepare(data["background"][:30])
    ref_i = treeshap.cext_reference(ens, rows, bg, "interventional")
    ref_p = treeshap.cext_reference(ens, rows, ens.prepare(data["X"]), "path_dependent")
    for depth in (treeshap.MAX_TABLE_DEPTH, 2):  # 2: most trees go through shap's C++ kernel
        paths = treeshap.leaf_paths(ens, max_table_depth=depth)
        res_i = treeshap.interventional(ens, rows, bg, paths=paths)
        res_p = treeshap.path_dependent(ens, rows, ens.prepare(data["X"]), paths=paths)
        np.testing.assert_allclose(res_i.values, ref_i.values, atol=1e-6)
        np.testing.assert_allclose(res_i.expected_value, ref_i.expected_value, atol=1e-9)
        np.testing.assert_allclose(res_p.values, ref_p.values, atol=1e-9)
        np.testing.assert_allclose(res_p.expected_value, ref_p.expected_value, atol=1e-9)
    assert treeshap.leaf_paths(ens, max_table_depth=2).deep_trees.size > 0


# -- inputs, ONNX variants -----------------------------------------------------------------------------------


def test_accepts_a_path_and_reports_duration(models, data, tmp_path):
    _, onx = models("xgb_r")
    path = tmp_path / "model.onnx"
    path.write_bytes(onx)
    exp = explain_onnx(path, data["rows"], background=data["background"])
    assert exp.algorithm == "tree_interventional"  # auto
    assert exp.duration_s > 0 and exp.output_space == "raw (regression output)"
    np.testing.assert_allclose(
        exp.values, explain_onnx(onx, data["rows"], background=data["background"]).values, atol=0
    )


def test_missing_values_follow_onnx_missing_tracks(data):
    X = data["X"].copy()
    rng = np.random.default_rng(1)
    X[rng.random(X.shape) < 0.15] = np.nan
    model = lgb.LGBMClassifier(n_estimators=20, num_leaves=10, verbose=-1, random_state=0).fit(X, data["y_bin"])
    onx = convert_lightgbm(model, initial_types=_INIT, zipmap=False).SerializeToString()
    rows = X[:40]
    exp = explain_onnx(onx, rows, background=X[100:180], algorithm="interventional")
    te = shap.TreeExplainer(model, data=X[100:180], feature_perturbation="interventional")
    out = model.predict(rows, raw_score=True)
    _assert_close(exp.values, te.shap_values(rows, check_additivity=False), _scale(out), "values with NaN")
    _assert_additive(exp, out, _scale(out))
    pd = explain_onnx(onx, rows, background=X, algorithm="path_dependent")
    _assert_close(pd.values, shap.TreeExplainer(model).shap_values(rows), _scale(out), "path-dependent with NaN")


@pytest.mark.parametrize("kind", ["gb_c", "lgb_m", "rf_c"])
def test_a_few_rows_one_at_a_time_equal_the_leaf_by_leaf_kernel_to_the_bit(kind, models, data, monkeypatch):
    """Up to ``FEW_ROWS`` rows take the row-by-row kernel (the served decision's reason codes); it must give the
    very values the leaf-by-leaf kernel gives, missing values and several outputs included, and shap's."""
    _, onx = models(kind)
    ens = parse_tree_ensemble(onx)
    rows = data["rows"][:treeshap.FEW_ROWS].copy()
    rows[0, 1] = rows[1, 3] = np.nan
    prepared_rows, reference = ens.prepare(rows), ens.prepare(data["X"])
    covers, _ = treeshap.path_dependent_covers(ens, reference)
    prepared = treeshap.path_dependent_prepare(ens, covers)
    few = [prepared.explain(prepared_rows[:n]).values for n in range(1, len(rows) + 1)]
    few_interventional = treeshap.interventional(ens, prepared_rows, ens.prepare(data["background"])).values
    monkeypatch.setattr(treeshap, "FEW_ROWS", 0)
    for n, values in enumerate(few, start=1):
        np.testing.assert_array_equal(values, prepared.explain(prepared_rows[:n]).values)
    np.testing.assert_array_equal(
        few_interventional, treeshap.interventional(ens, prepared_rows, ens.prepare(data["background"])).values)
    ref = treeshap.cext_reference(ens, prepared_rows, reference, "path_dependent")
    np.testing.assert_allclose(few[-1], ref.values, atol=1e-9)


def _v5_model(nodes, leaves, roots, n_features, membership=None, double=False):
    """A hand-made ``TreeEnsemble`` (ai.onnx.ml opset 5) regressor."""
    ft = np.float64 if double else np.float32
    attrs = {
        "nodes_featureids": [n[0] for n in nodes],
        "nodes_modes": numpy_helper.from_array(np.array([n[1] for n in nodes], dtype=np.uint8)),
        "nodes_splits": numpy_helper.from_array(np.array([n[2] for n in nodes], dtype=ft)),
        "nodes_truenodeids": [n[3][1] for n in nodes],
        "nodes_trueleafs": [int(n[3][0] == "leaf") for n in nodes],
        "nodes_falsenodeids": [n[4][1] for n in nodes],
        "nodes_falseleafs": [int(n[4][0] == "leaf") for n in nodes],
        "nodes_missing_value_tracks_true": [n[5] for n in nodes],
        "leaf_targetids": [0] * len(leaves),
        "leaf_weights": numpy_helper.from_array(np.array(leaves, dtype=ft)),
        "tree_roots": roots,
        "n_targets": 1,
        "post_transform": 0,
        "aggregate_function": 1,
    }
    if membership is not None:
        attrs["membership_values"] = numpy_helper.from_array(np.array(membership, dtype=ft))
    node = helper.make_node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **attrs)
    et = TensorProto.DOUBLE if double else TensorProto.FLOAT
    graph = helper.make_graph(
        [node], "trees", [helper.make_tensor_value_info("X", et, [None, n_features])],
        [helper.make_tensor_value_info("Y", et, [None, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _brute_force_interventional(predict, x, background):
    """Shapley values of v(S) = mean_b f(x_S, b_rest), every coalition evaluated through ONNX Runtime."""
    m = x.size
    v = {}
    for size in range(m + 1):
        for S in itertools.combinations(range(m), size):
            hybrid = background.copy()
            hybrid[:, list(S)] = x[list(S)]
            v[S] = predict(hybrid).mean()
    phi = np.zeros(m)
    for i in range(m):
        for S, value in v.items():
            if i in S:
                continue
            with_i = tuple(sorted((*S, i)))
            phi[i] += factorial(len(S)) * factorial(m - len(S) - 1) / factorial(m) * (v[with_i] - value)
    return phi


@pytest.mark.parametrize("double", [False, True])
def test_tree_ensemble_opset5_with_equality_membership_and_missing(double):
    LEQ, LT, GTE, EQ, NEQ, MEMBER = 0, 1, 2, 4, 5, 6
    nodes = [
        (0, MEMBER, 0.0, ("node", 1), ("leaf", 0), 0),  # tree 0: x0 in {1, 2, 5}
        (1, LT, 0.5, ("leaf", 1), ("leaf", 2), 1),  # x1 < 0.5, NaN -> true
        (2, EQ, 3.0, ("leaf", 3), ("node", 3), 1),  # tree 1: x2 == 3, NaN -> true
        (0, NEQ, 2.0, ("leaf", 4), ("node", 4), 0),  # x0 != 2
        (1, GTE, 1.0, ("leaf", 5), ("leaf", 6), 0),  # x1 >= 1
        (3, LEQ, 2.5, ("leaf", 7), ("leaf", 8), 0),  # tree 2: x3 <= 2.5
    ]
    leaves = [0.5, -1.0, 2.0, 0.25, -0.75, 1.5, 3.0, -0.5, 0.8]
    onx = _v5_model(nodes, leaves, [0, 2, 5], 4, membership=[1, 2, 5], double=double)
    rng = np.random.default_rng(0)
    dtype = np.float64 if double else np.float32
    X = rng.integers(0, 6, size=(60, 4)).astype(dtype)
    X[rng.random(X.shape) < 0.15] = np.nan
    rows, bg = X[:8], X[20:50]
    exp = explain_onnx(onx, rows, background=bg, algorithm="interventional")
    assert exp.algorithm == "tree_interventional", exp.note
    assert "equality / set-membership splits were rewritten" in exp.note
    sess = ort_session(onx)

    def predict(a):
        return sess.run(None, {"X": a.astype(dtype)})[0][:, 0]

    for i in range(rows.shape[0]):
        np.testing.assert_allclose(exp.values[i], _brute_force_interventional(predict, rows[i], bg), atol=1e-6)
    _assert_additive(exp, predict(rows), 1.0)
    pd = explain_onnx(onx, rows, background=X, algorithm="path_dependent")
    ens = parse_tree_ensemble(onx)
    ref = treeshap.cext_reference(ens, ens.prepare(rows), ens.prepare(X), "path_dependent")
    np.testing.assert_allclose(pd.values, ref.values[:, :, 0], atol=1e-9)
    _assert_additive(pd, predict(rows), 1.0)


def test_lightgbm_categorical_splits_are_read_exactly():
    """onnxmltools writes LightGBM's categorical splits as BRANCH_EQ chains; shap's own loader gets them wrong."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1500, 4)).astype(np.float32)
    X[:, 0] = rng.integers(0, 8, 1500)
    y = ((X[:, 0] % 3 == 0) | (X[:, 1] > 0.5)).astype(int)
    model = lgb.LGBMClassifier(n_estimators=8, num_leaves=6, verbose=-1, min_data_per_group=5, random_state=0)
    model.fit(X, y, categorical_feature=[0])
    onx = convert_lightgbm(model, initial_types=[("input", FloatTensorType([None, 4]))], zipmap=False)
    onx = onx.SerializeToString()
    rows, bg = X[:6], X[100:140]
    exp = explain_onnx(onx, rows, background=bg, algorithm="interventional")
    assert exp.algorithm == "tree_interventional" and "equality" in exp.note
    out = model.predict(rows, raw_score=True)
    _assert_additive(exp, out, _scale(out))
    sess = ort_session(onx)

    def predict(a):  # ONNX Runtime's P(class 1) -> log-odds
        p = sess.run(None, {"input": a.astype(np.float32)})[1][:, 1].astype(np.float64)
        return np.log(p / (1 - p))

    for i in range(rows.shape[0]):
        np.testing.assert_allclose(exp.values[i], _brute_force_interventional(predict, rows[i], bg), atol=2e-5)


# -- fallback ------------------------------------------------------------------------------------------------


def test_non_tree_graph_falls_back_to_permutation(data):
    X = data["X"][:, :4]
    lin = LinearRegression().fit(X, data["y_reg"])
    onx = to_onnx(lin, X[:1]).SerializeToString()
    rows, bg = X[:5], X[100:150]
    exp = explain_onnx(onx, rows, background=bg, algorithm="path_dependent")
    assert exp.algorithm == "permutation (model-agnostic)" and not exp.exact
    assert "PermutationExplainer" in exp.note and "no ai.onnx.ml tree-ensemble" in exp.note
    # permutation SHAP is exact for an additive model: coef * (x - mean background)
    expected = lin.coef_ * (rows.astype(np.float64) - bg.astype(np.float64).mean(0))
    np.testing.assert_allclose(exp.values, expected, atol=1e-4)
    _assert_additive(exp, lin.predict(rows), _scale(lin.predict(rows)) * 10)


def test_preprocessing_in_graph_falls_back(data):
    X = data["X"]
    pipe = make_pipeline(StandardScaler(), GradientBoostingClassifier(n_estimators=5, max_depth=2)).fit(
        X, data["y_bin"]
    )
    onx = to_onnx(pipe, X[:1], options={"zipmap": False}).SerializeToString()
    exp = explain_onnx(onx, data["rows"][:4], background=data["background"][:30], max_background=20)
    assert exp.algorithm == "permutation (model-agnostic)"
    assert "preprocessing inside the graph" in exp.note
    assert exp.background_rows == 20
    _assert_additive(exp, pipe.predict_proba(data["rows"][:4])[:, 1], 100.0)


def test_graph_changing_the_tree_output_falls_back(models, data):
    _, onx = models("gb_r")
    model = onnx.load_model_from_string(onx)
    out = model.graph.output[0]
    tree_out = model.graph.node[-1].output[0]
    for node in model.graph.node:
        node.output[:] = [f"{o}_pre" if o == tree_out else o for o in node.output]
    two = numpy_helper.from_array(np.array([2.0], dtype=np.float32), "two")
    model.graph.initializer.append(two)
    model.graph.node.append(helper.make_node("Mul", [f"{tree_out}_pre", "two"], [out.name]))
    exp = explain_onnx(model.SerializeToString(), data["rows"][:3], background=data["background"][:20])
    assert exp.algorithm == "permutation (model-agnostic)"
    assert "do not reproduce ONNX Runtime" in exp.note


@pytest.mark.parametrize(("depth", "engine"), [(3, "patterns"), (3, "pairs"), (9, "patterns"), (9, "pairs")])
def test_compiled_logistic_is_shaps_definition_with_missing_values_and_repeated_splits(depth, engine):
    """The probability scale's compiled pairs kernel is shap's definition: for each reference, the exact raw
    interventional values (here by the table algorithm, one reference at a time) rescaled so that they add up to
    the change of the probability, averaged. Deep trees split one feature many times on a path; missing values
    take each node's default branch. On shallow trees it equals shap's own C++ kernel too (which computes in single
    precision and, on these depth-9 trees, drifts from its own definition)."""
    from kernels.onnx_trees import parse_tree_ensemble

    rng = np.random.default_rng(depth)
    X = rng.normal(size=(600, 6)).astype(np.float32)
    y = (X[:, 0] + np.sin(3 * X[:, 1]) + rng.normal(scale=0.3, size=600) > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=25, max_depth=depth, random_state=0).fit(X, y)
    ens = parse_tree_ensemble(to_onnx(model, X[:1], options={"zipmap": False}).SerializeToString())
    rows, bg = ens.prepare(X[:12].copy()), ens.prepare(X[400:430].copy())
    rows[::5, 0] = np.nan
    bg[::4, 1] = np.nan
    ours = treeshap._logistic_interventional(ens, rows, bg, engine=engine)
    assert ours.engine == f"compiled {engine}"
    assert treeshap.interventional(ens, rows, bg, transform="logistic").engine == "compiled patterns"
    fx, fr = ens.predict_raw(rows)[:, 0], ens.predict_raw(bg)[:, 0]
    sig = 1 / (1 + np.exp(-fx)), 1 / (1 + np.exp(-fr))
    expected = np.zeros((len(rows), rows.shape[1]))
    for b in range(len(bg)):
        pair = treeshap.interventional(ens, rows, bg[b:b + 1]).values[:, :, 0]
        diff = fx - fr[b]
        scale = np.where(np.abs(diff) > 1e-12, (sig[0] - sig[1][b]) / np.where(diff == 0, 1, diff),
                         sig[0] * (1 - sig[0]))
        expected += pair * scale[:, None] / len(bg)
    assert np.abs(ours.values[:, :, 0] - expected).max() < 1e-12
    assert np.abs(ours.values[:, :, 0].sum(axis=1) + ours.expected_value[0] - sig[0]).max() < 1e-12
    if depth <= 6:
        theirs = treeshap.cext_reference(ens, rows, bg, "interventional", transform="logistic")
        assert np.abs(ours.values[:, :, 0] - theirs.values[:, :, 0]).max() < 1e-7
