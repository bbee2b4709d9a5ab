"""Validation report UI: the validator issues the frozen report of a succeeded run, and anyone who sees the
passport reads its HTML document and PDF exactly as issued.

Runs and reports come from ``validation.selectors`` (invisible = 404); issuing is ``services.report_issue_generated``
(who may issue, and when, is decided there).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import DomainError
from core.forms import apply_domain_error
from governance.jobs import services as job_services
from validation import guards, hooks, jobs, run_display, selectors, services
from validation.api.reports import CSP, file_response
from validation.forms import ReportIssueForm
from validation.gaps import run_gaps
from validation.models import ValidationReport


@login_required
@require_http_methods(["GET", "POST"])
def report_issue(request, pk: int):
    run = selectors.run_get(user=request.user, pk=pk)
    skipped = run_gaps(run)["skipped"]
    form = ReportIssueForm(request.POST or None, skipped=skipped)
    if request.method == "POST" and form.is_valid():
        try:
            # refused at once with the form's errors; the rendering itself runs in the background
            run, conclusion, _exceptions, (rating, conditions) = services.report_issue_check(
                actor=request.user, run=run, conclusion=form.cleaned_data["conclusion"],
                exceptions=form.exceptions(), rating=form.cleaned_data["rating"], conditions=form.condition_list())
            job = job_services.job_start(
                actor=request.user, kind=jobs.ISSUE_REPORT, back_url=jobs.back_url(run),
                params=jobs.params_for(run, conclusion=conclusion, exceptions=form.exceptions(), rating=rating,
                                       conditions=conditions, language=form.cleaned_data.get("language")))
        except DomainError as exc:
            field = f"exception_{exc.details['skipped'][0]}" if exc.code == "required_test_skipped" else None
            apply_domain_error(form, exc, default_field=field or "conclusion")
        else:
            messages.info(request, _("The report is being issued; this page shows the progress."))
            return redirect("governance:job_detail", pk=job.pk)
    version = run.version
    context = {
        "run": run, "version": version, "passport": version.passport, "form": form,
        "summary": run_display.summary_rows(run.results or {}),
        "may_issue": bool(guards.issue_report(request.user, version)),
        "findings": list(hooks.version_findings(version)),
    }
    return render(request, "validation/report_issue.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def report_html(request, pk: int):
    report = selectors.report_get(user=request.user, pk=pk)
    if report.source != ValidationReport.Source.GENERATED:
        raise Http404("This report was uploaded; download it from the version's reports.")
    response = file_response(report.file, "text/html; charset=utf-8", report.filename)
    response["Content-Security-Policy"] = CSP
    return response


@login_required
@require_GET
def report_pdf(request, pk: int):
    report = selectors.report_get(user=request.user, pk=pk)
    if not report.pdf_file:
        raise Http404("This report has no PDF.")
    return file_response(report.pdf_file, "application/pdf", report.filename.rsplit(".", 1)[0] + ".pdf")
