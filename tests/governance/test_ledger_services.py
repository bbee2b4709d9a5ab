"""Ledger services against a real database: booking rules per currency, reversals, append-only storage, the
business case, A/B results, derived figures, and cent-exact sums across currencies."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from core.errors import Conflict, DomainError, PermissionDenied
from governance.audit.models import AuditEvent
from governance.audit.services import audit_verify
from governance.ledger import math as ledger_math
from governance.ledger import services
from governance.ledger.models import BusinessCase, LedgerEntry
from governance.ledger.selectors import ledger_figures, ledger_totals_mismatches
from tests.factories import BusinessUnitFactory, UserFactory, make_passport
from tests.governance import ledger_helpers
from tests.governance.ledger_helpers import MANAGE, book, book_payback_example

pytestmark = pytest.mark.django_db

org = ledger_helpers.org
D = Decimal


# --------------------------------------------------------------------------- booking


def test_booking_signs_converts_and_audits(org):
    saving = book(org.finance_a, org.pa, "cost_saving", "1000.50")
    cost = book(org.finance_a, org.pa, "licences", "200", currency="USD", rate="0.92114500")
    assert (saving.amount, saving.amount_base, saving.business_unit) == (D("1000.50"), D("1000.50"), org.unit_a)
    assert cost.amount == D(-200) and cost.amount_base == D("-184.23")  # 184.229: half-even to cents
    assert cost.fx_rate_to_base == D("0.92114500") and cost.base_currency == "EUR"
    event = AuditEvent.objects.filter(action="ledger.entry_booked", object_id=str(cost.pk)).get()
    assert event.actor == org.finance_a and event.passport_key == org.pa.key
    assert event.data["amount_base"] == "-184.23" and event.data["currency"] == "USD"
    assert audit_verify().ok


@pytest.mark.parametrize(("amount", "currency", "rate", "code"), [
    ("1.5", "JPY", "0.0061", "invalid_precision"),
    ("10.005", "EUR", None, "invalid_precision"),
    ("0", "EUR", None, "invalid_amount"),
    ("-5", "EUR", None, "invalid_amount"),
    ("10", "XYZ", "1", "unknown_currency"),
    ("10", "USD", None, "required"),
    ("10", "EUR", "1.1", "invalid_rate"),
    ("10", "USD", "0", "invalid_rate"),
])
def test_bad_money_is_refused_and_books_nothing(org, amount, currency, rate, code):
    events = AuditEvent.objects.count()
    with pytest.raises(DomainError) as exc:
        book(org.finance_a, org.pa, "staff", amount, currency=currency, rate=rate)
    assert exc.value.code == code
    assert not LedgerEntry.objects.exists() and AuditEvent.objects.count() == events


def test_three_decimal_currencies_keep_their_fils(org):
    entry = book(org.finance_a, org.pa, "revenue_uplift", "1.005", currency="KWD", rate="2.98")
    entry.refresh_from_db()
    assert entry.amount == D("1.005") and entry.amount_base == D("2.99")  # 2.9949


@pytest.mark.parametrize(("period", "code"), [(date(2024, 1, 15), "invalid_period"),
                                              (date(2999, 1, 1), "future_period")])
def test_periods_are_past_or_current_months(org, period, code):
    with pytest.raises(DomainError) as exc:
        book(org.finance_a, org.pa, "staff", 10, period=period)
    assert exc.value.code == code


def test_version_must_belong_to_the_passport_and_predictions_only_on_inference(org, developer):
    from tests.governance.workflow_helpers import register

    other = register(org.pb, developer, seed=1)
    with pytest.raises(DomainError, match="another passport"):
        book(org.finance_a, org.pa, "staff", 10, version=other)
    with pytest.raises(DomainError, match="inference"):
        book(org.finance_a, org.pa, "staff", 10, predictions=1000)
    own = register(org.pa, developer, seed=2)
    entry = book(org.finance_a, org.pa, "inference", 10, version=own, predictions=1000,
                 source="serving_usage")
    assert entry.version == own and entry.predictions == 1000


def test_only_manual_and_serving_usage_are_booked_directly(org):
    with pytest.raises(DomainError, match="own forms"):
        book(org.finance_a, org.pa, "staff", 10, source="import")


@pytest.mark.parametrize("who", ["finance_b", "finance_none", "granted_only", "owner", "developer", "auditor",
                                 "risk", "outsider"])
def test_booking_needs_the_finance_role_and_the_grant_on_the_unit(org, who):
    with pytest.raises(PermissionDenied, match="unit-a"):
        book(getattr(org, who), org.pa, "staff", 10)
    assert not LedgerEntry.objects.exists()


def test_finance_books_only_for_granted_units_and_admins_everywhere(org):
    assert book(org.finance_b, org.pb, "staff", 10).business_unit == org.unit_b
    assert book(org.admin, org.pa, "staff", 10).booked_by == org.admin


def test_business_unit_is_kept_when_the_passport_moves(org, developer):
    entry = book(org.finance_a, org.pa, "staff", 10)
    from registry import services as registry_services

    registry_services.passport_update(actor=developer, passport=org.pa, business_unit=org.unit_b)
    entry.refresh_from_db()
    assert entry.business_unit == org.unit_a  # posted to unit A's books; unit A's finance answers for it


# --------------------------------------------------------------------------- reversals


def test_a_reversal_nets_to_zero_and_both_entries_stay(org):
    original = book(org.finance_a, org.pa, "inference", "123.45", currency="GBP", rate="1.16872",
                    predictions=5000, source="serving_usage")
    reversal = services.ledger_entry_reverse(actor=org.finance_a, entry=original, reason="Double-counted invoice")
    assert reversal.reversal_of == original and reversal.period == original.period
    assert (reversal.amount, reversal.amount_base, reversal.predictions) == (
        -original.amount, -original.amount_base, -original.predictions)
    assert LedgerEntry.objects.count() == 2
    totals = LedgerEntry.objects.aggregate(a=Sum("amount"), b=Sum("amount_base"), p=Sum("predictions"))
    assert totals == {"a": 0, "b": 0, "p": 0}
    original.refresh_from_db()
    assert original.reversed_by == reversal
    event = AuditEvent.objects.get(action="ledger.entry_reversed")
    assert event.data["reversal_of"] == original.pk and event.data["reason"] == "Double-counted invoice"


def test_an_entry_is_reversed_at_most_once_and_a_reversal_never(org):
    original = book(org.finance_a, org.pa, "staff", 10)
    reversal = services.ledger_entry_reverse(actor=org.finance_a, entry=original, reason="wrong")
    with pytest.raises(Conflict) as exc:
        services.ledger_entry_reverse(actor=org.finance_a, entry=original, reason="again")
    assert exc.value.code == "already_reversed"
    with pytest.raises(DomainError) as exc:
        services.ledger_entry_reverse(actor=org.finance_a, entry=reversal, reason="undo")
    assert exc.value.code == "reversal_of_reversal"
    with pytest.raises(DomainError, match="reason"):
        services.ledger_entry_reverse(actor=org.finance_a, entry=book(org.finance_a, org.pa, "staff", 1), reason=" ")


def test_only_finance_of_the_entrys_unit_reverses(org):
    original = book(org.finance_a, org.pa, "staff", 10)
    for user in (org.finance_b, org.owner, org.auditor):
        with pytest.raises(PermissionDenied):
            services.ledger_entry_reverse(actor=user, entry=original, reason="no")
    assert LedgerEntry.objects.count() == 1


@pytest.mark.postgres
def test_postgres_refuses_update_and_delete_of_entries(org):
    entry = book(org.finance_a, org.pa, "staff", 10)
    for attempt in (lambda: LedgerEntry.objects.filter(pk=entry.pk).update(amount_base=D(1)),
                    lambda: LedgerEntry.objects.filter(pk=entry.pk).delete()):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    entry.refresh_from_db()
    assert entry.amount_base == D(-10)


def test_entries_have_no_change_or_delete_permissions():
    assert LedgerEntry._meta.default_permissions == ("add", "view")


# --------------------------------------------------------------------------- business case and figures


def _case(org, actor=None, **overrides):
    lines = [services.PlanInput(0, "development", D(150_000))] + [
        services.PlanInput(year, category, D(amount)) for year in (1, 2, 3)
        for category, amount in (("infrastructure", 30_000), ("cost_saving", 100_000))]
    kwargs = {"currency": "EUR", "discount_rate": D("0.10"), "horizon_years": 3, "first_year": 2022, "lines": lines}
    kwargs.update(overrides)
    return services.business_case_set(actor=actor or org.finance_a, passport=org.pa, **kwargs)


def test_the_issues_example_booked_as_entries_pays_back_in_about_2_14_years(org):
    book_payback_example(org.finance_a, org.pa, first_year=2022)
    figures = ledger_figures(passport=org.pa, today=date(2025, 6, 30))
    assert (figures["benefits"], figures["costs"], figures["net"]) == (D(300_000), D(240_000), D(60_000))
    assert [row["actual_net"] for row in figures["years"]] == [D(0), D(-80_000), D(70_000), D(70_000)]
    assert [row["cumulative_actual"] for row in figures["years"]][1:] == [D(-80_000), D(-10_000), D(60_000)]
    assert figures["payback_years"] == D(2) + D(10_000) / D(70_000)
    assert round(figures["payback_years"], 2) == D("2.14") and figures["payback"] == (2, 2)
    assert figures["roi"] == D("0.25")
    assert figures["npv"] is None and figures["plan"] is None  # no business case: no rate, no plan


def test_plan_vs_actual_and_npv_with_a_business_case(org):
    case = _case(org)
    book_payback_example(org.finance_a, org.pa, first_year=2022)
    book(org.finance_a, org.pa, "incident_loss", 5_000, period=date(2023, 3, 1))
    figures = ledger_figures(passport=org.pa, today=date(2024, 3, 31))
    plan = figures["plan"]
    assert plan["npv"] == D("24079.64")  # -150,000 + 70,000 (1/1.1 + 1/1.21 + 1/1.331)
    assert plan["payback_years"] == D(2) + D(1) / D(7)
    years = {row["year_index"]: row for row in figures["years"]}
    assert years[0]["planned_net"] == D(-150_000) and years[0]["actual_net"] == D(0)
    assert years[1]["actual_net"] == D(-80_000) and years[1]["planned_net"] == D(70_000)
    assert years[2]["variance"] == D(-5_000) and years[2]["calendar_year"] == 2023
    # Actual flows by year: 0, -80,000, 65,000, 70,000 at 10 %: -72,727.27 + 53,719.01 + 52,592.04
    assert figures["npv"] == D("33583.77")
    # Plan to date on 2024-03-31: year 0, years 1 and 2 in full, 3/12 of year 3.
    assert plan["plan_to_date"] == D(-150_000 + 70_000 + 70_000 + 17_500)
    assert plan["variance_to_date"] == figures["net"] - plan["plan_to_date"]
    assert case.lines.count() == 7 and figures["first_year"] == 2022


def test_replacing_a_business_case_keeps_the_previous_plan_in_the_audit_trail(org):
    _case(org)
    _case(org, discount_rate=D("0.08"), lines=[services.PlanInput(1, "revenue_uplift", D(10))])
    case = BusinessCase.objects.get(passport=org.pa)
    assert case.discount_rate == D("0.08") and case.lines.count() == 1
    events = AuditEvent.objects.filter(action="ledger.business_case_set").order_by("seq")
    assert events[0].data["previous"] is None
    assert events[1].data["previous"]["discount_rate"] == "0.100000"
    assert len(events[1].data["previous"]["lines"]) == 7


@pytest.mark.parametrize(("overrides", "field"), [
    ({"discount_rate": D("1.5")}, "discount_rate"),
    ({"horizon_years": 0}, "horizon_years"),
    ({"lines": [services.PlanInput(4, "staff", D(1))]}, "lines[0].year_index"),
    ({"lines": [services.PlanInput(1, "staff", D(1)), services.PlanInput(1, "staff", D(2))]}, "lines[1]"),
    ({"lines": [services.PlanInput(1, "staff", D("1.001"))]}, "lines[0].amount"),
    ({"lines": []}, "lines"),
])
def test_bad_business_cases_are_refused(org, overrides, field):
    with pytest.raises(DomainError) as exc:
        _case(org, **overrides)
    assert exc.value.field == field
    assert not BusinessCase.objects.exists()


def test_only_finance_of_the_unit_sets_the_business_case(org):
    with pytest.raises(PermissionDenied):
        _case(org, actor=org.finance_b)


def test_cost_per_thousand_inferences_waits_for_serving_usage(org):
    book(org.finance_a, org.pa, "inference", 300)
    assert ledger_figures(passport=org.pa)["cost_per_1000_inferences"] is None
    book(org.finance_a, org.pa, "inference", 200, predictions=2_000_000, source="serving_usage")
    figures = ledger_figures(passport=org.pa)
    assert figures["inference_costs"] == D(500) and figures["predictions"] == 2_000_000
    assert figures["cost_per_1000_inferences"] == D("0.2500")


# --------------------------------------------------------------------------- A/B results


def _ab(**overrides):
    values = {"experiment": "checkout-v2", "uplift": D("0.12"), "ci_low": D("0.08"), "ci_high": D("0.16"),
              "volume": D(1_000_000), "period_from": date(2024, 1, 1), "period_to": date(2024, 3, 1),
              "currency": "EUR"}
    values.update(overrides)
    return services.AbResult(**values)


def test_an_ab_result_preview_shows_the_calculation_and_books_nothing(org):
    calc = services.ab_result_preview(actor=org.owner, passport=org.pa, result=_ab())
    assert (calc["benefit"], calc["benefit_low"], calc["benefit_high"]) == (D(120_000), D(80_000), D(160_000))
    assert [row["amount"] for row in calc["entries"]] == [D(40_000)] * 3 and calc["significant"]
    assert "0.12 x 1000000 x 1 = 120000.00 EUR" in calc["formula"]
    assert "95 % CI 0.08 to 0.16" in calc["explanation"]
    assert not LedgerEntry.objects.exists()


def test_booking_an_ab_result_splits_it_over_the_months_without_losing_a_cent(org):
    result = _ab(uplift=D("0.1"), ci_low=D("0.05"), ci_high=D("0.15"), volume=D(1000), value_per_unit=D(1),
                 currency="USD", fx_rate_to_base=D("0.9"))
    entries = services.ab_result_book(actor=org.finance_a, passport=org.pa, result=result)
    assert [e.amount for e in entries] == [D("33.34"), D("33.33"), D("33.33")]
    assert sum(e.amount for e in entries) == D(100)
    assert [e.period for e in entries] == [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
    assert all(e.source == "ab_experiment" and "CI 0.05 to 0.15" in e.evidence_text for e in entries)
    assert AuditEvent.objects.filter(action="ledger.entry_booked", data__experiment="checkout-v2").count() == 3


def test_a_rate_uplift_times_value_per_conversion(org):
    calc = services.ab_result_calculate(_ab(uplift=D("0.008"), ci_low=D("0.002"), ci_high=D("0.014"),
                                            volume=D(500_000), value_per_unit=D(45), period_to=date(2024, 1, 1)))
    assert calc["benefit"] == D(180_000) and len(calc["entries"]) == 1


@pytest.mark.parametrize(("overrides", "code"), [
    ({"ci_low": D("-0.01")}, "not_significant"),
    ({"uplift": D("0.2")}, "invalid"),                                   # outside its interval
    ({"category": "staff"}, "invalid"),                                  # not a benefit
    ({"period_to": date(2023, 12, 1)}, "invalid_period"),                # ends before it starts
])
def test_ab_results_that_are_not_shown_benefits_are_refused(org, overrides, code):
    with pytest.raises(DomainError) as exc:
        services.ab_result_book(actor=org.finance_a, passport=org.pa, result=_ab(**overrides))
    assert exc.value.code == code
    assert not LedgerEntry.objects.exists()


def test_ab_booking_needs_the_grant(org):
    with pytest.raises(PermissionDenied):
        services.ab_result_book(actor=org.owner, passport=org.pa, result=_ab())


# --------------------------------------------------------------------------- cents across currencies


def _reference(amount: Decimal, rate: Decimal) -> Decimal:
    """amount x rate rounded half to even to cents, with exact rationals (independent of ledger_math)."""
    scaled = Fraction(amount) * Fraction(rate) * 100
    floor = scaled.numerator // scaled.denominator
    rest = scaled - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2):
        floor += 1
    return Decimal(floor) / 100


CURRENCIES = ["USD", "GBP", "JPY", "KWD", "CHF", "SEK", "BHD", "KRW", "EUR"]
entries = st.lists(st.tuples(
    st.sampled_from(CURRENCIES),
    st.integers(min_value=1, max_value=10**11),          # amount in minor units
    st.integers(min_value=1, max_value=10**10),          # rate in 1e-8
    st.sampled_from(["cost_saving", "revenue_uplift", "staff", "inference", "licences"]),
    st.booleans(),                                       # reverse it?
), min_size=1, max_size=15)


class TestCentExactSums(HypothesisTestCase):
    """Whatever the currencies and rates, the database's sum of amount_base equals the sum of each booking's
    exact conversion rounded half-even once, and reversals take out exactly what they reverse."""

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(entries)
    def test_sum_of_amount_base_matches_the_rounded_conversions(self, rows):
        unit = BusinessUnitFactory(code="cents")
        finance = UserFactory(username="cents-fin", roles=["finance"])
        from guardian.shortcuts import assign_perm

        assign_perm(MANAGE, finance, unit)
        dev = UserFactory(username="cents-dev", roles=["model_developer"])
        passport = make_passport(actor=dev, key="cents-model", business_unit=unit)
        expected = Decimal(0)
        for currency, minor, rate_units, category, reverse in rows:
            amount = Decimal(minor).scaleb(-ledger_math.currency_exponent(currency))
            rate = Decimal(1) if currency == "EUR" else Decimal(rate_units).scaleb(-8)
            entry = book(finance, passport, category, amount, currency=currency,
                         rate=None if currency == "EUR" else rate)
            sign = 1 if category in ("cost_saving", "revenue_uplift") else -1
            expected += sign * _reference(amount, rate)
            if reverse:
                services.ledger_entry_reverse(actor=finance, entry=entry, reason="test")
                expected -= sign * _reference(amount, rate)
        assert ledger_figures(passport=passport)["net"] == expected
        assert ledger_totals_mismatches() == []  # the year totals the portfolio reads agree to the cent
        if connection.vendor == "postgresql":  # numeric: the raw SQL sum is exact too (SQLite sums floats)
            total = LedgerEntry.objects.filter(passport=passport).aggregate(total=Sum("amount_base"))["total"]
            assert total == expected



def test_plan_vs_actual_is_honest_about_years_that_have_not_happened(org):
    """A year that has not begun has no actuals and no variance; the current year is compared with the plan to
    the end of this month, not with the whole year's plan."""
    _case(org, first_year=2025)
    book(org.finance_a, org.pa, "development", 150_000, period=date(2024, 10, 1))
    book(org.finance_a, org.pa, "cost_saving", 10_000, period=date(2026, 1, 1))
    figures = ledger_figures(passport=org.pa, today=date(2026, 3, 15))
    years = {row["year_index"]: row for row in figures["years"]}
    assert years[0]["actual_net"] == D(-150_000) and years[0]["first_year"] == 2025  # "before 2025 (year 0)"
    current, future = years[2], years[3]  # first year 2025: 2026 is year 2, 2027 year 3
    assert current["to_date"] and not current["future"] and current["planned_to_date"] == D(17_500)  # 3/12 of 70k
    assert current["variance"] == D(10_000) - D(17_500)
    assert future["future"] and future["actual_net"] is None and future["variance"] is None
    assert future["cumulative_actual"] is None and future["planned_net"] == D(70_000)
