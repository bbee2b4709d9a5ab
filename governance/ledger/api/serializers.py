"""Finance API serializers: ledger entries, business cases, A/B results, figures, the portfolio and imports.

Money is always a decimal string (never a float). Input serializers check types only; the ledger services own
every business rule (sign, precision per currency, rates, periods, permissions).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import MAX_ID
from governance.ledger.choices import LedgerCategory, LedgerSource
from governance.ledger.math import years_months
from governance.ledger.models import BusinessCase, LedgerEntry
from registry.choices import RiskTier

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})(?:-01)?$")
_SOURCES = "Where the figure came from: " + ", ".join(f"`{value}`" for value in LedgerSource.values) + "."
MONTH_SCHEMA = {"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2025-03",
                "description": "A month, YYYY-MM."}


def money(**kwargs) -> serializers.DecimalField:
    """Output money: a decimal string with two places (amounts in base currency, totals)."""
    return serializers.DecimalField(max_digits=None, decimal_places=2, read_only=True, **kwargs)


def ratio(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=None, decimal_places=4, read_only=True, allow_null=True, **kwargs)


@extend_schema_field(MONTH_SCHEMA)
class MonthField(serializers.Field):
    """A month as ``YYYY-MM`` (``YYYY-MM-01`` accepted), stored as its first day."""

    default_error_messages = {"invalid": "Give a month as YYYY-MM."}

    def to_internal_value(self, data) -> date:
        match = MONTH_RE.match(data) if isinstance(data, str) else None
        if not match:
            self.fail("invalid")
        try:
            return date(int(match.group(1)), int(match.group(2)), 1)
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value: date) -> str:
        return f"{value:%Y-%m}"


def positive_amount(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=18, decimal_places=3, min_value=Decimal("0.001"), **kwargs)


def fx_rate(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=18, decimal_places=8, min_value=Decimal("0.00000001"), required=False, allow_null=True,
        help_text="Units of the base currency per unit of `currency`, captured at booking; 1 (or omitted) for "
        "the base currency itself, required otherwise.", **kwargs)


def currency_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(min_length=3, max_length=3, help_text="ISO 4217 code, e.g. EUR, USD, JPY.",
                                 **kwargs)


# --------------------------------------------------------------------------- entries


class LedgerEntrySerializer(serializers.ModelSerializer):
    """An entry as booked. ``amount`` and ``amount_base`` are signed: benefits positive, costs negative."""

    passport = serializers.CharField(source="passport.key", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True, allow_null=True)
    business_unit = serializers.CharField(source="business_unit.code", read_only=True)
    period = MonthField(read_only=True)
    amount = serializers.DecimalField(max_digits=18, decimal_places=3, read_only=True,
                                      help_text="Signed, in `currency` (as many decimals as it has minor units).")
    fx_rate_to_base = serializers.DecimalField(max_digits=18, decimal_places=8, read_only=True)
    amount_base = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True,
                                           help_text="Signed, in `base_currency`: amount x rate, rounded half-even "
                                           "once at booking.")
    reversal_of = serializers.IntegerField(source="reversal_of_id", read_only=True, allow_null=True,
                                           help_text="Id of the entry this one reverses.")
    reversed_by = serializers.SerializerMethodField(help_text="Id of the entry that reverses this one.")
    booked_by = serializers.CharField(source="booked_by_name", read_only=True,
                                      help_text="The person who booked it, or `serving usage` for metered inference.")
    evidence_file = serializers.SerializerMethodField()
    evidence_url = serializers.SerializerMethodField()
    source = serializers.CharField(read_only=True, help_text=_SOURCES)

    class Meta:
        model = LedgerEntry
        fields = ["id", "passport", "version", "business_unit", "period", "booking_date", "category", "source",
                  "amount", "currency", "fx_rate_to_base", "amount_base", "base_currency", "predictions",
                  "description", "evidence_text", "evidence_url", "evidence_file", "evidence_sha256", "reversal_of",
                  "reversed_by", "booked_by", "booked_at"]
        read_only_fields = fields

    def get_reversed_by(self, entry: LedgerEntry) -> int | None:
        reversal = getattr(entry, "reversed_by", None)
        return reversal.pk if reversal else None

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_evidence_url(self, entry: LedgerEntry) -> str | None:
        """The evidence link, or null (never an empty string, which is no URI)."""
        return entry.evidence_url or None

    def get_evidence_file(self, entry: LedgerEntry) -> str | None:
        """The stored evidence file's name (sha256-named), or null."""
        return entry.evidence_file.name or None


class EntryCreateSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=LedgerCategory.choices)
    amount = positive_amount(help_text="A positive magnitude; the category gives the sign.")
    currency = currency_field()
    fx_rate_to_base = fx_rate()
    period = MonthField()
    booking_date = serializers.DateField(required=False, help_text="Defaults to today.")
    version = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID,
                                       help_text="Version number of this passport, if the entry is about one.")
    # A plain string: "source" names another choice set elsewhere in the schema (validation reports).
    source = serializers.CharField(required=False, max_length=20, default=LedgerSource.MANUAL,
                                   help_text="`manual` (default) or `serving_usage`; A/B results and imports have "
                                   "their own endpoints.")
    description = serializers.CharField(max_length=300)
    evidence_text = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    evidence_url = serializers.URLField(required=False, allow_blank=True, max_length=500)
    evidence_file = serializers.FileField(required=False, help_text="Multipart requests only.")
    predictions = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_ID,
                                           help_text="Served predictions an inference cost covers.")


class ReverseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


# --------------------------------------------------------------------------- business case


class PlanLineSerializer(serializers.Serializer):
    year_index = serializers.IntegerField(min_value=0, max_value=30, help_text="0 is the initial investment.")
    category = serializers.ChoiceField(choices=LedgerCategory.choices)
    amount = positive_amount(help_text="Planned magnitude in the case's currency; the category gives the sign.")


class PlanLineOutSerializer(serializers.Serializer):
    year_index = serializers.IntegerField(read_only=True)
    category = serializers.ChoiceField(choices=LedgerCategory.choices, read_only=True)
    amount = serializers.DecimalField(max_digits=18, decimal_places=3, source="magnitude", read_only=True,
                                      help_text="Planned magnitude in the case's currency.")
    amount_base = money(help_text="Signed, in the base currency.")


class BusinessCaseSerializer(serializers.ModelSerializer):
    lines = PlanLineOutSerializer(many=True, read_only=True)
    updated_by = serializers.CharField(source="updated_by.username", read_only=True)
    discount_rate = serializers.DecimalField(max_digits=7, decimal_places=6, read_only=True)
    fx_rate_to_base = serializers.DecimalField(max_digits=18, decimal_places=8, read_only=True)

    class Meta:
        model = BusinessCase
        fields = ["currency", "fx_rate_to_base", "base_currency", "discount_rate", "horizon_years", "first_year",
                  "notes", "lines", "updated_by", "updated_at"]
        read_only_fields = fields


class BusinessCaseInputSerializer(serializers.Serializer):
    currency = currency_field()
    fx_rate_to_base = fx_rate()
    discount_rate = serializers.DecimalField(max_digits=7, decimal_places=6, min_value=Decimal(0),
                                             help_text="Per year, as a fraction: 0.08 is 8 %.")
    horizon_years = serializers.IntegerField(min_value=1, max_value=30)
    first_year = serializers.IntegerField(min_value=2000, max_value=2100, help_text="Calendar year of year 1.")
    notes = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    lines = PlanLineSerializer(many=True, allow_empty=False, max_length=1000)


# --------------------------------------------------------------------------- figures


class PaybackSerializer(serializers.Serializer):
    years = serializers.DecimalField(max_digits=None, decimal_places=2, read_only=True,
                                     help_text="Fractional years, e.g. 2.14.")
    whole_years = serializers.IntegerField(read_only=True)
    months = serializers.IntegerField(read_only=True, help_text="Months after the whole years, rounded up.")


def payback_data(years: Decimal | None) -> dict | None:
    if years is None:
        return None

    whole, months = years_months(years)
    return {"years": years, "whole_years": whole, "months": months}


