"""Query parameters of the workflow API's finding list, validated here and applied by the workflow selectors."""

from __future__ import annotations

import django_filters

from governance.workflow.choices import FindingSeverity, FindingStatus
from governance.workflow.models import Finding


class FindingFilterSet(django_filters.FilterSet):
    """Query parameters of the findings list; :func:`finding_list` applies them."""

    status = django_filters.ChoiceFilter(choices=FindingStatus.choices)
    severity = django_filters.ChoiceFilter(choices=FindingSeverity.choices)
    owner = django_filters.CharFilter(help_text="Username of the finding's owner.")
    passport = django_filters.CharFilter(help_text="Passport key.")
    overdue = django_filters.BooleanFilter(help_text="`true`: open and past due; `false`: all others.")

    class Meta:
        model = Finding
        fields: list[str] = []
