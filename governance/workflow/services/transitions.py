"""The version lifecycle: submit, assign validators, mark validated, approve (via sign-offs), reject, revoke,
retire and expire. Every transition locks the version row, checks the one transition map, saves with
update_fields and appends its audit event in the same transaction."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import SYSTEM, Actor
from core.errors import Conflict, DomainError, create_validated
from governance.accounts.choices import Role
from governance.audit.services import audit_append
from governance.workflow import guards
from governance.workflow.choices import ChecklistStatus
from governance.workflow.models import ChecklistItem, RiskTierPolicy, ValidatorAssignment, VersionReview
from governance.workflow.notifications import notify, users_in_role, version_path
from governance.workflow.owasp import CHECKLIST_CODES, auto_evidence_for
from registry import permissions as registry_perms
from registry.choices import VersionState
from registry.models import ModelVersion
from registry.services import lock_version
from validation.choices import Rating
from validation.selectors import report_in_force


def transition(*, version: ModelVersion, to: str, actor: Actor, action: str, data: dict | None = None,
               digests: dict | None = None) -> ModelVersion:
    """Move a locked version to ``to`` if the map allows it; append the audit event. Caller holds the lock."""
    guards.transition_allowed(version, to).enforce()
    previous = version.state
    version.state = to
    fields = ["state"]
    if to == VersionState.APPROVED:
        fields.append("approval_expires_at")
    version.save(update_fields=fields)
    audit_append(actor=actor, action=action, obj=version, passport_key=version.passport.key,
                 digests={"artifact_sha256": version.sha256, **(digests or {})},
                 data={"from": previous, "to": to, **(data or {})})
    return version


def policy_for_tier(tier: int) -> RiskTierPolicy:
    policy = RiskTierPolicy.objects.filter(tier=tier).first()
    if policy is None:
        raise DomainError(_("No approval policy is defined for tier %(tier)s.") % {"tier": tier}, code="no_policy")
    return policy


@transaction.atomic(durable=True)
def version_submit(*, actor: Actor, version: ModelVersion) -> ModelVersion:
    """draft -> submitted. Records the tier policy in force and opens the OWASP checklist with auto evidence."""
    version = lock_version(version)
    guards.submit(actor, version).enforce()
    policy = policy_for_tier(version.passport.risk_tier)
    transition(version=version, to=VersionState.SUBMITTED, actor=actor, action="version.submitted",
               data={"policy": policy.snapshot()})
    create_validated(VersionReview, version=version, policy=policy.snapshot(), submitted_by=actor)
    existing = set(ChecklistItem.objects.filter(version=version).values_list("code", flat=True))
    for code in CHECKLIST_CODES:
        if code not in existing:
            create_validated(ChecklistItem, version=version, code=code, auto_evidence=auto_evidence_for(code, version))
    notify(users_in_role(Role.RISK_OFFICER), f"{version} submitted for validation",
           f"{actor} submitted {version} (tier {version.passport.risk_tier}). Assign a validator.",
           path=version_path(version))
    return version


@transaction.atomic(durable=True)
def validator_assign(*, actor: Actor, version: ModelVersion, validator) -> ValidatorAssignment:
    """Assign a validator (risk officer only). The first assignment moves submitted -> in_validation.

    Refused when the validator is not in the validator role, authored the version, or is in its team.
    """
    version = lock_version(version)
    guards.assign(actor, version).enforce()
    if not validator.groups.filter(name=Role.VALIDATOR).exists() or not validator.is_active:
        raise DomainError(_("%(user)s does not hold the validator role.") % {"user": validator},
                          code="not_a_validator")
    if validator.pk == version.author_id:
        raise DomainError(_("Segregation of duties: %(user)s authored v%(n)s and cannot validate it.")
                          % {"user": validator, "n": version.number}, code="sod_author")
    if validator.has_perm(registry_perms.TEAM_MEMBER, version):
        raise DomainError(_("Segregation of duties: %(user)s belongs to the development team '%(team)s' and cannot "
                            "validate its model.") % {"user": validator, "team": version.passport.development_team},
                          code="sod_team")
    if ValidatorAssignment.objects.filter(version=version, validator=validator).exists():
        raise Conflict(_("%(user)s is already assigned to v%(n)s.") % {"user": validator, "n": version.number},
                       code="already_assigned")
    assignment = create_validated(ValidatorAssignment, version=version, validator=validator, assigned_by=actor)
    audit_append(actor=actor, action="validator.assigned", obj=assignment, passport_key=version.passport.key,
                 data={"version": version.number, "validator": validator.get_username()})
    if version.state == VersionState.SUBMITTED:
        transition(version=version, to=VersionState.IN_VALIDATION, actor=actor, action="version.validation_started")
    notify([validator], f"You are assigned to validate {version}", f"{actor} assigned you to validate {version}.",
           path=version_path(version))
    return assignment


@transaction.atomic(durable=True)
def version_mark_validated(*, actor: Actor, version: ModelVersion) -> ModelVersion:
    """in_validation -> validated, by an assigned validator, once a validation report has been issued."""

    version = lock_version(version)
    guards.mark_validated(actor, version).enforce()
    report = report_in_force(version)
    if report is None:
        raise DomainError(_("Issue a validation report before completing the validation."), code="no_report")
    if report.rating == Rating.NOT_FIT:
        raise Conflict(_("The report in force rates the model not fit for use: reject the version instead of "
                         "completing its validation."), code="rated_not_fit")
    transition(version=version, to=VersionState.VALIDATED, actor=actor, action="version.validated",
               digests={"report_sha256": report.sha256})
    VersionReview.objects.filter(version=version).update(validated_at=timezone.now())
    notify(_signers_to_notify(version), f"{version} is validated and awaits sign-offs",
           f"{version} was validated by {actor}; report {report.sha256}.", path=version_path(version))
    return version


def _signers_to_notify(version):
    roles = [Role.RISK_OFFICER, Role.SECURITY]
    return [*users_in_role(roles[0]), *users_in_role(roles[1]), version.passport.business_owner]


@transaction.atomic(durable=True)
def version_reject(*, actor: Actor, version: ModelVersion, reason: str) -> ModelVersion:
    """Reject a submission or a version under review (risk officer); the author gets the reason."""
    version = lock_version(version)
    guards.reject(actor, version).enforce()
    return close_rejected(actor=actor, version=version, reason=reason, action="version.rejected")


def close_rejected(*, actor: Actor, version: ModelVersion, reason: str, action: str, data: dict | None = None):
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("A rejection needs a reason for the author."), code="required", field="reason")
    transition(version=version, to=VersionState.REJECTED, actor=actor, action=action,
               data={"reason": reason, **(data or {})})
    VersionReview.objects.filter(version=version).update(closed_reason=reason)
    notify([version.author, version.passport.technical_owner], f"{version} was rejected",
           f"{actor} rejected {version}:\n\n{reason}", path=version_path(version))
    return version


@transaction.atomic(durable=True)
def version_revoke(*, actor: Actor, version: ModelVersion, reason: str) -> ModelVersion:
    """approved -> revoked (after an incident, or at expiry). Serving stops or rolls back revoked versions."""
    version = lock_version(version)
    guards.revoke(actor, version).enforce()
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("A revocation needs a reason."), code="required", field="reason")
    transition(version=version, to=VersionState.REVOKED, actor=actor, action="version.revoked",
               data={"reason": reason})
    VersionReview.objects.filter(version=version).update(closed_reason=reason)
    notify([version.author, version.passport.technical_owner, version.passport.business_owner],
           f"Approval of {version} revoked", f"The approval of {version} was revoked: {reason}",
           path=version_path(version))
    return version


@transaction.atomic(durable=True)
def version_retire(*, actor: Actor, version: ModelVersion, reason: str = "") -> ModelVersion:
    """approved -> retired, by a risk officer or the passport's business owner."""
    version = lock_version(version)
    guards.retire(actor, version).enforce()
    return transition(version=version, to=VersionState.RETIRED, actor=actor, action="version.retired",
                      data={"reason": reason})


