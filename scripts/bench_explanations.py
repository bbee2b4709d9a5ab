#!/usr/bin/env python
"""Benchmark: explaining single decisions (``validation.explain.decisions.explain_frame``, what the explanations
endpoint and page run once the artifact and data are read) against shap's TreeExplainer on the source model.

Default size (the budget's): 1,000 rows of a 100-tree GradientBoosting classifier (depth 6, 30 features), 200
background rows out of 4,000 reference rows. For each scale (raw margin, probability) and algorithm it times ours
end to end (parse the ONNX trees, check them against ONNX Runtime, explain, score the rows with ONNX Runtime for
the additivity check, reason codes), warm (after one call in the process), median of ``--repeats``; and shap's
``TreeExplainer`` on the scikit-learn model with the same 200 background rows (construction + ``shap_values``),
median of ``--shap-repeats``. Path-dependent shap uses the model's own covers; ours counts them on the reference.

Prints a table, then one JSON line.

    .venv/bin/python scripts/bench_explanations.py [--rows 1000 --trees 100 --depth 6 --features 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings.test")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--features", type=int, default=30)
    ap.add_argument("--reference", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shap-repeats", type=int, default=3)
    args = ap.parse_args()

    import django

    django.setup()
    import pandas as pd
    import shap
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingClassifier

    from validation.explain.agnostic import sample_rows
    from validation.explain.decisions import BACKGROUND_ROWS, explain_frame
    from validation.onnx_predict import OnnxModel

    rng = np.random.default_rng(0)
    n = args.reference + args.rows
    X = rng.normal(size=(n, args.features)).astype(np.float32)
    y = (X[:, :5].sum(axis=1) + rng.normal(scale=1.0, size=n) > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=args.trees, max_depth=args.depth, random_state=0)
    model.fit(X[: args.reference], y[: args.reference])
    onnx_bytes = to_onnx(model, X[:1], options={"zipmap": False}).SerializeToString()
    names = [f"f{i}" for i in range(args.features)]
    schema = {"layout": "tensor", "features": [{"name": name, "type": "float"} for name in names]}
    onnx_model = OnnxModel(onnx_bytes, schema)
    reference = pd.DataFrame(X[: args.reference], columns=names)
    rows = pd.DataFrame(X[args.reference:], columns=names)
    labels = list(range(1, args.rows + 1))
    background = sample_rows(X[: args.reference], BACKGROUND_ROWS, 0).astype(np.float64)

    def ours(algorithm: str, output: str) -> tuple[float, dict]:
        times, result = [], None
        for _ in range(args.repeats + 1):  # the first call warms the process
            start = time.perf_counter()
            result = explain_frame(onnx_bytes, onnx_model, rows, reference, labels, algorithm=algorithm,
                                   output=output, top=5, background_name="reference")
            times.append(time.perf_counter() - start)
        return statistics.median(times[1:]), result

    def theirs(algorithm: str, output: str) -> tuple[float, np.ndarray]:
        times, values = [], None
        x64 = X[args.reference:].astype(np.float64)
        for _ in range(args.shap_repeats):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if algorithm == "interventional":
                    masker = shap.maskers.Independent(background, max_samples=len(background))
                    explainer = shap.TreeExplainer(model, masker, feature_perturbation="interventional",
                                                   model_output="probability" if output == "probability" else "raw")
                else:
                    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
                values = np.asarray(explainer.shap_values(x64, check_additivity=False))
            times.append(time.perf_counter() - start)
        return statistics.median(times), values

    table, record = [], {}
    for output in ("raw", "probability"):
        for algorithm in ("interventional", "path_dependent"):
            if output == "probability" and algorithm == "path_dependent":
                # shap has no probability scale for path-dependent TreeSHAP; ours is rescaled per row
                t, result = ours(algorithm, output)
                table.append((output, algorithm, t, None, None, None, result["additivity"]["max_error"]))
                continue
            t, result = ours(algorithm, output)
            s, values = theirs(algorithm, output)
            values = values[..., -1] if values.ndim == 3 else values
            mine = np.array([[r["shap"][name] for name in names] for r in result["rows"]])
            diff = float(np.abs(mine - values).max()) if algorithm == "interventional" else None
            table.append((output, algorithm, t, s, t / s, diff, result["additivity"]["max_error"]))
    print(f"{args.rows} rows, {args.trees} trees of depth {args.depth}, {args.features} features, "
          f"{BACKGROUND_ROWS} background rows of {args.reference}; ours median of {args.repeats} warm, "
          f"shap median of {args.shap_repeats}")
    print("| scale | algorithm | ours | shap TreeExplainer | ours / shap | max abs diff | additivity error |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for output, algorithm, t, s, ratio, diff, add in table:
        print(f"| {output} | {algorithm} | {t:.3f} s | {'—' if s is None else f'{s:.3f} s'} | "
              f"{'—' if ratio is None else f'{ratio:.2f}'} | {'—' if diff is None else f'{diff:.1e}'} | {add:.1e} |")
        record[f"{output}/{algorithm}"] = {"ours_s": t, "shap_s": s, "ratio": ratio, "max_abs_diff": diff,
                                           "additivity_error": add}
    print(json.dumps({"rows": args.rows, "trees": args.trees, "depth": args.depth, "features": args.features,
                      "results": record}))


if __name__ == "__main__":
    main()
