"""Benchmark a full validation run: every test of the library (full depth, champion included) on a 100-tree,
30-feature gradient-boosting classifier exported with skl2onnx, and 100,000 validation rows."""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from validation import thresholds
from validation.runner import RunSpec, Source, execute

TARGET = "default"
SEGMENT = "region"


def _frame(rng: np.random.Generator, rows: int, features: int, drifted: bool) -> pd.DataFrame:
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
    frame = pd.DataFrame(columns)
    z = (0.8 * frame["f00"] - 0.6 * np.log(frame["f01"]) + 0.3 * frame["f02"] + 2.0 * frame["f03"]
         + 0.5 * frame["f04"] * frame["f08"] - 0.4 * (frame["f06"] > 3) + 0.3 * np.sin(frame["f12"]))
    z = z - z.mean() - 1.2
    frame[TARGET] = (rng.random(rows) < 1 / (1 + np.exp(-z))).astype(np.int64)
    frame[SEGMENT] = rng.choice(["north", "south", "east", "west", "centre"], rows)
    return frame


def _onnx(frame: pd.DataFrame, names: list[str], *, trees: int, depth: int, seed: int, train_rows: int) -> bytes:
    # The demo extra's packages, needed by this benchmark alone: imported when it runs.
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import GradientBoostingClassifier

    sample = frame.iloc[:train_rows]
    model = GradientBoostingClassifier(n_estimators=trees, max_depth=depth, learning_rate=0.1, subsample=0.8,
                                       random_state=seed)
    model.fit(sample[names].to_numpy(dtype=np.float32), sample[TARGET].to_numpy())
    onnx_model = convert_sklearn(model, name=f"bench-{seed}", initial_types=[("float_input", FloatTensorType(
        [None, len(names)]))], options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    return onnx_model.SerializeToString()


def _source(label: str, path: Path, fmt: str, schema: dict | None = None) -> Source:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Source(label=label, sha256=digest, opener=lambda: path.open("rb"), fmt=fmt, feature_schema=schema or {})


class Command(BaseCommand):
    help = (
        "Time full validation runs in-process (no database, no broker): load and digest-check the CSV datasets and "
        "the ONNX artifact, score with ONNX Runtime, and run every test of the library at full depth (performance, "
        "data quality, calibration, PSI, Evidently drift, generalisation gap, SHAP when validation.explain is "
        "installed, robustness, segments, champion vs challenger) on a 100-tree depth-6 GradientBoosting "
        "classifier with 30 features exported by skl2onnx. Prints each run's time and per-step timings, then the "
        "median, then one JSON line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=100_000, help="Validation rows.")
        parser.add_argument("--reference-rows", type=int, default=100_000, help="Reference (training sample) rows.")
        parser.add_argument("--features", type=int, default=30)
        parser.add_argument("--trees", type=int, default=100)
        parser.add_argument("--depth", type=int, default=6)
        parser.add_argument("--train-rows", type=int, default=20_000, help="Rows the benchmark models are fit on.")
        parser.add_argument("--repeat", type=int, default=3)
        parser.add_argument("--tier", type=int, default=1)
        parser.add_argument("--budget", type=float, default=60.0, help="Seconds a run may take (median).")

    def handle(self, *args, **o):
        if o["repeat"] < 1 or o["rows"] < 1000 or o["features"] < 13:
            raise CommandError("Use --repeat >= 1, --rows >= 1000 and --features >= 13.")
        os.environ["DO_NOT_TRACK"] = "1"
        with tempfile.TemporaryDirectory(prefix="bench-validation-") as folder:
            spec = self._prepare(Path(folder), o)
            durations, steps = [], []
            for i in range(o["repeat"]):
                began = time.perf_counter()
                output = execute(spec)
                durations.append(time.perf_counter() - began)
                steps.append(output.record["timings"])
                summary = output.results["summary"]
                timings = ", ".join(f"{k} {v:.2f}" for k, v in output.record["timings"].items())
                self.stdout.write(f"run {i + 1}: {durations[-1]:.2f} s  (outcome {summary['outcome']}; {timings})")
        median = statistics.median(durations)
        verdict = "within" if median <= o["budget"] else "OVER"
        self.stdout.write(f"median of {len(durations)}: {median:.2f} s ({verdict} the {o['budget']:.0f} s budget; "
                          f"{os.cpu_count()} CPUs)")
        self.stdout.write(json.dumps({
            "median_s": round(median, 3), "runs_s": [round(d, 3) for d in durations], "budget_s": o["budget"],
            "rows": o["rows"], "reference_rows": o["reference_rows"], "features": o["features"],
            "trees": o["trees"], "depth": o["depth"], "cpus": os.cpu_count(), "steps_s": steps,
            "tests": output.results["order"], "skipped": summary["skipped"],
        }))

    def _prepare(self, folder: Path, o) -> RunSpec:
        started = time.perf_counter()
        rng = np.random.default_rng(2024)
        reference = _frame(rng, o["reference_rows"], o["features"], drifted=False)
        validation = _frame(rng, o["rows"], o["features"], drifted=True)
        names = [c for c in reference.columns if c.startswith("f")]
        challenger = _onnx(reference, names, trees=o["trees"], depth=o["depth"], seed=1, train_rows=o["train_rows"])
        champion = _onnx(reference, names, trees=o["trees"], depth=o["depth"], seed=2, train_rows=o["train_rows"])
        schema = {"input": "float_input", "layout": "tensor", "features": [
            {"name": n, "type": "float", "min": float(reference[n].min()), "max": float(reference[n].max()),
             "categories": None, "nullable": False} for n in names]}
        paths = {name: folder / name for name in ("reference.csv", "validation.csv", "v2.onnx", "v1.onnx")}
        reference.to_csv(paths["reference.csv"], index=False)
        validation.to_csv(paths["validation.csv"], index=False)
        paths["v2.onnx"].write_bytes(challenger)
        paths["v1.onnx"].write_bytes(champion)
        plan = thresholds.resolve(tier=o["tier"], depth="full")
        self.stdout.write(f"prepared {o['reference_rows']:,} reference and {o['rows']:,} validation rows, "
                          f"{o['features']} features, two {o['trees']}-tree depth-{o['depth']} models "
                          f"in {time.perf_counter() - started:.1f} s (not timed)")
        return RunSpec(
            model=_source("the artifact of v2", paths["v2.onnx"], "onnx", schema),
            reference=_source("the reference dataset", paths["reference.csv"], "csv"),
            validation=_source("the validation dataset", paths["validation.csv"], "csv"),
            champion=_source("the champion v1", paths["v1.onnx"], "onnx", schema),
            target=TARGET, segment_column=SEGMENT, tests=tuple(plan["tests"]), thresholds=plan["thresholds"], seed=7,
        )
