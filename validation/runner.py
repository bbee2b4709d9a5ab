"""The validation runner: loads the artifact and the datasets, checks their digests, scores both datasets with
ONNX Runtime and runs the tests of the run's depth, reporting each step's progress.

It holds no Django state and writes nothing: it gets a ``RunSpec`` (sources that open the stored bytes, the
thresholds, the seed) and returns a ``RunOutput`` (results and the reproducibility record), or raises. The task
writes the outcome once, in one transaction, so a run is never half-written; running the same spec twice gives the
same results, which is what makes a retry after a lost worker safe. ``progress`` returning False (the run was
cancelled or another attempt took it over) stops the run with ``RunAborted``.
"""

from __future__ import annotations

import io
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import BinaryIO

import pandas as pd
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.stored import read_verified
from validation.checks.performance import HEADLINE
from validation.onnx_predict import OnnxModel
from validation.steps import SEED_OFFSETS, STEPS, Context

PACKAGES = ("onnxruntime", "onnx", "numpy", "pandas", "scikit-learn", "scipy", "evidently", "shap")
STEP_WEIGHTS = {"load": 6, "predict": 8, "performance": 4, "quality": 4, "calibration": 3, "stability": 5,
                "drift": 14, "generalisation": 3, "explainability": 12, "robustness": 12, "segments": 3,
                "champion": 20}


class RunAborted(Exception):
    """The run was cancelled or taken over by another attempt; its results must not be written."""


@dataclass(frozen=True)
class Source:
    """Stored bytes (an artifact or a dataset) and the digest they must have."""

    label: str  # how messages name it: "the validation dataset 'Holdout 2024'", "the artifact of v3"
    sha256: str
    opener: Callable[[], BinaryIO]
    fmt: str = "onnx"
    feature_schema: dict = field(default_factory=dict)  # artifacts only


@dataclass(frozen=True)
class RunSpec:
    model: Source
    reference: Source
    validation: Source
    target: str
    tests: tuple[str, ...]
    thresholds: dict
    seed: int
    segment_column: str = ""
    champion: Source | None = None
    step_delay: float = 0.0  # seconds to sleep at each step: a test hook to make runs slow enough to interrupt


@dataclass
class RunOutput:
    results: dict
    record: dict


def missing_columns(columns, *, features: list[str], target: str = "", segment: str = "") -> list[str]:
    """The required columns (features, then target and segment column) absent from ``columns``."""
    present = set(columns)
    required = [*features, *([target] if target else []), *([segment] if segment else [])]
    return [name for name in dict.fromkeys(required) if name not in present]


def missing_column_error(dataset_label: str, missing: list[str], *, target: str, segment: str,
                         schema_of: str) -> DomainError:
    def role(name):
        if name == target:
            return _("the target")
        if name == segment:
            return _("the segment column")
        return _("required by the feature schema of %(version)s") % {"version": schema_of}

    listed = "; ".join(f"'{name}' ({role(name)})" for name in missing)
    return DomainError(_("%(dataset)s has no column %(columns)s.")
                       % {"dataset": dataset_label[:1].upper() + dataset_label[1:], "columns": listed},
                       code="missing_column", field=("target" if missing[0] == target else "dataset"),
                       details={"columns": missing})


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


class _Progress:
    def __init__(self, steps: list[str], report: Callable[[str, int], bool], delay: float):
        self.weights = {step: STEP_WEIGHTS.get(step, 3) for step in steps}
        self.total = sum(self.weights.values())
        self.done, self.current, self.started = 0, None, time.monotonic()
        self.report, self.delay, self.timings = report, delay, {}

    def step(self, name: str) -> None:
        self._close()
        self.current, self.started = name, time.monotonic()
        if not self.report(name, min(99, round(100 * self.done / self.total))):
            raise RunAborted(name)
        if self.delay:
            time.sleep(self.delay)

    def _close(self) -> None:
        if self.current:
            self.timings[self.current] = round(time.monotonic() - self.started, 3)
            self.done += self.weights.get(self.current, 0)

    def finish(self) -> dict:
        self._close()
        self.current = None
        return self.timings


