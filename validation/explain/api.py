"""One entry point: SHAP values for an ONNX artifact, exact TreeSHAP where the graph is a tree ensemble.

>>> exp = explain_onnx(onnx_bytes, X, background=reference_rows, algorithm="interventional")
>>> exp.values.shape, exp.expected_value, exp.note

* Tree ensembles (``ai.onnx.ml`` TreeEnsembleClassifier / TreeEnsembleRegressor /
  TreeEnsemble): the trees are read from the graph (:mod:`kernels.onnx_trees`), checked to
  reproduce ONNX Runtime's output on a sample of rows, and explained exactly
  (:mod:`kernels.treeshap`): ``interventional`` against a seeded background sample of at
  most ``max_background`` reference rows, or ``path_dependent`` with node covers
  counted by passing all the reference rows through the trees (ONNX keeps none).
  ``auto`` picks interventional (shap's choice when a background is given).
* Any other graph (or trees that cannot be read or do not reproduce ONNX Runtime):
  shap's model-agnostic PermutationExplainer over batched ONNX Runtime calls
  (:mod:`.agnostic`).

``output="raw"`` explains the ensemble's score before ``post_transform`` (margin /
log-odds for boosted classifiers, averaged class probability for random forests,
the prediction for regressors).  ``output="probability"`` explains class
probabilities: exact where shap is (interventional TreeSHAP of a single logistic
output, with shap's per-reference rescaling; models whose raw output already is a
probability); otherwise the raw TreeSHAP values are rescaled per row onto the
probability scale (additive, approximate), and the note says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from kernels import treeshap
from kernels.onnx_trees import ParsedTreeEnsemble, UnsupportedTreeModel, model_bytes, parse_tree_ensemble
from validation.explain import agnostic

ALGORITHMS = ("interventional", "path_dependent", "auto")
OUTPUTS = ("raw", "probability")
CHECK_ROWS = 256


@dataclass
class Explanation:
    values: np.ndarray  # (rows, features) or (rows, features, outputs) when there are several outputs
    expected_value: float | np.ndarray
    algorithm: str  # "tree_interventional" | "tree_path_dependent" | "permutation (model-agnostic)"
    output_space: str
    background_rows: int
    note: str
    duration_s: float
    output_names: list = field(default_factory=list)
    exact: bool = True
    details: dict = field(default_factory=dict)

    def output(self) -> np.ndarray:
        """Model output the values add up to: ``values.sum(features) + expected_value`` per row."""
        return self.values.sum(axis=1) + self.expected_value


def explain_onnx(
    onnx_path_or_bytes,
    X: np.ndarray,
    *,
    background: np.ndarray,
    algorithm: str = "auto",
    output: str = "raw",
    max_background: int = 200,
    seed: int = 0,
) -> Explanation:
    """SHAP values of rows ``X`` for an ONNX model; see the module docstring."""
    start = time.perf_counter()
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError("X must be a (rows, features) matrix")
    background = np.asarray(background)
    if background.ndim != 2 or background.shape[0] == 0 or background.shape[1] != X.shape[1]:
        raise ValueError("background must be a non-empty (rows, features) matrix with X's columns")
    if max_background < 1:
        raise ValueError("max_background must be at least 1")
    raw_bytes = model_bytes(onnx_path_or_bytes)

    try:
        ens = parse_tree_ensemble(raw_bytes)
    except UnsupportedTreeModel as exc:
        return _agnostic(raw_bytes, X, background, output, max_background, seed, start, str(exc))

    if not ens.width_declared and X.shape[1] >= ens.n_features:
        ens.n_features = X.shape[1]  # the graph leaves the width open; features past the last split are unused
    if X.shape[1] != ens.n_features:
        raise ValueError(f"the model reads {ens.n_features} features, X has {X.shape[1]}")
    predictor = None
    try:
        predictor = agnostic.make_predictor(raw_bytes, n_features=X.shape[1])
        mismatch = _check_against_onnxruntime(ens, predictor, X, background)
    except Exception as exc:  # noqa: BLE001 - any ONNX Runtime failure means: do not trust the parsed trees
        mismatch = f"could not be checked against ONNX Runtime ({exc})"
    if mismatch:
        return _agnostic(raw_bytes, X, background, output, max_background, seed, start,
                         f"the trees read from the graph {mismatch}", predictor)
    return _explain_trees(ens, X, background, algorithm, output, max_background, seed, start)


# -- trees --------------------------------------------------------------------------------------------------


def _check_against_onnxruntime(ens: ParsedTreeEnsemble, predictor, X: np.ndarray, background: np.ndarray) -> str:
    """Empty when the parsed trees reproduce ONNX Runtime's output on a sample of rows, else why not."""
    rows = np.concatenate([X[:CHECK_ROWS], background[:CHECK_ROWS]])
    ort_out = predictor.all_columns(rows)
    raw = ens.predict_raw(ens.prepare(rows))
    mine = ens.ort_probabilities(raw) if ens.is_classifier else ens.transform(raw)
    if mine.shape != ort_out.shape:
        return f"give {mine.shape[1]} output column(s) where ONNX Runtime gives {ort_out.shape[1]}"
    scale = max(1.0, float(np.nanmax(np.abs(ort_out))) if ort_out.size else 1.0)
    diff = float(np.nanmax(np.abs(mine - ort_out))) if ort_out.size else 0.0
    if not np.isfinite(diff) or diff > 1e-4 * scale:
        return f"do not reproduce ONNX Runtime's output (largest difference {diff:.3g})"
    return ""


