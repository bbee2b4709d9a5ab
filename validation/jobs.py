"""Issuing a validation report as a background job (``governance.jobs``): the report form checks what it can at
once (who may issue, the conclusion, the exceptions) and hands the rendering (the HTML document, the charts, the
PDF: seconds to tens of seconds) to a worker, whose page shows how far it is and then links the report and the
version it belongs to."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core import errors
from governance.jobs.kinds import JobKind, Outcome, register
from registry.permissions import restrict_passports
from validation import guards, services
from validation.models import ValidationReport, ValidationRun

ISSUE_REPORT = "validation.report_issue"


def _run(actor, params: dict) -> ValidationRun:
    run = restrict_passports(ValidationRun.objects.all(), actor, prefix="version__passport__").select_related(
        "version__passport").filter(pk=params.get("run")).first()
    if run is None:
        raise errors.PermissionDenied(_("Validation run #%(n)s is not visible to you (any more).")
                                      % {"n": params.get("run")}, code="not_visible")
    return run


def _authorize(actor, params: dict) -> None:
    guards.issue_report(actor, _run(actor, params).version).enforce()


def _issue(actor, params: dict, progress) -> Outcome:
    run = _run(actor, params)
    # A worker that died after the report was recorded leaves the job to be run again: the report it issued is
    # the one this job asked for (same run, same validator, same conclusion, issued after the request).
    requested = dt.datetime.fromisoformat(params["requested_at"]) - dt.timedelta(seconds=1)
    report = ValidationReport.objects.filter(run=run, issued_by=actor, conclusion=params["conclusion"].strip(),
                                             issued_at__gte=requested).first()
    if report is None:
        report = services.report_issue_generated(actor=actor, run=run, conclusion=params["conclusion"],
                                                 exceptions=params.get("exceptions") or {},
                                                 rating=params.get("rating", ""),
                                                 conditions=params.get("conditions") or [], progress=progress,
                                                 language=params.get("report_language"))
    return Outcome(url=reverse("validation:report_html", kwargs={"pk": report.pk}),
                   label=_("Report issued. Sign-offs now bind to its SHA-256 %(digest)s.")
                   % {"digest": report.sha256[:12]}, extra={"report": report.pk})


def _title(params: dict) -> str:
    return _("Validation report of %(passport)s v%(number)s (run #%(run)s)") % {
        "passport": params.get("passport"), "number": params.get("number"), "run": params.get("run")}


register(JobKind(name=ISSUE_REPORT, run=_issue, authorize=_authorize, title=_title))


def params_for(run: ValidationRun, *, conclusion: str, exceptions: dict, rating: str, conditions: list,
               language: str | None = None) -> dict:
    version = run.version
    return {"run": run.pk, "passport": version.passport.key, "number": version.number, "conclusion": conclusion,
            "exceptions": exceptions, "rating": rating, "conditions": conditions,
            "report_language": services.report_language(language), "requested_at": timezone.now().isoformat()}


def back_url(run: ValidationRun) -> str:
    version = run.version
    return reverse("registry:version_detail", kwargs={"key": version.passport.key, "number": version.number})
