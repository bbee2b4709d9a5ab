"""How the run page shows a run's results: the summary row of every test, its metrics against their thresholds,
and the detail tables of each test (PSI per feature, drift per column, segments, champion side by side...).

Pure functions over the results JSON the runner wrote (``validation.runner.execute``); they read, never write, and
tolerate keys a test did not produce (a skipped test has no charts). Charts come from ``validation.figures`` when
that module exists; the tables here carry the same numbers, so the page works without it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from validation.checks import note_text
from validation.choices import CheckStatus, RunStep
from validation.figures import run_figures

logger = logging.getLogger(__name__)

METRIC_LABELS = {
    "auc": "AUC", "ks": "KS", "accuracy": _("Accuracy"), "precision": _("Precision"), "recall": _("Recall"),
    "f1": "F1", "log_loss": _("Log loss"), "brier": _("Brier score"), "mae": "MAE", "rmse": "RMSE",
    "mape": "MAPE", "r2": "R²", "ece": _("Expected calibration error"), "mean_forecast": _("Mean forecast"),
    "observed_rate": _("Observed rate"), "max_feature_psi": _("Largest feature PSI"), "score_psi": _("Score PSI"),
    "drifted_share": _("Share of drifted columns"), "drifted_columns": _("Drifted columns"),
    "failing_features": _("Failing features"), "missing_rate": _("Missing values (worst feature)"),
    "out_of_range_rate": _("Out-of-range values (worst feature)"), "unseen_rate": _("Unseen categories (worst "
                                                                                    "feature)"),
    "gap": _("Generalisation gap"), "train": _("Train (reference)"), "holdout": _("Holdout (validation)"),
    "membership_attack_auc": _("Membership-inference attack AUC"), "top_feature_share": _("Top feature's share"),
    "noise_drop": _("Drop under Gaussian noise"), "missing_drop": _("Drop with missing values"),
    "max_feature_drop": _("Largest single-feature drop"), "baseline": _("Baseline"),
    "worst_gap": _("Worst segment gap"), "overall": _("Overall"), "headline_delta": _("Headline difference"),
    "challenger": _("Challenger (this version)"), "champion": _("Champion"),
}

ALGORITHMS = {
    "tree_interventional": _("exact TreeSHAP read from the ONNX trees, interventional"),
    "tree_path_dependent": _("exact TreeSHAP read from the ONNX trees, path-dependent (covers from the reference "
                             "data)"),
}


STEP_LABELS = {"load": _("Load"), "predict": _("Score")}


def check_label(name: str) -> str:
    if name in STEP_LABELS:
        return str(STEP_LABELS[name])
    try:
        return str(RunStep(name).label)
    except ValueError:
        return name.replace("_", " ").capitalize()


def metric_label(name: str) -> str:
    return str(METRIC_LABELS.get(name, name.replace("_", " ")))


def fmt(value, digits: int = 4) -> str:
    """A number as a reviewer reads it: 4 significant digits, integers as integers, none as a dash."""
    if value is None or isinstance(value, str):
        return "—" if value in (None, "") else value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    if abs(value) >= 10 ** digits:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}" if abs(value) >= 1e-4 else f"{value:.2e}"


def bound(threshold, op) -> str:
    return "—" if threshold is None else f"{op or ''} {fmt(threshold)}".strip()


@dataclass
class Cell:
    text: str
    status: str | None = None  # passed / failed / info / skipped / error: drawn as a badge
    numeric: bool = False


@dataclass
class Table:
    key: str
    title: str
    columns: list
    rows: list = field(default_factory=list)

    @property
    def header(self) -> list[tuple]:
        """(label, numeric) per column: numeric columns are right-aligned like their cells."""
        first = self.rows[0] if self.rows else []
        return [(label, index < len(first) and first[index].numeric) for index, label in enumerate(self.columns)]


@dataclass
class Section:
    name: str
    label: str
    result: dict
    metrics: list
    tables: list
    figures: list
    facts: list  # (label, value) lines: how the test ran
    note: str = ""  # the test's note in the reader's language where it has one, else as the test wrote it


def _num(value) -> Cell:
    return Cell(fmt(value), numeric=True)


def _passed(passed) -> Cell:
    status = {True: CheckStatus.PASSED, False: CheckStatus.FAILED}.get(passed)
    return Cell(str(CheckStatus(status).label) if status else "—", status=status)


def metric_rows(result: dict) -> list[list[Cell]]:
    rows = []
    for name, entry in (result.get("metrics") or {}).items():
        rows.append([Cell(metric_label(name)), _num(entry.get("value")),
                     Cell(bound(entry.get("threshold"), entry.get("op")), numeric=True), _passed(entry.get("passed"))])
    return rows


def summary_rows(results: dict) -> list[dict]:
    """One row per test in run order: status, headline metric, its value and threshold."""
    tests = results.get("tests") or {}
    rows = []
    for name in results.get("order") or list(tests):
        result = tests.get(name)
        if result is None:
            continue
        headline = result.get("headline")
        rows.append({"name": name, "label": check_label(name), "status": result.get("status"),
                     "status_label": _status_label(result.get("status")),
                     "headline": metric_label(headline) if headline else "—", "value": fmt(result.get("value")),
                     "threshold": bound(result.get("threshold"), result.get("op")), "note": result.get("note") or ""})
    return rows


def _status_label(status) -> str:
    try:
        return str(CheckStatus(status).label)
    except ValueError:
        return str(status or "—")


# --------------------------------------------------------------------------- detail tables per test


def _confusion(result: dict) -> list[Table]:
    cm = (result.get("charts") or {}).get("confusion_matrix")
    if not cm or not cm.get("matrix"):
        return []
    labels = [str(label) for label in cm.get("labels", [])]
    columns = [_("Actual \\ predicted"), *labels]
    rows = [[Cell(labels[i] if i < len(labels) else str(i)), *(_num(v) for v in row)]
            for i, row in enumerate(cm["matrix"])]
    title = _("Confusion matrix at threshold %(t)s") % {"t": fmt(cm.get("threshold"))}
    return [Table("confusion", title, columns, rows)]


def _reliability(result: dict) -> list[Table]:
    rel = (result.get("charts") or {}).get("reliability")
    if not rel:
        return []
    edges = rel.get("edges", [])
    rows = [[Cell(f"{fmt(edges[i], 2)}–{fmt(edges[i + 1], 2)}" if i + 1 < len(edges) else str(i)), _num(count),
             _num(forecast), _num(observed)]
            for i, (count, forecast, observed) in enumerate(zip(rel.get("count", []), rel.get("mean_forecast", []),
                                                                rel.get("observed_rate", []), strict=False))]
    return [Table("reliability", _("Reliability by score bin"),
                  [_("Score bin"), _("Rows"), _("Mean forecast"), _("Observed rate")], rows)]


BANDS = {"stable": _("stable"), "moderate": _("moderate shift"), "significant": _("significant shift")}


def _band(band) -> str:
    return str(BANDS.get(band, band or "—"))


def _stability(result: dict) -> list[Table]:
    rows = [[Cell(name), _num(entry.get("value")), Cell(_band(entry.get("band"))),
             Cell(bound(entry.get("threshold"), entry.get("op")), numeric=True), _passed(entry.get("passed"))]
            for name, entry in (result.get("features") or {}).items()]
    score = result.get("score")
    if score:
        rows.append([Cell(str(_("model score"))), _num(score.get("value")), Cell(_band(score.get("band"))),
                     Cell(bound(score.get("threshold"), score.get("op")), numeric=True), _passed(score.get("passed"))])
    return [Table("psi", _("PSI per feature (0.1 / 0.2 bands)"),
                  [_("Feature"), "PSI", _("Band"), _("Threshold"), _("Result")], rows)] if rows else []


def _drift(result: dict) -> list[Table]:
    rows = [[Cell(name), Cell(str(entry.get("method") or "—")), _num(entry.get("score")), _num(entry.get("threshold")),
             Cell(str(_("drifted")) if entry.get("drifted") else str(_("no drift")),
                  status=CheckStatus.FAILED if entry.get("drifted") else CheckStatus.PASSED)]
            for name, entry in (result.get("columns") or {}).items()]
    return [Table("drift", _("Data drift per column (Evidently)"),
                  [_("Column"), _("Method"), _("Score"), _("Threshold"), _("Drift")], rows)] if rows else []


def _quality(result: dict) -> list[Table]:
    tables = []
    for dataset, data in (result.get("datasets") or {}).items():
        rows = [[Cell(name), _num(entry.get("missing")), _num(entry.get("out_of_range")), _num(entry.get("unseen")),
                 _num(entry.get("invalid_type")), _passed(entry.get("passed"))]
                for name, entry in (data.get("features") or {}).items()]
        if rows:
            title = QUALITY_TITLES.get(dataset, QUALITY_TITLES["validation"]) % {"rows": fmt(data.get("rows"))}
            tables.append(Table(f"quality-{dataset}", title, [_("Feature"), _("Missing"), _("Out of range"),
                                                               _("Unseen categories"), _("Wrong type"), _("Result")],
                                rows))
    return tables


QUALITY_TITLES = {"reference": _("Data quality of the reference dataset (rows: %(rows)s)"),
                  "validation": _("Data quality of the validation dataset (rows: %(rows)s)")}
ROWS_OF = {"reference": _("%(rows)s rows of the reference dataset"),
           "validation": _("%(rows)s rows of the validation dataset")}


def _rows_of(dataset: str, rows) -> str:
    return str(ROWS_OF[dataset] % {"rows": fmt(rows)}) if dataset in ROWS_OF else f"{fmt(rows)} · {dataset}"


def _explainability(result: dict) -> list[Table]:
    importance = result.get("importance") or []
    total = sum(entry.get("mean_abs_shap") or 0 for entry in importance) or 1.0
    rows = [[Cell(entry.get("feature", "")), _num(entry.get("mean_abs_shap")),
             Cell(f"{100 * (entry.get('mean_abs_shap') or 0) / total:.1f} %", numeric=True)]
            for entry in importance if entry.get("mean_abs_shap")]
    idle = [str(entry.get("feature", "")) for entry in importance if not entry.get("mean_abs_shap")]
    if idle:  # one row for the features the model never used on these rows, not a row of zeros each
        rows.append([Cell(_("No effect (%(n)s): %(names)s") % {"n": len(idle), "names": ", ".join(idle)}),
                     _num(0), Cell("0.0 %", numeric=True)])
    tables = [Table("importance", _("Global importance: mean |SHAP| per feature"),
                    [_("Feature"), _("Mean |SHAP|"), _("Share")], rows)] if rows else []
    sample = result.get("sample") or {}
    if sample.get("shap"):
        tables.append(_shap_sample(sample, [entry.get("feature") for entry in importance]))
    return tables


SAMPLE_FEATURES = 8  # columns of the sampled rows' table; the other features' values are summed in one more


def _shap_sample(sample: dict, ranked: list) -> Table:
    """The first ten sampled rows' SHAP values, for the most important features (global mean |SHAP|) and, in one
    column, the sum of the others': thirty narrow columns of digits read as noise on a page."""
    names = list(sample.get("features", []))
    shown = sample["shap"][:10]
    position = {name: index for index, name in enumerate(names)}
    order = [position[name] for name in ranked if name in position]
    order += sorted(set(range(len(names))) - set(order))  # features the importance list lacks, in their order
    kept, rest = order[:SAMPLE_FEATURES], order[SAMPLE_FEATURES:]
    columns = [_("Row"), *(names[index] for index in kept)]
    if rest:
        columns.append(_("Other %(n)s features (sum)") % {"n": len(rest)})
    rows = []
    for row, values in zip(sample.get("rows", []), shown, strict=False):
        cells = [Cell(str(row)), *(_num(values[index]) for index in kept)]
        if rest:
            cells.append(_num(sum(values[index] or 0 for index in rest)))
        rows.append(cells)
    title = _("SHAP values of sampled rows (first %(n)s of %(total)s kept)") % {"n": len(shown),
                                                                               "total": len(sample["shap"])}
    return Table("shap-sample", title, columns, rows)


