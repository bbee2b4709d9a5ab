"""Sign-offs: re-authenticated signatures bound to the digests of the artifact, the report and the checklist.

When the last required sign-off lands (and no high finding is open, and the checklist is complete where the
tier demands it), the version is approved in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor
from core.conditions import clean_conditions
from core.errors import Conflict, DomainError, PermissionDenied, create_validated
from core.throttle import REAUTH
from governance.accounts.choices import Role
from governance.audit.services import audit_append
from governance.workflow import guards as workflow_guards
from governance.workflow.choices import Decision, FindingSeverity, FindingStatus, SignoffRole
from governance.workflow.models import ChecklistItem, Finding, SignOff, TestAcceptance, VersionReview
from governance.workflow.notifications import notify, version_path
from governance.workflow.services.transitions import approve, checklist_complete, close_rejected
from registry import permissions as registry_perms
from registry.choices import VALIDATION_STATES, VersionState
from registry.models import ModelVersion
from registry.services import lock_version
from validation import permissions as validation_perms
from validation.choices import ACTIVE_RUN_STATES
from validation.gaps import report_gaps
from validation.selectors import report_in_force


def checklist_digest(version: ModelVersion) -> str:
    """sha256 over every checklist answer of the version (status, evidence, links, attachment, auto evidence)."""
    items = ChecklistItem.objects.filter(version=version).order_by("code").values(
        "code", "status", "evidence", "links", "attachment_sha256", "auto_evidence", "answered_by_id")
    payload = json.dumps(list(items), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest() if items else ""


def current_digests(version: ModelVersion) -> dict[str, str]:

    report = report_in_force(version)
    return {"artifact_sha256": version.sha256, "report_sha256": report.sha256 if report else "",
            "checklist_sha256": checklist_digest(version)}


def signoff_is_current(signoff: SignOff, digests: dict[str, str]) -> bool:
    """A sign-off counts only while all three digests it recorded are still the current ones."""
    return (signoff.artifact_sha256, signoff.report_sha256, signoff.checklist_sha256) == (
        digests["artifact_sha256"], digests["report_sha256"], digests["checklist_sha256"])


@dataclass(frozen=True)
class SignoffStatus:
    """For each required role: the current approving sign-off, or why the role is still missing."""

    required: list[str]
    current: dict[str, SignOff]
    stale: list[SignOff]
    blocking_findings: list[Finding]
    checklist_missing: list[str]
    tests: list[dict] = ()  # failed or excepted tests of the report in force, each with its acceptance or None

    @property
    def missing(self) -> list[str]:
        return [r for r in self.required if r not in self.current]

    @property
    def tests_unaccepted(self) -> list[dict]:
        return [gap for gap in self.tests if gap["acceptance"] is None]

    @property
    def ready(self) -> bool:
        return (not self.missing and not self.blocking_findings and not self.checklist_missing
                and not self.tests_unaccepted)


def signoff_status(version: ModelVersion) -> SignoffStatus:
    review = VersionReview.objects.filter(version=version).first()
    required = review.required_roles if review else []
    digests = current_digests(version)
    current, stale = {}, []
    for signoff in version.signoffs.select_related("signer").order_by("signed_at", "pk"):
        if signoff.decision == Decision.REJECT:
            continue
        if signoff_is_current(signoff, digests):
            current[signoff.role] = signoff
        else:
            stale.append(signoff)
    blocking = list(version.findings.filter(severity=FindingSeverity.HIGH, status=FindingStatus.OPEN))
    checklist_missing = []
    if review and review.policy.get("checklist_required"):
        checklist_missing = checklist_complete(version)[1]
    return SignoffStatus(required, current, stale, blocking, checklist_missing, tests_to_accept(version))


def tests_to_accept(version: ModelVersion, report=None) -> list[dict]:
    """The failed and excepted tests of the report in force (``report``, when the caller has it), each with its
    acceptance (or None)."""
    report = report or report_in_force(version)
    gaps = report_gaps(report)
    if not gaps:
        return []
    accepted = {a.test: a for a in TestAcceptance.objects.filter(report=report).select_related("accepted_by")}
    return [{**gap, "acceptance": accepted.get(gap["test"])} for gap in gaps]


MIN_RATIONALE = 20


@transaction.atomic(durable=True)
def test_accept(*, actor: Actor, version: ModelVersion, test: str, rationale: str) -> TestAcceptance:
    """A risk officer accepts one failed or excepted test of the report in force, with a rationale; approves the
    version when that was all it waited for. Audit: test.accepted with the report's digest."""
    version = lock_version(version)
    workflow_guards.accept_test(actor, version).enforce()
    rationale = (rationale or "").strip()
    if len(rationale) < MIN_RATIONALE:
        raise DomainError(_("Say why the risk is acceptable (at least %(min)s characters).") % {"min": MIN_RATIONALE},
                          code="required", field="rationale")
    report = report_in_force(version)
    gap = next((g for g in tests_to_accept(version, report) if g["test"] == test), None)
    if gap is None:
        raise DomainError(_("'%(test)s' is not a failed or excepted test of the report in force.") % {"test": test},
                          code="invalid", field="test")
    if gap["acceptance"] is not None:
        raise Conflict(_("'%(test)s' was already accepted by %(who)s.")
                       % {"test": test, "who": gap["acceptance"].accepted_by}, code="already_accepted")
    acceptance = create_validated(TestAcceptance, version=version, report=report, report_sha256=report.sha256,
                                  test=test, kind=gap["kind"], rationale=rationale[:5000], accepted_by=actor)
    audit_append(actor=actor, action="test.accepted", obj=acceptance, passport_key=version.passport.key,
                 digests={"report_sha256": report.sha256},
                 data={"version": version.number, "test": test, "kind": gap["kind"], "rationale": acceptance.rationale,
                       "note": gap["note"]})
    maybe_approve(version=version, actor=actor)
    return acceptance


