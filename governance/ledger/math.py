"""Money and the ledger's derived figures as pure functions (no database, no Django): unit-testable by hand.

Conventions (the finance pages and the API document the same):

* **Money** is ``Decimal``, never float. An amount may carry no more decimals than its currency's minor unit
  (ISO 4217 exponent: EUR 2, JPY 0, KWD 3). Conversion to the base currency multiplies by the rate captured
  at booking and rounds once, half-to-even ("banker's rounding"), to the base currency's minor unit.
* **Years**: cash flows are indexed by year. Year 0 is the initial investment, a point in time (not
  discounted); year k >= 1 is a year whose net flow is taken as spread evenly over it.
* **Payback** is the time from the start of year 0 at which the cumulative net flow first turns from negative
  to non-negative: ``(k - 1) + (-cumulative after year k-1) / (net flow of year k)`` for the first year k
  where that happens; 0 when the cumulative flow is never negative; None when it has not happened yet.
  Shown as years and whole months, rounded up (the month in which it pays back).
* **NPV** discounts each year's net flow at the end of its year: ``sum(cf_t / (1 + r) ** t)``, t = 0, 1, ...
* **ROI** is net P&L / total costs (0.25 is 25 %); None without costs.
* **Cost per 1000 inferences** is inference costs * 1000 / served predictions; None until usage is reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal, localcontext

from django.utils.translation import gettext as _

# ISO 4217 minor-unit exponents of the currencies the ledger accepts.
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys([
        "AED", "ARS", "AUD", "BGN", "BRL", "CAD", "CHF", "CNY", "COP", "CZK", "DKK", "EGP", "EUR", "GBP", "GEL", "HKD",
        "HUF", "IDR", "ILS", "INR", "KZT", "MAD", "MXN", "MYR", "NGN", "NOK", "NZD", "PEN", "PHP", "PKR", "PLN", "QAR",
        "RON", "RSD", "RUB", "SAR", "SEK", "SGD", "THB", "TRY", "TWD", "UAH", "USD", "UZS", "ZAR",
    ], 2),
    **dict.fromkeys(["CLP", "ISK", "JPY", "KRW", "PYG", "UGX", "VND", "XAF", "XOF"], 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}
MONEY_PLACES = 2  # amount_base's decimal places: the base currency's exponent may not exceed it
RATIO_PLACES = Decimal("0.0001")
UNIT_COST_PLACES = Decimal("0.0001")
_WIDE = 60  # digits of working precision: 18-digit amounts times 18-digit rates stay exact


def currency_exponent(code: str) -> int:
    """The minor-unit exponent of an ISO 4217 code; ValueError for a currency the ledger does not know."""
    try:
        return CURRENCY_EXPONENTS[code]
    except KeyError:
        raise ValueError(_("Unknown or unsupported currency '%(code)s'.") % {"code": code}) from None


def quantum(exponent: int) -> Decimal:
    return Decimal(1).scaleb(-exponent)


def fits_currency(amount: Decimal, code: str) -> bool:
    """True when ``amount`` has no more decimals than ``code``'s minor unit (JPY 1.5 does not fit)."""
    exponent = currency_exponent(code)
    return amount == amount.quantize(quantum(exponent), rounding=ROUND_HALF_EVEN)


def to_base(amount: Decimal, rate: Decimal, base_currency: str) -> Decimal:
    """``amount * rate`` rounded half-to-even to the base currency's minor unit (the one rounding step)."""
    with localcontext() as ctx:
        ctx.prec = _WIDE
        return (amount * rate).quantize(quantum(currency_exponent(base_currency)), rounding=ROUND_HALF_EVEN)