def _explainability_facts(result: dict) -> list[tuple]:
    data = result.get("data") or {}
    algorithm = result.get("algorithm") or ""
    named = ALGORITHMS.get(algorithm)
    facts = [(_("Algorithm"), f"{named} ({algorithm})" if named else algorithm or "—"),
             (_("Output"), OUTPUT_SPACES.get(result.get("output_space") or "", result.get("output_space") or "—")),
             (_("Exact"), {True: _("yes"), False: _("no")}.get(result.get("exact"), "—"))]
    if data:
        facts.append((_("Explained rows"), _rows_of(str(data.get("explained", "")), data.get("explained_rows"))))
        facts.append((_("Background"), _rows_of(str(data.get("background", "")),
                                                 result.get("background_rows") or data.get("background_rows"))))
    if result.get("expected_value") is not None:
        facts.append((_("Expected value"), fmt(result["expected_value"])))
    return facts


def _robustness(result: dict) -> list[Table]:
    rows = [[Cell(name), _num(entry.get("metric")), _num(entry.get("drop")), _num(entry.get("mean_abs_score_change")),
             _num(entry.get("unscorable_rows"))] for name, entry in (result.get("features") or {}).items()]
    return [Table("robustness", _("Single-feature perturbations"),
                  [_("Feature"), _("Metric"), _("Drop"), _("Mean |score change|"), _("Unscorable rows")], rows)
            ] if rows else []


