"""Data quality of each dataset against the version's feature schema, per feature: missing values (judged unless
the schema declares the feature nullable), values outside the schema's [min, max] or of the wrong type, and
categories the schema does not list."""

from __future__ import annotations

import numpy as np
import pandas as pd

from validation.checks import metric, num, outcome, verdict


def _rate(count: int, rows: int) -> float:
    return count / rows if rows else 0.0


def _unseen(column: pd.Series, categories: list) -> pd.Series:
    """Non-missing values that are not among ``categories`` (numbers compared as numbers: 12 == 12.0)."""
    present = column.dropna()
    if all(isinstance(c, int | float) for c in categories) and pd.api.types.is_numeric_dtype(present):
        return present[~present.astype(np.float64).isin([float(c) for c in categories])]
    return present[~present.astype(str).isin({str(c) for c in categories})]


def feature_quality(column: pd.Series, feature: dict, *, thresholds: dict) -> dict:
    """Counts, rates and verdict for one feature of one dataset."""
    rows = len(column)
    missing = int(column.isna().sum())
    out_of_range = invalid = 0
    unseen = pd.Series([], dtype=object)
    if feature.get("type") in ("float", "int"):
        values = pd.to_numeric(column, errors="coerce")
        invalid = int((values.isna() & column.notna()).sum())  # text in a numeric feature
        low, high = feature.get("min"), feature.get("max")
        outside = pd.Series(False, index=values.index)
        if low is not None:
            outside |= values < low
        if high is not None:
            outside |= values > high
        out_of_range = int(outside.sum()) + invalid
    if feature.get("categories"):
        unseen = _unseen(column, feature["categories"])
    missing_bound = thresholds.get("nullable_missing_rate_max" if feature.get("nullable") else "missing_rate_max")
    checks = {
        "missing": metric(_rate(missing, rows), missing_bound, "<="),
        "out_of_range": metric(_rate(out_of_range, rows), thresholds.get("out_of_range_rate_max"), "<="),
        "unseen": metric(_rate(len(unseen), rows), thresholds.get("unseen_rate_max"), "<="),
    }
    return {
        "rows": rows, "missing": missing, "out_of_range": out_of_range, "invalid_type": invalid,
        "unseen": int(len(unseen)), "unseen_examples": sorted({str(v) for v in unseen.head(1000)})[:5],
        "rates": {key: entry["value"] for key, entry in checks.items()},
        "checks": checks, "passed": verdict(entry["passed"] for entry in checks.values()),
        "bounds": {"min": feature.get("min"), "max": feature.get("max"), "nullable": bool(feature.get("nullable"))},
    }


def quality(frames: dict[str, pd.DataFrame], features: list[dict], *, thresholds: dict,
            target: str | None = None) -> dict:
    """Quality of every dataset in ``frames`` ({"reference": df, "validation": df}) against the schema."""
    datasets, failing, worst = {}, [], {"missing": 0.0, "out_of_range": 0.0, "unseen": 0.0}
    for label, frame in frames.items():
        per_feature = {f["name"]: feature_quality(frame[f["name"]], f, thresholds=thresholds) for f in features}
        for name, entry in per_feature.items():
            if entry["passed"] is False:
                failing.append(f"{label}: {name}")
            for key in worst:
                if key != "missing" or not entry["bounds"]["nullable"]:
                    worst[key] = max(worst[key], entry["rates"][key] or 0.0)
        datasets[label] = {
            "rows": len(frame), "features": per_feature,
            "target_missing": int(frame[target].isna().sum()) if target and target in frame else None,
        }
    values = {
        "failing_features": metric(len(failing), 0, "<="),
        "missing_rate": metric(worst["missing"], thresholds.get("missing_rate_max"), "<="),
        "out_of_range_rate": metric(worst["out_of_range"], thresholds.get("out_of_range_rate_max"), "<="),
        "unseen_rate": metric(worst["unseen"], thresholds.get("unseen_rate_max"), "<="),
    }
    charts = {label: {"features": list(d["features"]),
                      **{key: [num(e["rates"][key]) for e in d["features"].values()]
                         for key in ("missing", "out_of_range", "unseen")}}
              for label, d in datasets.items()}
    return outcome(headline="failing_features", metrics=values, datasets=datasets, failing=failing,
                   charts={"rates": charts}, passed=not failing)
