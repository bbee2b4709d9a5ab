"""The demo seed (through the services, idempotent) and the bulk benchmark seed."""

from __future__ import annotations

from io import StringIO

import numpy as np
import onnxruntime as ort
import pytest
from django.core.management import CommandError, call_command

from governance.accounts.choices import Role
from governance.accounts.models import BusinessUnit, Team, User
from governance.audit.models import AuditEvent
from governance.audit.services import audit_verify
from governance.demo import seed as demo
from governance.demo.onnx_models import DEMO_MODEL_KEYS, build_demo_models
from registry.models import Alias, Dataset, ModelPassport, ModelVersion

pytestmark = pytest.mark.django_db

INDEPENDENT = ("validator", "risk", "security")


@pytest.fixture(scope="module")
def demo_models():
    """Trained once for the module; seed_demo is given the same objects (training is the slow part)."""
    return {model.key: model for model in build_demo_models()}


@pytest.fixture
def seeded(demo_models, monkeypatch):
    monkeypatch.setattr(demo, "build_demo_models", lambda: list(demo_models.values()))
    out = StringIO()
    call_command("seed_demo", force=True, stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    models = (User, Team, BusinessUnit, ModelPassport, ModelVersion, Dataset, Alias, AuditEvent)
    return {model.__name__: model.objects.count() for model in models}


def test_seed_demo_creates_one_account_per_role(seeded):
    assert "Demo data created" in seeded
    for username, role, _ in demo.ACCOUNTS:
        user = User.objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert user.check_password(demo.DEMO_PASSWORD) and user.is_active
        assert user.is_superuser == user.is_staff == (role == Role.ADMIN)
    assert {role for _, role, _ in demo.ACCOUNTS} == set(Role.values)
    assert not Team.objects.filter(members__username__in=INDEPENDENT).exists()
    assert set(BusinessUnit.objects.values_list("code", flat=True)) >= {"retail-lending", "supply-chain", "payments",
                                                                        "customer"}


def test_seed_demo_passports_span_the_tiers_through_the_services(seeded):
    passports = {p.key: p for p in ModelPassport.objects.filter(key__in=DEMO_MODEL_KEYS)}
    assert len(passports) == 4
    assert {p.risk_tier for p in passports.values()} == {1, 2, 3}
    assert passports["credit-scoring"].risk_tier == 1 and passports["demand-forecast"].risk_tier == 3
    assert passports["churn-mlp"].risk_tier == 2 and passports["fraud-detection"].risk_tier in (1, 2)
    developer = User.objects.get(username="developer")
    for passport in passports.values():
        assert passport.purpose and passport.limitations and passport.data_sources and passport.stop_limits
        assert passport.monitoring_thresholds and passport.intended_use
        assert developer in passport.development_team.members.all()
        assert sorted(passport.datasets.values_list("kind", flat=True)) == ["reference", "validation"]
    # Every registry row was written by a service as the developer, so each has its audit event; the review
    # and the ledger were started through the services too, by the risk officer and the finance user.
    registry_events = AuditEvent.objects.filter(
        action__regex=r"^((passport|dataset|alias)\.|version\.(registered|schema))")
    assert set(registry_events.values_list("actor__username", flat=True)) == {"developer"}
    work = AuditEvent.objects.exclude(action__regex=r"^(user|team|object_permission)\.")
    assert set(work.values_list("actor__username", flat=True)) == {"developer", "risk", "finance"}
    # The accounts' roles, teams and grants were set by the platform itself, and recorded as such.
    access = AuditEvent.objects.filter(action__regex=r"^(user|team|object_permission)\.")
    assert access.exists() and set(access.values_list("actor_repr", flat=True)) == {"system"}
    assert AuditEvent.objects.filter(action="passport.created").count() == 4
    assert AuditEvent.objects.filter(action="version.registered").count() == ModelVersion.objects.count() == 5
    assert AuditEvent.objects.filter(action="dataset.registered").count() == Dataset.objects.count() == 8
    assert audit_verify().ok


def test_seed_demo_versions_load_in_onnxruntime_with_the_demo_features(seeded, demo_models):
    for version in ModelVersion.objects.select_related("passport", "training_dataset"):
        model = demo_models[version.passport.key]
        schema = version.feature_schema["features"]
        assert [f["name"] for f in schema] == model.feature_names
        assert all((f["min"], f["max"]) == model.feature_ranges[f["name"]] for f in schema)
        assert version.training_dataset.kind == "reference" and version.metrics
        with version.artifact.open("rb") as fh:
            session = ort.InferenceSession(fh.read(), providers=["CPUExecutionProvider"])
        outputs = session.run(None, {session.get_inputs()[0].name: model.input_array(model.holdout.head(5))})
        assert len(outputs[0]) == 5 and np.isfinite(np.asarray(outputs[-1], dtype=float)).all()


def test_seed_demo_credit_scoring_has_a_challenger(seeded):
    v1, v2 = ModelVersion.objects.filter(passport__key="credit-scoring").order_by("number")
    assert v2.parent == v1 and v2.sha256 != v1.sha256
    alias = Alias.objects.get(passport__key="credit-scoring", name="challenger")
    assert alias.version == v2


def test_seed_demo_second_run_changes_nothing(seeded):
    before = _counts()
    out = StringIO()
    call_command("seed_demo", force=True, stdout=out)
    assert "exists" in out.getvalue()
    assert _counts() == before
    assert audit_verify().ok


def test_seed_demo_refuses_with_debug_off_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.exists()


def test_seed_demo_accounts_prints_the_table_only():
    out = StringIO()
    call_command("seed_demo", "--accounts", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 + len(demo.ACCOUNTS)
    for username, _, _ in demo.ACCOUNTS:
        assert any(username in line and demo.DEMO_PASSWORD in line for line in lines)
    assert not User.objects.exists() and not ModelPassport.objects.exists()


def test_seed_scale_bulk_rows_keep_the_audit_chain_valid():
    call_command("seed_scale", passports=40, versions=200, stdout=StringIO())
    passports = ModelPassport.objects.filter(key__startswith="scale-")
    assert passports.count() == 40 and ModelVersion.objects.count() == 200
    assert set(passports.values_list("risk_tier", flat=True)) == {1, 2, 3}
    assert ModelVersion.objects.values("state").distinct().count() >= 5
    assert ModelVersion.objects.values("sha256").distinct().count() == 200
    assert ModelVersion.objects.values("artifact").distinct().count() == 1
    assert not passports.filter(versions__isnull=True).exists()
    assert AuditEvent.objects.filter(actor_repr="seed_scale").count() == 240
    assert audit_verify().ok
    developer = User.objects.get(username="scale-dev-000")
    assert developer.teams.count() == 1 and developer.groups.filter(name=Role.MODEL_DEVELOPER).exists()


def test_seed_scale_refuses_to_run_twice_without_yes_and_clears():
    call_command("seed_scale", passports=10, versions=30, audit_events=0, stdout=StringIO())
    with pytest.raises(CommandError, match="--yes"):
        call_command("seed_scale", passports=10, versions=30, stdout=StringIO())
    call_command("seed_scale", passports=12, versions=36, audit_events=0, yes=True, stdout=StringIO())
    assert ModelPassport.objects.count() == 12 and ModelVersion.objects.count() == 36
    call_command("seed_scale", clear=True, stdout=StringIO())
    assert not ModelPassport.objects.exists() and not User.objects.filter(username__startswith="scale-").exists()


def test_seed_demo_leaves_work_to_pick_up(seeded):
    from governance.ledger.selectors import ledger_figures, portfolio_list
    from validation.views import may_start

    validator, finance = User.objects.get(username="validator"), User.objects.get(username="finance")
    challenger = ModelVersion.objects.get(passport__key="credit-scoring", number=2)
    assert challenger.state == "in_validation" and may_start(validator, challenger)
    assert portfolio_list(user=finance).count() == 4
    for passport in ModelPassport.objects.filter(key__in=DEMO_MODEL_KEYS):
        figures = ledger_figures(passport=passport)
        assert figures["plan"] is not None and figures["costs"] > 0 and figures["benefits"] > 0
    assert audit_verify().ok
