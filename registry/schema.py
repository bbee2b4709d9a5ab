"""Feature schemas (what serving and validation accept) and dataset schema inference."""

from __future__ import annotations

import math
from pathlib import Path

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.errors import DomainError

FEATURE_TYPES = ("float", "int", "string", "bool")
_FEATURE_KEYS = {"name", "type", "min", "max", "categories", "nullable", "description"}
MAX_CATEGORIES = 1000


def _fail(message: str, index: int | None = None) -> DomainError:
    field = "feature_schema" if index is None else f"feature_schema.features[{index}]"
    return DomainError(message, code="invalid_feature_schema", field=field)


def _number(value, what: str, index: int):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(_("Feature #%(n)s: '%(key)s' must be a finite number or null.") % {"n": index, "key": what}, index)
    return value


def _clean_feature(feature, index: int, base: dict) -> dict:
    if not isinstance(feature, dict):
        raise _fail(_("Feature #%(n)s must be an object.") % {"n": index}, index)
    unknown = set(feature) - _FEATURE_KEYS
    if unknown:
        raise _fail(_("Feature #%(n)s: unknown keys %(keys)s; allowed: %(allowed)s.")
                    % {"n": index, "keys": ", ".join(sorted(map(str, unknown))),
                       "allowed": ", ".join(sorted(_FEATURE_KEYS))}, index)
    name = feature.get("name", base["name"])
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise _fail(_("Feature #%(n)s: 'name' must be a non-empty string of at most %(max)s characters.")
                    % {"n": index, "max": 200}, index)
    ftype = feature.get("type", base["type"])
    if ftype not in FEATURE_TYPES:
        raise _fail(_("Feature '%(name)s': type must be one of %(types)s.")
                    % {"name": name, "types": ", ".join(FEATURE_TYPES)}, index)
    low, high = _number(feature.get("min"), "min", index), _number(feature.get("max"), "max", index)
    if low is not None and high is not None and low > high:
        raise _fail(_("Feature '%(name)s': min (%(min)s) is greater than max (%(max)s).")
                    % {"name": name, "min": low, "max": high}, index)
    categories = feature.get("categories")
    if categories is not None:
        if not isinstance(categories, list) or not categories or len(categories) > MAX_CATEGORIES:
            raise _fail(_("Feature '%(name)s': categories must be a non-empty list of at most %(max)s.")
                        % {"name": name, "max": MAX_CATEGORIES}, index)
        if any(isinstance(c, bool) or not isinstance(c, str | int | float) for c in categories):
            raise _fail(_("Feature '%(name)s': categories must be strings or numbers.") % {"name": name}, index)
        if len(set(map(str, categories))) != len(categories):
            raise _fail(_("Feature '%(name)s': categories contain duplicates.") % {"name": name}, index)
    nullable = feature.get("nullable", False)
    if not isinstance(nullable, bool):
        raise _fail(_("Feature '%(name)s': 'nullable' must be true or false.") % {"name": name}, index)
    description = feature.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        raise _fail(_("Feature '%(name)s': 'description' must be text of at most %(max)s characters.")
                    % {"name": name, "max": 2000}, index)
    return {
        "name": name.strip(), "type": ftype, "min": low, "max": high, "categories": categories,
        "nullable": nullable, "description": description,
    }


def clean_feature_schema(schema, *, derived: dict) -> dict:
    """Validate a refined schema against the one derived from the ONNX inputs and return it normalised.

    The refinement may rename features and add ranges, categories and descriptions; it may not change
    the number of features, the input they feed, or the layout, which come from the artifact.
    """
    if not isinstance(schema, dict):
        raise _fail(_("The feature schema must be a JSON object with a 'features' list."))
    features = schema.get("features")
    base = derived.get("features", [])
    if not isinstance(features, list):
        raise _fail(_("The feature schema needs a 'features' list."))
    if len(features) != len(base):
        raise _fail(ngettext("The artifact has %(n)s feature; the schema lists %(listed)s.",
                             "The artifact has %(n)s features; the schema lists %(listed)s.", len(base))
                    % {"n": len(base), "listed": len(features)})
    cleaned = [_clean_feature(f, i, base[i]) for i, f in enumerate(features)]
    names = [f["name"] for f in cleaned]
    if len(set(names)) != len(names):
        raise _fail(_("Feature names must be unique."))
    return {"input": derived.get("input"), "layout": derived.get("layout"), "features": cleaned}


def infer_dataset_schema(path: Path, fmt: str):
    """Read a CSV or Parquet file; return (row_count, schema list). Raises DomainError on unreadable data."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path, low_memory=False)
    except Exception as exc:  # pandas raises many types for malformed files
        raise DomainError(
            _("The file could not be read as %(format)s: %(error)s") % {"format": fmt.upper(), "error": str(exc)[:300]},
            code="invalid_dataset", field="file",
        )
    if fmt != "parquet":
        import csv

        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            header = next(csv.reader(fh), [])
        if len(set(header)) != len(header):
            dupes = sorted({h for h in header if header.count(h) > 1})
            raise DomainError(_("Duplicate column names: %(columns)s.") % {"columns": ", ".join(dupes)},
                              code="invalid_dataset", field="file")
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise DomainError(_("The dataset has no rows or no columns."), code="invalid_dataset", field="file")
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns) or any(c.startswith("Unnamed:") for c in columns):
        raise DomainError(_("Every column needs a unique, non-empty header."), code="invalid_dataset", field="file")
    return len(frame), [_column_schema(name, frame[col]) for name, col in zip(columns, frame.columns, strict=True)]


def _column_schema(name: str, series) -> dict:
    import pandas as pd

    entry = {"name": name, "nulls": int(series.isna().sum())}
    if pd.api.types.is_bool_dtype(series):
        entry["type"] = "bool"
    elif pd.api.types.is_numeric_dtype(series):
        entry["type"] = "int" if pd.api.types.is_integer_dtype(series) else "float"
        valid = series.dropna()
        entry["min"] = float(valid.min()) if len(valid) else None
        entry["max"] = float(valid.max()) if len(valid) else None
    else:
        entry["type"] = "string"
        distinct = series.dropna().astype(str).unique()
        entry["distinct"] = int(len(distinct))
        entry["categories"] = sorted(distinct.tolist())[:50] if len(distinct) <= 50 else None
    return entry