def _read(source: Source) -> bytes:
    return read_verified(source.opener, source.sha256, source.label)


def _frame(source: Source) -> pd.DataFrame:
    data = io.BytesIO(_read(source))
    try:
        return pd.read_parquet(data) if source.fmt == "parquet" else pd.read_csv(data, low_memory=False)
    except Exception as exc:  # pandas raises many types for malformed files
        raise DomainError(_("%(source)s cannot be read as %(format)s: %(error)s")
                          % {"source": source.label, "format": source.fmt.upper(), "error": str(exc)[:300]},
                          code="invalid_dataset")


def execute(spec: RunSpec, progress: Callable[[str, int], bool] = lambda step, pct: True) -> RunOutput:
    """Run every test of ``spec`` and return the results and the record; raises DomainError for bad input and
    RunAborted when ``progress`` says to stop."""
    tracker = _Progress(["load", "predict", *spec.tests], progress, spec.step_delay)
    began = time.monotonic()
    tracker.step("load")
    artifact = _read(spec.model)
    champion = _read(spec.champion) if spec.champion is not None and "champion" in spec.tests else None
    reference, validation = _frame(spec.reference), _frame(spec.validation)
    for source, frame in ((spec.reference, reference), (spec.validation, validation)):
        _require_columns(spec, source, frame)
    model = OnnxModel(artifact, spec.model.feature_schema)
    tracker.step("predict")
    ctx = Context(spec=spec, model=model, artifact=artifact, reference=reference, validation=validation,
                  champion_artifact=champion)
    for name in spec.tests:
        tracker.step(name)
        ctx.results[name] = STEPS[name](ctx)
    timings = tracker.finish()
    results = {
        "task": ctx.task, "task_note": ctx.task_note, "positive_label": ctx.positive, "target": spec.target,
        "headline": HEADLINE[ctx.task], "order": list(spec.tests), "tests": ctx.results,
        "summary": summarise(ctx.results),
        "rows": {"reference": len(reference), "validation": len(validation),
                 "reference_labelled": int(ctx.lab_ref.sum()), "validation_labelled": int(ctx.lab_val.sum())},
    }
    record = {
        "digests": {"artifact": spec.model.sha256, "reference": spec.reference.sha256,
                    "validation": spec.validation.sha256,
                    **({"champion_artifact": spec.champion.sha256} if spec.champion else {})},
        "seeds": {"base": spec.seed, **{test: spec.seed + offset for test, offset in SEED_OFFSETS.items()}},
        "packages": package_versions(), "python": platform.python_version(), "platform": platform.platform(),
        "onnxruntime_provider": model.provider, "timings": timings,
        "duration_seconds": round(time.monotonic() - began, 3),
    }
    return RunOutput(results=results, record=record)


def _require_columns(spec: RunSpec, source: Source, frame: pd.DataFrame) -> None:
    segment = spec.segment_column if source is spec.validation else ""
    schemas = [(spec.model.label, spec.model.feature_schema)]
    if spec.champion is not None and "champion" in spec.tests:
        schemas.append((spec.champion.label, spec.champion.feature_schema))
    for label, schema in schemas:
        features = [f["name"] for f in schema.get("features", [])]
        missing = missing_columns(frame.columns, features=features, target=spec.target, segment=segment)
        if missing:
            raise missing_column_error(source.label, missing, target=spec.target, segment=segment, schema_of=label)


def summarise(tests: dict[str, dict]) -> dict:
    by_status: dict[str, list[str]] = {"passed": [], "failed": [], "info": [], "skipped": [], "error": []}
    for name, result in tests.items():
        by_status.setdefault(result["status"], []).append(name)
    return {**by_status, "outcome": "failed" if by_status["failed"] or by_status["error"] else "passed"}
