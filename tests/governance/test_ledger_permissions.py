"""Who sees amounts and who books, per business unit; selectors limited accordingly; year totals reconcile."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.http import Http404

from governance.accounts.roles import ROLE_PERMISSIONS
from governance.ledger import permissions as perms
from governance.ledger import selectors, services
from governance.ledger.models import LedgerYearTotal
from tests.governance import ledger_helpers
from tests.governance.ledger_helpers import book

pytestmark = pytest.mark.django_db

org = ledger_helpers.org

READERS_OF_A = {"finance_a", "finance_b", "finance_none", "granted_only", "risk", "owner", "admin", "auditor"}
EVERYONE = READERS_OF_A | {"developer", "outsider"}


@pytest.mark.parametrize("name", sorted(EVERYONE))
def test_who_sees_the_amounts_of_unit_as_passport(org, name):
    user = getattr(org, name)
    visible = name in READERS_OF_A
    assert perms.can_view_ledger(user, org.pa) is visible
    assert set(selectors.ledger_passports(user=user).values_list("key", flat=True)) >= (
        {"credit-score"} if visible else set())
    if not visible:
        with pytest.raises(Http404):
            selectors.ledger_passport_get(user=user, key=org.pa.key)


@pytest.mark.parametrize("name", sorted(EVERYONE))
def test_who_books_for_unit_a(org, name):
    assert perms.can_book(getattr(org, name), org.unit_a) is (name in {"finance_a", "admin"})


def test_a_grant_on_a_unit_reads_that_units_ledgers_only(org):
    assert list(selectors.ledger_passports(user=org.granted_only).values_list("key", flat=True)) == ["credit-score"]


def test_entry_lists_are_limited_and_filtered(org):
    book(org.finance_a, org.pa, "staff", 10, period=date(2024, 1, 1))
    book(org.finance_a, org.pa, "cost_saving", 20, period=date(2024, 3, 1))
    book(org.finance_b, org.pb, "staff", 30, period=date(2024, 2, 1))
    assert selectors.entry_list(user=org.developer).count() == 0
    assert selectors.entry_list(user=org.granted_only).count() == 2
    assert selectors.entry_list(user=org.auditor).count() == 3
    assert selectors.entry_list(user=org.auditor, filters={"business_unit": "unit-b"}).count() == 1
    assert selectors.entry_list(user=org.auditor, filters={"period_from": date(2024, 2, 1),
                                                           "period_to": date(2024, 2, 1)}).count() == 1
    assert selectors.entry_list(user=org.auditor, filters={"category": "cost_saving"}).get().amount == Decimal(20)
    with pytest.raises(Http404):
        selectors.entry_get(user=org.developer, pk=selectors.entry_list(user=org.auditor).first().pk)


def test_roles_hold_the_ledger_permissions_the_migration_synced():
    for role, wanted in (("finance", {"add_ledgerentry", "view_ledgerentry"}), ("auditor", {"view_ledgerentry"}),
                         ("risk_officer", {"view_ledgerentry"}), ("model_developer", set()),
                         ("validator", set()), ("security", set())):
        held = set(Group.objects.get(name=role).permissions.filter(codename__endswith="ledgerentry")
                   .values_list("codename", flat=True))
        assert held == wanted, role
    assert "governance.add_ledgerentry" in ROLE_PERMISSIONS["finance"]


def test_year_totals_follow_every_booking_and_reversal(org):
    entry = book(org.finance_a, org.pa, "inference", "10.01", predictions=100, source="serving_usage")
    book(org.finance_a, org.pa, "cost_saving", "99.99", period=date(2023, 5, 1))
    services.ledger_entry_reverse(actor=org.finance_a, entry=entry, reason="duplicate")
    total = LedgerYearTotal.objects.get(passport=org.pa, year=2024)
    assert (total.benefits, total.costs, total.inference, total.predictions, total.entries) == (0, 0, 0, 0, 2)
    assert LedgerYearTotal.objects.get(passport=org.pa, year=2023).benefits == Decimal("99.99")
    assert selectors.ledger_totals_mismatches() == []


def test_a_mismatch_is_found_and_a_rebuild_repairs_it(org):
    book(org.finance_a, org.pa, "staff", 10)
    LedgerYearTotal.objects.filter(passport=org.pa).update(costs=Decimal(-11))
    assert [m["year"] for m in selectors.ledger_totals_mismatches()] == [2024]
    assert services.ledger_totals_rebuild() == 1
    assert selectors.ledger_totals_mismatches() == []