def approve(*, version: ModelVersion, actor: Actor, signoffs: list) -> ModelVersion:
    """validated -> approved (called by the sign-off service when the last required sign-off lands)."""
    review = VersionReview.objects.get(version=version)
    months = int(review.policy.get("approval_validity_months", 12))
    now = timezone.now()
    version.approval_expires_at = now + timedelta(days=round(months * 30.4375))
    transition(version=version, to=VersionState.APPROVED, actor=actor, action="version.approved",
               data={"signoffs": [s.pk for s in signoffs], "expires_at": version.approval_expires_at.isoformat()})
    VersionReview.objects.filter(pk=review.pk).update(approved_at=now)
    notify([version.author, version.passport.technical_owner, version.passport.business_owner],
           f"{version} approved", f"{version} is approved until {version.approval_expires_at:%Y-%m-%d}.",
           path=version_path(version))
    return version


def approvals_expire_and_notify(*, now=None, warn_days: int = 30) -> dict:
    """Beat task body: revoke approvals past their expiry; warn owners once of those expiring within warn_days."""
    now = now or timezone.now()
    expired = list(ModelVersion.objects.filter(state=VersionState.APPROVED, approval_expires_at__lte=now))
    for version in expired:
        version_revoke(actor=SYSTEM, version=version,
                       reason=f"Approval expired on {version.approval_expires_at:%Y-%m-%d}; revalidation required.")
    due = VersionReview.objects.filter(
        version__state=VersionState.APPROVED, version__approval_expires_at__lte=now + timedelta(days=warn_days),
        expiry_notified_at__isnull=True,
    ).select_related("version__passport__business_owner", "version__passport__technical_owner")
    warned = 0
    for review in due:
        with transaction.atomic(durable=True):
            if VersionReview.objects.filter(pk=review.pk, expiry_notified_at__isnull=True).update(
                    expiry_notified_at=now) == 0:
                continue
            version = review.version
            audit_append(actor=SYSTEM, action="version.revalidation_due", obj=version,
                         passport_key=version.passport.key,
                         data={"expires_at": version.approval_expires_at.isoformat()})
            notify([version.passport.business_owner, version.passport.technical_owner],
                   f"{version}: revalidation due", f"The approval of {version} expires on "
                   f"{version.approval_expires_at:%Y-%m-%d}. Register and submit a revalidated version.",
                   path=version_path(version))
            warned += 1
    return {"revoked": len(expired), "warned": warned}


def checklist_complete(version: ModelVersion) -> tuple[bool, list[str]]:
    """Complete = every item answered and none open. Returns (complete, codes still unanswered or open)."""
    missing = list(ChecklistItem.objects.filter(version=version, status__in=[
        ChecklistStatus.UNANSWERED, ChecklistStatus.OPEN]).values_list("code", flat=True))
    present = ChecklistItem.objects.filter(version=version).count()
    if present < len(CHECKLIST_CODES):
        missing += [c for c in CHECKLIST_CODES if not ChecklistItem.objects.filter(version=version, code=c).exists()]
    return not missing, sorted(set(missing))
