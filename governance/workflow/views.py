"""Workflow UI: the POST views behind the version page's workflow panel, "My reviews" and the portfolio.

Each POST view fetches the version through ``registry.selectors`` (an invisible passport is a 404), validates its
form and calls exactly one service. A refusal (DomainError) re-renders the version page with an alert and the
form as it was sent; nothing has changed. Success redirects back to the version page with a message.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.csp import inline_styles
from core.errors import DomainError
from core.forms import apply_domain_error
from governance.workflow import panel as workflow_panel
from governance.workflow import selectors
from governance.workflow.choices import FindingSeverity, FindingStatus, SignoffRole
from governance.workflow.forms import (
    AssignValidatorForm,
    ChecklistAnswerForm,
    FindingRaiseForm,
    FindingStatusForm,
    ReasonForm,
    ReportIssueForm,
    SignoffForm,
    TestAcceptForm,
)
from governance.workflow.models import ChecklistItem, Finding
from governance.workflow.services import findings as finding_services
from governance.workflow.services import signoffs as signoff_services
from governance.workflow.services import transitions as workflow_services
from registry import selectors as registry_selectors
from registry.choices import REVIEW_STATES, RiskTier, VersionState
from registry.views import render_version_page
from validation import services as validation_services
from validation.choices import Rating
from validation.models import ValidationReport


def _version(request, key: str, number: int):
    return registry_selectors.version_get(user=request.user, passport_key=key, number=number)


def _back(version, anchor: str = "workflow"):
    url = reverse("registry:version_detail", args=[version.passport.key, version.number])
    return redirect(f"{url}#{anchor}")


def _refused(request, version, exc: DomainError | None, forms: dict):
    """The version page again, with the refusal as an alert and the forms as they were sent."""
    for form in forms.values():
        if exc is not None and form is not None and not isinstance(form, SignoffForm):
            apply_domain_error(form, exc)
    status = exc.status_code if exc is not None else 400
    return render_version_page(request, version, workflow_forms=forms, workflow_error=exc, status=status)


def _perform(request, version, *, key: str, form, call, success: str, anchor: str):
    """Validate ``form``, run ``call(cleaned_data)`` (one service), then redirect with ``success`` or show why not."""
    if form is not None and not form.is_valid():
        return _refused(request, version, None, {key: form})
    try:
        call(form.cleaned_data if form is not None else {})
    except DomainError as exc:
        return _refused(request, version, exc, {key: form} if form is not None else {})
    messages.success(request, success)
    return _back(version, anchor)


@login_required
@require_POST
def version_submit(request, key: str, number: int):
    version = _version(request, key, number)
    return _perform(request, version, key="submit", form=None,
                    call=lambda data: workflow_services.version_submit(actor=request.user, version=version),
                    success=_("Version %(n)s submitted for validation.") % {"n": version.number},
                    anchor="workflow")


@login_required
@require_POST
def validator_assign(request, key: str, number: int):
    version = _version(request, key, number)
    form = AssignValidatorForm(request.POST, version=version, prefix="assign")
    return _perform(request, version, key="assign", form=form,
                    call=lambda data: workflow_services.validator_assign(
                        actor=request.user, version=version, validator=data["validator"]),
                    success=_("Validator assigned."), anchor="wf-review")


@login_required
@require_POST
def report_issue(request, key: str, number: int):
    version = _version(request, key, number)
    form = ReportIssueForm(request.POST, request.FILES, prefix="report")
    return _perform(request, version, key="report", form=form,
                    call=lambda data: validation_services.report_issue_uploaded(
                        actor=request.user, version=version, upload=data["file"], conclusion=data["conclusion"],
                        rating=data["rating"], conditions=form.condition_list()),
                    success=_("Validation report issued."), anchor="wf-reports")


@login_required
@require_POST
def version_mark_validated(request, key: str, number: int):
    version = _version(request, key, number)
    return _perform(request, version, key="validated", form=None,
                    call=lambda data: workflow_services.version_mark_validated(actor=request.user, version=version),
                    success=_("Validation completed: version %(n)s is validated.") % {"n": version.number},
                    anchor="workflow")


@login_required
@require_POST
def finding_raise(request, key: str, number: int):
    version = _version(request, key, number)
    form = FindingRaiseForm(request.POST, version=version, prefix="finding")
    return _perform(request, version, key="finding", form=form,
                    call=lambda data: finding_services.finding_raise(actor=request.user, version=version, **data),
                    success=_("Finding raised."), anchor="wf-findings")


@login_required
@require_POST
def finding_set_status(request, key: str, number: int, pk: int):
    version = _version(request, key, number)
    finding = get_object_or_404(Finding.objects.filter(version=version), pk=pk)
    prefix = f"finding-{finding.pk}"
    form = FindingStatusForm(request.POST, finding=finding, prefix=prefix)
    return _perform(request, version, key=prefix, form=form,
                    call=lambda data: finding_services.finding_set_status(
                        actor=request.user, finding=finding, status=data["status"], note=data["note"]),
                    success=_("Finding “%(title)s” updated.") % {"title": finding.title},
                    anchor=f"finding-{finding.pk}")


def _close_view(verb: str, service, success: str):
    @login_required
    @require_POST
    def view(request, key: str, number: int):
        version = _version(request, key, number)
        form = ReasonForm(request.POST, prefix=verb, required=verb != "retire")
        return _perform(request, version, key=verb, form=form,
                        call=lambda data: service(actor=request.user, version=version, reason=data["reason"]),
                        success=success % {"n": version.number}, anchor="workflow")

    view.__name__ = f"version_{verb}"
    return view


version_reject = _close_view("reject", workflow_services.version_reject, _("Version %(n)s rejected."))
version_revoke = _close_view("revoke", workflow_services.version_revoke, _("Approval of version %(n)s revoked."))
version_retire = _close_view("retire", workflow_services.version_retire, _("Version %(n)s retired."))


@login_required
@require_POST
def test_accept(request, key: str, number: int):
    """A risk officer accepts one failed or excepted test of the report in force, with a rationale."""
    version = _version(request, key, number)
    form = TestAcceptForm(request.POST, prefix="accept")
    if not form.is_valid():
        return _refused(request, version, None, {"accept": form})
    try:
        acceptance = signoff_services.test_accept(actor=request.user, version=version, test=form.cleaned_data["test"],
                                                  rationale=form.cleaned_data["rationale"])
    except DomainError as exc:
        return _refused(request, version, exc, {"accept": form})
    messages.success(request, _("The risk of '%(test)s' is accepted.") % {"test": acceptance.test})
    version.refresh_from_db(fields=["state"])
    if version.state == VersionState.APPROVED:
        messages.success(request, _("All required sign-offs are in: version %(n)s is approved.")
                         % {"n": version.number})
    return _back(version, "wf-acceptances")


@login_required
@require_POST
def signoff_record(request, key: str, number: int):
    """The electronic signature: the service re-authenticates the signer with the password in the form."""
    version = _version(request, key, number)
    roles = selectors.eligible_signoff_roles(request.user, version) or [request.POST.get("sign-role", "")]
    form = SignoffForm(request.POST, roles=[r for r in roles if r], reject_only=version.state != VersionState.VALIDATED)
    if not form.is_valid():
        return _refused(request, version, None, {"sign": form})
    data = form.cleaned_data
    try:
        signoff = signoff_services.signoff_record(
            actor=request.user, version=version, role=data["role"], decision=data["decision"],
            password=data["password"], comment=data["comment"], conditions=form.condition_list(),
            acknowledge_pending=data["acknowledge_pending"])
    except DomainError as exc:
        field = "password" if exc.code == "reauth_failed" else exc.field
        form.add_error(field if field in form.fields else None, workflow_panel.error_message(exc))
        return _refused(request, version, exc, {"sign": form})
    version.refresh_from_db(fields=["state"])
    messages.success(request, _("Your sign-off as %(role)s is recorded: %(decision)s.")
                     % {"role": SignoffRole(signoff.role).label.lower(), "decision": signoff.get_decision_display()})
    if version.state == VersionState.APPROVED:
        messages.success(request, _("All required sign-offs are in: version %(n)s is approved.")
                         % {"n": version.number})
    return _back(version, "wf-signoffs")


@login_required
@require_POST
def checklist_answer(request, key: str, number: int, code: str):
    """Answer one OWASP item. HTMX posts get the item back (and the digests and sign-offs, which it changes)."""
    version = _version(request, key, number)
    item = get_object_or_404(ChecklistItem.objects.filter(version=version), code=code.upper())
    form = ChecklistAnswerForm.for_item(item, request.POST, request.FILES)
    forms_key = f"checklist-{item.code}"
    exc = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            finding_services.checklist_answer(actor=request.user, item=item, status=data["status"],
                                              evidence=data["evidence"], links=data["links"],
                                              attachment=data["attachment"])
        except DomainError as error:
            exc = error
            apply_domain_error(form, exc)
        else:
            if request.htmx:
                version.refresh_from_db()
                wf = workflow_panel.build(request, version, saved=item.code)
                return render(request, "governance/workflow/_checklist_answered.html",
                              {"version": version, "passport": version.passport, "wf": wf,
                               "item": _item_of(wf, item.code)})
            messages.success(request, _("Checklist item %(code)s saved.") % {"code": item.code})
            return _back(version, f"check-{item.code}")
    if request.htmx:  # the item again, with the errors; a 200 so that HTMX swaps it in
        wf = workflow_panel.build(request, version, forms={forms_key: form})
        return render(request, "governance/workflow/_checklist_item.html",
                      {"version": version, "passport": version.passport, "wf": wf, "item": _item_of(wf, item.code)})
    return _refused(request, version, exc, {forms_key: form})


def _item_of(wf, code):
    return next(i for i in wf["checklist"] if i.code == code)


def _download(field, filename: str):
    if not field:
        raise Http404("No file.")
    try:
        handle = field.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing from storage.") from exc
    # Always a download, never rendered inline: an uploaded HTML report must not run in our origin.
    return FileResponse(handle, as_attachment=True, filename=filename, content_type="application/octet-stream")


@login_required
@require_GET
def report_download(request, key: str, number: int, pk: int):
    version = _version(request, key, number)
    report = get_object_or_404(ValidationReport.objects.filter(version=version), pk=pk)
    return _download(report.file, report.filename)


@login_required
@require_GET
def checklist_attachment(request, key: str, number: int, code: str):
    version = _version(request, key, number)
    item = get_object_or_404(ChecklistItem.objects.filter(version=version), code=code.upper())
    return _download(item.attachment, item.attachment_name or "evidence")


# --- pages ------------------------------------------------------------------------------------------------------


@login_required
def inbox(request):
    """"My reviews": what waits on the user, from ``selectors.inbox``."""
    data = selectors.inbox(user=request.user)
    today = timezone.localdate()
    now = timezone.now()
    for finding in data["findings"]:
        finding.overdue = finding.due_date < today
    for version in data["expiring"]:
        version.days_left = (version.approval_expires_at - now).days
    context = {
        **data,
        "total": sum(len(data[k]) for k in ("assigned", "signoffs_due", "findings", "expiring", "voided")),
        "overdue": sum(1 for f in data["findings"] if f.overdue),
        "high": FindingSeverity.HIGH,
        "open": FindingStatus.OPEN,
    }
    return render(request, "governance/inbox.html", context)


@inline_styles  # Plotly injects <style> elements
@login_required
def portfolio(request):
    """KPIs, charts and tables over every version the user may see, from ``selectors.portfolio_summary``."""
    return render(request, "governance/portfolio.html", portfolio_context(request.user))


STATE_COLOURS = {
    VersionState.DRAFT: "#98a2b3", VersionState.SUBMITTED: "#4c8dff", VersionState.IN_VALIDATION: "#7a5af8",
    VersionState.VALIDATED: "#0e9384", VersionState.APPROVED: "#2fb344", VersionState.REJECTED: "#f04438",
    VersionState.REVOKED: "#912018", VersionState.RETIRED: "#d0d5dd",
}
SEVERITY_COLOURS = {FindingSeverity.HIGH: "#d63939", FindingSeverity.MEDIUM: "#f59f00", FindingSeverity.LOW: "#4c8dff"}
IN_REVIEW = REVIEW_STATES


def _chart_layout(**extra) -> dict:
    layout = {"margin": {"l": 40, "r": 10, "t": 10, "b": 40}, "height": 300, "paper_bgcolor": "rgba(0,0,0,0)",
              "plot_bgcolor": "rgba(0,0,0,0)", "font": {"size": 12, "color": "#344054"},
              "legend": {"orientation": "h", "y": -0.15}}
    layout.update(extra)
    return layout


def state_tier_chart(rows) -> dict:
    """A stacked bar: one bar per tier, one segment per version state (lifecycle order, empty states left out)."""
    counts = {(r["state"], r["tier"]): r["count"] for r in rows}
    tiers = list(RiskTier.values)
    x = [str(_("Tier %(n)s") % {"n": t}) for t in tiers]
    data = []
    for state in VersionState:
        y = [counts.get((state.value, t), 0) for t in tiers]
        if any(y):
            data.append({"type": "bar", "name": str(state.label), "x": x, "y": y,
                         "marker": {"color": STATE_COLOURS[state]},
                         "hovertemplate": "%{x} · %{fullData.name}: %{y}<extra></extra>"})
    yaxis = {"title": {"text": str(_("Versions"))}, "rangemode": "tozero", "gridcolor": "#eaecf0"}
    if max((sum(col) for col in zip(*(d["y"] for d in data), strict=True)), default=0) <= 10:
        yaxis["dtick"] = 1  # small counts: whole numbers only
    layout = _chart_layout(barmode="stack", yaxis=yaxis, xaxis={"type": "category"})
    layout["legend"]["traceorder"] = "normal"  # lifecycle order, not Plotly's reversed stack order
    return {"data": data, "layout": layout}


def state_tier_table(rows) -> dict:
    """The state-by-tier chart's numbers as a table (its text equivalent): one row per state that has versions."""
    counts = {(r["state"], r["tier"]): r["count"] for r in rows}
    tiers = list(RiskTier.values)
    body = [(state.label, [counts.get((state.value, t), 0) for t in tiers]) for state in VersionState]
    return {"tiers": tiers, "rows": [(label, cells, sum(cells)) for label, cells in body if any(cells)]}


