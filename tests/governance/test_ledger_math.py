"""The ledger's derived figures as pure functions, checked against hand-computed cases (no database)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from governance.ledger import math as lm

D = Decimal


def test_the_issues_payback_example_with_the_initial_cost_in_year_one():
    # Year 1: -150,000 - 30,000 + 100,000 = -80,000; year 2: +70,000 (cumulative -10,000); year 3: +70,000.
    flows = [D(0), D(-80_000), D(70_000), D(70_000)]
    assert lm.cumulative(flows) == [0, -80_000, -10_000, 60_000]
    payback = lm.payback_years(flows)
    assert payback == D(2) + D(10_000) / D(70_000)
    assert round(payback, 2) == D("2.14")
    assert lm.years_months(payback) == (2, 2)  # 2.1429 years: 25.7 months, paid back in the 26th


def test_payback_with_the_initial_investment_as_year_zero_gives_the_same_answer():
    assert lm.payback_years([D(-150_000), D(70_000), D(70_000), D(70_000)]) == D(2) + D(1) / D(7)


@pytest.mark.parametrize(("flows", "expected"), [
    ([D(-100), D(50), D(50)], D(2)),                 # exactly at a year's end
    ([D(-100), D(400)], D("0.25")),                  # a quarter into year 1
    ([D(0), D(50)], D(0)),                           # never negative: nothing to pay back
    ([D(-100), D(20), D(20)], None),                 # not yet
    ([D(0), D(-10), D(20), D(-50)], D("1.5")),       # the first crossing counts
    ([], None),
])
def test_payback_cases(flows, expected):
    assert lm.payback_years(flows) == expected


def test_years_and_months_round_months_up():
    assert lm.years_months(D("2.5")) == (2, 6)
    assert lm.years_months(D("0.01")) == (0, 1)
    assert lm.years_months(D(3)) == (3, 0)
    assert lm.years_months(None) is None


def test_npv_discounts_at_the_end_of_each_year_and_not_year_zero():
    # -150,000 + 70,000/1.1 + 70,000/1.21 + 70,000/1.331
    # = -150,000 + 63,636.3636 + 57,851.2397 + 52,592.0361 = 24,079.6394
    assert lm.npv([D(-150_000), D(70_000), D(70_000), D(70_000)], D("0.10")) == D("24079.64")
    assert lm.npv([D(-100), D(60), D(60)], D(0)) == D("20.00")
    assert lm.npv([], D("0.1")) is None


def test_roi_is_net_over_costs():
    # Three years of the example: benefits 300,000, costs 150,000 + 90,000 = 240,000, net 60,000.
    assert lm.roi(D(60_000), D(-240_000)) == D("0.25")
    assert lm.roi(D(5), D(0)) is None


def test_cost_per_thousand_inferences():
    assert lm.cost_per_thousand(D("-1234.56"), 2_000_000) == D("0.6173")
    assert lm.cost_per_thousand(D("-10"), None) is None
    assert lm.cost_per_thousand(D("-10"), 0) is None


@pytest.mark.parametrize(("amount", "rate", "base", "expected"), [
    ("1.25", "0.5", "EUR", "0.62"),          # 0.625: half to even, down
    ("1.35", "0.5", "EUR", "0.68"),          # 0.675: half to even, up
    ("-1.25", "0.5", "EUR", "-0.62"),        # symmetric for costs
    ("1000", "0.00612345", "EUR", "6.12"),   # JPY to EUR
    ("1.234", "3.0", "EUR", "3.70"),         # KWD (3 decimals) to EUR
    ("99.99", "151.5", "JPY", "15148"),      # EUR to a JPY base: 15148.485
])
def test_conversion_rounds_once_half_to_even(amount, rate, base, expected):
    assert lm.to_base(D(amount), D(rate), base) == D(expected)


def test_precision_follows_the_currencys_minor_unit():
    assert lm.fits_currency(D("1000"), "JPY") and not lm.fits_currency(D("1.5"), "JPY")
    assert lm.fits_currency(D("1.25"), "EUR") and not lm.fits_currency(D("1.005"), "EUR")
    assert lm.fits_currency(D("1.005"), "KWD")
    with pytest.raises(ValueError, match="Unknown"):
        lm.currency_exponent("XXX")


def test_split_evenly_never_loses_a_cent():
    assert lm.split_evenly(D("100.00"), 3, 2) == [D("33.34"), D("33.33"), D("33.33")]
    assert lm.split_evenly(D("100"), 3, 0) == [D(34), D(33), D(33)]
    assert sum(lm.split_evenly(D("-0.05"), 4, 2)) == D("-0.05")


def test_plan_to_date_counts_year_zero_past_years_and_the_current_year_pro_rata():
    plan = {0: D(-150_000), 1: D(70_000), 2: D(70_000), 3: D(70_000)}
    # first_year 2024; on 2025-03-15: year 0 and year 1 in full, 3/12 of year 2.
    assert lm.plan_to_date(plan, 2024, date(2025, 3, 15)) == D(-150_000 + 70_000 + 17_500)
    assert lm.plan_to_date(plan, 2024, date(2023, 6, 1)) == D(-150_000)   # before year 1: the investment
    assert lm.plan_to_date(plan, 2024, date(2030, 1, 1)) == D(60_000)     # after the horizon: all of it
    assert lm.plan_to_date({1: D("0.18")}, 2024, date(2024, 1, 1)) == D("0.02")  # 0.015, half to even


def test_flows_by_index_puts_years_before_year_one_into_year_zero():
    flows = lm.flows_by_index({2021: D(-5), 2022: D(-10), 2023: D(4), 2025: D(7)}, 2023)
    assert flows == [D(-15), D(4), D(0), D(7)]


def _reference_half_even(value: Fraction, exponent: int) -> Decimal:
    """Round a rational half to even with integer arithmetic: an independent reference for to_base."""
    scaled = value * 10**exponent
    floor = scaled.numerator // scaled.denominator
    remainder = scaled - floor
    if remainder > Fraction(1, 2) or (remainder == Fraction(1, 2) and floor % 2 == 1):
        floor += 1
    return Decimal(floor).scaleb(-exponent)


money = st.tuples(
    st.sampled_from(sorted(lm.CURRENCY_EXPONENTS)),
    st.integers(min_value=-10**12, max_value=10**12),
    st.integers(min_value=1, max_value=10**12),  # rate in units of 1e-8
)


@given(st.lists(money, min_size=1, max_size=50), st.sampled_from(["EUR", "USD", "JPY", "GBP"]))
def test_conversion_matches_an_exact_rational_reference(rows, base):
    exponent = lm.currency_exponent(base)
    for currency, minor, rate_units in rows:
        amount = Decimal(minor).scaleb(-lm.currency_exponent(currency))
        rate = Decimal(rate_units).scaleb(-8)
        expected = _reference_half_even(Fraction(amount) * Fraction(rate), exponent)
        assert lm.to_base(amount, rate, base) == expected
