"""Finance: the append-only ROI / P&L ledger of a passport and its business case (the approved plan).

Sign convention: ``amount`` and ``amount_base`` are signed P&L effects, benefits positive and costs negative
(the category decides; people enter positive magnitudes and ``governance.ledger.services`` applies the sign).
A reversal carries the exact negation of the entry it reverses, so the two sum to zero in every column.

Rounding: ``amount_base`` is ``amount * fx_rate_to_base`` rounded once, at booking, half-to-even to the base
currency's minor unit, and stored. Every figure is a SQL ``SUM`` of stored ``amount_base`` values, so a total
always equals the sum of the rows a user can see (no re-conversion, no cent lost or created by aggregation).

Every row here is written only by ``governance.ledger.services``; ledger entries are never updated or deleted
(on PostgreSQL a trigger refuses UPDATE and DELETE).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.text import LONG_TEXT, limited
from governance.ledger.choices import LedgerCategory, LedgerSource


def evidence_path(instance: LedgerEntry, filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"ledger/{instance.passport.key}/{instance.evidence_sha256}.{suffix[:10]}"


METERED_BY = "serving usage"  # the system actor that books metered inference costs


class LedgerEntry(models.Model):
    """One booking of a benefit or a cost of a passport (optionally of one version), never edited or deleted.

    ``business_unit`` is copied from the passport at booking and never follows it afterwards: permissions to
    book and read are granted per business unit, and the portfolio groups by it, so the unit whose books an
    entry was posted to stays the unit that answers for it (and both filters run on one indexed column, without
    a join to passports). ``reversal_of`` points at the entry a correction reverses (at most one reversal per
    entry; a reversal itself cannot be reversed). ``predictions`` counts the served predictions an inference
    cost covers (serving usage), the divisor of the cost per 1000 inferences.
    """

    passport = models.ForeignKey("registry.ModelPassport", on_delete=models.PROTECT, related_name="ledger_entries",
                                 verbose_name=_("passport"))
    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="ledger_entries", verbose_name=_("version"))
    business_unit = models.ForeignKey("governance.BusinessUnit", on_delete=models.PROTECT,
                                      related_name="ledger_entries", verbose_name=_("business unit"))
    period = models.DateField(_("period"), help_text=_("First day of the month the amount belongs to."))
    booking_date = models.DateField(_("booking date"), default=timezone.localdate)
    category = models.CharField(_("category"), max_length=20, choices=LedgerCategory.choices)
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=3,
                                 help_text=_("Signed: benefits positive, costs negative; in the entry's currency."))
    currency = models.CharField(_("currency"), max_length=3)
    fx_rate_to_base = models.DecimalField(_("rate to base currency"), max_digits=18, decimal_places=8)
    base_currency = models.CharField(_("base currency"), max_length=3)
    amount_base = models.DecimalField(_("amount in base currency"), max_digits=18, decimal_places=2)
    predictions = models.BigIntegerField(_("served predictions"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=20, choices=LedgerSource.choices, default=LedgerSource.MANUAL)
    description = models.CharField(_("description"), max_length=300)
    evidence_text = models.TextField(_("evidence"), blank=True, **limited(LONG_TEXT))
    evidence_url = models.URLField(_("evidence link"), max_length=500, blank=True)
    evidence_file = models.FileField(_("evidence file"), upload_to=evidence_path, max_length=300, blank=True)
    evidence_sha256 = models.CharField(_("evidence file sha256"), max_length=64, blank=True)
    reversal_of = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="reversed_by", verbose_name=_("reverses"))
    # Empty when the platform booked the entry itself (the inference cost it metered: source serving usage).
    booked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                  null=True, blank=True, verbose_name=_("booked by"))
    booked_at = models.DateTimeField(_("booked at"), default=timezone.now)

    class Meta:
        ordering = ["-period", "-pk"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        default_permissions = ("add", "view")  # never changed, never deleted
        indexes = [
            models.Index(fields=["passport", "period"], name="ledger_passport_period_idx"),
            models.Index(fields=["business_unit", "period"], name="ledger_unit_period_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_nonzero"),
            models.CheckConstraint(condition=Q(fx_rate_to_base__gt=0), name="ledger_rate_positive"),
            models.CheckConstraint(condition=Q(category__in=LedgerCategory.values), name="ledger_category_valid"),
            models.CheckConstraint(condition=Q(predictions__isnull=True) | Q(category=LedgerCategory.INFERENCE),
                                   name="ledger_predictions_inference_only"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.category} {self.amount} {self.currency} ({self.period:%Y-%m})"

    @property
    def booked_by_name(self) -> str:
        return self.booked_by.get_username() if self.booked_by_id else METERED_BY


class LedgerYearTotal(models.Model):
    """Sums of a passport's entries in one calendar year, kept by ``governance.ledger.services`` in the
    transaction of every booking (like an account's balance): the portfolio reads a few thousand of these rows
    instead of summing a million entries per request.

    Derived data, never the record: the entries are. ``governance.ledger.selectors.ledger_totals_mismatches``
    compares the two and ``governance.ledger.services.ledger_totals_rebuild`` recomputes them from the entries.
    """

    passport = models.ForeignKey("registry.ModelPassport", on_delete=models.PROTECT, related_name="ledger_totals")
    year = models.PositiveSmallIntegerField(_("year"))
    benefits = models.DecimalField(_("benefits"), max_digits=18, decimal_places=2, default=0)
    costs = models.DecimalField(_("costs"), max_digits=18, decimal_places=2, default=0,
                                help_text=_("Signed: negative, as the entries."))
    inference = models.DecimalField(_("inference costs"), max_digits=18, decimal_places=2, default=0)
    predictions = models.BigIntegerField(_("served predictions"), default=0)
    entries = models.IntegerField(_("entries"), default=0)

    class Meta:
        ordering = ["passport_id", "year"]
        verbose_name = _("ledger year total")
        verbose_name_plural = _("ledger year totals")
        default_permissions = ("view",)
        constraints = [models.UniqueConstraint(fields=["passport", "year"], name="unique_ledger_year_total")]

    def __str__(self) -> str:
        return f"{self.passport_id} {self.year}: {self.benefits + self.costs}"


class BusinessCase(models.Model):
    """The plan a passport's investment was approved on: planned benefits and costs per year, a discount rate
    and a horizon. Replaced as a whole by ``governance.ledger.services.business_case_set`` (each version of
    it is kept in the audit trail).

    Years are calendar years: year 1 is ``first_year``, year k is ``first_year + k - 1``, and year 0 is the
    initial investment made before year 1 (not discounted). Actual entries map to the same years by their
    period (periods before ``first_year`` count as year 0).
    """

    passport = models.OneToOneField("registry.ModelPassport", on_delete=models.PROTECT, related_name="business_case",
                                    verbose_name=_("passport"))
    currency = models.CharField(_("currency"), max_length=3)
    fx_rate_to_base = models.DecimalField(_("rate to base currency"), max_digits=18, decimal_places=8)
    base_currency = models.CharField(_("base currency"), max_length=3)
    discount_rate = models.DecimalField(_("discount rate"), max_digits=7, decimal_places=6,
                                        help_text=_("Per year, as a fraction: 0.08 is 8 %."))
    horizon_years = models.PositiveSmallIntegerField(_("horizon (years)"))
    first_year = models.PositiveSmallIntegerField(_("first year"), help_text=_("Calendar year of year 1."))
    notes = models.TextField(_("notes"), blank=True, **limited(LONG_TEXT))
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("business case")
        verbose_name_plural = _("business cases")
        constraints = [
            models.CheckConstraint(condition=Q(discount_rate__gte=0) & Q(discount_rate__lt=1),
                                   name="business_case_rate_range"),
            models.CheckConstraint(condition=Q(fx_rate_to_base__gt=0), name="business_case_fx_positive"),
        ]

    def __str__(self) -> str:
        return f"Business case of {self.passport_id}"


class PlanLine(models.Model):
    """A planned amount of one category in one year of a business case, in the case's currency, signed and
    converted to ``amount_base`` as ledger entries are (benefits positive, costs negative)."""

    business_case = models.ForeignKey(BusinessCase, on_delete=models.CASCADE, related_name="lines")
    year_index = models.PositiveSmallIntegerField(_("year"), help_text=_("0 is the initial investment."))
    category = models.CharField(_("category"), max_length=20, choices=LedgerCategory.choices)
    amount = models.DecimalField(_("planned amount"), max_digits=18, decimal_places=3)
    amount_base = models.DecimalField(_("planned amount in base currency"), max_digits=18, decimal_places=2)

    class Meta:
        ordering = ["business_case_id", "year_index", "category"]
        verbose_name = _("plan line")
        verbose_name_plural = _("plan lines")
        constraints = [
            models.UniqueConstraint(fields=["business_case", "year_index", "category"], name="unique_plan_line"),
        ]

    def __str__(self) -> str:
        return f"year {self.year_index} {self.category} {self.amount}"

    @property
    def magnitude(self):
        """The planned amount as entered: a positive magnitude."""
        return abs(self.amount)
