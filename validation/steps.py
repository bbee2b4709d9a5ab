"""The steps of a validation run: what each test of the library is given, once the data are loaded and scored.

``Context`` scores both datasets with the served artifact, decides whether the model is a binary classifier or a
regressor, and encodes the target; each step function turns the context into one test result.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _

from core.errors import DomainError
from validation.checks import (
    calibration,
    champion,
    errored,
    generalisation,
    gettext_noop,
    metric,
    not_applicable,
    outcome,
    performance,
    quality,
    robustness,
    segments,
    skipped,
    stability,
)
from validation.checks.performance import CLASSIFICATION, HEADLINE, REGRESSION
from validation.explain.api import explain_onnx
from validation.explainability import explanation_result
from validation.onnx_predict import OnnxModel

# Every random draw of a run comes from its seed plus the offset of the test that draws.
SEED_OFFSETS = {"drift": 1, "robustness": 2, "explainability": 3}


def _key(value) -> str:
    """Compare class labels across dtypes: 1, 1.0 and True are the same class."""
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, int | float | np.integer | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


class Context:
    """What the tests share: both frames, the served model's scores, labelled rows and the encoded target."""

    def __init__(self, *, spec, model: OnnxModel, artifact: bytes, reference: pd.DataFrame,
                 validation: pd.DataFrame, champion_artifact: bytes | None = None):
        self.spec, self.model, self.artifact, self.champion_artifact = spec, model, artifact, champion_artifact
        self.features = spec.model.feature_schema["features"]
        self.reference, self.validation = reference, validation
        self.pred_ref, self.pred_val = model.predict(reference), model.predict(validation)
        self.task, self.positive, self.task_note = self._task()
        self.lab_ref = reference[spec.target].notna().to_numpy()
        self.lab_val = validation[spec.target].notna().to_numpy()
        self.y_ref = self.encode(reference[spec.target][self.lab_ref])
        self.y_val = self.encode(validation[spec.target][self.lab_val])
        self.s_ref = self.pred_ref.scores[self.lab_ref]
        self.s_val = self.pred_val.scores[self.lab_val]
        self.results: dict[str, dict] = {}

    def _task(self) -> tuple[str, str | None, str]:
        target = self.spec.target
        values = pd.concat([self.reference[target], self.validation[target]]).dropna().unique()
        keys = sorted({_key(v) for v in values})
        if self.pred_ref.kind == "values":
            scores = np.concatenate([self.pred_ref.scores, self.pred_val.scores])
            finite = scores[np.isfinite(scores)]
            if len(keys) <= 2 and len(finite) and finite.min() >= 0 and finite.max() <= 1:
                return CLASSIFICATION, keys[-1] if keys else None, "one output within [0, 1], two-valued target"
            if not pd.api.types.is_numeric_dtype(self.reference[target]):
                raise DomainError(_("The target column '%(target)s' is not numeric, but the model predicts values.")
                                  % {"target": target},
                                  code="invalid_target", field="target")
            return REGRESSION, None, "one value output: scored as a regressor"
        if len(keys) > 2:
            raise DomainError(_("The target column '%(target)s' has %(n)s distinct values; the model is a binary "
                                "classifier.") % {"target": target, "n": len(keys)}, code="invalid_target",
                              field="target")
        return CLASSIFICATION, self._positive_label(keys), "probabilities output: scored as a binary classifier"

    def _positive_label(self, keys: list[str]) -> str | None:
        """The class whose probability the model's second column gives, as the model's label output names it."""
        pred = self.pred_ref
        if pred.labels is not None and (pred.scores > 0.5).any():
            voted = pd.Series(pred.labels[pred.scores > 0.5]).map(_key).mode()
            if len(voted) and voted[0] in keys:
                return voted[0]
        return keys[-1] if keys else None

    def encode(self, target: pd.Series) -> np.ndarray:
        if self.task == REGRESSION:
            return target.to_numpy(dtype=np.float64)
        return (target.map(_key) == self.positive).to_numpy(dtype=np.int64)

    def thresholds(self, test: str) -> dict:
        return self.spec.thresholds.get(test, {})

    def seed(self, test: str) -> int:
        return self.spec.seed + SEED_OFFSETS.get(test, 0)


def _performance(ctx: Context) -> dict:
    return performance.evaluate(ctx.task, ctx.y_val, ctx.s_val, thresholds=ctx.thresholds("performance"))


def _quality(ctx: Context) -> dict:
    return quality.quality({"reference": ctx.reference, "validation": ctx.validation}, ctx.features,
                           thresholds=ctx.thresholds("quality"), target=ctx.spec.target)


def _calibration(ctx: Context, scores: np.ndarray | None = None) -> dict:
    if ctx.task != CLASSIFICATION:
        return not_applicable(gettext_noop("Calibration applies to classifiers."))
    return calibration.calibration(ctx.y_val, ctx.s_val if scores is None else scores,
                                   thresholds=ctx.thresholds("calibration"))


def _stability(ctx: Context) -> dict:
    return stability.stability(ctx.reference, ctx.validation, ctx.features, ctx.pred_ref.scores, ctx.pred_val.scores,
                               thresholds=ctx.thresholds("stability"))


def _drift(ctx: Context) -> dict:
    return stability.evidently_drift(ctx.reference, ctx.validation, ctx.features, thresholds=ctx.thresholds("drift"),
                                     seed=ctx.seed("drift"))


