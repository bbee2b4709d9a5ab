"""Plotly figures of a validation run's results, as JSON-able dicts: the run page and the HTML report draw them in
the browser with the vendored Plotly, the PDF report renders the same dicts to SVG (``core.pdf``).

Every builder reads one test's ``charts`` (written by ``validation.checks``) and tolerates what a test did not
produce: a skipped or errored test has no charts and gets no figure.
"""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext as _

PASS, FAIL, WARN, NEUTRAL, MUTED = "#198754", "#dc3545", "#fd7e14", "#0d6efd", "#adb5bd"
FONT = {"family": "DejaVu Sans, Segoe UI, Helvetica, Arial, sans-serif", "size": 12}

# Headline metrics as people write them on an axis (the results keep the keys).
METRIC_NAMES = {"auc": "AUC", "ks": "KS", "rmse": "RMSE", "mae": "MAE", "r2": "R²", "mape": "MAPE"}


def _metric_name(name) -> str:
    return METRIC_NAMES.get(str(name or "").lower(), str(name or ""))


def _layout(title: str = "", x: str = "", y: str = "", **extra) -> dict:
    layout = {
        "font": FONT, "margin": {"l": 60, "r": 20, "t": 40 if title else 20, "b": 50},
        "plot_bgcolor": "#ffffff", "paper_bgcolor": "#ffffff", "showlegend": False,
        # automargin: long tick labels and titles get the room they need instead of being cut
        "xaxis": {"title": {"text": x}, "gridcolor": "#e9ecef", "zeroline": False, "automargin": True},
        "yaxis": {"title": {"text": y}, "gridcolor": "#e9ecef", "zeroline": False, "automargin": True},
    }
    if title:
        layout["title"] = {"text": title, "font": {"size": 14}}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _fig(fid: str, title: str, data: list[dict], layout: dict) -> dict:
    return {"id": fid, "title": title, "figure": {"data": data, "layout": layout}}


def _legend() -> dict:
    """A horizontal legend above the plot, where it covers neither the data nor the x-axis title."""
    return {"showlegend": True, "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02,
                                           "yanchor": "bottom"}, "margin": {"t": 40}}


SLANTED = {"tickangle": -40, "automargin": True}  # category axes with long names (features, bins)


def _performance(test: dict, results: dict) -> list[dict]:
    charts, out = test.get("charts") or {}, []
    if roc := charts.get("roc"):
        auc = ((test.get("metrics") or {}).get("auc") or {}).get("value")
        label = _("ROC curve") + (f" (AUC {auc:.3f})" if isinstance(auc, float) else "")
        out.append(_fig("roc", label, [
            {"type": "scatter", "mode": "lines", "x": roc["fpr"], "y": roc["tpr"], "name": _("Model"),
             "line": {"color": NEUTRAL, "width": 2}},
            {"type": "scatter", "mode": "lines", "x": [0, 1], "y": [0, 1], "name": _("No skill"),
             "line": {"color": MUTED, "dash": "dash"}},
        ], _layout("", _("False positive rate"), _("True positive rate"), **_legend())))
    if pr := charts.get("precision_recall"):
        out.append(_fig("precision-recall", _("Precision–recall curve"), [
            {"type": "scatter", "mode": "lines", "x": pr["recall"], "y": pr["precision"], "name": _("Model"),
             "line": {"color": NEUTRAL, "width": 2}},
        ], _layout("", _("Recall"), _("Precision"))))
    if cm := charts.get("confusion_matrix"):
        labels = [str(v) for v in cm.get("labels") or []]
        matrix = cm.get("matrix") or []
        out.append(_fig("confusion-matrix", _("Confusion matrix at threshold %(threshold)s")
                        % {"threshold": cm.get("threshold")}, [
            {"type": "heatmap", "z": matrix, "x": labels, "y": labels, "colorscale": "Blues", "showscale": False,
             "text": matrix, "texttemplate": "%{text}", "hovertemplate": "%{y} → %{x}: %{z}<extra></extra>"},
        ], _layout("", _("Predicted"), _("Actual"), yaxis={"autorange": "reversed", "type": "category"},
                   xaxis={"type": "category"})))
    if hist := charts.get("score_histogram"):
        edges = hist.get("edges") or []
        mids = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
        out.append(_fig("score-histogram", _("Scores by actual class"), [
            {"type": "bar", "x": mids, "y": hist.get("negatives"), "name": _("Negatives"), "marker": {"color": MUTED}},
            {"type": "bar", "x": mids, "y": hist.get("positives"), "name": _("Positives"),
             "marker": {"color": NEUTRAL}},
        ], _layout("", _("Score"), _("Rows"), barmode="stack", **_legend())))
    if scatter := charts.get("predicted_vs_actual"):
        out.append(_fig("predicted-vs-actual", _("Predicted vs actual"), [
            {"type": "scatter", "mode": "markers", "x": scatter.get("actual"), "y": scatter.get("predicted"),
             "marker": {"color": NEUTRAL, "size": 5, "opacity": 0.6}},
        ], _layout("", _("Actual"), _("Predicted"))))
    if resid := charts.get("residual_histogram"):
        edges = resid.get("edges") or []
        mids = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
        out.append(_fig("residuals", _("Residuals (predicted − actual)"), [
            {"type": "bar", "x": mids, "y": resid.get("counts"), "marker": {"color": NEUTRAL}},
        ], _layout("", _("Residual"), _("Rows"))))
    return out


