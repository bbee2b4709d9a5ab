"""Query parameters of the ledger API (entries, exports, portfolio), validated here and applied by the ledger
selectors."""

from __future__ import annotations

from datetime import date

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

from governance.ledger import selectors as ledger_selectors
from governance.ledger.api.serializers import (
    MONTH_RE,
    MONTH_SCHEMA,
)
from governance.ledger.choices import LedgerCategory, LedgerSource
from governance.ledger.models import LedgerEntry
from registry.choices import RiskTier
from registry.filtersets import IdFilter
from registry.models import ModelPassport


class MonthFormField(forms.Field):
    """``YYYY-MM`` (or ``YYYY-MM-01``) as the month's first day."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        match = MONTH_RE.match(str(value))
        try:
            if not match:
                raise ValueError
            return date(int(match.group(1)), int(match.group(2)), 1)
        except ValueError:
            raise forms.ValidationError("Give a month as YYYY-MM.", code="invalid")


@extend_schema_field(MONTH_SCHEMA)
class MonthFilter(django_filters.Filter):
    field_class = MonthFormField


class EntryFilterSet(django_filters.FilterSet):
    """Query parameters of ledger entry lists and exports; ``governance.ledger.selectors.entry_list`` applies them."""

    category = django_filters.ChoiceFilter(choices=LedgerCategory.choices)
    source = django_filters.ChoiceFilter(choices=LedgerSource.choices)
    period_from = MonthFilter(help_text="First month included, YYYY-MM.")
    period_to = MonthFilter(help_text="Last month included, YYYY-MM.")
    version = IdFilter(help_text="Version number.")
    reversals = django_filters.BooleanFilter(help_text="true: only reversals; false: no reversals.")

    class Meta:
        model = LedgerEntry
        fields: list[str] = []


class AllEntriesFilterSet(EntryFilterSet):
    passport = django_filters.CharFilter(help_text="Passport key.")
    business_unit = django_filters.CharFilter(help_text="Business unit code.")

    class Meta(EntryFilterSet.Meta):
        pass


class ExportFilterSet(django_filters.FilterSet):
    file_format = django_filters.ChoiceFilter(choices=[("csv", "CSV"), ("xlsx", "Excel")])

    class Meta:
        model = LedgerEntry
        fields: list[str] = []


PORTFOLIO_ORDER_CHOICES = [(f"{sign}{name}", f"{sign}{name}") for name in ledger_selectors.PORTFOLIO_ORDERING
                           for sign in ("", "-")]


class PortfolioFilterSet(django_filters.FilterSet):
    business_unit = django_filters.CharFilter(help_text="Business unit code.")
    tier = django_filters.ChoiceFilter(choices=RiskTier.choices, help_text="Risk tier (1 high .. 3 low).")
    q = django_filters.CharFilter(help_text="Key or name contains (case-insensitive).")
    ordering = django_filters.ChoiceFilter(choices=PORTFOLIO_ORDER_CHOICES,
                                           help_text="Sort column, `-` for descending (nulls last); default key.")
    file_format = django_filters.ChoiceFilter(choices=[("csv", "CSV"), ("xlsx", "Excel")])

    class Meta:
        model = ModelPassport
        fields: list[str] = []
