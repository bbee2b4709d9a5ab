"""Synthetic validation data and models: mixed features with a binary target, and gradient-boosting classifiers
exported with skl2onnx. The validation benchmark times runs on them, and a starting worker warms itself with a
small run on them (``validation.warmup``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from validation import thresholds
from validation.runner import RunSpec, Source

TARGET = "default"
SEGMENT = "region"


def frame(rng: np.random.Generator, rows: int, features: int, drifted: bool) -> pd.DataFrame:
    """Mixed synthetic features (normal, skewed, counts, bounded) and a binary target with interactions."""
    columns = {}
    for i in range(features):
        kind = i % 4
        shift = 0.15 if drifted and i % 7 == 0 else 0.0
        if kind == 0:
            columns[f"f{i:02d}"] = rng.normal(shift, 1.0, rows).round(4)
        elif kind == 1:
            columns[f"f{i:02d}"] = rng.lognormal(3.0 + shift, 0.6, rows).round(2)
        elif kind == 2:
            columns[f"f{i:02d}"] = rng.poisson(2.0 + shift, rows).astype(np.float64)
        else:
            columns[f"f{i:02d}"] = np.clip(rng.beta(2.0, 5.0, rows) + shift / 5, 0, 1).round(4)
    out = pd.DataFrame(columns)
    z = (0.8 * out["f00"] - 0.6 * np.log(out["f01"]) + 0.3 * out["f02"] + 2.0 * out["f03"]
         + 0.5 * out["f04"] * out["f08"] - 0.4 * (out["f06"] > 3) + 0.3 * np.sin(out["f12"]))
    z = z - z.mean() - 1.2
    out[TARGET] = (rng.random(rows) < 1 / (1 + np.exp(-z))).astype(np.int64)
    out[SEGMENT] = rng.choice(["north", "south", "east", "west", "centre"], rows)
    return out


def gbdt_onnx(data: pd.DataFrame, names: list[str], *, trees: int, depth: int, seed: int, train_rows: int) -> bytes:
    # imported when a model is built: scikit-learn's import alone takes a second
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import GradientBoostingClassifier

    sample = data.iloc[:train_rows]
    model = GradientBoostingClassifier(n_estimators=trees, max_depth=depth, learning_rate=0.1, subsample=0.8,
                                       random_state=seed)
    model.fit(sample[names].to_numpy(dtype=np.float32), sample[TARGET].to_numpy())
    onnx_model = convert_sklearn(model, name=f"bench-{seed}", initial_types=[("float_input", FloatTensorType(
        [None, len(names)]))], options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    return onnx_model.SerializeToString()


def source(label: str, path: Path, fmt: str, schema: dict | None = None) -> Source:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Source(label=label, sha256=digest, opener=lambda: path.open("rb"), fmt=fmt, feature_schema=schema or {})




def build_spec(folder: Path, *, rows: int, reference_rows: int, features: int, trees: int, depth: int,
               train_rows: int, tier: int = 1, seed: int = 2024) -> RunSpec:
    """A full-depth run of every test (champion and segments included) on synthetic data written to ``folder``:
    a reference sample, a drifted validation set and two gradient-boosting models (v2 against champion v1)."""
    rng = np.random.default_rng(seed)
    reference = frame(rng, reference_rows, features, drifted=False)
    validation = frame(rng, rows, features, drifted=True)
    names = [c for c in reference.columns if c.startswith("f")]
    challenger = gbdt_onnx(reference, names, trees=trees, depth=depth, seed=1, train_rows=train_rows)
    champion = gbdt_onnx(reference, names, trees=trees, depth=depth, seed=2, train_rows=train_rows)
    schema = {"input": "float_input", "layout": "tensor", "features": [
        {"name": n, "type": "float", "min": float(reference[n].min()), "max": float(reference[n].max()),
         "categories": None, "nullable": False} for n in names]}
    paths = {name: folder / name for name in ("reference.csv", "validation.csv", "v2.onnx", "v1.onnx")}
    reference.to_csv(paths["reference.csv"], index=False)
    validation.to_csv(paths["validation.csv"], index=False)
    paths["v2.onnx"].write_bytes(challenger)
    paths["v1.onnx"].write_bytes(champion)
    plan = thresholds.resolve(tier=tier, depth="full")
    return RunSpec(
        model=source("the artifact of v2", paths["v2.onnx"], "onnx", schema),
        reference=source("the reference dataset", paths["reference.csv"], "csv"),
        validation=source("the validation dataset", paths["validation.csv"], "csv"),
        champion=source("the champion v1", paths["v1.onnx"], "onnx", schema),
        target=TARGET, segment_column=SEGMENT, tests=tuple(plan["tests"]), thresholds=plan["thresholds"], seed=7,
    )