def _generalisation(ctx: Context, s_ref: np.ndarray | None = None, s_val: np.ndarray | None = None) -> dict:
    return generalisation.generalisation(ctx.task, ctx.y_ref, ctx.s_ref if s_ref is None else s_ref, ctx.y_val,
                                         ctx.s_val if s_val is None else s_val,
                                         thresholds=ctx.thresholds("generalisation"))


def _robustness(ctx: Context, model: OnnxModel | None = None, features: list[dict] | None = None) -> dict:
    model, features = model or ctx.model, features or ctx.features
    limits = ctx.thresholds("robustness")
    labelled = ctx.validation[ctx.lab_val].reset_index(drop=True)
    rows = int(limits.get("sample_rows", 20_000))
    rng = np.random.default_rng(ctx.seed("robustness"))
    index = np.sort(rng.choice(len(labelled), size=rows, replace=False)) if len(labelled) > rows else None
    sample = labelled if index is None else labelled.iloc[index].reset_index(drop=True)
    y = ctx.y_val if index is None else ctx.y_val[index]
    names = [f["name"] for f in features if pd.api.types.is_numeric_dtype(ctx.reference[f["name"]])]
    scale = {name: float(np.nanstd(ctx.reference[name].to_numpy(dtype=np.float64))) for name in names}
    result = robustness.robustness(sample, y, features, lambda frame: model.predict(frame).scores, task=ctx.task,
                                   scale=scale, thresholds=limits, seed=ctx.seed("robustness") + 1)
    return {**result, "sampled_from": len(labelled)}


def _segments(ctx: Context, scores: np.ndarray | None = None) -> dict:
    column = ctx.spec.segment_column
    if not column:
        return skipped(gettext_noop("No segment column was chosen for this run."))
    return segments.segments(ctx.task, ctx.y_val, ctx.s_val if scores is None else scores,
                             ctx.validation[column][ctx.lab_val], thresholds=ctx.thresholds("segments"), name=column)


def _explainability(ctx: Context) -> dict:
    """Global SHAP importance and per-feature effects, from ``validation.explain``."""
    if ctx.model.layout != "tensor":
        return skipped(gettext_noop("Explainability needs a model with one input tensor of features."))
    limits = ctx.thresholds("explainability")
    rng = np.random.default_rng(ctx.seed("explainability"))
    sample = _sample(ctx.validation, int(limits.get("sample_rows", 500)), rng)
    background = _sample(ctx.reference, int(limits.get("background_rows", 100)), rng)
    x, b = (ctx.model.encode(frame)[ctx.model.inputs[0].name] for frame in (sample, background))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        path.write_bytes(ctx.artifact)
        try:
            explanation = explain_onnx(str(path), x, background=b, algorithm="auto", output="raw")
        except Exception as exc:  # the explainer is another module: its failure is this test's error, not the run's
            return errored(gettext_noop("The explainer failed: %(error)s"),
                           {"error": f"{type(exc).__name__}: {str(exc)[:300]}"})
    data = {"explained": "validation", "explained_rows": len(sample), "background": "reference",
            "background_rows": len(background)}
    return explanation_result(explanation, x, [f["name"] for f in ctx.features],
                              top=int(limits.get("top_features", 10)), data=data)


def _sample(frame: pd.DataFrame, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), size=rows, replace=False))]


def _champion(ctx: Context) -> dict:
    source = ctx.spec.champion
    if source is None or ctx.champion_artifact is None:
        return skipped(gettext_noop("No champion to compare with: the passport's champion alias points at no other "
                                    "version."))
    model = OnnxModel(ctx.champion_artifact, source.feature_schema)
    pred_ref, pred_val = model.predict(ctx.reference), model.predict(ctx.validation)
    if (pred_val.kind == "probabilities") != (ctx.pred_val.kind == "probabilities"):
        return errored(gettext_noop("%(champion)s is not the same kind of model (classifier or regressor) as this "
                                    "version."), {"champion": source.label})
    s_ref, s_val = pred_ref.scores[ctx.lab_ref], pred_val.scores[ctx.lab_val]
    tests = ctx.spec.tests
    theirs = {"performance": performance.evaluate(ctx.task, ctx.y_val, s_val,
                                                  thresholds=ctx.thresholds("performance"))}
    if "calibration" in tests:
        theirs["calibration"] = _calibration(ctx, s_val)
    if "stability" in tests:
        limits = ctx.thresholds("stability")
        score = stability.psi(pred_ref.scores, pred_val.scores, bins=int(limits.get("bins", 10)))
        theirs["stability"] = outcome(headline="score_psi", metrics={
            "score_psi": metric(score["psi"], limits.get("score_psi_max"), "<=")})
    if "generalisation" in tests:
        theirs["generalisation"] = _generalisation(ctx, s_ref, s_val)
    if "robustness" in tests:
        theirs["robustness"] = _robustness(ctx, model, source.feature_schema["features"])
    if "segments" in tests:
        theirs["segments"] = _segments(ctx, s_val)
    result = champion.compare(ctx.results, theirs, headline=HEADLINE[ctx.task], thresholds=ctx.thresholds("champion"))
    return {**result, "champion": {"label": source.label, "sha256": source.sha256, "tests": theirs}}


STEPS: dict[str, Callable[[Context], dict]] = {
    "performance": _performance, "quality": _quality, "calibration": _calibration, "stability": _stability,
    "drift": _drift, "generalisation": _generalisation, "explainability": _explainability,
    "robustness": _robustness, "segments": _segments, "champion": _champion,
}
