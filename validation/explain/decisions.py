"""Explain single decisions: SHAP values of chosen rows of a version, with reason codes in the reader's language.

Rows come inline (objects keyed by feature name, or lists in the feature schema's order) or by their numbers in
one of the passport's datasets (1 is the first data row). They are explained against the version's reference
data (its training dataset, else the passport's newest reference dataset) with ``validation.explain``: the
algorithm (interventional or path-dependent TreeSHAP; model-agnostic permutation SHAP for graphs that are not
tree ensembles) and the output scale (raw margin or probability) as asked. Each row gets its prediction, the
SHAP value of every feature, the additivity check (expected value plus the values against the model's own
output, computed apart by ONNX Runtime) and its top reason codes.

Nothing is stored: this reads the registry and computes. Bad input is a ``DomainError`` naming the field.
"""

from __future__ import annotations

import io
import json
import math
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from django.core.files.storage import default_storage
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from core.errors import Conflict, DomainError
from core.stored import read_verified
from registry.choices import DatasetKind
from registry.models import Dataset, ModelVersion
from validation.explain.api import explain_onnx
from validation.onnx_predict import OnnxModel

MAX_ROWS = 1_000
BACKGROUND_ROWS = 200
MAX_TOP = 20
ALGORITHMS = ("interventional", "path_dependent")
OUTPUTS = ("raw", "probability")
ADDITIVITY_TOLERANCE = 1e-4  # of the output's scale (at least 1)
CACHE_ITEMS = 8


def _read(name: str, sha256: str, label: str) -> bytes:
    return read_verified(lambda: default_storage.open(name, "rb"), sha256, label)


def _artifact(version: ModelVersion) -> tuple[bytes, OnnxModel]:
    return _load_artifact(version.artifact.name, version.sha256, json.dumps(version.feature_schema or {},
                                                                            sort_keys=True), version.number)


@lru_cache(maxsize=CACHE_ITEMS)  # the last few artifacts read, by digest, so that a second request is warm
def _load_artifact(name: str, sha256: str, schema: str, number: int) -> tuple[bytes, OnnxModel]:
    data = _read(name, sha256, _("the artifact of version %(n)s") % {"n": number})
    return data, OnnxModel(data, json.loads(schema))


def _frame(dataset: Dataset) -> pd.DataFrame:
    return _load_frame(dataset.file.name, dataset.sha256, dataset.format, dataset.name)


@lru_cache(maxsize=CACHE_ITEMS)  # the last few datasets read, by digest
def _load_frame(name: str, sha256: str, fmt: str, label: str) -> pd.DataFrame:
    data = io.BytesIO(_read(name, sha256, _("the dataset '%(name)s'") % {"name": label}))
    try:
        return pd.read_parquet(data) if fmt == "parquet" else pd.read_csv(data, low_memory=False)
    except Exception as exc:  # pandas raises many types for malformed files
        raise DomainError(_("The dataset '%(name)s' cannot be read: %(error)s")
                          % {"name": label, "error": str(exc)[:200]}, code="invalid_dataset")


def background_dataset(version: ModelVersion) -> Dataset | None:
    """What the rows are explained against: the version's training dataset, else the passport's newest reference."""
    if version.training_dataset_id:
        return version.training_dataset
    return version.passport.datasets.filter(kind=DatasetKind.REFERENCE).order_by("-created_at", "-pk").first()


@dataclass(frozen=True)
class Chosen:
    frame: pd.DataFrame  # the rows, feature columns in schema order
    labels: list  # how each row is named: its dataset row number, or its position in the request (1-based)
    source: str  # "inline" or the dataset's name


