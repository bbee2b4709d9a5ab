"""Query parameters of the audit API, validated here and applied by ``governance.audit.selectors``."""

from __future__ import annotations

import django_filters

from governance.audit.models import AuditEvent


class AuditEventFilterSet(django_filters.FilterSet):
    """Query parameters of the audit list; ``governance.audit.selectors.audit_event_list`` applies them."""

    action = django_filters.CharFilter(help_text="Action, or its prefix (`version.` matches every version event).")
    passport = django_filters.CharFilter(help_text="Passport key.")
    actor = django_filters.CharFilter(help_text="Username of the actor.")
    object_type = django_filters.CharFilter(help_text="`app_label.model`, e.g. `registry.modelversion`.")
    date_from = django_filters.DateFilter(help_text="Events on or after this day (UTC), `YYYY-MM-DD`.")
    date_to = django_filters.DateFilter(help_text="Events on or before this day (UTC), `YYYY-MM-DD`.")

    class Meta:
        model = AuditEvent
        fields: list[str] = []