class PlanFiguresSerializer(serializers.Serializer):
    net = money()
    roi = ratio()
    npv = money(allow_null=True)
    payback = PaybackSerializer(allow_null=True, read_only=True)
    discount_rate = serializers.DecimalField(max_digits=7, decimal_places=6, read_only=True)
    horizon_years = serializers.IntegerField(read_only=True)
    plan_to_date = money(help_text="Planned net to the end of this month (the current year pro rata).")
    variance_to_date = money(help_text="Actual net minus plan to date.")


class YearFiguresSerializer(serializers.Serializer):
    year_index = serializers.IntegerField(read_only=True, help_text="0 is the initial investment.")
    calendar_year = serializers.IntegerField(read_only=True, allow_null=True)
    planned_benefits = money()
    planned_costs = money()
    planned_net = money()
    future = serializers.BooleanField(read_only=True, help_text="The year has not begun: no actuals, no variance.")
    to_date = serializers.BooleanField(read_only=True, help_text="The current year: compared with the plan to date.")
    actual_benefits = money(allow_null=True)
    actual_costs = money(allow_null=True)
    actual_net = money(allow_null=True)
    planned_to_date = money(allow_null=True, help_text="The current year's plan to the end of this month.")
    variance = money(allow_null=True, help_text="Actual net minus planned net (to date in the current year); null "
                                                "for a year that has not begun.")
    cumulative_planned = money()
    cumulative_actual = money(allow_null=True)


class LedgerFiguresSerializer(serializers.Serializer):
    """Derived figures of one passport, in the base currency; costs are positive magnitudes here."""

    passport = serializers.CharField(read_only=True)
    base_currency = serializers.CharField(read_only=True)
    benefits = money()
    costs = money()
    net = money(help_text="Cumulative net P&L.")
    roi = ratio(help_text="Net / costs (0.25 is 25 %); null without costs.")
    payback = PaybackSerializer(allow_null=True, read_only=True, help_text="Null until paid back.")
    npv = money(allow_null=True, help_text="At the business case's discount rate; null without one.")
    inference_costs = money()
    predictions = serializers.IntegerField(read_only=True, allow_null=True)
    cost_per_1000_inferences = ratio(help_text="Null until serving reports usage.")
    first_year = serializers.IntegerField(read_only=True, allow_null=True)
    plan = PlanFiguresSerializer(allow_null=True, read_only=True)
    years = YearFiguresSerializer(many=True, read_only=True)


# --------------------------------------------------------------------------- A/B results


class AbResultInputSerializer(serializers.Serializer):
    experiment = serializers.CharField(max_length=200, help_text="Name or reference of the experiment.")
    category = serializers.ChoiceField(choices=LedgerCategory.choices, default=LedgerCategory.REVENUE_UPLIFT,
                                       help_text="A benefit category: revenue_uplift, cost_saving or loss_avoided.")
    uplift = serializers.DecimalField(max_digits=24, decimal_places=10,
                                      help_text="Measured uplift per unit: money, or a rate with value_per_unit.")
    ci_low = serializers.DecimalField(max_digits=24, decimal_places=10)
    ci_high = serializers.DecimalField(max_digits=24, decimal_places=10)
    confidence = serializers.DecimalField(max_digits=5, decimal_places=4, default=Decimal("0.95"),
                                          min_value=Decimal("0.5"), max_value=Decimal("0.9999"))
    volume = serializers.DecimalField(max_digits=20, decimal_places=4, min_value=Decimal("0.0001"),
                                      help_text="Units over the period (transactions, visitors...).")
    value_per_unit = serializers.DecimalField(max_digits=20, decimal_places=6, default=Decimal(1),
                                              min_value=Decimal("0.000001"),
                                              help_text="Money per unit of uplift when the uplift is a rate.")
    period_from = MonthField()
    period_to = MonthField()
    currency = currency_field()
    fx_rate_to_base = fx_rate()
    version = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID)
    evidence_url = serializers.URLField(required=False, allow_blank=True, max_length=500)


class AbEntrySerializer(serializers.Serializer):
    period = MonthField(read_only=True)
    amount = serializers.DecimalField(max_digits=None, decimal_places=3, read_only=True)
    amount_base = money()