def _output_space(ens: ParsedTreeEnsemble) -> str:
    if not ens.is_classifier:
        return "raw (regression output)" if ens.post_transform == "NONE" else f"raw (before {ens.post_transform})"
    if ens.post_transform == "NONE":
        return "probability (the trees vote class probabilities)"
    if ens.post_transform == "LOGISTIC":
        return "raw margin (log-odds)"
    if ens.post_transform.startswith("SOFTMAX"):
        return "raw margin (per-class scores before softmax)"
    return f"raw margin (before {ens.post_transform})"


def _explain_trees(
    ens: ParsedTreeEnsemble,
    X: np.ndarray,
    background: np.ndarray,
    algorithm: str,
    output: str,
    max_background: int,
    seed: int,
    start: float,
) -> Explanation:
    if algorithm == "auto":
        algorithm = "interventional"
    if output == "probability" and not ens.is_classifier:
        raise ValueError("output='probability' needs a classifier; this ONNX model is a regressor")
    Xp = ens.prepare(X)
    n_ref = background.shape[0]
    raw_is_probability = ens.is_classifier and ens.post_transform == "NONE"
    exact = True
    rescaled = False
    if algorithm == "interventional":
        bg = agnostic.sample_rows(background, max_background, seed)
        bgp = ens.prepare(bg)
        if output == "probability" and ens.post_transform == "LOGISTIC" and ens.n_outputs == 1:
            res = treeshap.interventional(ens, Xp, bgp, transform="logistic")
            output_space = "probability"
        else:
            res = treeshap.interventional(ens, Xp, bgp)
            output_space = _output_space(ens)
            if output == "probability" and not raw_is_probability:
                res, output_space = _rescale_to_probability(ens, Xp, bgp, res), "probability (rescaled from raw margin)"
                rescaled, exact = True, False
        used = int(bgp.shape[0])
        data_text = (
            f"against a background sample of {used:,} of the {n_ref:,} reference rows (seed {seed})"
            if used < n_ref
            else f"against all {n_ref:,} reference rows as background"
        )
        label = "tree_interventional"
        algo_text = "interventional TreeSHAP"
    else:
        refp = ens.prepare(background)
        res = treeshap.path_dependent(ens, Xp, refp)
        output_space = _output_space(ens)
        if output == "probability" and not raw_is_probability:
            res, output_space = _rescale_to_probability(ens, Xp, refp, res), "probability (rescaled from raw margin)"
            rescaled, exact = True, False
        used = n_ref
        data_text = (
            f"with node covers counted by passing the {n_ref:,} reference rows through the parsed trees "
            "(ONNX stores no cover counts)"
        )
        if res.uncovered_nodes:
            data_text += f"; {res.uncovered_nodes:,} nodes no reference row reached were given shap's 1e-6 cover"
        label = "tree_path_dependent"
        algo_text = "path-dependent TreeSHAP"

    engine_text = {
        "tables": "",
        "shap C++": " (shap's C++ kernel)",
        "tables + shap C++": f" ({res.details.get('deep_trees', 0)} deep trees through shap's C++ kernel)",
    }.get(res.engine, "")
    note = (
        f"{'Exact' if exact else 'Approximate'} {algo_text}{engine_text} on the {ens.n_trees:,} trees read from the "
        f"ONNX {ens.op_type} ({ens.n_nodes:,} nodes), {data_text}; output: {output_space}."
    )
    if rescaled:
        note += (
            " The probability-scale values are the raw-margin TreeSHAP values rescaled per row so that they add up "
            "to the probability minus its mean over the "
            + ("background" if algorithm == "interventional" else "reference")
            + " rows (shap computes exact probability-scale values only for interventional TreeSHAP of a "
            "single logistic output)."
        )
    if ens.expanded_nodes:
        note += f" {ens.expanded_nodes:,} equality / set-membership splits were rewritten as pairs of <= splits."
    values, expected = _squeeze(res.values, res.expected_value)
    return Explanation(
        values=values,
        expected_value=expected,
        algorithm=label,
        output_space=output_space,
        background_rows=used,
        note=note,
        duration_s=time.perf_counter() - start,
        output_names=list(ens.output_names),
        exact=exact,
        details={
            "engine": res.engine,
            "model": ens.describe(),
            "uncovered_nodes": res.uncovered_nodes,
            "reference_rows": n_ref,
            "seed": seed,
        },
    )


