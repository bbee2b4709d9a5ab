"""Concurrent reviewers, on SQLite and on PostgreSQL: real connections act on one version at the same moment."""

import pytest

from core.errors import Conflict
from governance.audit.models import AuditEvent
from governance.audit.services import audit_verify
from governance.workflow.services import transitions as workflow
from registry.choices import VersionState
from registry.models import ModelVersion
from tests.factories import UserFactory
from tests.governance.workflow_helpers import Cast, answer_checklist, register, sign, to_validated
from tests.threads import run_together

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_two_risk_officers_rejecting_at_once_give_one_transition(passport, developer):
    cast = Cast()
    second = UserFactory(username="risk2", roles=["risk_officer"])
    version = to_validated(register(passport, developer), developer, cast)
    results = run_together(
        lambda: workflow.version_reject(actor=cast.risk, version=version, reason="first"),
        lambda: workflow.version_reject(actor=second, version=version, reason="second"),
    )
    outcomes = sorted(r[0] for r in results)
    assert outcomes == ["error", "ok"], results
    error = next(r[1] for r in results if r[0] == "error")
    assert isinstance(error, Conflict) and error.code == "illegal_transition" and "rejected" in error.message
    assert AuditEvent.objects.filter(action="version.rejected").count() == 1
    assert ModelVersion.objects.get(pk=version.pk).state == VersionState.REJECTED
    assert audit_verify().ok


def test_last_two_signoffs_at_once_approve_exactly_once(passport, developer, owner):
    cast = Cast()
    version = to_validated(register(passport, developer), developer, cast)
    answer_checklist(version, cast.security)
    sign(version, cast.validator, "validator")
    sign(version, cast.risk, "risk_officer")
    results = run_together(
        lambda: sign(version, cast.security, "security"),
        lambda: sign(version, owner, "business_owner"),
    )
    assert [r[0] for r in results] == ["ok", "ok"], results
    assert ModelVersion.objects.get(pk=version.pk).state == VersionState.APPROVED
    assert AuditEvent.objects.filter(action="version.approved").count() == 1
    assert audit_verify().ok


def test_concurrent_version_registration_numbers_uniquely(passport, developer):
    from registry import services
    from tests.factories import linear_onnx, onnx_upload

    results = run_together(*[
        (lambda s=s: services.version_register(actor=developer, passport=passport,
                                               upload=onnx_upload(linear_onnx(seed=100 + s))))
        for s in range(3)
    ])
    assert all(r[0] == "ok" for r in results), results
    assert sorted(ModelVersion.objects.values_list("number", flat=True)) == [1, 2, 3]
    assert audit_verify().ok


def test_ten_identical_submits_at_once_give_one_submission_and_nine_clear_refusals(passport, developer):
    version = register(passport, developer)
    results = run_together(*[lambda: workflow.version_submit(actor=developer, version=version)] * 10)
    assert sorted(r[0] for r in results) == ["error"] * 9 + ["ok"], results
    errors = [r[1] for r in results if r[0] == "error"]
    assert all(isinstance(e, Conflict) and e.code == "illegal_transition" for e in errors), errors
    assert AuditEvent.objects.filter(action="version.submitted").count() == 1
    assert audit_verify().ok


def test_parallel_reversals_of_one_entry_reverse_it_once(passport, developer):
    from decimal import Decimal

    from guardian.shortcuts import assign_perm

    from core.errors import DomainError
    from governance.accounts.models import BusinessUnit
    from governance.ledger import services as ledger
    from governance.ledger.permissions import MANAGE_UNIT

    finance = UserFactory(username="fin", roles=["finance"])
    unit = BusinessUnit.objects.create(code="retail", name="Retail")
    passport.business_unit = unit
    passport.save(update_fields=["business_unit"])
    assign_perm(MANAGE_UNIT, finance, unit)
    from datetime import date

    entry = ledger.ledger_entry_book(actor=finance, passport=passport, category="cost_saving", amount=Decimal("10"),
                                     currency="EUR", period=date(2025, 1, 1), description="Saving")
    results = run_together(*[lambda: ledger.ledger_entry_reverse(actor=finance, entry=entry, reason="twice")] * 6)
    assert sorted(r[0] for r in results) == ["error"] * 5 + ["ok"], results
    assert all(isinstance(r[1], DomainError) for r in results if r[0] == "error"), results
    assert AuditEvent.objects.filter(action="ledger.entry_reversed").count() == 1
    assert audit_verify().ok