class AbCalculationSerializer(serializers.Serializer):
    experiment = serializers.CharField(read_only=True)
    category = serializers.CharField(read_only=True)
    currency = serializers.CharField(read_only=True)
    base_currency = serializers.CharField(read_only=True)
    fx_rate_to_base = serializers.DecimalField(max_digits=None, decimal_places=8, read_only=True)
    benefit = serializers.DecimalField(max_digits=None, decimal_places=3, read_only=True,
                                       help_text="uplift x volume x value per unit, in `currency`.")
    benefit_low = serializers.DecimalField(max_digits=None, decimal_places=3, read_only=True)
    benefit_high = serializers.DecimalField(max_digits=None, decimal_places=3, read_only=True)
    significant = serializers.BooleanField(read_only=True, help_text="False when the interval includes no effect: "
                                           "such a result is not booked.")
    formula = serializers.CharField(read_only=True)
    explanation = serializers.CharField(read_only=True, help_text="The text booked as each entry's evidence.")
    entries = AbEntrySerializer(many=True, read_only=True)
    total_base = money()


class AbBookedSerializer(serializers.Serializer):
    calculation = AbCalculationSerializer(read_only=True)
    entries = LedgerEntrySerializer(many=True, read_only=True)


# --------------------------------------------------------------------------- portfolio


class PortfolioRowSerializer(serializers.Serializer):
    passport = serializers.CharField(source="key", read_only=True)
    name = serializers.CharField(read_only=True)
    business_unit = serializers.CharField(source="business_unit.code", read_only=True)
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, read_only=True)
    benefits = money()
    costs = money()
    net = money()
    roi = ratio()
    payback = serializers.SerializerMethodField()
    plan_variance = money(allow_null=True, help_text="Net minus plan to date; null without a business case.")

    @extend_schema_field(PaybackSerializer(allow_null=True))
    def get_payback(self, passport):
        data = payback_data(passport.payback_years)
        return None if data is None else PaybackSerializer(data).data


class PortfolioTotalsSerializer(serializers.Serializer):
    passports = serializers.IntegerField(read_only=True)
    benefits = money()
    costs = money()
    net = money()
    roi = ratio()
    plan_variance = money(allow_null=True)


class PortfolioPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(read_only=True)
    next = serializers.URLField(read_only=True, allow_null=True)
    previous = serializers.URLField(read_only=True, allow_null=True)
    base_currency = serializers.CharField(read_only=True)
    totals = PortfolioTotalsSerializer(read_only=True)
    results = PortfolioRowSerializer(many=True, read_only=True)


# --------------------------------------------------------------------------- import


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, UTF-8, with a header row: passport, period (YYYY-MM), category, "
                                 "amount (positive), currency, description; optional version, booking_date, "
                                 "fx_rate_to_base, evidence_text, evidence_url, predictions.")
    dry_run = serializers.BooleanField(default=True, help_text="Check and preview only (the default).")


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(read_only=True, help_text="Line in the file; the header is line 1.")
    field = serializers.CharField(read_only=True, allow_null=True)
    message = serializers.CharField(read_only=True)


class ImportPreviewRowSerializer(serializers.Serializer):
    passport = serializers.CharField(source="passport.key", read_only=True)
    period = MonthField(read_only=True)
    category = serializers.CharField(read_only=True)
    amount = serializers.DecimalField(max_digits=None, decimal_places=3, read_only=True)
    currency = serializers.CharField(read_only=True)
    amount_base = money()


class ImportResultSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(read_only=True)
    ok = serializers.BooleanField(read_only=True, help_text="True when every row is good.")
    rows = serializers.IntegerField(read_only=True)
    booked = serializers.IntegerField(read_only=True, help_text="Entries booked (0 on a dry run or any error).")
    sha256 = serializers.CharField(read_only=True)
    errors = ImportErrorSerializer(many=True, read_only=True)
    totals = serializers.DictField(child=serializers.DecimalField(max_digits=None, decimal_places=2),
                                   read_only=True, help_text="Sum of amount_base per base currency of the rows.")
    preview = ImportPreviewRowSerializer(many=True, read_only=True)
    entry_ids = serializers.ListField(child=serializers.IntegerField(), read_only=True)