def _rescale_to_probability(
    ens: ParsedTreeEnsemble, Xp: np.ndarray, refp: np.ndarray, res: treeshap.TreeShapResult
) -> treeshap.TreeShapResult:
    """Scale each row's raw-margin values so that they add up to p(x) - mean p(reference)."""
    p_x = ens.transform(ens.predict_raw(Xp))
    p_ref = ens.transform(ens.predict_raw(refp)).mean(0)
    total = res.values.sum(axis=1)  # (rows, outputs) = f(x) - E f
    target = p_x - p_ref
    n_features = res.values.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(np.abs(total) > 1e-12, target / total, 0.0)
    values = res.values * factor[:, None, :]
    flat = np.abs(total) <= 1e-12  # nothing to scale: spread the change evenly
    if flat.any():
        values = np.where(flat[:, None, :], (target / n_features)[:, None, :], values)
    return treeshap.TreeShapResult(
        values=values, expected_value=p_ref, uncovered_nodes=res.uncovered_nodes, engine=res.engine,
        details=res.details,
    )


def _squeeze(values: np.ndarray, expected: np.ndarray):
    expected = np.asarray(expected, dtype=np.float64).reshape(-1)
    if values.shape[2] == 1:
        return values[:, :, 0], float(expected[0])
    return values, expected


# -- fallback -----------------------------------------------------------------------------------------------


def _agnostic(
    raw_bytes: bytes,
    X: np.ndarray,
    background: np.ndarray,
    output: str,
    max_background: int,
    seed: int,
    start: float,
    reason: str,
    predictor=None,
) -> Explanation:
    predictor = predictor or agnostic.make_predictor(raw_bytes, n_features=X.shape[1])
    res = agnostic.permutation_shap(
        raw_bytes, X, background, max_background=max_background, seed=seed, predictor=predictor
    )
    if res.output_kind == "probability":
        output_space = "probability"
        if output == "raw":
            output_space = "probability (the graph exposes no raw margin)"
    else:
        output_space = "model output"
        if output == "probability":
            output_space = "model output (the graph exposes no class probabilities)"
    note = (
        f"Model-agnostic permutation SHAP (shap PermutationExplainer, {res.max_evals} model evaluations per row, "
        f"seed {seed}) over batched ONNX Runtime calls, against a background sample of {res.background_rows:,} of "
        f"the {background.shape[0]:,} reference rows; used because {reason}. Values are sampled estimates "
        f"(additive by construction); output: {output_space}."
    )
    values, expected = _squeeze(res.values, res.expected_value)
    return Explanation(
        values=values,
        expected_value=expected,
        algorithm="permutation (model-agnostic)",
        output_space=output_space,
        background_rows=res.background_rows,
        note=note,
        duration_s=time.perf_counter() - start,
        output_names=res.output_names,
        exact=False,
        details={"engine": "shap PermutationExplainer + onnxruntime", "reason": reason, "seed": seed,
                 "max_evals": res.max_evals, "reference_rows": int(background.shape[0])},
    )
