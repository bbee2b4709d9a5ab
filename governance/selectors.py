"""Governance reads: audit events and API tokens, limited to what the user may see."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import ApiToken, AuditEvent


def audit_event_list(*, user, filters: dict | None = None) -> QuerySet[AuditEvent]:
    """Audit events for users holding ``governance.view_auditevent`` (auditors, risk, security, admins); else none.

    filters: ``action`` (prefix), ``passport`` (key), ``actor`` (username), ``object_type``.
    """
    if not user.has_perm("governance.view_auditevent"):
        return AuditEvent.objects.none()
    filters = filters or {}
    qs = AuditEvent.objects.select_related("actor")
    if action := filters.get("action"):
        qs = qs.filter(action__startswith=action)
    if passport := filters.get("passport"):
        qs = qs.filter(passport_key=passport)
    if actor := filters.get("actor"):
        qs = qs.filter(actor_repr=actor)
    if object_type := filters.get("object_type"):
        qs = qs.filter(object_type=object_type)
    return qs.order_by("-seq")


def token_list(*, user) -> QuerySet[ApiToken]:
    """A user's own tokens; administrators see everyone's."""
    qs = ApiToken.objects.select_related("user")
    return qs if user.is_superuser else qs.filter(user=user)
