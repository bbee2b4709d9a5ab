"""Audit reads: the events a user may see, filtered."""

from __future__ import annotations

from django.db.models import QuerySet

from governance.audit.models import AuditEvent
from governance.audit.permissions import VIEW_AUDIT


def audit_event_list(*, user, filters: dict | None = None) -> QuerySet[AuditEvent]:
    """Audit events for users holding ``governance.view_auditevent`` (auditors, risk, security, admins); else none.

    filters: ``action`` (prefix), ``passport`` (key), ``actor`` (username), ``object_type``.
    """
    if not user.has_perm(VIEW_AUDIT):
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