def _segments(result: dict) -> list[Table]:
    rows = [[Cell(str(name)), _num(entry.get("rows")), _num(entry.get("share")), _num(entry.get("metric")),
             _num(entry.get("gap")), _num(entry.get("target_mean")), _passed(entry.get("passed")),
             Cell(gettext(entry["note"]) if entry.get("note") else "")]
            for name, entry in (result.get("segments") or {}).items()]
    title = _("Performance by %(column)s") % {"column": result.get("column") or _("segment")}
    return [Table("segments", title, [_("Segment"), _("Rows"), _("Share"), _("Metric"), _("Gap"), _("Target mean"),
                                      _("Result"), _("Note")], rows)] if rows else []


def _champion(result: dict) -> list[Table]:
    rows, previous = [], None
    for entry in result.get("table") or []:
        test = entry.get("test", "")
        rows.append([Cell(check_label(test) if test != previous else ""), Cell(metric_label(entry.get("metric", ""))),
                     _num(entry.get("challenger")), _num(entry.get("champion")), _num(entry.get("delta")),
                     _passed(entry.get("challenger_passed")) if test != previous else Cell(""),
                     _passed(entry.get("champion_passed")) if test != previous else Cell("")])
        previous = test
    return [Table("champion", _("Champion vs challenger, side by side"),
                  [_("Test"), _("Metric"), _("Challenger (this version)"), _("Champion"), _("Difference"),
                   _("Test result: challenger"), _("Test result: champion")], rows)] if rows else []


