"""What a validation leaves open for the people who approve: tests the tier policy required that a run skipped,
and tests that failed. A skipped required test needs the validator's justified exception before a report can be
issued from the run; every failed or excepted test of the report in force needs a risk officer's explicit
acceptance before the version can be approved (``governance.workflow``)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from validation.checks import note_text
from validation.run_display import bound, check_label, fmt, metric_label

FAILED, EXCEPTED = "failed", "excepted"


def run_gaps(run) -> dict[str, list[dict]]:
    """``{"skipped": [...], "failed": [...]}`` for the tests ``run`` was required to run (its policy snapshot:
    ``thresholds["tests"]``), each ``{"test", "note"}``; a test that does not apply to the model (calibration of a
    regressor) is not a gap."""
    results = (run.results or {}).get("tests") or {}
    required = list((run.thresholds or {}).get("tests") or [])
    gaps: dict[str, list[dict]] = {"skipped": [], "failed": []}
    for test in required:
        result = results.get(test)
        if result is None:
            gaps["skipped"].append({"test": test, "label": check_label(test), "note": _("not run")})
        elif result.get("status") == "skipped" and result.get("applicable", True):
            gaps["skipped"].append({"test": test, "label": check_label(test), "note": note_text(result)})
        elif result.get("status") in ("failed", "error"):
            gaps["failed"].append({"test": test, "label": check_label(test),
                                   "note": note_text(result) or _headline(result)})
    return gaps


def _headline(result: dict) -> str:
    """Why a test without a note failed: its headline metric against its threshold ("Generalisation gap 0.1206,
    allowed <= 0.05")."""
    name = result.get("headline")
    if not name:
        return ""
    return _("%(metric)s %(value)s, allowed %(bound)s") % {
        "metric": metric_label(name), "value": fmt(result.get("value")),
        "bound": bound(result.get("threshold"), result.get("op"))}


UPLOADED = "uploaded_report"


def report_gaps(report) -> list[dict]:
    """The tests of ``report`` a risk officer must accept before approval: each ``{"test", "kind", "note"}`` with
    kind ``failed`` or ``excepted`` (skipped under the validator's exception, whose justification is the note).
    An uploaded report (an external validation: no run behind it) stands in for all of the tier's tests at once,
    so it is one excepted gap of its own, ``uploaded_report``: the platform ran none of them."""
    if report is None:
        return []
    if report.run_id is None:
        return [{"test": UPLOADED, "label": _("Uploaded report"), "kind": EXCEPTED,
                 "note": _("uploaded report '%(name)s': the platform ran none of the tier policy's tests")
                 % {"name": report.filename}}]
    if report.run.state != "succeeded":
        return []
    gaps = run_gaps(report.run)
    exceptions = report.exceptions or {}
    return ([{"test": g["test"], "label": g["label"], "kind": FAILED, "note": g["note"]} for g in gaps["failed"]]
            + [{"test": g["test"], "label": g["label"], "kind": EXCEPTED,
                "note": (exceptions.get(g["test"]) or {}).get("justification", "")} for g in gaps["skipped"]])
