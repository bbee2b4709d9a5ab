"""Query parameters of the workflow API's finding list, validated here and applied by the workflow selectors."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema_field

from governance.workflow.choices import FindingSeverity, FindingStatus
from governance.workflow.models import Finding


@extend_schema_field({"type": "string", "maxLength": 150})
class _UsernameFilter(django_filters.CharFilter):
    """A username: at most 150 characters, like the user model's."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 150)
        super().__init__(*args, **kwargs)


@extend_schema_field({"type": "string", "maxLength": 100})
class _KeyFilter(django_filters.CharFilter):
    """A passport key: at most 100 characters, like the passport model's."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 100)
        super().__init__(*args, **kwargs)


class FindingFilterSet(django_filters.FilterSet):
    """Query parameters of the findings list; :func:`finding_list` applies them."""

    status = django_filters.ChoiceFilter(choices=FindingStatus.choices)
    severity = django_filters.ChoiceFilter(choices=FindingSeverity.choices)
    owner = _UsernameFilter(help_text="Username of the finding's owner.")
    passport = _KeyFilter(help_text="Passport key.")
    overdue = django_filters.BooleanFilter(help_text="`true`: open and past due; `false`: all others.")

    class Meta:
        model = Finding
        fields: list[str] = []