def pending_inputs(version: ModelVersion, role: str) -> list[str]:
    """What a sign-off in ``role`` would be bound to that is not final yet: a change to any of these later makes
    the sign-off stop counting. Shown on the sign form, and confirmed by the signer before signing."""
    pending = []
    review = VersionReview.objects.filter(version=version).first()
    if review and review.policy.get("checklist_required") and role != SignoffRole.SECURITY:
        missing = checklist_complete(version)[1]
        if missing:
            pending.append(_("the OWASP checklist (%(items)s not answered or still open)")
                           % {"items": ", ".join(missing)})
    if version.validation_runs.filter(state__in=ACTIVE_RUN_STATES).exists():
        pending.append(_("a validation run in progress, whose report would replace the one in force"))
    return pending


def signoffs_void(*, actor: Actor, version: ModelVersion, reason: str) -> list[SignOff]:
    """Record, on each approving sign-off that has just stopped counting (its digests are no longer the current
    ones), when and why; audit ``signoff.voided`` and tell its signer by e-mail (their "My reviews" lists it
    too). Runs in the transaction of the change that voided them."""
    digests, now, voided = current_digests(version), timezone.now(), []
    for signoff in version.signoffs.filter(voided_at__isnull=True).exclude(decision=Decision.REJECT).select_related(
            "signer"):
        if signoff_is_current(signoff, digests):
            continue
        signoff.voided_at, signoff.voided_reason = now, reason[:500]
        signoff.save(update_fields=["voided_at", "voided_reason"])
        audit_append(actor=actor, action="signoff.voided", obj=signoff, passport_key=version.passport.key,
                     digests=digests, data={"version": version.number, "role": signoff.role,
                                            "signer": signoff.signer.get_username(), "reason": signoff.voided_reason})
        notify([signoff.signer],
               _("Your sign-off on %(key)s v%(n)s no longer counts") % {"key": version.passport.key,
                                                                        "n": version.number},
               _("Your %(role)s sign-off on %(key)s v%(n)s stopped counting: %(reason)s. Review the change and sign "
                 "again from the version page or My reviews.")
               % {"role": str(SignoffRole(signoff.role).label).lower(), "key": version.passport.key,
                  "n": version.number, "reason": signoff.voided_reason}, path=version_path(version))
        voided.append(signoff)
    return voided