def _champion_facts(result: dict) -> list[tuple]:
    champion = result.get("champion") or {}
    return [(_("Champion"), champion.get("label", "—")), (_("Champion artifact"), champion.get("sha256", "—"))
            ] if champion else []


TABLES = {"performance": _confusion, "calibration": _reliability, "stability": _stability, "drift": _drift,
          "quality": _quality, "explainability": _explainability, "robustness": _robustness, "segments": _segments,
          "champion": _champion}
FACTS = {"explainability": _explainability_facts, "champion": _champion_facts}

OUTPUT_SPACES = {
    "raw margin (log-odds)": _("raw margin (log-odds)"),
    "probability": _("probability"),
    "raw (regression output)": _("the regression output"),
    "probability (the trees vote class probabilities)": _("probability (the trees vote class probabilities)"),
    "model output": _("the model's output"),
}


def _explainability_note(result: dict) -> str:
    """How the SHAP values were computed, in the reader's language (the explainer's own note is English)."""
    algorithm = result.get("algorithm") or ""
    rows = (result.get("data") or {}).get("background_rows") or result.get("background_rows")
    output = str(result.get("output_space") or "")
    values = {"n": fmt(rows) if rows is not None else "—", "output": OUTPUT_SPACES.get(output, output)}
    if algorithm == "tree_interventional":
        text = _("Exact interventional TreeSHAP on the trees read from the ONNX graph, against %(n)s reference rows; "
                 "values on the scale of %(output)s.")
    elif algorithm == "tree_path_dependent":
        text = _("Exact path-dependent TreeSHAP on the trees read from the ONNX graph, with node covers counted on "
                 "%(n)s reference rows; values on the scale of %(output)s.")
    elif algorithm.startswith("permutation"):
        text = _("Model-agnostic permutation SHAP (sampled estimates) against %(n)s reference rows; values on the "
                 "scale of %(output)s.")
    else:
        return str(result.get("note") or "")
    return text % values


NOTES = {"explainability": _explainability_note}


def _note(result: dict) -> str:
    return note_text(result)


def figures_of(results: dict) -> tuple[dict[str, list[dict]], bool]:
    """Charts per test from ``validation.figures.run_figures``; ({}, False) when it cannot draw these results
    (the page then shows the tables alone)."""
    try:
        return run_figures(results) or {}, True
    except Exception:  # a chart must not take the results page down with it; the tables show the same numbers
        logger.exception("validation figures failed")
        return {}, False


def sections(results: dict) -> tuple[list[Section], bool]:
    """Every test's section in run order, and whether charts could be drawn."""
    tests = results.get("tests") or {}
    figures, charts = figures_of(results)
    out = []
    for name in results.get("order") or list(tests):
        result = tests.get(name)
        if result is None:
            continue
        out.append(Section(name=name, label=check_label(name), result=result, metrics=metric_rows(result),
                           tables=TABLES.get(name, lambda r: [])(result),
                           figures=[{**figure, "dom_id": f"fig-{name}-{index}"}
                                    for index, figure in enumerate(figures.get(name) or [])],
                           facts=FACTS.get(name, lambda r: [])(result),
                           note=NOTES.get(name, _note)(result)))
    return out, charts


def run_steps(run) -> list[dict]:
    """The run's steps in order (load, score, then its tests) with where the run is: done, current, todo, or
    failed / stopped where a failed or cancelled run ended."""
    names = ["load", "predict", *(run.thresholds or {}).get("tests", [])]
    ended = {"failed": "failed", "cancelled": "stopped"}.get(run.state)
    if run.state == "succeeded":
        here, mark = len(names), None
    elif run.step in names:
        here, mark = names.index(run.step), ended or "current"
    else:  # queued, or ended before any step began
        here, mark = 0, None
    steps = []
    for index, name in enumerate(names):
        status = "done" if index < here else (mark if index == here and mark else "todo")
        steps.append({"name": name, "label": check_label(name), "status": status})
    return steps
