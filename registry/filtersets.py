"""Query parameters of registry lists, validated here and applied by ``registry.selectors``.

The filtersets check and document the values (the API schema, the UI's filter forms); the selectors own the
filtering, so the UI and the API filter alike.
"""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from registry.choices import RiskTier, VersionState
from registry.models import ModelPassport


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    """A positive 64-bit id (NumberFilter alone would accept and truncate decimals)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class PassportFilterSet(django_filters.FilterSet):
    """The filters of ``registry.selectors.passport_list``."""

    q = django_filters.CharFilter(help_text="Key or name contains (case-insensitive).")
    tier = django_filters.ChoiceFilter(choices=RiskTier.choices, help_text="Risk tier (1 high .. 3 low).")
    owner = IdFilter(help_text="User id of the business or technical owner.")
    state = django_filters.ChoiceFilter(choices=VersionState.choices,
                                        help_text="Has at least one version in this state.")
    business_unit = django_filters.CharFilter(help_text="Business unit code (or id).")

    class Meta:
        model = ModelPassport
        fields: list[str] = []