def _inline_rows(rows, features: list[str]) -> Chosen:
    if not isinstance(rows, list) or not rows:
        raise DomainError(_("Give at least one row."), code="invalid", field="rows")
    if len(rows) > MAX_ROWS:
        raise DomainError(_("At most %(max)s rows are explained at a time; %(n)s were given.")
                          % {"max": MAX_ROWS, "n": len(rows)}, code="too_many_rows", field="rows")
    table = []
    for i, row in enumerate(rows, start=1):
        if isinstance(row, dict):
            unknown = sorted(set(row) - set(features))
            missing = [f for f in features if f not in row]
            if unknown or missing:
                raise DomainError(
                    _("Row %(i)s: %(problem)s.") % {"i": i, "problem": "; ".join(
                        ([_("unknown features %(names)s") % {"names": ", ".join(unknown)}] if unknown else [])
                        + ([_("missing features %(names)s") % {"names": ", ".join(missing)}] if missing else []))},
                    code="invalid", field="rows", details={"row": i, "unknown": unknown, "missing": missing})
            values = [row[f] for f in features]
        elif isinstance(row, list):
            if len(row) != len(features):
                raise DomainError(_("Row %(i)s has %(n)s values; the model reads %(m)s features (%(names)s).")
                                  % {"i": i, "n": len(row), "m": len(features), "names": ", ".join(features)},
                                  code="invalid", field="rows", details={"row": i})
            values = row
        else:
            raise DomainError(_("Row %(i)s is neither an object of feature values nor a list of them.") % {"i": i},
                              code="invalid", field="rows", details={"row": i})
        table.append([_number(v, i, f) for v, f in zip(values, features, strict=True)])
    return Chosen(frame=pd.DataFrame(table, columns=features), labels=list(range(1, len(table) + 1)),
                  source="inline")


def _number(value, row: int, feature: str) -> float:
    if value is None:
        return math.nan  # a missing value: trees send it down their default branch
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DomainError(_("Row %(i)s, feature %(f)s: %(value)s is not a number.")
                          % {"i": row, "f": feature, "value": repr(value)[:40]}, code="invalid", field="rows",
                          details={"row": row, "feature": feature})
    if not math.isfinite(value):
        raise DomainError(_("Row %(i)s, feature %(f)s: the value is not finite.") % {"i": row, "f": feature},
                          code="invalid", field="rows", details={"row": row, "feature": feature})
    return float(value)


def _dataset_rows(dataset: Dataset, row_numbers, features: list[str]) -> Chosen:
    if not isinstance(row_numbers, list) or not row_numbers:
        raise DomainError(_("Give the numbers of the dataset rows to explain."), code="invalid", field="row_numbers")
    if len(row_numbers) > MAX_ROWS:
        raise DomainError(_("At most %(max)s rows are explained at a time; %(n)s were given.")
                          % {"max": MAX_ROWS, "n": len(row_numbers)}, code="too_many_rows", field="row_numbers")
    if any(isinstance(n, bool) or not isinstance(n, int) for n in row_numbers):
        raise DomainError(_("Row numbers are whole numbers."), code="invalid", field="row_numbers")
    frame = _frame(dataset)
    outside = sorted({n for n in row_numbers if n < 1 or n > len(frame)})
    if outside:
        raise DomainError(_("The dataset '%(name)s' has rows 1 to %(n)s; there is no row %(rows)s.")
                          % {"name": dataset.name, "n": len(frame), "rows": ", ".join(map(str, outside[:10]))},
                          code="invalid", field="row_numbers", details={"outside": outside[:100]})
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise DomainError(_("The dataset '%(name)s' has no column %(columns)s that the model reads.")
                          % {"name": dataset.name, "columns": ", ".join(missing)}, code="missing_column",
                          field="dataset", details={"columns": missing})
    rows = frame.iloc[[n - 1 for n in row_numbers]][features].reset_index(drop=True)
    return Chosen(frame=rows, labels=list(row_numbers), source=dataset.name)


def parse_row_numbers(text: str) -> list[int]:
    """"3, 10-12" -> [3, 10, 11, 12]; DomainError naming what is not a number or a range."""
    numbers: list[int] = []
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            start, end = int(low), int(high) if dash else int(low)
        except ValueError:
            raise DomainError(_("'%(part)s' is not a row number or a range such as 10-20.") % {"part": part[:20]},
                              code="invalid", field="row_numbers")
        if end < start or end - start >= MAX_ROWS:
            raise DomainError(_("The range %(part)s is empty or longer than %(max)s rows.")
                              % {"part": part[:20], "max": MAX_ROWS}, code="invalid", field="row_numbers")
        numbers.extend(range(start, end + 1))
        if len(numbers) > MAX_ROWS:
            break
    return numbers


