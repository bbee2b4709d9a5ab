"""Finance figures in the reader's language: ratios as percentages."""

from decimal import Decimal

from django import template
from django.template.defaultfilters import floatformat

register = template.Library()


@register.filter
def percent(value, digits: str = "1g") -> str:
    """0.125 → "12.5 %" (English) / "12,5 %" (Russian); "—" for nothing."""
    if value is None or value == "":
        return "—"
    return f"{floatformat(Decimal(value) * 100, digits)} %"
