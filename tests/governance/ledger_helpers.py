"""Fixtures and helpers for the ledger tests: two business units with a passport each, finance users granted
one unit each, and a booking shortcut. Test modules import the fixtures they use by name."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
from guardian.shortcuts import assign_perm

from governance.ledger import services as ledger_services
from tests.factories import BusinessUnitFactory, UserFactory, make_passport

MANAGE = "governance.manage_ledger_businessunit"


@pytest.fixture
def org(developer, owner, team, admin_user, auditor, outsider):
    """Units A and B with a passport each (``pa``, ``pb``; owner is their business owner, developer their
    technical owner and team member); finance users granted one unit each; a finance user without grants; a
    user granted unit A without the finance role; a risk officer."""
    unit_a = BusinessUnitFactory(code="unit-a", name="Unit A")
    unit_b = BusinessUnitFactory(code="unit-b", name="Unit B")
    pa = make_passport(actor=developer, key="credit-score", team=team, business_owner=owner, business_unit=unit_a)
    pb = make_passport(actor=developer, key="fraud-score", team=team, business_owner=owner, business_unit=unit_b,
                       name="Fraud score", materiality="low", regulatory_exposure="none",
                       processes_personal_data=False)
    finance_a = UserFactory(username="fin-a", roles=["finance"])
    finance_b = UserFactory(username="fin-b", roles=["finance"])
    finance_none = UserFactory(username="fin-none", roles=["finance"])
    granted_only = UserFactory(username="granted-only")
    assign_perm(MANAGE, finance_a, unit_a)
    assign_perm(MANAGE, finance_b, unit_b)
    assign_perm(MANAGE, granted_only, unit_a)
    risk = UserFactory(username="risk", roles=["risk_officer"])
    return SimpleNamespace(unit_a=unit_a, unit_b=unit_b, pa=pa, pb=pb, finance_a=finance_a, finance_b=finance_b,
                           finance_none=finance_none, granted_only=granted_only, risk=risk, owner=owner,
                           developer=developer, admin=admin_user, auditor=auditor, outsider=outsider)


def book(actor, passport, category, amount, *, period=date(2024, 1, 1), currency="EUR", rate=None, **kwargs):
    """Book through the service with plain arguments (amount as a string or number)."""
    kwargs.setdefault("description", f"{category} {amount}")
    return ledger_services.ledger_entry_book(
        actor=actor, passport=passport, category=category, amount=Decimal(str(amount)), currency=currency,
        period=period, fx_rate_to_base=None if rate is None else Decimal(str(rate)), **kwargs)


def book_payback_example(actor, passport, first_year: int = 2022):
    """The issue's example over three years: an initial cost of 150,000, running costs of 30,000 a year and
    savings of 100,000 a year (year 1: -80,000; year 2: -10,000 cumulative; payback at 2 + 10,000/70,000)."""
    book(actor, passport, "development", 150_000, period=date(first_year, 1, 1))
    for year in range(first_year, first_year + 3):
        book(actor, passport, "infrastructure", 30_000, period=date(year, 6, 1))
        book(actor, passport, "cost_saving", 100_000, period=date(year, 12, 1))
