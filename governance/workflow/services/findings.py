"""Findings (raised, remediated, risk-accepted, reopened) and OWASP checklist answers."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor
from core.errors import Conflict, DomainError, PermissionDenied, validate_model
from governance.audit.services import audit_append
from governance.workflow import guards
from governance.workflow.choices import FINDING_TRANSITIONS, ChecklistStatus, FindingSeverity, FindingStatus
from governance.workflow.models import ChecklistItem, Finding
from governance.workflow.permissions import ACCEPT, RAISE, can
from governance.workflow.services.signoffs import maybe_approve, signoffs_void
from registry import permissions as registry_perms
from registry.services import lock_version
from registry.storage import display_name, safe_suffix, staged_upload, store_staged
from validation.models import ValidationRun

# Every answer but "open" claims something about the model, so it carries the evidence it rests on.
EVIDENCE_REQUIRED = frozenset({ChecklistStatus.MITIGATED, ChecklistStatus.PARTIALLY_MITIGATED,
                               ChecklistStatus.NOT_APPLICABLE})


FAILED_TEST_STATES = ("failed", "error")


def failed_test(version, run, test: str):
    """The run of ``version`` and its failed (or errored) ``test`` a finding is raised from; refused otherwise."""
    run_id = getattr(run, "pk", run)
    found = ValidationRun.objects.filter(pk=run_id, version=version).first() if run_id else None
    if found is None:
        raise DomainError(_("A finding from a test names a validation run of this version."), code="invalid",
                          field="run")
    result = ((found.results or {}).get("tests") or {}).get(test)
    if not result or result.get("status") not in FAILED_TEST_STATES:
        raise DomainError(_("Run #%(run)s has no failed test '%(test)s'; findings are raised from failed tests.")
                          % {"run": found.pk, "test": test}, code="test_not_failed", field="test")
    return found, result


@transaction.atomic(durable=True)
def finding_raise(*, actor: Actor, version, title: str, severity: str, owner, due_date: date,
                  description: str = "", run=None, test: str = "") -> Finding:
    """Raise a finding (validators, risk officers, security), optionally from a failed test of a run of the
    version (``run`` and ``test``), to which it stays linked. An open high finding blocks approval."""
    version = lock_version(version)
    guards.raise_finding(actor, version).enforce()
    if not owner.has_perm(registry_perms.VIEW, version.passport):
        raise DomainError(_("%(user)s cannot see this passport and cannot own the finding.") % {"user": owner},
                          code="invalid", field="owner")
    test = (test or "").strip()
    if run and not test:
        raise DomainError(_("Name the failed test of the run the finding comes from."), code="required",
                          field="test")
    run = failed_test(version, run, test)[0] if test else None
    finding = Finding(version=version, title=(title or "").strip(), description=(description or "").strip(),
                      severity=severity, owner=owner, due_date=due_date, raised_by=actor, run=run, test=test)
    validate_model(finding)
    finding.save()
    data = {"version": version.number, "severity": severity, "owner": owner.get_username(),
            "due_date": due_date.isoformat(), "title": finding.title}
    if run is not None:
        data.update(run=run.pk, test=test)
    audit_append(actor=actor, action="finding.raised", obj=finding, passport_key=version.passport.key, data=data)
    return finding


@transaction.atomic(durable=True)
def finding_set_status(*, actor: Actor, finding: Finding, status: str, note: str = "") -> Finding:
    """Move a finding: remediated (its owner or a reviewer), risk accepted (a risk officer, with a reason),
    reopened (a reviewer). Closing the last blocking finding may complete a pending approval."""
    version = lock_version(finding.version)
    finding = Finding.objects.select_for_update(no_key=True).get(pk=finding.pk)
    if status not in FINDING_TRANSITIONS.get(finding.status, ()):
        label = str(FindingStatus(status).label).lower() if status in FindingStatus.values else status
        raise Conflict(_("A %(status)s finding cannot become %(to)s.")
                       % {"status": finding.get_status_display().lower(), "to": label}, code="illegal_transition")
    note = (note or "").strip()
    reviewer = can(actor, RAISE, version)
    if status == FindingStatus.RISK_ACCEPTED:
        if not can(actor, ACCEPT, version):
            raise PermissionDenied(_("Only a risk officer may accept the risk of a finding."))
        if not note:
            raise DomainError(_("Accepting a risk needs the reason."), code="required", field="note")
        finding.accepted_by = actor
    elif status == FindingStatus.REMEDIATED and not (reviewer or actor.pk == finding.owner_id):
        raise PermissionDenied(_("Only the finding's owner or a reviewer may mark it remediated."))
    elif status == FindingStatus.OPEN and not reviewer:
        raise PermissionDenied(_("Only a reviewer may reopen a finding."))
    previous = finding.status
    finding.status, finding.resolution = status, note
    finding.resolved_at = None if status == FindingStatus.OPEN else timezone.now()
    if status != FindingStatus.RISK_ACCEPTED:
        finding.accepted_by = None
    finding.save(update_fields=["status", "resolution", "resolved_at", "accepted_by"])
    audit_append(actor=actor, action="finding.status_changed", obj=finding, passport_key=version.passport.key,
                 data={"from": previous, "to": status, "note": note, "severity": finding.severity})
    if finding.severity == FindingSeverity.HIGH and status != FindingStatus.OPEN:
        maybe_approve(version=version, actor=actor)
    return finding


def _clean_links(links) -> list[str]:
    if links in (None, ""):
        return []
    if not isinstance(links, list) or len(links) > 20:
        raise DomainError(_("Links must be a list of at most %(max)s URLs.") % {"max": 20}, code="invalid",
                          field="links")
    cleaned = []
    for link in links:
        link = str(link).strip()
        if not link.startswith(("https://", "http://")) or len(link) > 500:
            raise DomainError(_("'%(link)s' is not an http(s) URL.") % {"link": link[:80]}, code="invalid",
                              field="links")
        cleaned.append(link)
    return cleaned


@transaction.atomic(durable=True)
def checklist_answer(*, actor: Actor, item: ChecklistItem, status: str, evidence: str = "", links=None,
                     attachment=None) -> ChecklistItem:
    """Answer one OWASP item (security). 'Not applicable' and 'partially mitigated' need evidence text.

    Any change alters the checklist digest, so sign-offs bound to the old checklist stop counting.
    """
    version = lock_version(item.version)
    item = ChecklistItem.objects.select_for_update(no_key=True).get(pk=item.pk)
    guards.answer_checklist(actor, version).enforce()
    if status not in ChecklistStatus.values or status == ChecklistStatus.UNANSWERED:
        raise DomainError(_("Choose mitigated, partially mitigated, open or not applicable."), code="invalid",
                          field="status")
    evidence, links = (evidence or "").strip(), _clean_links(links)
    has_attachment = attachment is not None or bool(item.attachment)
    if status in EVIDENCE_REQUIRED and not (evidence or links or has_attachment):
        raise DomainError(_("'%(status)s' needs evidence: a text, a link or an attachment.")
                          % {"status": ChecklistStatus(status).label}, code="required", field="evidence")
    item.status, item.evidence, item.links = status, evidence[:20000], links
    if attachment is not None:
        _attach(item, attachment)
    item.answered_by, item.answered_at = actor, timezone.now()
    item.save()
    audit_append(actor=actor, action="checklist.answered", obj=item, passport_key=version.passport.key,
                 digests={"attachment_sha256": item.attachment_sha256} if item.attachment_sha256 else {},
                 data={"version": version.number, "code": item.code, "status": status, "evidence": item.evidence,
                       "links": item.links})
    signoffs_void(actor=actor, version=version,
                  reason=_("%(who)s answered OWASP checklist item %(code)s: %(status)s")
                  % {"who": actor.get_username(), "code": item.code,
                     "status": str(ChecklistStatus(status).label).lower()})
    return item


def _attach(item: ChecklistItem, attachment) -> None:

    name = display_name(getattr(attachment, "name", ""), default="evidence")
    with staged_upload(attachment, max_bytes=20 * 1024 * 1024) as staged:
        stored, _created = store_staged(
            staged, f"checklist/{item.version_id}/{item.code}/{staged.sha256}{safe_suffix(name)}")
    item.attachment.name, item.attachment_sha256, item.attachment_name = stored, staged.sha256, name
