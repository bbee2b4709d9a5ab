"""What the workflow panel of a version page shows, and which forms it offers the user looking at it.

Reads only: the version comes already limited to what the user may see (``registry.selectors.version_get``);
everything else hangs off that version. Forms are built only for ``selectors.available_actions``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from governance.workflow import selectors
from governance.workflow.choices import Decision, FindingSeverity, FindingStatus, SignoffRole
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
from governance.workflow.models import RiskTierPolicy, VersionReview
from governance.workflow.owasp import CHECKLIST
from governance.workflow.permissions import ACCEPT, RAISE, can
from governance.workflow.services.findings import failed_test
from governance.workflow.services.signoffs import current_digests, pending_inputs, signoff_status
from registry.choices import VersionState
from validation import run_display

MAIN_PATH = [VersionState.DRAFT, VersionState.SUBMITTED, VersionState.IN_VALIDATION, VersionState.VALIDATED,
             VersionState.APPROVED]

DIGEST_LABELS = {
    "artifact_sha256": _("artifact"),
    "report_sha256": _("report"),
    "checklist_sha256": _("checklist"),
}

FORM_ANCHORS = {"accept": "wf-acceptances", "assign": "wf-review", "report": "wf-reports", "finding": "wf-findings",
                "sign": "sign", "reject": "wf-actions", "revoke": "wf-actions", "retire": "wf-actions"}


def error_message(exc: DomainError) -> str:
    """The refusal as the service worded it, already in the language that was active when it was raised."""
    return exc.message


def form_anchor(key: str | None) -> str:
    """The element id of the form ``key`` on the version page (to scroll to it when it comes back with errors)."""
    if not key:
        return "workflow"
    if key.startswith("checklist-"):
        return f"check-{key.removeprefix('checklist-')}"
    return FORM_ANCHORS.get(key, key)


@dataclass
class Step:
    state: str
    label: str
    status: str  # done | current | todo | bad | ended
    at: object = None


@dataclass
class SignoffRow:
    role: str
    label: str
    signoff: object = None
    counts: bool = False
    stale_because: list = field(default_factory=list)


def stepper(version, history) -> list[Step]:
    """The main path up to where the version is, plus rejected / revoked / retired when that happened."""
    reached = {}
    rejected_from = None
    for event in history:
        to = (event.data or {}).get("to")
        if to in VersionState.values and event.action.startswith("version."):
            reached[to] = event.occurred_at
            if to == VersionState.REJECTED:
                rejected_from = event.data.get("from")
    reached.setdefault(VersionState.DRAFT, version.created_at)
    state = version.state
    label = {s.value: s.label for s in VersionState}
    if state in MAIN_PATH:
        here = MAIN_PATH.index(state)
        return [Step(s, label[s], "done" if i < here else "current" if i == here else "todo",
                     reached.get(s) if i <= here else None) for i, s in enumerate(MAIN_PATH)]
    if state == VersionState.REJECTED:
        last = MAIN_PATH.index(rejected_from) if rejected_from in MAIN_PATH else 1
        steps = [Step(s, label[s], "done", reached.get(s)) for s in MAIN_PATH[:last + 1]]
        return [*steps, Step(state, label[state], "bad", reached.get(state))]
    steps = [Step(s, label[s], "done", reached.get(s)) for s in MAIN_PATH]
    return [*steps, Step(state, label[state], "bad" if state == VersionState.REVOKED else "ended", reached.get(state))]


def signoff_rows(version, status, digests) -> tuple[list[SignoffRow], list[SignoffRow]]:
    """Rows of the required roles (signed or missing), then every sign-off that no longer counts."""
    roles = {r.value: r.label for r in SignoffRole}
    required = [SignoffRow(r, roles.get(r, r), status.current.get(r), r in status.current) for r in status.required]
    earlier = []
    current_ids = {s.pk for s in status.current.values()}
    for signoff in version.signoffs.select_related("signer").order_by("signed_at", "pk"):
        if signoff.pk in current_ids:
            continue
        changed = [DIGEST_LABELS[k] for k in DIGEST_LABELS if getattr(signoff, k) != digests[k]]
        earlier.append(SignoffRow(signoff.role, roles.get(signoff.role, signoff.role), signoff, False, changed))
    return required, earlier


def policy_in_force(version, review):
    """The policy snapshot taken at submission; for a draft, the tier's current policy (what submit will take)."""
    if review is not None:
        return review.policy, True
    policy = RiskTierPolicy.objects.filter(tier=version.passport.risk_tier).first()
    return (policy.snapshot() if policy else None), False


def finding_moves(user, version):
    """A function giving the status moves of a finding this user may make (the rules of ``finding_set_status``);
    the role checks run once per page, not once per finding."""
    reviewer, accepter = can(user, RAISE, version), can(user, ACCEPT, version)

    def moves(finding) -> list[str]:
        allowed = []
        if reviewer or user.pk == finding.owner_id:
            allowed.append(FindingStatus.REMEDIATED)
        if accepter:
            allowed.append(FindingStatus.RISK_ACCEPTED)
        if reviewer:
            allowed.append(FindingStatus.OPEN)
        return allowed

    return moves


def _findings(request, version, forms):
    today = timezone.localdate()
    rows = list(version.findings.select_related("owner", "raised_by", "accepted_by").order_by("status", "due_date"))
    moves_of = finding_moves(request.user, version)
    for finding in rows:
        finding.overdue = finding.status == FindingStatus.OPEN and finding.due_date < today
        key = f"finding-{finding.pk}"
        form = forms.get(key) or FindingStatusForm(finding=finding, allowed=moves_of(finding), prefix=key)
        finding.status_form = form if form.fields["status"].choices else None
    return rows


