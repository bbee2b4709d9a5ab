"""Validation reads, limited to what the user may see (runs and reports follow their passport's visibility)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from registry.permissions import restrict_passports
from validation.models import ValidationReport, ValidationRun


def report_in_force(version) -> ValidationReport | None:
    """The newest issued report of a version (the one sign-offs bind to), or None."""
    return ValidationReport.objects.filter(version=version).order_by("-issued_at", "-pk").first()


def run_list(*, user, version=None, filters: dict | None = None) -> QuerySet[ValidationRun]:
    """Validation runs of passports ``user`` may see, newest first; ``version`` and ``filters`` (``state``,
    ``outcome``, ``passport`` key) narrow them. Results are deferred: list pages show state, step and outcome."""
    filters = filters or {}
    qs = restrict_passports(ValidationRun.objects.all(), user, prefix="version__passport__")
    if version is not None:
        qs = qs.filter(version=version)
    if state := filters.get("state"):
        qs = qs.filter(state=state)
    if outcome := filters.get("outcome"):
        qs = qs.filter(outcome=outcome)
    if passport := filters.get("passport"):
        qs = qs.filter(version__passport__key=passport)
    return qs.select_related("version__passport", "reference", "validation", "champion", "started_by").defer(
        "results")


def run_get(*, user, pk: int) -> ValidationRun:
    """One run with its results if ``user`` may see its passport; Http404 otherwise (missing and forbidden alike)."""
    run = restrict_passports(ValidationRun.objects.all(), user, prefix="version__passport__").select_related(
        "version__passport", "reference", "validation", "champion", "started_by").filter(pk=pk).first()
    if run is None:
        raise Http404("No such validation run.")
    return run


def report_get(*, user, pk: int) -> ValidationReport:
    """One issued report if ``user`` may see its passport; Http404 otherwise (missing and forbidden alike)."""
    report = restrict_passports(ValidationReport.objects.all(), user, prefix="version__passport__").select_related(
        "version__passport", "issued_by", "run").filter(pk=pk).first()
    if report is None:
        raise Http404("No such validation report.")
    return report
