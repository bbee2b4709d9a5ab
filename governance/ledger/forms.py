"""Finance page forms: booking, reversal, the A/B result, CSV import, the business case and the portfolio filters.

They shape one service call each and never write; the ledger services decide."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.forms import BootstrapFormMixin
from governance.accounts.models import BusinessUnit
from governance.ledger import services
from governance.ledger.choices import BENEFIT_CATEGORIES, LedgerCategory
from registry.choices import RiskTier

SORTS = {"key": gettext_lazy("Model"), "net": gettext_lazy("Net P&L"), "roi": gettext_lazy("ROI"),
         "plan_variance": gettext_lazy("Plan variance"), "benefits": gettext_lazy("Benefits"),
         "costs": gettext_lazy("Costs"), "risk_tier": gettext_lazy("Tier")}


class MonthField(forms.DateField):
    """A month (``YYYY-MM`` from ``<input type="month">``) as the first day of that month."""

    widget = forms.DateInput(attrs={"type": "month"})

    def to_python(self, value):
        if isinstance(value, str) and len(value.strip()) == 7:
            value = f"{value.strip()}-01"
        result = super().to_python(value)
        return result.replace(day=1) if result else result


class EntryBookForm(BootstrapFormMixin, forms.Form):
    category = forms.ChoiceField(label=gettext_lazy("Category"), choices=LedgerCategory.choices)
    amount = forms.DecimalField(label=gettext_lazy("Amount"), min_value=Decimal("0.001"), max_digits=15,
                                decimal_places=3, help_text=gettext_lazy("A positive amount: the category decides "
                                                                         "whether it is a benefit or a cost."))
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3, min_length=3)
    fx_rate_to_base = forms.DecimalField(label=gettext_lazy("Rate to the base currency"), required=False,
                                         max_digits=18, decimal_places=8, help_text=gettext_lazy(
                                             "Required for another currency; captured at booking."))
    period = MonthField(label=gettext_lazy("Period (month)"))
    description = forms.CharField(label=gettext_lazy("Description"), max_length=300)
    evidence_text = forms.CharField(label=gettext_lazy("Evidence"), required=False,
                                    widget=forms.Textarea(attrs={"rows": 2}))
    evidence_url = forms.URLField(label=gettext_lazy("Evidence link"), required=False, max_length=500,
                                  assume_scheme="https")
    evidence_file = forms.FileField(label=gettext_lazy("Evidence file"), required=False)

    def clean_currency(self):
        return self.cleaned_data["currency"].upper()


class ReverseForm(BootstrapFormMixin, forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)


class PortfolioFilterForm(BootstrapFormMixin, forms.Form):
    q = forms.CharField(label=gettext_lazy("Search"), required=False, max_length=100)
    business_unit = forms.ChoiceField(label=gettext_lazy("Business unit"), required=False)
    tier = forms.ChoiceField(label=gettext_lazy("Tier"), required=False,
                             choices=[("", gettext_lazy("Any tier")), *RiskTier.choices])
    sort = forms.ChoiceField(label=gettext_lazy("Sort by"), required=False,
                             choices=list(SORTS.items()))
    descending = forms.BooleanField(label=gettext_lazy("Descending"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        units = BusinessUnit.objects.order_by("code").values_list("code", "name")
        self.fields["business_unit"].choices = [("", _("Any unit")), *[(c, f"{c} · {n}") for c, n in units]]

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if k in ("q", "business_unit", "tier") and v}

    def ordering(self) -> str:
        if not self.is_valid() or not self.cleaned_data.get("sort"):
            return "-net"
        return ("-" if self.cleaned_data.get("descending") else "") + self.cleaned_data["sort"]


class AbResultForm(BootstrapFormMixin, forms.Form):
    experiment = forms.CharField(label=gettext_lazy("Experiment"), max_length=120)
    category = forms.ChoiceField(label=gettext_lazy("Category"), choices=[
        (c, label) for c, label in LedgerCategory.choices if c in BENEFIT_CATEGORIES])
    uplift = forms.DecimalField(label=gettext_lazy("Uplift per unit"), max_digits=18, decimal_places=6)
    ci_low = forms.DecimalField(label=gettext_lazy("Confidence interval, low"), max_digits=18, decimal_places=6)
    ci_high = forms.DecimalField(label=gettext_lazy("Confidence interval, high"), max_digits=18, decimal_places=6)
    confidence = forms.DecimalField(label=gettext_lazy("Confidence level"), initial=Decimal("0.95"), max_digits=5,
                                    decimal_places=4)
    volume = forms.DecimalField(label=gettext_lazy("Volume (units in the period)"), max_digits=18, decimal_places=3)
    value_per_unit = forms.DecimalField(label=gettext_lazy("Value per unit"), initial=Decimal(1), max_digits=18,
                                        decimal_places=6, help_text=gettext_lazy(
                                            "1 when the uplift is already money per unit."))
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3, min_length=3)
    fx_rate_to_base = forms.DecimalField(label=gettext_lazy("Rate to the base currency"), required=False,
                                         max_digits=18, decimal_places=8)
    period_from = MonthField(label=gettext_lazy("First month"))
    period_to = MonthField(label=gettext_lazy("Last month"))
    evidence_url = forms.URLField(label=gettext_lazy("Evidence link"), required=False, max_length=500,
                                  assume_scheme="https")

    def result(self) -> services.AbResult:
        d = self.cleaned_data
        return services.AbResult(
            experiment=d["experiment"], uplift=d["uplift"], ci_low=d["ci_low"], ci_high=d["ci_high"],
            volume=d["volume"], period_from=d["period_from"], period_to=d["period_to"],
            currency=d["currency"].upper(), confidence=d["confidence"], value_per_unit=d["value_per_unit"],
            category=d["category"], fx_rate_to_base=d.get("fx_rate_to_base"))


class ImportForm(BootstrapFormMixin, forms.Form):
    file = forms.FileField(label=gettext_lazy("CSV file of entries"))


class BusinessCaseForm(BootstrapFormMixin, forms.Form):
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3, min_length=3)
    fx_rate_to_base = forms.DecimalField(label=gettext_lazy("Rate to the base currency"), required=False,
                                         max_digits=18, decimal_places=8)
    discount_rate = forms.DecimalField(label=gettext_lazy("Discount rate per year"), max_digits=6, decimal_places=4,
                                       help_text=gettext_lazy("A fraction: 0.08 is 8 %."))
    horizon_years = forms.IntegerField(label=gettext_lazy("Horizon (years)"), min_value=1, max_value=30)
    first_year = forms.IntegerField(label=gettext_lazy("First year"), min_value=2000, max_value=2100)
    lines = forms.CharField(
        label=gettext_lazy("Plan lines"), widget=forms.Textarea(attrs={"rows": 8, "class": "font-monospace"}),
        help_text=gettext_lazy("One line per year and category: year (0 is the initial investment), category, "
                               "positive amount, e.g. \"1, cost_saving, 100000\". Paste from a spreadsheet."))
    notes = forms.CharField(label=gettext_lazy("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_currency(self):
        return self.cleaned_data["currency"].upper()

    def clean_lines(self) -> list:
        out = []
        for number, text in enumerate(self.cleaned_data["lines"].splitlines(), start=1):
            if not text.strip():
                continue
            parts = [p.strip() for p in text.replace(";", ",").replace("\t", ",").split(",")]
            try:
                year, category, amount = int(parts[0]), parts[1], Decimal(parts[2].replace(" ", ""))
            except (IndexError, ValueError, ArithmeticError):
                raise forms.ValidationError(_("Line %(n)s: expected year, category, amount.") % {"n": number})
            if len(parts) != 3:
                raise forms.ValidationError(_("Line %(n)s: expected year, category, amount.") % {"n": number})
            out.append(services.PlanInput(year_index=year, category=category, amount=amount))
        return out

    @staticmethod
    def initial_for(case) -> dict:
        if case is None:
            return {"currency": services.base_currency(), "discount_rate": Decimal("0.08"), "horizon_years": 5,
                    "first_year": date.today().year}
        lines = "\n".join(f"{line.year_index}, {line.category}, {abs(line.amount)}"
                          for line in case.lines.order_by("year_index", "category"))
        return {"currency": case.currency, "fx_rate_to_base": case.fx_rate_to_base, "discount_rate": case.discount_rate,
                "horizon_years": case.horizon_years, "first_year": case.first_year, "lines": lines, "notes": case.notes}
