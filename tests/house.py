"""One world with an object behind every door, for the access matrices (pages and the validation API).

Built once per test through the services: a tier-3 passport in a business unit, a version in validation with a
succeeded validation run (run eagerly) and the report issued from it, a finding, the OWASP checklist with an
attachment, a draft version to submit, a ledger entry with an evidence file, a business case, and a user per role.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

from django.core.files.uploadedfile import SimpleUploadedFile
from guardian.shortcuts import assign_perm

from governance.accounts.services import token_create
from governance.demo.onnx_models import build_demo_model
from governance.ledger import services as ledger_services
from governance.ledger.permissions import MANAGE_UNIT
from governance.workflow.models import ChecklistItem
from governance.workflow.services import findings as finding_services
from tests.factories import BusinessUnitFactory, TeamFactory, UserFactory, make_passport
from tests.governance.workflow_helpers import Cast, register
from tests.validation.conftest import TIER_3
from tests.validation.test_runs import _setup, _start
from validation import services as validation_services

_MODEL = {}


def credit_model():
    if "credit" not in _MODEL:
        _MODEL["credit"] = build_demo_model("credit-scoring", n_rows=1200)
    return _MODEL["credit"]


def build_house(capture_on_commit) -> SimpleNamespace:
    """``capture_on_commit`` is pytest-django's ``django_capture_on_commit_callbacks`` (runs the run's task)."""
    from governance.celery import app

    developer = UserFactory(username="dev", roles=["model_developer"])
    owner = UserFactory(username="owner", roles=["model_owner"])
    outsider = UserFactory(username="outsider")
    auditor = UserFactory(username="auditor", roles=["auditor"])
    finance = UserFactory(username="fin", roles=["finance"])
    admin = UserFactory(username="admin", roles=["admin"], is_staff=True, is_superuser=True)
    cast = Cast()
    unit = BusinessUnitFactory(code="retail", name="Retail")
    assign_perm(MANAGE_UNIT, finance, unit)
    team = TeamFactory(name="Scoring", members=[developer])
    passport = make_passport(actor=developer, key="house", team=team, business_owner=owner, business_unit=unit,
                             **TIER_3)
    model = credit_model()
    s = _setup(passport, developer, cast, model)
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    try:
        with capture_on_commit(execute=True):
            run = _start(s)
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved
    run.refresh_from_db()
    assert run.state == "succeeded", run.failure_reason
    report = validation_services.report_issue_generated(rating="fit", actor=cast.validator, run=run, conclusion="Fit.")
    finding = finding_services.finding_raise(actor=cast.validator, version=s.version, title="Docs gap",
                                             severity="low", owner=developer, due_date=date(2030, 1, 1))
    item = ChecklistItem.objects.get(version=s.version, code="ML06")
    finding_services.checklist_answer(actor=cast.security, item=item, status="mitigated", evidence="Pinned.",
                                      attachment=SimpleUploadedFile("sbom.txt", b"onnx==1.16"))
    draft = register(passport, developer, seed=5)
    entry = ledger_services.ledger_entry_book(
        actor=finance, passport=passport, category="cost_saving", amount=Decimal("1000"), currency="EUR",
        period=date(2025, 1, 1), description="Saving", evidence_file=SimpleUploadedFile("inv.pdf", b"%PDF-1.4"))
    ledger_services.business_case_set(
        actor=finance, passport=passport, currency="EUR", discount_rate=Decimal("0.10"), horizon_years=2,
        first_year=2025, lines=[ledger_services.PlanInput(0, "development", Decimal("5000")),
                                ledger_services.PlanInput(1, "cost_saving", Decimal("8000"))])
    token, _secret = token_create(user=developer, name="ci", scopes=["registry:read"])
    users = {"developer": developer, "owner": owner, "outsider": outsider, "auditor": auditor, "finance": finance,
             "admin": admin, "risk": cast.risk, "val": cast.validator, "val2": cast.validator2, "sec": cast.security}
    return SimpleNamespace(users=users, passport=passport, key=passport.key, version=s.version,
                           number=s.version.number, draft=draft.number, run=run.pk, report=report.pk,
                           finding=finding.pk, code=item.code, entry=entry.pk, token=token.pk, unit=unit,
                           reference=s.reference, validation=s.validation, target=s.target)