def _checklist(version, actions, forms):
    items = list(version.checklist.select_related("answered_by").order_by("code"))
    for item in items:
        meta = CHECKLIST.get(item.code, {})
        item.risk, item.questions = meta.get("risk", ""), meta.get("questions", "")
        form = forms.get(f"checklist-{item.code}")
        if form is None and "answer_checklist" in actions:
            form = ChecklistAnswerForm.for_item(item)
        item.form = form
    return items


def build(request, version, *, forms: dict | None = None, error: DomainError | None = None,
          saved: str | None = None) -> dict:
    """The ``wf`` context of the version page. ``forms`` are bound forms to show again (after a refusal)."""
    forms = forms or {}
    user = request.user
    signoff_roles = selectors.eligible_signoff_roles(user, version)
    actions = selectors.available_actions(user, version, signoff_roles=signoff_roles)
    review = VersionReview.objects.filter(version=version).select_related("submitted_by").first()
    history = list(selectors.version_history(version))
    status = signoff_status(version)
    digests = current_digests(version)
    required, earlier = signoff_rows(version, status, digests)
    policy, policy_is_snapshot = policy_in_force(version, review)
    reports = list(version.reports.select_related("issued_by").order_by("-issued_at", "-pk"))
    ctx = {
        "actions": actions,
        "steps": stepper(version, history),
        "review": review,
        "policy": policy,
        "policy_is_snapshot": policy_is_snapshot,
        "required_roles": [SignoffRole(r).label for r in (policy or {}).get("required_roles", [])
                           if r in SignoffRole.values],
        "status": status,
        "signoffs_required": required,
        "signoffs_earlier": earlier,
        "signed_count": sum(1 for row in required if row.counts),
        "digests": digests,
        "reports": reports,
        "report_in_force": reports[0] if reports else None,
        "findings": _findings(request, version, forms),
        "checklist": _checklist(version, actions, forms),
        "assignments": list(version.assignments.select_related("validator", "assigned_by")),
        "history": history,
        "error": error_message(error) if error else None,
        "error_anchor": form_anchor(next(iter(forms), None)) if (error or forms) else None,
        "saved": saved,
    }
    expires = version.approval_expires_at if version.state == VersionState.APPROVED else None
    ctx["expires_in_days"] = (expires - timezone.now()).days if expires else None
    ctx["checklist_answered"] = sum(1 for i in ctx["checklist"] if i.status != "unanswered")
    ctx["open_findings"] = sum(1 for f in ctx["findings"] if f.status == FindingStatus.OPEN)
    ctx.update(_forms(request, version, actions, forms, signoff_roles))
    return ctx


def _from_test(request, version) -> dict | None:
    """The finding form's first values when the page was opened from a failed test of a run
    (``?finding_run=<run>&finding_test=<test>``, the run page's "Raise a finding"); None otherwise."""
    run_id, test = request.GET.get("finding_run", ""), request.GET.get("finding_test", "")
    if not (run_id.isdigit() and test):
        return None
    try:
        run, result = failed_test(version, int(run_id), test)
    except DomainError:
        return None
    row = next((r for r in run_display.summary_rows(run.results or {}) if r["name"] == test), None)
    measured = (_("%(metric)s %(value)s against the threshold %(threshold)s.")
                % {"metric": row["headline"], "value": row["value"], "threshold": row["threshold"]}
                if row and row["headline"] != "—" else "")
    return {"run": run.pk, "test": test,
            "title": _("%(test)s failed in validation run #%(run)s") % {"test": run_display.check_label(test),
                                                                         "run": run.pk},
            "description": " ".join(p for p in (measured, result.get("note") or "") if p),
            "severity": FindingSeverity.HIGH if result.get("status") == "failed" else FindingSeverity.MEDIUM,
            "label": run_display.check_label(test)}


def _forms(request, version, actions, forms, signoff_roles: list[str]) -> dict:
    out = {}
    if "assign" in actions:
        out["assign_form"] = forms.get("assign") or AssignValidatorForm(version=version, prefix="assign")
    if "issue_report" in actions:
        out["report_form"] = forms.get("report") or ReportIssueForm(prefix="report")
    if "raise_finding" in actions:
        from_test = _from_test(request, version)
        out["finding_form"] = forms.get("finding") or FindingRaiseForm(
            version=version, prefix="finding", initial={k: v for k, v in (from_test or {}).items() if k != "label"})
        out["finding_from_test"] = from_test
    for verb in ("reject", "revoke", "retire"):
        if verb in actions:
            out[f"{verb}_form"] = forms.get(verb) or ReasonForm(prefix=verb, required=verb != "retire")
    if "accept_test" in actions:
        out["accept_form"] = forms.get("accept") or TestAcceptForm(prefix="accept")
    if "sign" in actions:
        reject_only = version.state != VersionState.VALIDATED
        out["sign_form"] = forms.get("sign") or SignoffForm(roles=signoff_roles, reject_only=reject_only)
        out["sign_reject_only"] = reject_only
        pending = []
        for role in signoff_roles:
            pending += [item for item in pending_inputs(version, role) if item not in pending]
        out["sign_pending"] = pending
    out["decision_with_conditions"] = Decision.APPROVE_WITH_CONDITIONS
    return out