def check_eligible(actor: Actor, version: ModelVersion, role: str) -> None:
    """Raise naming the rule when ``actor`` may not sign in ``role``."""
    passport = version.passport
    if actor.pk == version.author_id:
        raise PermissionDenied(_("Segregation of duties: you authored v%(n)s and cannot sign it off.")
                               % {"n": version.number}, code="sod_author")
    if actor.has_perm(registry_perms.TEAM_MEMBER, passport):
        raise PermissionDenied(_("Segregation of duties: you belong to the development team '%(team)s' of this "
                                 "model.") % {"team": passport.development_team}, code="sod_team")
    other_role = version.signoffs.filter(signer=actor).exclude(role=role).values_list("role", flat=True).first()
    if other_role:
        raise PermissionDenied(_("Segregation of duties: you already signed this version as %(role)s; one person "
                                 "cannot fill two roles.") % {"role": str(SignoffRole(other_role).label).lower()},
                               code="sod_two_roles")
    if role == SignoffRole.VALIDATOR and not actor.has_perm(validation_perms.ASSIGNED, version):
        raise PermissionDenied(_("Only a validator assigned to this version may sign as validator."),
                               code="not_assigned")
    group = {SignoffRole.RISK_OFFICER: Role.RISK_OFFICER, SignoffRole.SECURITY: Role.SECURITY,
             SignoffRole.VALIDATOR: Role.VALIDATOR}.get(role)
    if group and not actor.groups.filter(name=group).exists():
        raise PermissionDenied(_("Signing as %(role)s needs the %(group)s role.")
                               % {"role": str(SignoffRole(role).label).lower(), "group": Role(group).label},
                               code="wrong_role")
    if role == SignoffRole.BUSINESS_OWNER and actor.pk != passport.business_owner_id:
        raise PermissionDenied(_("Only the passport's business owner may sign as business owner."), code="wrong_role")


def signoff_record(*, actor: Actor, version: ModelVersion, role: str, decision: str, password: str, comment: str = "",
                   conditions: list | None = None, acknowledge_pending: bool = False) -> SignOff:
    """Record a sign-off after re-authenticating the signer with their password.

    Approvals need the version validated; a reject (in validation or validated) returns it to the author.
    Conditions (approve with conditions) become dated findings. Approves the version when ready.

    The password is compared last, after every rule that does not depend on it has let the sign-off through, so
    no refusal tells whether a password was right; and at most ``MG_REAUTH_FAILURE_LIMIT`` wrong passwords per
    ``MG_REAUTH_WINDOW_SECONDS`` are checked per user, from pages and the API alike (``core.throttle.REAUTH``).
    A failed re-authentication records nothing but its own audit event (``signoff.reauth_failed``).
    """
    REAUTH.check(actor.pk)
    _signable(actor=actor, version=ModelVersion.objects.select_related("passport").get(pk=version.pk), role=role,
              decision=decision, conditions=conditions, acknowledge_pending=acknowledge_pending)
    if not password or not actor.check_password(password):
        failures = REAUTH.failed(actor.pk)
        with transaction.atomic(durable=True):
            audit_append(actor=actor, action="signoff.reauth_failed", obj=version, passport_key=version.passport.key,
                         data={"version": version.number, "role": role, "failures_in_window": failures})
        raise PermissionDenied(_("Re-authentication failed: the password does not match."), code="reauth_failed")
    REAUTH.reset(actor.pk)
    return _signoff_record(actor=actor, version=version, role=role, decision=decision, comment=comment,
                           conditions=conditions, acknowledge_pending=acknowledge_pending)


