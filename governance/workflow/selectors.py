"""Governance reads: audit events and API tokens, limited to what the user may see."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from core.errors import DomainError
from governance.audit.models import AuditEvent
from governance.workflow import guards
from governance.workflow.choices import FindingStatus, SignoffRole
from governance.workflow.models import Finding, SignOff, ValidatorAssignment, VersionReview
from governance.workflow.services.signoffs import check_eligible, signoff_status
from registry.choices import VALIDATION_STATES, VersionState
from registry.models import ModelVersion
from registry.permissions import restrict_passports
from validation.choices import Rating
from validation.models import ValidationReport


def finding_list(*, user, filters: dict | None = None) -> QuerySet[Finding]:
    """Findings on versions of passports ``user`` may see, soonest due first.

    filters: ``status``, ``severity``, ``owner`` (username), ``passport`` (key), ``overdue`` (True: open and past
    due; False: the others).
    """
    filters = filters or {}
    qs = restrict_passports(Finding.objects.all(), user, prefix="version__passport__")
    if value := filters.get("status"):
        qs = qs.filter(status=value)
    if value := filters.get("severity"):
        qs = qs.filter(severity=value)
    if value := filters.get("owner"):
        qs = qs.filter(owner__username=value)
    if value := filters.get("passport"):
        qs = qs.filter(version__passport__key=value)
    if filters.get("overdue") is not None:
        overdue = {"status": FindingStatus.OPEN, "due_date__lt": timezone.localdate()}
        qs = qs.filter(**overdue) if filters["overdue"] else qs.exclude(**overdue)
    return qs.select_related("version__passport", "owner", "raised_by", "accepted_by").order_by("due_date", "pk")


# --- workflow ---------------------------------------------------------------------------------------------------

WARN_DAYS = 30


def eligible_signoff_roles(user, version) -> list[str]:
    """The required roles ``user`` could sign in now (same rules as the sign-off service, without raising)."""

    if version.state not in VALIDATION_STATES:
        return []
    review = VersionReview.objects.filter(version=version).first()
    if review is None:
        return []
    status = signoff_status(version)
    roles = []
    for role in review.required_roles:
        if role in status.current and version.state == VersionState.VALIDATED:
            continue
        try:
            check_eligible(user, version, role)
        except DomainError:
            continue
        roles.append(role)
    return roles


def available_actions(user, version, *, signoff_roles: list[str] | None = None) -> set[str]:
    """Which workflow verbs ``user`` may use on ``version`` now; the UI shows buttons only for these.

    ``signoff_roles``: ``eligible_signoff_roles(user, version)`` when the caller has computed it already."""
    actions = {verb for verb, verdict in guards.verdicts(user, version).items() if verdict}
    if signoff_roles is None:
        signoff_roles = eligible_signoff_roles(user, version)
    if signoff_roles:
        actions.add("sign")
    return actions


def version_history(version):
    """Audit events about the version and its review records, oldest first."""

    return AuditEvent.objects.filter(
        Q(object_type="registry.modelversion", object_id=str(version.pk))
        | Q(passport_key=version.passport.key, data__version=version.number)
    ).select_related("actor").order_by("seq")


def inbox(*, user) -> dict:
    """What waits on ``user``: assigned validations, sign-offs due, findings they own, approvals expiring soon."""


    visible = restrict_passports(ModelVersion.objects.all(), user, prefix="passport__").select_related(
        "passport", "author")
    assigned = visible.filter(
        pk__in=ValidatorAssignment.objects.filter(validator=user).values("version_id"),
        state__in=VALIDATION_STATES)
    candidates = visible.filter(state=VersionState.VALIDATED)
    signoffs_due = [v for v in candidates if eligible_signoff_roles(user, v)]
    findings = restrict_passports(Finding.objects.all(), user, prefix="version__passport__").filter(
        owner=user, status=FindingStatus.OPEN).select_related(
        "version__passport").order_by("due_date")
    soon = timezone.now() + timedelta(days=WARN_DAYS)
    expiring = visible.filter(state=VersionState.APPROVED, approval_expires_at__lte=soon).filter(
        Q(passport__business_owner=user) | Q(passport__technical_owner=user) | Q(author=user)
    ).order_by("approval_expires_at")
    return {"assigned": list(assigned), "signoffs_due": signoffs_due, "findings": list(findings),
            "expiring": list(expiring), "voided": voided_signoffs(user=user)}


def voided_signoffs(*, user) -> list[SignOff]:
    """``user``'s sign-offs that stopped counting on versions still awaiting sign-off, and that they have not
    signed again since: each with when and why (``voided_at``, ``voided_reason``)."""
    signed_again = SignOff.objects.filter(version=OuterRef("version"), role=OuterRef("role"), signer=user,
                                          signed_at__gt=OuterRef("signed_at"))
    mine = SignOff.objects.filter(signer=user, voided_at__isnull=False, version__state=VersionState.VALIDATED)
    voided = list(restrict_passports(mine, user, prefix="version__passport__").exclude(Exists(signed_again))
                  .select_related("version__passport").order_by("-voided_at"))
    for signoff in voided:
        signoff.role_label = SignoffRole(signoff.role).label if signoff.role in SignoffRole.values else signoff.role
    return voided


def portfolio_summary(*, user) -> dict:
    """Counts of versions by state and tier, overdue findings and approvals expiring within 30 days."""


    versions = restrict_passports(ModelVersion.objects.all(), user, prefix="passport__")
    by_state_tier = list(versions.values("state", "passport__risk_tier").annotate(n=Count("pk")).order_by())
    today = timezone.localdate()
    overdue = Finding.objects.filter(version__in=versions, status=FindingStatus.OPEN, due_date__lt=today)
    expiring = versions.filter(state=VersionState.APPROVED,
                               approval_expires_at__lte=timezone.now() + timedelta(days=WARN_DAYS))
    return {
        "by_state_tier": [{"state": r["state"], "tier": r["passport__risk_tier"], "count": r["n"]}
                          for r in by_state_tier],
        "overdue_findings": list(overdue.select_related("version__passport", "owner").order_by("due_date")[:100]),
        "overdue_count": overdue.count(),
        "expiring": list(expiring.select_related("passport").order_by("approval_expires_at")[:100]),
        "expiring_count": expiring.count(),
        "open_findings_by_severity": dict(
            Finding.objects.filter(version__in=versions, status=FindingStatus.OPEN).values_list("severity")
            .annotate(n=Count("pk")).order_by()),
        "ratings": ratings_in_force(versions),
    }


def ratings_in_force(versions) -> dict:
    """How many of ``versions`` under review or approved have a report in force rated each way (``""``: issued
    before ratings existed)."""
    newest = ValidationReport.objects.filter(version=OuterRef("pk")).order_by("-issued_at", "-pk").values("rating")
    rows = (versions.filter(state__in=[*VALIDATION_STATES, VersionState.APPROVED])
            .annotate(rating=Subquery(newest[:1])).exclude(rating__isnull=True)
            .values("rating").annotate(n=Count("pk")).order_by())
    counts = dict.fromkeys(Rating.values, 0) | {"": 0}
    for row in rows:
        counts[row["rating"]] = counts.get(row["rating"], 0) + row["n"]
    return counts
