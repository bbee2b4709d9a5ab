"""Validation-run UI: the "Validation runs" card of the version page, the start form, the run page with its live
progress (an htmx fragment polled while the run is queued or running) and results, cancelling, and the runs list.

Runs come from ``validation.selectors`` and versions from ``registry.selectors`` (an invisible passport is a 404,
like a missing one). Who may start or cancel is what the services check: a validator assigned to the version
(``user.has_perm(validation.permissions.ASSIGNED, version)``), on a version in validation for starting; the
views only ask the same question to decide which buttons to show.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.csp import inline_styles
from core.errors import DomainError
from core.errors import PermissionDenied as DomainPermissionDenied
from core.forms import apply_domain_error
from core.views import paginate
from registry import selectors as registry_selectors
from validation import guards, hooks, run_display, selectors, services
from validation.choices import RunState
from validation.forms import RunFilterForm, RunStartForm

CARD_RUNS = 10
LIST_PAGE_SIZE = 25
POLL_SECONDS = 1


def _version(request, key: str, number: int):
    return registry_selectors.version_get(user=request.user, passport_key=key, number=number)


def may_start(user, version) -> bool:
    """The guard ``services.run_start`` enforces: an assigned validator, on a version in validation."""
    return bool(guards.start_run(user, version))


def may_cancel(user, run) -> bool:
    return run.is_active and bool(guards.cancel_run(user, run))


def start_form(request, version, data=None) -> RunStartForm:
    passport = version.passport
    return RunStartForm(data, version=version, prefix="run",
                        datasets=registry_selectors.dataset_list(user=request.user, passport=passport),
                        versions=registry_selectors.version_list(user=request.user, passport=passport))


def version_runs_card(request, version, *, form=None) -> dict:
    """Context of the version page's "Validation runs" card: the newest runs and, for an assigned validator of a
    version in validation, the start form."""
    form = (form or start_form(request, version)) if may_start(request.user, version) else None
    return {**_runs_table(request, version), "form": form,
            "has_datasets": form is not None and form.fields["reference"].queryset.exists()}


def _runs_table(request, version) -> dict:
    runs = list(selectors.run_list(user=request.user, version=version)[:CARD_RUNS])
    return {"version": version, "runs": runs, "any_active": any(run.is_active for run in runs)}


@login_required
@require_GET
def version_runs(request, key: str, number: int):
    """The runs table of the version page's card, polled while a run is queued or running."""
    version = _version(request, key, number)
    return render(request, "validation/_run_table.html", {"card": _runs_table(request, version)})


