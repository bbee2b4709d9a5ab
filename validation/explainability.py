"""Turn an explanation from ``validation.explain`` (SHAP values of a sample) into the explainability test result:
global importance (mean |SHAP| per feature) and per-feature effects (feature value against SHAP value) for the most
important features. Reported, not judged: explainability is evidence for the validator, with no threshold."""

from __future__ import annotations

import numpy as np

from validation.checks import errored, gettext_noop, metric, num, nums, outcome

EFFECT_POINTS = 200
SAMPLE_ROWS = 50  # rows whose per-row SHAP values the results keep (the API and the report show them)


def explanation_result(explanation, x: np.ndarray, names: list[str], *, top: int = 10,
                       data: dict | None = None) -> dict:
    """``data`` says which rows were explained and against which background (kept as given, for the report)."""
    values = np.asarray(explanation.values, dtype=np.float64)
    if values.ndim == 3:  # one slice per class: explain the positive class
        values = values[..., -1]
    if values.ndim != 2 or values.shape[1] != len(names):
        return errored(gettext_noop("The explainer returned values of shape %(shape)s, expected [rows, %(n)s]."),
                       {"shape": values.shape, "n": len(names)})
    importance = np.abs(values).mean(axis=0)
    order = [int(i) for i in np.argsort(-importance)]
    total = float(importance.sum()) or 1.0
    points = np.unique(np.linspace(0, len(values) - 1, min(len(values), EFFECT_POINTS)).round().astype(int))
    effects = {names[i]: {"x": nums(np.asarray(x, dtype=np.float64)[points, i]), "shap": nums(values[points, i])}
               for i in order[:top]}
    expected = np.ravel(np.asarray(explanation.expected_value, dtype=np.float64))
    rows = np.unique(np.linspace(0, len(values) - 1, min(len(values), SAMPLE_ROWS)).round().astype(int))
    sample = {"features": names, "rows": [int(i) for i in rows],
              "x": [nums(row) for row in np.asarray(x, dtype=np.float64)[rows]],
              "shap": [nums(row) for row in values[rows]]}
    return outcome(
        headline="top_feature_share",
        metrics={"top_feature_share": metric(importance[order[0]] / total) if order else metric(None)},
        importance=[{"feature": names[i], "mean_abs_shap": num(importance[i])} for i in order],
        algorithm=str(getattr(explanation, "algorithm", "")), note=str(getattr(explanation, "note", "") or ""),
        output_space=str(getattr(explanation, "output_space", "")), exact=getattr(explanation, "exact", None),
        expected_value=num(expected[-1]) if len(expected) else None, rows=int(len(values)),
        background_rows=int(getattr(explanation, "background_rows", 0) or 0), data=data, sample=sample,
        charts={"importance": {"features": [names[i] for i in order], "mean_abs_shap": nums(importance[order])},
                "effects": effects},
    )