def _calibration(test: dict, results: dict) -> list[dict]:
    rel = (test.get("charts") or {}).get("reliability")
    if not rel:
        return []
    return [_fig("reliability", _("Reliability curve"), [
        {"type": "scatter", "mode": "lines+markers", "x": rel.get("mean_forecast"), "y": rel.get("observed_rate"),
         "name": _("Model"), "line": {"color": NEUTRAL, "width": 2}, "text": rel.get("count"),
         "hovertemplate": _("forecast %{x:.3f}, observed %{y:.3f}, %{text} rows") + "<extra></extra>"},
        {"type": "scatter", "mode": "lines", "x": [0, 1], "y": [0, 1], "name": _("Perfect calibration"),
         "line": {"color": MUTED, "dash": "dash"}},
    ], _layout("", _("Mean forecast"), _("Observed rate"), **_legend()))]


def _band_colour(value, bands: dict) -> str:
    if value is None:
        return MUTED
    return FAIL if value >= bands.get("fail", 0.2) else WARN if value >= bands.get("warn", 0.1) else PASS


def _stability(test: dict, results: dict) -> list[dict]:
    features, bands, out = test.get("features") or {}, test.get("bands") or {}, []
    if features:
        names = sorted(features, key=lambda n: -(features[n].get("value") or 0))
        values = [features[n].get("value") for n in names]
        out.append(_fig("psi-features", _("PSI per feature (bands 0.1 / 0.2)"), [
            {"type": "bar", "orientation": "h", "x": values, "y": names,
             "marker": {"color": [_band_colour(v, bands) for v in values]}},
        ], _layout("", "PSI", "", yaxis={"autorange": "reversed", "automargin": True},
                   shapes=[{"type": "line", "x0": b, "x1": b, "yref": "paper", "y0": 0, "y1": 1,
                            "line": {"color": c, "dash": "dot"}}
                           for b, c in ((bands.get("warn", 0.1), WARN), (bands.get("fail", 0.2), FAIL))],
                   height=max(260, 24 * len(names) + 80))))
    if score := (test.get("charts") or {}).get("score"):
        out.append(_fig("psi-score", _("Score distribution: reference vs validation"), [
            {"type": "bar", "x": score.get("bins"), "y": score.get("reference"), "name": _("Reference"),
             "marker": {"color": MUTED}},
            {"type": "bar", "x": score.get("bins"), "y": score.get("current"), "name": _("Validation"),
             "marker": {"color": NEUTRAL}},
        ], _layout("", _("Score bin"), _("Share of rows"), barmode="group", xaxis=SLANTED, **_legend())))
    return out


def _drift(test: dict, results: dict) -> list[dict]:
    scores = (test.get("charts") or {}).get("drift_scores")
    if not scores:
        return []
    return [_fig("drift-scores", _("Drift test per column (Evidently)"), [
        {"type": "bar", "x": scores.get("columns"), "y": scores.get("scores"),
         "marker": {"color": [FAIL if d else PASS for d in scores.get("drifted") or []]}},
    ], _layout("", "", _("Drift score"), xaxis=SLANTED))]


def _generalisation(test: dict, results: dict) -> list[dict]:
    gap = (test.get("charts") or {}).get("gap")
    if not gap:
        return []
    return [_fig("generalisation", _("Train vs holdout"), [
        {"type": "bar", "x": gap.get("labels"), "y": gap.get("values"), "marker": {"color": [MUTED, NEUTRAL]},
         "text": [f"{v:.3f}" if isinstance(v, float) else "" for v in gap.get("values") or []],
         "textposition": "outside", "cliponaxis": False},
    ], _layout("", "", _metric_name(test.get("metric_name") or results.get("headline")), margin={"t": 30}))]