def _signable(*, actor: Actor, version, role, decision, conditions, acknowledge_pending: bool) -> tuple[list, list]:
    """Every rule of a sign-off but the password: raise the first that refuses; return the cleaned conditions and
    the inputs not final yet that the signer acknowledged."""
    review = VersionReview.objects.filter(version=version).first()
    if role not in SignoffRole.values or review is None or role not in review.required_roles:
        if review is None:
            message = _("'%(role)s' is not a sign-off role this version's policy requires (not submitted).")
        else:
            message = _("'%(role)s' is not a sign-off role this version's policy requires (%(roles)s).")
        raise DomainError(message % {"role": role, "roles": ", ".join(review.required_roles) if review else ""},
                          code="role_not_required", field="role")
    if decision not in Decision.values:
        raise DomainError(_("Unknown decision '%(decision)s'.") % {"decision": decision}, code="invalid",
                          field="decision")
    check_eligible(actor, version, role)
    conditions = clean_conditions(conditions) if decision == Decision.APPROVE_WITH_CONDITIONS else []
    if decision == Decision.APPROVE_WITH_CONDITIONS and not conditions:
        raise DomainError(_("An approval with conditions needs at least one dated condition."), code="required",
                          field="conditions")
    allowed_states = VALIDATION_STATES if decision == Decision.REJECT else {VersionState.VALIDATED}
    if version.state not in allowed_states:
        raise Conflict(_("v%(n)s is %(state)s; a %(decision)s sign-off is not possible now.")
                       % {"n": version.number, "state": version.get_state_display().lower(),
                          "decision": str(Decision(decision).label).lower()}, code="illegal_transition")
    status = signoff_status(version)
    if decision != Decision.REJECT and role in status.current:
        raise Conflict(_("%(role)s has already signed the current digests.") % {"role": SignoffRole(role).label},
                       code="already_signed")
    if decision != Decision.REJECT and role == SignoffRole.SECURITY and status.checklist_missing and \
            review.policy.get("checklist_required"):
        raise DomainError(_("The OWASP checklist is incomplete: %(items)s unanswered or open.")
                          % {"items": ", ".join(status.checklist_missing)}, code="checklist_incomplete")
    pending = pending_inputs(version, role) if decision != Decision.REJECT else []
    if pending and not acknowledge_pending:
        raise DomainError(_("Not final yet: %(inputs)s. A sign-off given now stops counting when they change, and "
                            "you would be told; confirm that you sign anyway.") % {"inputs": "; ".join(pending)},
                          code="inputs_pending", field="acknowledge_pending", details={"pending": pending})
    return conditions, pending


@transaction.atomic(durable=True)
def _signoff_record(*, actor: Actor, version, role, decision, comment, conditions, acknowledge_pending) -> SignOff:
    version = lock_version(version)  # the same rules again, under the lock: the state that counts is this one
    conditions, pending = _signable(actor=actor, version=version, role=role, decision=decision,
                                    conditions=conditions, acknowledge_pending=acknowledge_pending)
    digests = current_digests(version)
    signoff = create_validated(SignOff, version=version, role=role, signer=actor, decision=decision,
                               comment=(comment or "").strip(), conditions=conditions, **digests)
    audit_append(actor=actor, action="signoff.recorded", obj=signoff, passport_key=version.passport.key,
                 digests=digests, data={"version": version.number, "role": role, "decision": decision,
                                        "comment": signoff.comment, "conditions": conditions,
                                        "reauthenticated": True,
                                        "pending_acknowledged": pending})
    for cond in conditions:
        condition_finding(actor, version, cond, signoff=signoff)
    if decision == Decision.REJECT:
        close_rejected(actor=actor, version=version, reason=signoff.comment or "Rejected at sign-off.",
                       action="version.rejected", data={"signoff": signoff.pk, "role": role})
        return signoff
    maybe_approve(version=version, actor=actor)
    return signoff


def maybe_approve(*, version: ModelVersion, actor: Actor) -> bool:
    """Approve a locked, validated version whose required sign-offs are all current and nothing blocks it."""
    if version.state != VersionState.VALIDATED:
        return False
    status = signoff_status(version)
    if not status.ready:
        return False
    approve(version=version, actor=actor, signoffs=list(status.current.values()))
    return True


def condition_finding(actor: Actor, version, cond, *, signoff=None, report=None) -> Finding:
    """A dated condition (of an approving sign-off, or of a report rated fit with conditions) as a finding owned
    by the technical owner; the caller's transaction holds the version."""
    finding = create_validated(
        Finding, version=version, title=cond["text"][:200], description=cond["text"], severity=FindingSeverity.MEDIUM,
        owner=version.passport.technical_owner, due_date=date.fromisoformat(cond["due_date"]), raised_by=actor,
        from_signoff=signoff, from_report=report)
    source = {"condition_of": signoff.pk} if signoff is not None else {"condition_of_report": report.pk}
    audit_append(actor=actor, action="finding.raised", obj=finding, passport_key=version.passport.key,
                 data={"version": version.number, "severity": finding.severity, **source,
                       "due_date": cond["due_date"], "title": finding.title})
    return finding