def _positive_class(values: np.ndarray, expected) -> tuple[np.ndarray, float]:
    values = np.asarray(values, dtype=np.float64)
    expected = np.ravel(np.asarray(expected, dtype=np.float64))
    if values.ndim == 3:  # one slice per output: the positive class (the last)
        return values[..., -1], float(expected[-1])
    return values, float(expected[0])


def _model_output(model: OnnxModel, frame: pd.DataFrame, output_space: str) -> np.ndarray | None:
    """The model's own output for the rows on the scale the values are on (ONNX Runtime, apart from SHAP); None
    where that scale is not one ONNX Runtime exposes (per-class scores before softmax)."""
    scores = model.predict(frame).scores
    if output_space.startswith("probability") or output_space.startswith("raw (regression"):
        return scores
    if output_space.startswith("raw margin (log-odds)"):
        with np.errstate(divide="ignore"):
            p = np.clip(scores, 1e-15, 1 - 1e-15)
            return np.log(p / (1 - p))
    if output_space == "model output":
        return scores
    return None


def _fmt(value: float, places: int = 4) -> str:
    """A number as people read it in their language: whole numbers without decimals, others to ``places``."""
    if value is None or not math.isfinite(value):
        return "—"
    if float(value).is_integer() and abs(value) < 1e15:
        return number_format(int(value), force_grouping=True, use_l10n=True)
    return number_format(round(value, places), use_l10n=True, force_grouping=True)


def reason_codes(names: list[str], x: np.ndarray, phi: np.ndarray, top: int, probability: bool) -> list[dict]:
    """The ``top`` features that moved this row's output most, largest first, each with a sentence."""
    order = np.argsort(-np.abs(phi), kind="stable")[:top]
    codes = []
    for i in order:
        value, shap = float(x[i]), float(phi[i])
        if shap == 0:
            continue
        up = shap > 0
        if probability:
            text = (_("%(feature)s = %(value)s raised the probability by %(amount)s points")
                    if up else _("%(feature)s = %(value)s lowered the probability by %(amount)s points"))
            amount = _fmt(abs(shap) * 100, 2)
        else:
            text = (_("%(feature)s = %(value)s raised the score by %(amount)s")
                    if up else _("%(feature)s = %(value)s lowered the score by %(amount)s"))
            amount = _fmt(abs(shap))
        shown = _("missing") if math.isnan(value) else _fmt(value)
        codes.append({"feature": names[i], "value": None if math.isnan(value) else value, "shap": shap,
                      "direction": "up" if up else "down",
                      "text": text % {"feature": names[i], "value": shown, "amount": amount}})
    return codes


def _method_sentence(explanation, probability: bool, background: str, used: int) -> str:
    scale = _("probability") if probability else _("raw score (margin)")
    if explanation.algorithm == "tree_interventional":
        how = _("Exact interventional TreeSHAP against %(n)s rows of '%(dataset)s'")
    elif explanation.algorithm == "tree_path_dependent":
        how = _("Exact path-dependent TreeSHAP with node covers counted on the %(n)s rows of '%(dataset)s'")
    else:
        how = _("Model-agnostic permutation SHAP (sampled estimates) against %(n)s rows of '%(dataset)s'")
    sentence = how % {"n": number_format(used, force_grouping=True), "dataset": background}
    sentence += "; " + (_("values on the %(scale)s scale.") % {"scale": scale})
    if not explanation.exact:
        sentence += " " + _("The probability-scale values are the exact raw-scale values rescaled per row, so "
                            "that they add up to the probability (shap computes exact probability-scale values "
                            "only for interventional TreeSHAP of one logistic output).")
    return sentence


