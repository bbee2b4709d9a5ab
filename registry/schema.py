"""Feature schemas (what serving and validation accept) and dataset schema inference."""

from __future__ import annotations

import math
from pathlib import Path

from governance.errors import DomainError

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
        raise _fail(f"Feature #{index}: '{what}' must be a finite number or null.", index)
    return value


def _clean_feature(feature, index: int, base: dict) -> dict:
    if not isinstance(feature, dict):
        raise _fail(f"Feature #{index} must be an object.", index)
    unknown = set(feature) - _FEATURE_KEYS
    if unknown:
        raise _fail(f"Feature #{index}: unknown keys {sorted(unknown)}; allowed: {sorted(_FEATURE_KEYS)}.", index)
    name = feature.get("name", base["name"])
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise _fail(f"Feature #{index}: 'name' must be a non-empty string of at most 200 characters.", index)
    ftype = feature.get("type", base["type"])
    if ftype not in FEATURE_TYPES:
        raise _fail(f"Feature '{name}': type must be one of {', '.join(FEATURE_TYPES)}.", index)
    low, high = _number(feature.get("min"), "min", index), _number(feature.get("max"), "max", index)
    if low is not None and high is not None and low > high:
        raise _fail(f"Feature '{name}': min ({low}) is greater than max ({high}).", index)
    categories = feature.get("categories")
    if categories is not None:
        if not isinstance(categories, list) or not categories or len(categories) > MAX_CATEGORIES:
            raise _fail(f"Feature '{name}': categories must be a non-empty list of at most {MAX_CATEGORIES}.", index)
        if any(isinstance(c, bool) or not isinstance(c, str | int | float) for c in categories):
            raise _fail(f"Feature '{name}': categories must be strings or numbers.", index)
        if len(set(map(str, categories))) != len(categories):
            raise _fail(f"Feature '{name}': categories contain duplicates.", index)
    nullable = feature.get("nullable", False)
    if not isinstance(nullable, bool):
        raise _fail(f"Feature '{name}': 'nullable' must be true or false.", index)
    description = feature.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        raise _fail(f"Feature '{name}': 'description' must be text of at most 2000 characters.", index)
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
        raise _fail("The feature schema must be a JSON object with a 'features' list.")
    features = schema.get("features")
    base = derived.get("features", [])
    if not isinstance(features, list):
        raise _fail("The feature schema needs a 'features' list.")
    if len(features) != len(base):
        raise _fail(f"The artifact has {len(base)} features; the schema lists {len(features)}.")
    cleaned = [_clean_feature(f, i, base[i]) for i, f in enumerate(features)]
    names = [f["name"] for f in cleaned]
    if len(set(names)) != len(names):
        raise _fail("Feature names must be unique.")
    return {"input": derived.get("input"), "layout": derived.get("layout"), "features": cleaned}


def infer_dataset_schema(path: Path, fmt: str):
    """Read a CSV or Parquet file; return (row_count, schema list). Raises DomainError on unreadable data."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path, low_memory=False)
    except Exception as exc:  # pandas raises many types for malformed files
        raise DomainError(
            f"The file could not be read as {fmt.upper()}: {str(exc)[:300]}", code="invalid_dataset", field="file"
        )
    if fmt != "parquet":
        import csv

        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            header = next(csv.reader(fh), [])
        if len(set(header)) != len(header):
            dupes = sorted({h for h in header if header.count(h) > 1})
            raise DomainError(f"Duplicate column names: {', '.join(dupes)}.", code="invalid_dataset", field="file")
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise DomainError("The dataset has no rows or no columns.", code="invalid_dataset", field="file")
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns) or any(c.startswith("Unnamed:") for c in columns):
        raise DomainError("Every column needs a unique, non-empty header.", code="invalid_dataset", field="file")
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
