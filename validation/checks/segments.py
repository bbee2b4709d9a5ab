"""Segment performance: the headline metric within each value (or quantile bin) of a chosen column.

A segment fails when its metric trails the overall one by more than ``gap_max``; segments with fewer than
``min_rows`` rows, or where the metric is undefined (one class only), are shown but not judged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from validation.checks import errored, gettext_noop, metric, num, outcome
from validation.checks.performance import CLASSIFICATION, headline

MISSING = "(missing)"
OTHER = "(other)"


def segment_labels(column: pd.Series, *, bins: int = 5, max_segments: int = 20) -> pd.Series:
    """A label per row: quantile bins for a many-valued numeric column, the value itself otherwise; the rarest
    values beyond ``max_segments`` are pooled as "(other)"."""
    if pd.api.types.is_numeric_dtype(column) and column.nunique() > max(2 * bins, 10):
        labels = pd.qcut(column, q=bins, duplicates="drop").astype(str)
    else:
        labels = column.astype(str)
    labels = labels.where(column.notna(), MISSING)
    counts = labels.value_counts()
    if len(counts) > max_segments:
        keep = set(counts.index[: max_segments - 1])
        labels = labels.where(labels.isin(keep), OTHER)
    return labels


def segments(task: str, y: np.ndarray, score: np.ndarray, column: pd.Series, *, thresholds: dict,
             name: str = "") -> dict:
    overall = headline(task, y, score)
    if overall is None:
        return errored(gettext_noop("The overall headline metric cannot be computed."))
    labels = segment_labels(column.reset_index(drop=True), bins=int(thresholds.get("bins", 5)),
                            max_segments=int(thresholds.get("max_segments", 20)))
    min_rows, gap_max = int(thresholds.get("min_rows", 200)), thresholds.get("gap_max")
    table = {}
    for label in sorted(labels.unique(), key=str):
        mask = (labels == label).to_numpy()
        value = headline(task, y[mask], score[mask])
        judged = value is not None and mask.sum() >= min_rows
        gap = overall - value if value is not None else None
        table[label] = {
            "rows": int(mask.sum()), "share": num(mask.mean()), "metric": num(value), "gap": num(gap),
            "target_mean": num(np.mean(y[mask])),
            "passed": (gap <= gap_max if gap_max is not None else None) if judged else None,
            "note": "" if judged else (gettext_noop("too few rows") if mask.sum() < min_rows
                                       else gettext_noop("metric undefined")),
        }
    judged = {k: v for k, v in table.items() if v["passed"] is not None}
    worst = max(judged, key=lambda k: judged[k]["gap"]) if judged else None
    values = {"worst_gap": metric(judged[worst]["gap"] if worst else None, gap_max if worst else None, "<="),
              "overall": metric(overall)}
    return outcome(headline="worst_gap", metrics=values, column=name, segments=table, worst_segment=worst,
                   metric_name="auc" if task == CLASSIFICATION else "r2",
                   passed=None if not judged else all(v["passed"] for v in judged.values()),
                   charts={"segments": {"labels": list(table), "metric": [v["metric"] for v in table.values()],
                                        "rows": [v["rows"] for v in table.values()], "overall": overall}})
