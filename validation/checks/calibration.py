"""Calibration of a binary classifier: expected calibration error and the reliability curve."""

from __future__ import annotations

import numpy as np

from validation.checks import errored, gettext_noop, metric, num, nums, outcome


def reliability(y: np.ndarray, score: np.ndarray, *, bins: int = 10) -> dict:
    """Per equal-width score bin: rows, mean forecast and observed positive rate.

    Bins as scikit-learn's ``calibration_curve(strategy="uniform")`` draws them, so the curve is the same; the
    empty bins are kept (with None) so that every run of a policy has the same bins.
    """
    edges = np.linspace(0.0, 1.0 + 1e-8, bins + 1)
    index = np.searchsorted(edges[1:-1], score)
    counts = np.bincount(index, minlength=bins)
    forecast = np.bincount(index, weights=score, minlength=bins)
    observed = np.bincount(index, weights=y, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_forecast = np.where(counts > 0, forecast / counts, np.nan)
        observed_rate = np.where(counts > 0, observed / counts, np.nan)
    return {"edges": nums(np.linspace(0.0, 1.0, bins + 1)), "count": counts.tolist(),
            "mean_forecast": nums(mean_forecast), "observed_rate": nums(observed_rate)}


def expected_calibration_error(y: np.ndarray, score: np.ndarray, *, bins: int = 10) -> float:
    """ECE: the row-weighted mean gap between forecast and observed rate over equal-width bins."""
    curve = reliability(y, score, bins=bins)
    total = sum(curve["count"])
    return float(sum(
        count / total * abs(rate - forecast)
        for count, rate, forecast in zip(curve["count"], curve["observed_rate"], curve["mean_forecast"], strict=True)
        if count
    ))


def calibration(y: np.ndarray, score: np.ndarray, *, thresholds: dict) -> dict:
    y = np.asarray(y, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    finite = np.isfinite(score)
    y, score = y[finite], np.clip(score[finite], 0.0, 1.0)
    if not len(y):
        return errored(gettext_noop("No row could be scored."))
    bins = int(thresholds.get("bins", 10))
    curve = reliability(y, score, bins=bins)
    ece = expected_calibration_error(y, score, bins=bins)
    return outcome(headline="ece", metrics={
        "ece": metric(ece, thresholds.get("ece_max"), "<="),
        "mean_forecast": metric(np.mean(score)),
        "observed_rate": metric(np.mean(y)),
    }, charts={"reliability": curve}, bins=bins, rows=int(len(y)), max_gap=num(max(
        (abs(r - f) for r, f in zip(curve["observed_rate"], curve["mean_forecast"], strict=True) if r is not None),
        default=0.0)))
