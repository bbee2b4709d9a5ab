"""Stability between the reference (training sample) and the validation data: the population stability index
(PSI) of every feature and of the model's score, and Evidently's data-drift report.

PSI = sum over bins of (actual share - expected share) * ln(actual share / expected share), the expected shares
from the reference. Numeric values are cut at the reference's deciles (bins of equal reference mass), categories
are their own bins, missing values get a bin of their own. Shares are floored at ``EPSILON`` so an empty bin
counts as rare rather than infinite. Bands: below 0.1 stable, 0.1 to 0.2 moderate shift, 0.2 and above
significant shift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from validation.adapters import evidently_drift as evidently_drift_engine
from validation.checks import metric, num, nums, outcome

EPSILON = 1e-4
MISSING = "(missing)"


def band(value: float | None, *, warn: float = 0.1, fail: float = 0.2) -> str:
    if value is None:
        return "unknown"
    return "stable" if value < warn else ("moderate" if value < fail else "significant")


def psi_from_counts(expected: np.ndarray, actual: np.ndarray, *, epsilon: float = EPSILON) -> float:
    """PSI of two histograms over the same bins (counts or shares)."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    e = np.maximum(expected / expected.sum(), epsilon)
    a = np.maximum(actual / actual.sum(), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_edges(reference: np.ndarray, bins: int = 10) -> np.ndarray:
    """Interior cut points at the reference's quantiles (duplicates merged: discrete data gives fewer bins)."""
    finite = reference[np.isfinite(reference)]
    if not len(finite):
        return np.array([])
    return np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1]))


def _numeric_histograms(reference, current, bins: int):
    reference = np.asarray(reference, dtype=np.float64)
    current = np.asarray(current, dtype=np.float64)
    edges = numeric_edges(reference, bins)
    slots = len(edges) + 2  # (-inf, e0], (e0, e1], ..., (e_last, inf), then missing; no edges: all, missing

    def histogram(values):
        index = np.searchsorted(edges, values, side="left")
        index[np.isnan(values)] = slots - 1
        return np.bincount(index, minlength=slots)

    if len(edges):
        labels = [f"<= {edges[0]:.6g}", *[f"({low:.6g}, {high:.6g}]" for low, high in zip(edges[:-1], edges[1:],
                                                                                           strict=True)],
                  f"> {edges[-1]:.6g}", MISSING]
    else:
        labels = ["all", MISSING]
    return labels, histogram(reference), histogram(current)


def _categorical_histograms(reference, current):
    reference = pd.Series(reference).astype("string").fillna(MISSING)
    current = pd.Series(current).astype("string").fillna(MISSING)
    labels = sorted(set(reference.unique()) | set(current.unique()), key=lambda v: (v == MISSING, v))
    ref_counts = reference.value_counts().reindex(labels, fill_value=0).to_numpy()
    cur_counts = current.value_counts().reindex(labels, fill_value=0).to_numpy()
    return labels, ref_counts, cur_counts


def psi(reference, current, *, bins: int = 10, categorical: bool = False) -> dict:
    """PSI of one variable with its bins and both distributions (the chart data)."""
    if categorical:
        labels, ref_counts, cur_counts = _categorical_histograms(reference, current)
    else:
        labels, ref_counts, cur_counts = _numeric_histograms(reference, current, bins)
    keep = (ref_counts + cur_counts) > 0
    labels = [label for label, k in zip(labels, keep, strict=True) if k]
    ref_counts, cur_counts = ref_counts[keep], cur_counts[keep]
    value = psi_from_counts(ref_counts, cur_counts) if ref_counts.sum() and cur_counts.sum() else None
    return {"psi": num(value), "bins": labels, "reference": nums(ref_counts / max(ref_counts.sum(), 1)),
            "current": nums(cur_counts / max(cur_counts.sum(), 1))}


def is_categorical(feature: dict) -> bool:
    return feature.get("type") in ("string", "bool") or bool(feature.get("categories"))


def stability(reference: pd.DataFrame, current: pd.DataFrame, features: list[dict], reference_score: np.ndarray,
              current_score: np.ndarray, *, thresholds: dict) -> dict:
    """PSI per feature and of the score. Fails when any feature or the score reaches its bound."""
    bins = int(thresholds.get("bins", 10))
    warn = float(thresholds.get("psi_warn", 0.1))
    feature_max, score_max = thresholds.get("feature_psi_max"), thresholds.get("score_psi_max")
    per_feature, charts = {}, {}
    for feature in features:
        name = feature["name"]
        result = psi(reference[name].to_numpy(), current[name].to_numpy(), bins=bins,
                     categorical=is_categorical(feature))
        entry = metric(result["psi"], feature_max, "<=")
        per_feature[name] = {**entry, "band": band(entry["value"], warn=warn, fail=feature_max or 0.2)}
        charts[name] = {key: result[key] for key in ("bins", "reference", "current")}
    score = psi(np.asarray(reference_score, dtype=np.float64), np.asarray(current_score, dtype=np.float64),
                bins=bins)
    worst = max(per_feature, key=lambda n: per_feature[n]["value"] or 0.0) if per_feature else None
    values = {
        "max_feature_psi": metric(per_feature[worst]["value"] if worst else None, feature_max, "<="),
        "score_psi": metric(score["psi"], score_max, "<="),
    }
    return outcome(
        headline="max_feature_psi", metrics=values, features=per_feature, worst_feature=worst,
        score={**values["score_psi"], "band": band(score["psi"], warn=warn, fail=score_max or 0.2)},
        charts={"features": charts, "score": {key: score[key] for key in ("bins", "reference", "current")}},
        bands={"warn": warn, "fail": feature_max},
    )


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= rows else frame.sample(n=rows, random_state=seed)


def evidently_drift(reference: pd.DataFrame, current: pd.DataFrame, features: list[dict], *, thresholds: dict,
                    seed: int) -> dict:
    """Evidently's data-drift report: per column, Evidently picks its statistical test (by type and size) and
    says whether the column drifted; the test judges the share of drifted columns. Computed on seeded samples of
    at most ``sample_rows`` rows of each dataset.

    It calls the drift engine behind Evidently's ``DataDriftPreset`` (``get_drift_for_columns``) rather than
    ``Report.run``, which renders Plotly widgets for every column (about three times the cost of the statistics)
    that are thrown away here; the figures are the same.
    """
    rows = int(thresholds.get("sample_rows", 10_000))
    share_max = thresholds.get("drifted_share_max")
    names = [f["name"] for f in features]
    categorical = [f["name"] for f in features if is_categorical(f)]
    ref = _sample(reference[names], rows, seed).reset_index(drop=True)
    cur = _sample(current[names], rows, seed + 1).reset_index(drop=True)
    drift = evidently_drift_engine.column_drift(ref, cur, numerical=[n for n in names if n not in categorical],
                                                categorical=categorical, drift_share=share_max or 0.5)
    per_column = {name: {"method": d.method, "threshold": num(d.threshold), "score": num(d.score),
                         "drifted": d.drifted} for name, d in drift.columns.items()}
    return outcome(headline="drifted_share", metrics={
        "drifted_share": metric(drift.drifted_share, share_max, "<="),
        "drifted_columns": metric(drift.drifted_count),
    }, columns=per_column, rows={"reference": len(ref), "validation": len(cur)},
        engine=f"evidently {_version('evidently')}",
        charts={"drift_scores": {"columns": names, "scores": [per_column[n]["score"] for n in names],
                                 "drifted": [per_column[n]["drifted"] for n in names]}})


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
