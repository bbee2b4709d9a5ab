"""Every kind of write on one passport from several threads at once, on SQLite and on PostgreSQL: all of them land,
none fails (no deadlock, no "database is locked"), and the audit chain stays whole.

On PostgreSQL this once answered "deadlock detected" to half the requests: a ledger booking took the audit chain
head and then, at commit, its foreign-key check waited for the passport row a finding held while that finding waited
for the chain head. Every write now locks passport, version, its own rows, and the chain head last, with row
locks that foreign-key checks do not wait for.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from guardian.shortcuts import assign_perm

from governance.audit.services import audit_verify
from governance.ledger import services as ledger
from governance.ledger.models import LedgerEntry
from governance.ledger.permissions import MANAGE_UNIT
from governance.ledger.selectors import ledger_totals_mismatches
from governance.workflow.models import ChecklistItem, Finding
from governance.workflow.services import findings
from registry import services as registry_services
from tests.factories import BusinessUnitFactory, UserFactory, csv_upload
from tests.governance.workflow_helpers import Cast, register, to_in_validation
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
ROUNDS = 4


def test_every_kind_of_write_on_one_passport_at_once(passport, developer, owner):
    cast = Cast()
    finance = UserFactory(username="fin", roles=["finance"])
    unit = BusinessUnitFactory(code="retail")
    passport.business_unit = unit
    passport.save(update_fields=["business_unit"])
    assign_perm(MANAGE_UNIT, finance, unit)
    version = to_in_validation(register(passport, developer), developer, cast)
    draft = register(passport, developer, seed=9)
    items = list(ChecklistItem.objects.filter(version=version).order_by("code"))
    due = date.today() + timedelta(days=30)

    def rounds(write):
        return lambda: [write(i) for i in range(ROUNDS)]

    results = run_together(
        rounds(lambda i: findings.finding_raise(actor=cast.validator, version=version, title=f"Gap {i}",
                                                severity="low", owner=developer, due_date=due)),
        rounds(lambda i: findings.finding_raise(actor=cast.risk, version=version, title=f"Risk {i}",
                                                severity="medium", owner=developer, due_date=due)),
        rounds(lambda i: ledger.ledger_entry_book(actor=finance, passport=passport, category="cost_saving",
                                                  amount=Decimal(10 + i), currency="EUR", period=date(2025, 1 + i, 1),
                                                  description=f"Saving {i}")),
        rounds(lambda i: ledger.ledger_entry_book(actor=finance, passport=passport, category="infrastructure",
                                                  amount=Decimal(5 + i), currency="EUR", period=date(2025, 6 + i, 1),
                                                  description=f"GPU {i}")),
        rounds(lambda i: findings.checklist_answer(actor=cast.security, item=items[i], status="mitigated",
                                                   evidence=f"Reviewed {i}.")),
        rounds(lambda i: registry_services.passport_update(actor=owner, passport=passport, name=f"Credit {i}")),
        rounds(lambda i: registry_services.dataset_register(actor=developer, passport=passport,
                                                            upload=csv_upload(f"a,b\n{i},2\n"), name=f"d{i}",
                                                            kind="validation")),
        rounds(lambda i: registry_services.alias_set(actor=developer, passport=passport, name=f"candidate-{i}",
                                                     version=draft)),
    )
    failed = [r for r in results if r[0] != "ok"]
    assert failed == [], failed
    assert Finding.objects.filter(version=version).count() == 2 * ROUNDS
    assert LedgerEntry.objects.filter(passport=passport).count() == 2 * ROUNDS
    assert ledger_totals_mismatches() == []
    assert audit_verify().ok
