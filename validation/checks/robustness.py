"""Robustness: how much the headline metric (AUC, or R2 for regressors) drops when the inputs are disturbed.

Three disturbances of the same seeded sample: Gaussian noise on every numeric feature (``noise_scale`` reference
standard deviations), missing values (``missing_rate`` of every feature blanked), and the noise applied to one
feature at a time (the worst feature is judged). ``predict`` is the served model: a function from a frame with
the feature columns to scores. Rows the model cannot score (non-finite output) are counted and given the mean
score of the undisturbed sample, so that they weigh as an uninformed forecast.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from validation.checks import metric, num, outcome
from validation.checks.performance import headline
from validation.checks.stability import is_categorical

Predict = Callable[[pd.DataFrame], np.ndarray]


def _score(predict: Predict, frame: pd.DataFrame, fallback: float) -> tuple[np.ndarray, int]:
    scores = np.asarray(predict(frame), dtype=np.float64)
    bad = ~np.isfinite(scores)
    if bad.any():
        scores = np.where(bad, fallback, scores)
    return scores, int(bad.sum())


def _drop(base: float | None, value: float | None) -> float | None:
    return None if base is None or value is None else base - value


def robustness(frame: pd.DataFrame, y: np.ndarray, features: list[dict], predict: Predict, *, task: str,
               scale: dict[str, float], thresholds: dict, seed: int) -> dict:
    """``frame`` is the (already sampled) validation data, ``scale`` each numeric feature's reference std."""
    rng = np.random.default_rng(seed)
    rows = len(frame)
    noise_scale = float(thresholds.get("noise_scale", 0.1))
    numeric = [f["name"] for f in features if not is_categorical(f) and f.get("type") in ("float", "int")]
    base_scores, _ = _score(predict, frame, 0.0)
    fallback = float(np.nanmean(base_scores)) if np.isfinite(base_scores).any() else 0.0
    base = headline(task, y, base_scores)
    noise = {name: rng.normal(0.0, noise_scale * (scale.get(name) or 0.0), rows) for name in numeric}

    noisy = frame.copy()
    for name in numeric:
        noisy[name] = frame[name].astype(np.float64) + noise[name]
    noisy_scores, noisy_bad = _score(predict, noisy, fallback)

    holed = frame.copy()
    missing_rate = float(thresholds.get("missing_rate", 0.05))
    for feature in features:
        name = feature["name"]
        mask = rng.random(rows) < missing_rate
        column = holed[name].astype(np.float64) if name in numeric else holed[name].astype(object)
        column[mask] = np.nan if name in numeric else None
        holed[name] = column
    holed_scores, holed_bad = _score(predict, holed, fallback)

    per_feature = {}
    for name in numeric:
        single = frame.copy()
        single[name] = frame[name].astype(np.float64) + noise[name]
        scores, bad = _score(predict, single, fallback)
        value = headline(task, y, scores)
        per_feature[name] = {"metric": value, "drop": num(_drop(base, value)),
                             "mean_abs_score_change": num(np.mean(np.abs(scores - base_scores))),
                             "unscorable_rows": bad}
    worst = max(per_feature, key=lambda n: per_feature[n]["drop"] or -np.inf) if per_feature else None
    drop_max, feature_max = thresholds.get("drop_max"), thresholds.get("feature_drop_max")
    values = {
        "noise_drop": metric(_drop(base, headline(task, y, noisy_scores)), drop_max, "<="),
        "missing_drop": metric(_drop(base, headline(task, y, holed_scores)), drop_max, "<="),
        "max_feature_drop": metric(per_feature[worst]["drop"] if worst else None, feature_max, "<="),
        "baseline": metric(base),
    }
    charts = {"feature_drop": {"features": list(per_feature), "drop": [e["drop"] for e in per_feature.values()]}}
    return outcome(headline="noise_drop", metrics=values, charts=charts, features=per_feature, worst_feature=worst,
                   rows=rows, unscorable_rows={"noise": noisy_bad, "missing": holed_bad},
                   perturbations={"noise_scale": noise_scale, "missing_rate": missing_rate,
                                  "noised_features": numeric})