def severity_chart(by_severity: dict) -> dict:
    severities = [s for s in FindingSeverity if by_severity.get(s.value)]
    data = [{
        "type": "pie", "hole": 0.55, "sort": False, "direction": "clockwise",
        "labels": [str(s.label) for s in severities], "values": [by_severity[s.value] for s in severities],
        "marker": {"colors": [SEVERITY_COLOURS[s] for s in severities]},
        "textinfo": "value", "hovertemplate": "%{label}: %{value}<extra></extra>",
    }] if severities else []
    return {"data": data, "layout": _chart_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, showlegend=True,
                                                  legend={"orientation": "v", "x": 1, "y": 0.5})}


def portfolio_context(user) -> dict:
    summary = selectors.portfolio_summary(user=user)
    rows = summary["by_state_tier"]
    by_state = {s: sum(r["count"] for r in rows if r["state"] == s) for s in VersionState.values}
    by_severity = summary["open_findings_by_severity"]
    today, now = timezone.localdate(), timezone.now()
    for finding in summary["overdue_findings"]:
        finding.days_overdue = (today - finding.due_date).days
    for version in summary["expiring"]:
        version.days_left = (version.approval_expires_at - now).days
    return {
        **summary,
        "kpis": {
            "in_review": sum(by_state[s] for s in IN_REVIEW),
            "approved": by_state[VersionState.APPROVED],
            "open_high": by_severity.get(FindingSeverity.HIGH, 0),
            "overdue": summary["overdue_count"],
            "expiring": summary["expiring_count"],
        },
        "total_versions": sum(by_state.values()),
        "open_findings": sum(by_severity.values()),
        "rating_rows": [(r, label, summary["ratings"].get(r, 0)) for r, label in Rating.choices]
        + ([("", _("Not rated"), summary["ratings"][""])] if summary["ratings"].get("") else []),
        "state_chart": state_tier_chart(rows),
        "state_table": state_tier_table(rows),
        "severity_chart": severity_chart(by_severity),
    }
