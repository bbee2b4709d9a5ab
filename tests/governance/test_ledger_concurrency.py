"""Concurrent bookings on PostgreSQL: two real connections reverse one entry, or book into one year total, at
the same moment."""

from __future__ import annotations

from datetime import date

import pytest

from core.errors import Conflict
from governance.audit.services import audit_verify
from governance.ledger import services
from governance.ledger.models import LedgerEntry, LedgerYearTotal
from governance.ledger.selectors import ledger_totals_mismatches
from tests.governance import ledger_helpers
from tests.governance.ledger_helpers import book
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

org = ledger_helpers.org


def test_two_reversals_of_one_entry_at_once_book_one(org):
    entry = book(org.finance_a, org.pa, "staff", 100)
    results = run_together(
        lambda: services.ledger_entry_reverse(actor=org.finance_a, entry=entry, reason="first"),
        lambda: services.ledger_entry_reverse(actor=org.admin, entry=entry, reason="second"),
    )
    assert sorted(r[0] for r in results) == ["error", "ok"], results
    error = next(r[1] for r in results if r[0] == "error")
    assert isinstance(error, Conflict) and error.code == "already_reversed"
    assert LedgerEntry.objects.filter(reversal_of=entry).count() == 1
    assert ledger_totals_mismatches() == [] and audit_verify().ok


def test_bookings_into_one_new_year_total_at_once_all_count(org):
    results = run_together(*[
        (lambda i=i: book(org.finance_a, org.pa, "cost_saving", 10 + i, period=date(2023, 1 + i, 1)))
        for i in range(4)])
    assert [r[0] for r in results] == ["ok"] * 4, results
    total = LedgerYearTotal.objects.get(passport=org.pa, year=2023)
    assert (total.benefits, total.entries) == (10 + 11 + 12 + 13, 4)
    assert ledger_totals_mismatches() == [] and audit_verify().ok