def _explainability(test: dict, results: dict) -> list[dict]:
    charts, out = test.get("charts") or {}, []
    if imp := charts.get("importance"):
        names = imp.get("features") or []
        out.append(_fig("shap-importance", _("Global importance: mean |SHAP| per feature"), [
            {"type": "bar", "orientation": "h", "x": imp.get("mean_abs_shap"), "y": names,
             "marker": {"color": NEUTRAL}},
        ], _layout("", _("mean |SHAP|"), "", yaxis={"autorange": "reversed", "automargin": True},
                   height=max(260, 24 * len(names) + 80))))
    for index, (name, effect) in enumerate((charts.get("effects") or {}).items()):
        out.append(_fig(f"shap-effect-{index}", _("Effect of %(feature)s") % {"feature": name}, [
            {"type": "scatter", "mode": "markers", "x": effect.get("x"), "y": effect.get("shap"),
             "marker": {"color": NEUTRAL, "size": 5, "opacity": 0.6}},
        ], _layout("", name, _("SHAP value"), height=280)))
    return out


def _robustness(test: dict, results: dict) -> list[dict]:
    drop = (test.get("charts") or {}).get("feature_drop")
    if not drop:
        return []
    values = drop.get("drop") or []
    return [_fig("robustness", _("Metric drop under noise in one feature"), [
        {"type": "bar", "x": drop.get("features"), "y": values,
         "marker": {"color": [FAIL if (v or 0) > 0.02 else NEUTRAL for v in values]}},
    ], _layout("", "", _("Drop of %(metric)s") % {"metric": _metric_name(results.get("headline"))}, xaxis=SLANTED))]


def _segments(test: dict, results: dict) -> list[dict]:
    seg = (test.get("charts") or {}).get("segments")
    if not seg:
        return []
    overall = seg.get("overall")
    shapes = [] if overall is None else [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": overall,
                                          "y1": overall, "line": {"color": MUTED, "dash": "dash"}}]
    return [_fig("segments", _("%(metric)s by %(column)s (dashed: overall)")
                 % {"metric": _metric_name(test.get("metric_name") or results.get("headline")),
                    "column": test.get("column") or ""}, [
        {"type": "bar", "x": [str(v) for v in seg.get("labels") or []], "y": seg.get("metric"),
         "text": seg.get("rows"), "hovertemplate": "%{x}: %{y:.3f} (%{text} rows)<extra></extra>",
         "marker": {"color": NEUTRAL}},
    ], _layout("", test.get("column") or "", _metric_name(test.get("metric_name")), shapes=shapes,
               xaxis={"type": "category"}))]


def _champion(test: dict, results: dict) -> list[dict]:
    side = (test.get("charts") or {}).get("side_by_side")
    if not side:
        return []
    names = [m for m in side.get("metrics") or [] if m.startswith("performance.")]
    index = [side["metrics"].index(m) for m in names]
    labels = [m.split(".", 1)[1] for m in names]
    return [_fig("champion", _("Challenger vs champion"), [
        {"type": "bar", "x": labels, "y": [side["champion"][i] for i in index], "name": _("Champion"),
         "marker": {"color": MUTED}},
        {"type": "bar", "x": labels, "y": [side["challenger"][i] for i in index], "name": _("This version"),
         "marker": {"color": NEUTRAL}},
    ], _layout("", "", "", barmode="group", **_legend()))]


def _quality(test: dict, results: dict) -> list[dict]:
    rates = (test.get("charts") or {}).get("rates") or {}
    validation = rates.get("validation") or {}
    names = validation.get("features") or []
    if not names:
        return []
    series = [("missing", _("Missing"), WARN), ("out_of_range", _("Out of range"), FAIL),
              ("unseen", _("Unseen category"), NEUTRAL)]
    data = [{"type": "bar", "x": names, "y": validation.get(key), "name": label, "marker": {"color": colour}}
            for key, label, colour in series if validation.get(key) is not None]
    if not data or not any(any(v for v in (trace["y"] or []) if v) for trace in data):
        return []  # all zero: the table says it better than an empty chart
    return [_fig("quality", _("Data quality issues per feature (validation data)"), data,
                 _layout("", "", _("Share of rows"), barmode="group", **_legend()))]


BUILDERS: dict[str, Callable[[dict, dict], list[dict]]] = {
    "performance": _performance, "quality": _quality, "calibration": _calibration, "stability": _stability,
    "drift": _drift, "generalisation": _generalisation, "explainability": _explainability,
    "robustness": _robustness, "segments": _segments, "champion": _champion,
}


def run_figures(results: dict) -> dict[str, list[dict]]:
    """Test name → its figures ({"id", "title", "figure"}) for every test of ``results`` that has charts."""
    out = {}
    for name, test in (results.get("tests") or {}).items():
        builder = BUILDERS.get(name)
        if builder is None or not isinstance(test, dict) or not test.get("charts"):
            continue
        figures = builder(test, results)
        if figures:
            out[name] = figures
    return out
