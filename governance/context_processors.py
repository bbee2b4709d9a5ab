"""Template context: the navigation that later capabilities plug into."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, IntegerField, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.jobs.selectors import job_counts
from governance.ledger.permissions import managed_units
from governance.workflow.choices import FindingStatus
from governance.workflow.models import Finding, ValidatorAssignment
from governance.workflow.selectors import WARN_DAYS
from registry.choices import VALIDATION_STATES, VersionState
from registry.models import ModelPassport, ModelVersion

NAV_ITEMS = [
    ("passports", _("Passports"), "registry:passport_list", None),
    ("inbox", _("My reviews"), "governance:inbox", None),
    ("portfolio", _("Portfolio"), "governance:portfolio", None),
    ("validation", _("Validation"), "validation:run_list", None),
    ("serving", _("Serving"), "serving:overview", None),
    ("finance", _("Finance"), "governance:finance_portfolio", "governance.view_ledgerentry"),
    ("audit", _("Audit log"), "governance:audit_log", "governance.view_auditevent"),
]  # personal pages (API tokens) and administration (webhooks) sit in the user menu


def _count(qs):
    counted = qs.order_by().values(_k=Value(1)).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def inbox_counts(user) -> dict:
    """The navbar badge of "My reviews", in one query: validations assigned to the user, open findings they own
    (and how many are overdue), their approvals expiring within 30 days.

    Sign-offs due are left out: deciding them takes the full eligibility rules per version (the page shows them).
    """

    me = user.pk
    findings = Finding.objects.filter(owner_id=me, status=FindingStatus.OPEN)
    soon = timezone.now() + timedelta(days=WARN_DAYS)
    expiring = ModelVersion.objects.filter(state=VersionState.APPROVED, approval_expires_at__lte=soon)
    # Two disjoint counts instead of one OR across a join: each is an index lookup on the owner or author column.
    owned = Q(passport__business_owner_id=me) | Q(passport__technical_owner_id=me)
    row = get_user_model().objects.filter(pk=me).annotate(
        assigned=_count(ValidatorAssignment.objects.filter(
            validator_id=me, version__state__in=VALIDATION_STATES)),
        findings=_count(findings),
        overdue=_count(findings.filter(due_date__lt=timezone.localdate())),
        expiring_owned=_count(expiring.filter(owned)),
        expiring_authored=_count(expiring.filter(author_id=me).exclude(owned)),
    ).values("assigned", "findings", "overdue", "expiring_owned", "expiring_authored").first() or {}
    expiring_total = row.get("expiring_owned", 0) + row.get("expiring_authored", 0)
    return {"total": row.get("assigned", 0) + row.get("findings", 0) + expiring_total,
            "overdue": row.get("overdue", 0)}


def _reads_some_ledger(user) -> bool:
    """Business owners and users granted a business unit read those ledgers without the finance read role
    (governance.ledger.permissions). Two index lookups rather than one OR across passports, which would scan
    every passport for a user who reads none."""

    return ModelPassport.objects.filter(business_owner_id=user.pk).exists() or managed_units(user).exists()


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = []
    for key, label, url_name, perm in NAV_ITEMS:
        if perm and not user.has_perm(perm) and not (key == "finance" and _reads_some_ledger(user)):
            continue
        try:
            items.append({"key": key, "label": label, "url": reverse(url_name)})
        except NoReverseMatch:
            continue
    for item in items:
        if item["key"] == "inbox":
            counts = inbox_counts(user)
            item["badge"] = counts["total"] or None
            item["badge_alert"] = counts["overdue"] > 0
            item["badge_title"] = _("Assigned validations, open findings you own and approvals expiring soon")
    return {"nav_items": items, "nav_jobs": job_counts(user=user)}