def explain_decisions(*, version: ModelVersion, rows=None, dataset: Dataset | None = None, row_numbers=None,
                      algorithm: str = "interventional", output: str = "raw", top: int = 5) -> dict:
    """Explain the chosen rows of ``version`` (see the module docstring); the caller checked who may see it."""
    start = time.perf_counter()
    if algorithm not in ALGORITHMS:
        raise DomainError(_("The algorithm is interventional or path_dependent."), code="invalid", field="algorithm")
    if output not in OUTPUTS:
        raise DomainError(_("The output is raw or probability."), code="invalid", field="output")
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise DomainError(_("Ask for 1 to %(max)s reason codes a row.") % {"max": MAX_TOP}, code="invalid",
                          field="top")
    schema = version.feature_schema or {}
    features = [f["name"] for f in schema.get("features", [])]
    if schema.get("layout", "tensor") != "tensor" or not features:
        raise DomainError(_("Explanations need a model that reads one tensor of features."),
                          code="unsupported_model")
    if (rows is None) == (dataset is None):
        raise DomainError(_("Give either rows, or a dataset and its row numbers."), code="invalid", field="rows")
    chosen = _inline_rows(rows, features) if dataset is None else _dataset_rows(dataset, row_numbers, features)
    background = background_dataset(version)
    if background is None:
        raise Conflict(_("Version %(n)s has no reference data to explain against: register a reference dataset "
                         "on the passport.") % {"n": version.number}, code="no_reference")
    data, model = _artifact(version)
    reference = _frame(background)
    missing = [f for f in features if f not in reference.columns]
    if missing:
        raise Conflict(_("The reference dataset '%(name)s' has no column %(columns)s.")
                       % {"name": background.name, "columns": ", ".join(missing)}, code="missing_column")
    result = explain_frame(data, model, chosen.frame, reference[features], chosen.labels, algorithm=algorithm,
                           output=output, top=top, background_name=background.name)
    return {"passport": version.passport.key, "version": version.number, "source": chosen.source,
            **result, "background": {"dataset": background.pk, **result["background"]},
            "duration_ms": round((time.perf_counter() - start) * 1000, 1)}


def explain_frame(data: bytes, model: OnnxModel, frame: pd.DataFrame, reference: pd.DataFrame, labels: list, *,
                  algorithm: str, output: str, top: int, background_name: str) -> dict:
    """The computing half of :func:`explain_decisions`, on an artifact and data frames already read (also what
    ``scripts/bench_explanations.py`` times)."""
    features = list(frame.columns)
    first = model.inputs[0].name
    x = model.encode(frame)[first]
    b = model.encode(reference)[first]
    try:
        explanation = explain_onnx(data, x, background=b, algorithm=algorithm, output=output,
                                   max_background=BACKGROUND_ROWS, seed=0)
    except ValueError as exc:  # e.g. the probability scale of a regressor
        raise DomainError(str(exc), code="invalid", field="output")
    values, expected = _positive_class(explanation.values, explanation.expected_value)
    probability = explanation.output_space.startswith("probability")
    own = _model_output(model, frame, explanation.output_space)
    totals = values.sum(axis=1) + expected
    errors = np.abs(totals - own) if own is not None else None
    scale = max(1.0, float(np.nanmax(np.abs(own)))) if own is not None and own.size else 1.0
    x64 = np.asarray(x, dtype=np.float64)
    out_rows = []
    for i, label in enumerate(labels):
        out_rows.append({
            "row": label,
            "inputs": {name: (None if math.isnan(x64[i, j]) else float(x64[i, j])) for j, name in enumerate(features)},
            "prediction": float(own[i]) if own is not None else float(totals[i]),
            "shap": {name: float(values[i, j]) for j, name in enumerate(features)},
            "sum": float(totals[i]),
            "additivity_error": float(errors[i]) if errors is not None else None,
            "reason_codes": reason_codes(features, x64[i], values[i], top, probability),
        })
    max_error = float(np.nanmax(errors)) if errors is not None and errors.size else None
    return {
        "algorithm": algorithm,
        "method": explanation.algorithm,
        "exact": bool(explanation.exact),
        "output": output,
        "output_space": explanation.output_space,
        "expected_value": expected,
        "background": {"name": background_name, "rows": int(explanation.background_rows)},
        "summary": _method_sentence(explanation, probability, background_name, int(explanation.background_rows)),
        "note": explanation.note,
        "features": features,
        "rows": out_rows,
        "additivity": {"checked": errors is not None, "max_error": max_error,
                       "ok": None if max_error is None else max_error <= ADDITIVITY_TOLERANCE * scale},
    }
