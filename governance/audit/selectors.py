"""Audit reads: the events a user may see, filtered."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from governance.audit.models import AuditEvent
from governance.audit.permissions import VIEW_AUDIT


def audit_event_list(*, user, filters: dict | None = None) -> QuerySet[AuditEvent]:
    """Audit events for users holding ``governance.view_auditevent`` (auditors, risk, security, admins); else none.

    filters: ``action`` (prefix), ``passport`` (key), ``actor`` (username), ``object_type``, ``date_from`` and
    ``date_to`` (dates, inclusive, in UTC).
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
    if date_from := filters.get("date_from"):
        qs = qs.filter(occurred_at__gte=_utc_midnight(date_from))
    if date_to := filters.get("date_to"):
        qs = qs.filter(occurred_at__lt=_utc_midnight(date_to + dt.timedelta(days=1)))
    return qs.order_by("-seq")


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def audit_filter_options(*, user) -> dict[str, list[str]]:
    """What the log's filters offer: the actions, actors and passports that occur in the events ``user`` may see."""
    events = audit_event_list(user=user).order_by()
    return {
        "actions": sorted(events.values_list("action", flat=True).distinct()[:500]),
        "actors": sorted(events.values_list("actor_repr", flat=True).distinct()[:500], key=str.casefold),
        "passports": sorted(events.exclude(passport_key="").values_list("passport_key", flat=True).distinct()[:500]),
    }