@login_required
@require_http_methods(["GET", "POST"])
def run_start(request, key: str, number: int):
    """Start a run (POST from the version page's card). A refusal shows this page with the form as sent and the
    service's reason; nothing is stored."""
    version = _version(request, key, number)
    form = start_form(request, version, request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                run = services.run_start(actor=request.user, version=version, reference=data["reference"],
                                         validation=data["validation"], target=data["target"],
                                         segment_column=data["segment_column"], champion=data["champion"])
            except DomainError as exc:
                apply_domain_error(form, exc, default_field=None)
                status = exc.status_code
            else:
                messages.success(request, _("Validation run #%(id)s queued.") % {"id": run.pk})
                return redirect("validation:run_detail", pk=run.pk)
        else:
            status = 400
    context = {"passport": version.passport, "version": version, "form": form,
               "can_start": may_start(request.user, version)}
    return render(request, "validation/run_start.html", context, status=status)


def _progress_context(request, run) -> dict:
    return {"run": run, "poll": run.is_active, "poll_seconds": POLL_SECONDS, "steps": run_display.run_steps(run),
            "can_cancel": may_cancel(request.user, run)}


@inline_styles  # Plotly injects <style> elements
@login_required
@require_GET
def run_detail(request, pk: int):
    run = selectors.run_get(user=request.user, pk=pk)
    sections, charts = run_display.sections(run.results or {})
    may_issue = run.state == RunState.SUCCEEDED and bool(guards.issue_report(request.user, run.version))
    summary = run_display.summary_rows(run.results or {})
    raised = hooks.test_findings(run)
    for row in summary:
        row["findings"] = raised.get(row["name"], [])
    context = {
        **_progress_context(request, run),
        "passport": run.version.passport, "version": run.version,
        "summary": summary, "sections": sections, "charts": charts,
        "report_url": report_issue_url(run) if may_issue else None,
        "raise_url": hooks.finding_raise_url(request.user, run) if run.state == RunState.SUCCEEDED else None,
        "environment": run.environment or {},
        "packages": sorted((run.environment or {}).get("packages", {}).items()),
        "planned": [run_display.check_label(name) for name in (run.thresholds or {}).get("tests", [])],
    }
    return render(request, "validation/run_detail.html", context)


@login_required
@require_GET
def run_progress(request, pk: int):
    """The run page's progress fragment. When the run has ended while the page polled, htmx reloads the page so
    that the results appear."""
    run = selectors.run_get(user=request.user, pk=pk)
    context = {**_progress_context(request, run), "oob": True}  # the page header's state badge too
    response = render(request, "validation/_run_progress.html", context)
    if request.htmx and not run.is_active:
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def run_cancel(request, pk: int):
    run = selectors.run_get(user=request.user, pk=pk)
    try:
        services.run_cancel(actor=request.user, run=run)
    except DomainPermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc  # a refused person gets 403, not a message
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Validation run #%(id)s cancelled.") % {"id": run.pk})
    return redirect("validation:run_detail", pk=run.pk)


@login_required
@require_GET
def run_list(request):
    form = RunFilterForm(request.GET or None)
    filters = form.filters()
    runs = selectors.run_list(user=request.user, filters=filters)
    context = {"form": form, "page": paginate(request, runs, LIST_PAGE_SIZE), "filtered": bool(filters),
               "poll_seconds": 2}
    return render(request, "validation/run_list.html", context)


def report_issue_url(run) -> str | None:
    """Where a validator issues the report of this run, once the report pages exist (they come separately)."""
    try:
        return reverse("validation:report_issue", args=[run.pk])
    except NoReverseMatch:
        return None


@login_required
@require_GET
def explain(request, key: str, number: int):
    """Explain decisions of a version: the form, and when it is filled the rows' SHAP values and reason codes
    (GET, so an explanation is a link to share). Bad input is shown on the form with a 400 and nothing else."""
    from validation.explain.decisions import MAX_ROWS, explain_decisions, parse_row_numbers
    from validation.forms import ExplainForm

    version = _version(request, key, number)
    datasets = registry_selectors.dataset_list(user=request.user, passport=version.passport)
    asked = "dataset" in request.GET
    form = ExplainForm(request.GET if asked else None, datasets=datasets)
    result, status = None, 200
    if asked and form.is_valid():
        data = form.cleaned_data
        try:
            result = explain_decisions(version=version, dataset=data["dataset"],
                                       row_numbers=parse_row_numbers(data["rows"]),
                                       algorithm=data["algorithm"] or "interventional",
                                       output=data["output"] or "probability", top=data["top"] or 5)
        except DomainError as exc:
            apply_domain_error(form, exc, default_field="rows" if exc.field == "row_numbers" else None)
    if asked and result is None:
        status = 400
    rows = []
    if result:
        for row in result["rows"]:
            peak = max((abs(c["shap"]) for c in row["reason_codes"]), default=0) or 1
            rows.append({**row, "bars": [{**c, "width": round(100 * abs(c["shap"]) / peak, 1)}
                                         for c in row["reason_codes"]]})
    return render(request, "validation/explain.html", {
        "version": version, "passport": version.passport, "form": form, "result": result, "rows": rows,
        "max_rows": MAX_ROWS, "has_datasets": datasets.exists(),
    }, status=status)
