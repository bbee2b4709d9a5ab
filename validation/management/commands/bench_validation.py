"""Benchmark a full validation run: every test of the library (full depth, champion included) on a 100-tree,
30-feature gradient-boosting classifier exported with skl2onnx, and 100,000 validation rows."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from validation.runner import RunSpec, execute
from validation.synthetic import build_spec


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
        parser.add_argument("--warmup", action="store_true",
                            help="Warm the process first as a starting worker does (validation.warmup); compare "
                                 "run 1 with and without it to see what the warm-up saves the first run.")

    def handle(self, *args, **o):
        if o["repeat"] < 1 or o["rows"] < 1000 or o["features"] < 13:
            raise CommandError("Use --repeat >= 1, --rows >= 1000 and --features >= 13.")
        os.environ["DO_NOT_TRACK"] = "1"
        with tempfile.TemporaryDirectory(prefix="bench-validation-") as folder:
            spec = self._prepare(Path(folder), o)
            if o["warmup"]:
                from validation.warmup import warm

                self.stdout.write(f"warm-up: {warm():.2f} s (not timed; a worker does it at start)")
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
        spec = build_spec(folder, rows=o["rows"], reference_rows=o["reference_rows"], features=o["features"],
                          trees=o["trees"], depth=o["depth"], train_rows=o["train_rows"], tier=o["tier"])
        self.stdout.write(f"prepared {o['reference_rows']:,} reference and {o['rows']:,} validation rows, "
                          f"{o['features']} features, two {o['trees']}-tree depth-{o['depth']} models "
                          f"in {time.perf_counter() - started:.1f} s (not timed)")
        return spec
