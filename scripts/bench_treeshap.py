#!/usr/bin/env python
"""Benchmark: exact TreeSHAP read from ONNX vs shap's TreeExplainer on the source model, and vs shap's
model-agnostic PermutationExplainer on the same ONNX model and rows.

Default size (the budget's): 1,000 rows, 100 trees of depth 6, 30 features, 200 background rows.
For each model family and algorithm it times ``validation.explain.explain_onnx`` end to end (parse the
graph, check it against ONNX Runtime, explain), ``shap.TreeExplainer`` on the source model with the same
algorithm (construction + ``shap_values``), and the permutation explainer (shap's numba warm-up excluded),
and reports the largest absolute difference relative to the output scale (the range of the raw outputs).
Interventional runs use the same 200-row background everywhere; path-dependent runs count covers on the
training rows, which reproduces the model's own covers for GradientBoosting and LightGBM (XGBoost's covers
are hessian sums, so its path-dependent values differ by design and are not compared).

Prints a table, then one JSON line.

    .venv/bin/python scripts/bench_treeshap.py [--rows 1000 --trees 100 --depth 6 --features 30]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build(family: str, X: np.ndarray, y: np.ndarray, trees: int, depth: int):
    n_features = X.shape[1]
    if family == "gb":
        from skl2onnx import to_onnx
        from sklearn.ensemble import GradientBoostingClassifier

        model = GradientBoostingClassifier(n_estimators=trees, max_depth=depth, random_state=0).fit(X, y)
        onx = to_onnx(model, X[:1], options={"zipmap": False})
        margin = model.decision_function
    else:
        from onnxmltools.convert.common.data_types import FloatTensorType

        init = [("input", FloatTensorType([None, n_features]))]
        if family == "xgb":
            import xgboost as xgb
            from onnxmltools import convert_xgboost

            model = xgb.XGBClassifier(n_estimators=trees, max_depth=depth, random_state=0).fit(X, y)
            onx = convert_xgboost(model, initial_types=init)

            def margin(a):
                return model.predict(a, output_margin=True)
        else:
            import lightgbm as lgb
            from onnxmltools import convert_lightgbm

            model = lgb.LGBMClassifier(
                n_estimators=trees, max_depth=depth, num_leaves=2**depth, verbose=-1, random_state=0
            ).fit(X, y)
            onx = convert_lightgbm(model, initial_types=init, zipmap=False)

            def margin(a):
                return model.predict(a, raw_score=True)
    return model, onx.SerializeToString(), margin


def timed(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--features", type=int, default=30)
    ap.add_argument("--background", type=int, default=200)
    ap.add_argument("--train-rows", type=int, default=4000)
    ap.add_argument("--models", default="gb,xgb,lgb")
    ap.add_argument("--algorithms", default="interventional,path_dependent")
    ap.add_argument("--perm-rows", type=int, default=None, help="rows for the permutation explainer "
                    "(default: all; fewer are timed and scaled linearly, marked as extrapolated)")
    ap.add_argument("--repeats", type=int, default=3, help="best of N for our timings")
    ap.add_argument("--te-repeats", type=int, default=1, help="best of N for TreeExplainer")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    import shap

    from validation.explain import explain_onnx
    from validation.explain.agnostic import permutation_shap

    rng = np.random.default_rng(0)
    n = args.train_rows + args.rows
    X_all = rng.normal(size=(n, args.features)).astype(np.float32)
    logit = X_all[:, 0] + X_all[:, 1] * X_all[:, 2] - np.sin(X_all[:, 3]) + 0.5 * X_all[:, 4:10].sum(axis=1)
    y_all = (logit + 0.5 * rng.normal(size=n) > 0).astype(int)
    X_train, y_train = X_all[: args.train_rows], y_all[: args.train_rows]
    X = X_all[args.train_rows :]
    background = X_train[rng.choice(args.train_rows, size=args.background, replace=False)]

    results = []
    perm_warm = False
    for family in args.models.split(","):
        t = time.perf_counter()
        model, onx, margin = build(family, X_train, y_train, args.trees, args.depth)
        print(f"# {family}: trained and converted in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        out = margin(X)
        scale = float(np.ptp(out)) or 1.0

        perm_rows = min(args.perm_rows or args.rows, args.rows)
        if not perm_warm:  # shap's numba compilation on the first call is not part of the comparison
            permutation_shap(onx, X[:2], background, max_background=args.background)
            perm_warm = True
        t_perm, _ = timed(
            lambda onx=onx, k=perm_rows: permutation_shap(onx, X[:k], background, max_background=args.background),
            1,
        )
        t_perm_full = t_perm * args.rows / perm_rows
        for algorithm in args.algorithms.split(","):
            ref_data = background if algorithm == "interventional" else X_train
            t_ours, exp = timed(
                lambda onx=onx, a=algorithm, r=ref_data: explain_onnx(
                    onx, X, background=r, algorithm=a, max_background=args.background
                ),
                args.repeats,
            )
            if algorithm == "interventional":
                masker = shap.maskers.Independent(background, max_samples=background.shape[0])

                def tree_explainer(model=model, masker=masker):
                    te = shap.TreeExplainer(model, data=masker, feature_perturbation="interventional")
                    return te.shap_values(X, check_additivity=False)
            else:

                def tree_explainer(model=model):
                    return shap.TreeExplainer(model).shap_values(X, check_additivity=False)

            t_te, ref = timed(tree_explainer, args.te_repeats)
            comparable = not (algorithm == "path_dependent" and family == "xgb")
            diff = float(np.max(np.abs(exp.values - np.asarray(ref)))) / scale
            additivity = float(np.max(np.abs(exp.values.sum(axis=1) + exp.expected_value - out))) / scale
            row = {
                "model": family,
                "algorithm": algorithm,
                "engine": exp.details.get("engine"),
                "ours_s": round(t_ours, 4),
                "tree_explainer_s": round(t_te, 4),
                "ratio_vs_tree_explainer": round(t_ours / t_te, 4),
                "permutation_s": round(t_perm_full, 3),
                "permutation_extrapolated_from_rows": perm_rows if perm_rows < args.rows else None,
                "speedup_vs_permutation": round(t_perm_full / t_ours, 1),
                "max_abs_diff_rel": diff if comparable else None,
                "max_abs_diff_rel_not_comparable": None if comparable else diff,
                "additivity_max_err_rel": additivity,
            }
            results.append(row)
            print(f"# {family} {algorithm}: {row}", file=sys.stderr)

    header = (
        f"{'model':5} {'algorithm':15} {'ours s':>8} {'TreeExpl s':>10} {'ratio':>6} {'perm s':>9} "
        f"{'speedup':>8} {'max|diff|/scale':>16} {'additivity':>10}"
    )
    print(f"rows={args.rows} trees={args.trees} depth={args.depth} features={args.features} "
          f"background={args.background} (path-dependent covers from {args.train_rows} training rows)")
    print(header)
    print("-" * len(header))
    for r in results:
        d = r["max_abs_diff_rel"]
        dtxt = f"{d:.2e}" if d is not None else f"({r['max_abs_diff_rel_not_comparable']:.1e})*"
        perm = f"{r['permutation_s']:.1f}" + ("~" if r["permutation_extrapolated_from_rows"] else "")
        print(
            f"{r['model']:5} {r['algorithm']:15} {r['ours_s']:8.3f} {r['tree_explainer_s']:10.3f} "
            f"{r['ratio_vs_tree_explainer']:6.3f} {perm:>9} {r['speedup_vs_permutation']:8.0f} {dtxt:>16} "
            f"{r['additivity_max_err_rel']:10.1e}"
        )
    print("~ permutation time scaled linearly from fewer rows; * XGBoost covers are hessian sums, not comparable")
    print(json.dumps({
        "bench": "treeshap_onnx",
        "rows": args.rows, "trees": args.trees, "depth": args.depth, "features": args.features,
        "background": args.background, "train_rows": args.train_rows,
        "shap": shap.__version__, "results": results,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
