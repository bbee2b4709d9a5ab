"""Scoring with the served artifact: ONNX Runtime on the CPU, in batches, inputs built from the feature schema.

What is validated is what is served, so the predictions come from the registered ONNX bytes, never from a
re-trained or re-loaded framework model. Features are fed in the order of the version's feature schema: one
2-D input (``layout="tensor"``, float32 for float models) or one input per feature (``layout="columns"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _

from core.errors import DomainError

BATCH_ROWS = 50_000
_DTYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
    "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(string)": np.object_,
}
_FLOATS = ("tensor(float)", "tensor(double)")


@dataclass(frozen=True)
class Prediction:
    """``scores``: the positive-class probability of a binary classifier, or the model's value (float64)."""

    kind: str  # "probabilities" or "values"
    scores: np.ndarray
    labels: np.ndarray | None = None
    probabilities: np.ndarray | None = None


def _rank(shape) -> int:
    return len(shape) if isinstance(shape, list | tuple) else 0


class OnnxModel:
    """One ONNX artifact in an ONNX Runtime session (CPU provider), ready to score data frames."""

    def __init__(self, model: bytes | str, feature_schema: dict, *, batch_rows: int = BATCH_ROWS,
                 threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types for unloadable graphs
            raise DomainError(_("ONNX Runtime cannot load the artifact: %(error)s") % {"error": str(exc)[:300]},
                              code="invalid_artifact")
        self.features = [feature["name"] for feature in feature_schema.get("features", [])]
        self.layout = feature_schema.get("layout", "tensor")
        self.inputs = self.session.get_inputs()
        self.batch_rows = batch_rows
        self._pick_outputs(self.session.get_outputs())

    @property
    def provider(self) -> str:
        return self.session.get_providers()[0]

    def _pick_outputs(self, outputs) -> None:
        self.proba_output = self.label_output = self.value_output = None
        for out in outputs:
            rank = _rank(out.shape)
            if out.type.startswith("seq(map(") or (out.type in _FLOATS and rank == 2 and out.shape[1] != 1):
                self.proba_output = self.proba_output or out
            elif out.type in ("tensor(int64)", "tensor(string)", "tensor(int32)") and rank in (1, 2):
                self.label_output = self.label_output or out
            elif out.type in _FLOATS:
                self.value_output = self.value_output or out
        if self.proba_output is None and self.value_output is None:
            raise DomainError(_("The artifact has no float output to validate (probabilities or predicted values)."),
                              code="invalid_artifact")

    def encode(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The model's inputs for ``frame``: its feature columns in schema order, in each input's element type."""
        missing = [name for name in self.features if name not in frame.columns]
        if missing:
            raise DomainError(_("The data have no column %(columns)s required by the feature schema.")
                              % {"columns": ", ".join(repr(m) for m in missing)}, code="missing_column",
                              details={"columns": missing})
        if self.layout == "tensor":
            first = self.inputs[0]
            return {first.name: frame[self.features].to_numpy(dtype=_DTYPES.get(first.type, np.float32))}
        feeds = {}
        for value, name in zip(self.inputs, self.features, strict=False):
            column = frame[name].to_numpy(dtype=_DTYPES.get(value.type, np.float32))
            feeds[value.name] = column.reshape(-1, 1) if _rank(value.shape) == 2 else column
        return feeds

    def predict(self, frame: pd.DataFrame) -> Prediction:
        """Score every row of ``frame`` in batches of ``batch_rows``."""
        outputs = [o for o in (self.proba_output, self.label_output, self.value_output) if o is not None]
        names = [o.name for o in outputs]
        chunks: dict[str, list] = {name: [] for name in names}
        for start in range(0, max(len(frame), 1), self.batch_rows):
            feeds = self.encode(frame.iloc[start:start + self.batch_rows])
            for name, result in zip(names, self.session.run(names, feeds), strict=True):
                chunks[name].append(result)
        merged = {name: (sum(parts, []) if isinstance(parts[0], list) else np.concatenate(parts))
                  for name, parts in chunks.items()}
        labels = np.ravel(merged[self.label_output.name]) if self.label_output is not None else None
        if self.proba_output is not None:
            return self._probabilities(merged[self.proba_output.name], labels)
        values = np.asarray(merged[self.value_output.name], dtype=np.float64)
        if values.ndim == 2 and values.shape[1] != 1:
            raise DomainError(_("The output '%(name)s' has %(n)s columns; validation supports one value per row.")
                              % {"name": self.value_output.name, "n": values.shape[1]}, code="unsupported_model")
        return Prediction(kind="values", scores=values.ravel(), labels=labels)

    @staticmethod
    def _probabilities(raw, labels) -> Prediction:
        if isinstance(raw, list):  # a ZipMap output: one {class: probability} per row
            classes = sorted(raw[0]) if raw else []
            raw = np.array([[row[c] for c in classes] for row in raw], dtype=np.float64)
        probabilities = np.asarray(raw, dtype=np.float64)
        if probabilities.shape[1] != 2:
            raise DomainError(_("The model scores %(n)s classes; validation supports binary classifiers and "
                                "regressors.") % {"n": probabilities.shape[1]}, code="unsupported_model")
        return Prediction(kind="probabilities", scores=probabilities[:, 1], labels=labels,
                          probabilities=probabilities)