def split_evenly(total: Decimal, parts: int, exponent: int) -> list[Decimal]:
    """Split ``total`` into ``parts`` amounts of the minor unit that sum exactly to it (the first ones carry the
    remainder units, so no cent is lost or created)."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    unit = quantum(exponent)
    minor = int((total / unit).to_integral_value(rounding=ROUND_HALF_EVEN))
    sign = -1 if minor < 0 else 1
    base, remainder = divmod(abs(minor), parts)
    return [sign * (base + (1 if i < remainder else 0)) * unit for i in range(parts)]


def year_index(year: int, first_year: int) -> int:
    """Business-case year of a calendar year: first_year is year 1, anything before it year 0."""
    return max(0, year - first_year + 1)


def flows_by_index(by_year: Mapping[int, Decimal], first_year: int) -> list[Decimal]:
    """Net flow per business-case year (index 0..last) from net flow per calendar year."""
    if not by_year:
        return []
    flows = [Decimal(0)] * (year_index(max(by_year), first_year) + 1)
    for year, amount in by_year.items():
        flows[year_index(year, first_year)] += amount
    return flows


def cumulative(flows: Iterable[Decimal]) -> list[Decimal]:
    total, out = Decimal(0), []
    for flow in flows:
        total += flow
        out.append(total)
    return out


def payback_years(flows: Sequence[Decimal]) -> Decimal | None:
    """Years until the cumulative net flow first turns non-negative (module docstring); None if not yet."""
    if not flows:
        return None
    with localcontext() as ctx:
        ctx.prec = 28
        total = flows[0]
        for k in range(1, len(flows)):
            before, total = total, total + flows[k]
            if before < 0 <= total:
                return Decimal(k - 1) + (-before) / flows[k]
        # No crossing: either never negative at a year's end (paid back at once) or still negative.
        return None if total < 0 else Decimal(0)


def years_months(years: Decimal | None) -> tuple[int, int] | None:
    """A fractional number of years as whole years and months, months rounded up (2.14 years: 2 y 2 m)."""
    if years is None:
        return None
    months = int((years * 12).to_integral_value(rounding=ROUND_CEILING))
    return months // 12, months % 12


def npv(flows: Sequence[Decimal], rate: Decimal) -> Decimal | None:
    """Net present value with end-of-year discounting (year 0 undiscounted), rounded half-even to cents."""
    if not flows:
        return None
    with localcontext() as ctx:
        ctx.prec = 40
        factor, total = Decimal(1), Decimal(0)
        for flow in flows:
            total += flow / factor
            factor *= 1 + rate
        return total.quantize(quantum(MONEY_PLACES), rounding=ROUND_HALF_EVEN)


def roi(net: Decimal, costs: Decimal) -> Decimal | None:
    """Net P&L over total costs (``costs`` as a positive magnitude); None without costs."""
    if not costs:
        return None
    with localcontext() as ctx:
        ctx.prec = 40
        return (net / abs(costs)).quantize(RATIO_PLACES, rounding=ROUND_HALF_EVEN)


def cost_per_thousand(inference_costs: Decimal, predictions: int | None) -> Decimal | None:
    """Inference costs (positive magnitude) per 1000 served predictions; None until predictions are reported."""
    if not predictions or predictions <= 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 40
        return (abs(inference_costs) * 1000 / predictions).quantize(UNIT_COST_PLACES, rounding=ROUND_HALF_EVEN)


def plan_twelfths(planned: Mapping[int, Decimal], first_year: int, today: date) -> Decimal:
    """Twelve times the planned net flow up to the end of ``today``'s month: year 0 (the initial investment)
    and every year before the current one count 12 twelfths, the current year ``today.month`` twelfths
    (straight-line phasing of an annual plan). Exact in SQL too: no division until the very end."""
    current = today.year - first_year + 1
    total = Decimal(0)
    for index, amount in planned.items():
        if index == 0 or index < current:
            total += 12 * amount
        elif index == current:
            total += today.month * amount
    return total


def from_twelfths(twelfths: Decimal) -> Decimal:
    """Divide a sum of twelfths by 12, rounded half-even to cents (the one rounding step)."""
    with localcontext() as ctx:
        ctx.prec = 40
        return (twelfths / 12).quantize(quantum(MONEY_PLACES), rounding=ROUND_HALF_EVEN)


def plan_to_date(planned: Mapping[int, Decimal], first_year: int, today: date) -> Decimal:
    """Planned net flow up to the end of ``today``'s month (see :func:`plan_twelfths`), rounded to cents."""
    return from_twelfths(plan_twelfths(planned, first_year, today))


def first_month(value: date) -> date:
    return value.replace(day=1)


def months_between(start: date, end: date) -> list[date]:
    """First days of the months from ``start``'s to ``end``'s, both included."""
    count = (end.year - start.year) * 12 + end.month - start.month + 1
    return [date(start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1, 1)
            for i in range(max(0, count))]

