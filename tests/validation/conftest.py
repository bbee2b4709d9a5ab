"""Fixtures shared by the validation tests: a demo model with its data, and Celery tasks run eagerly."""

from types import SimpleNamespace
from urllib.parse import quote

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import connections

from governance.demo.onnx_models import build_demo_model
from registry import services as registry_services
from registry.models import Dataset
from tests.factories import make_passport
from tests.governance.workflow_helpers import to_in_validation

TIER_3 = {"materiality": "low", "decision_type": "human_in_the_loop", "processes_personal_data": False,
          "regulatory_exposure": "none"}


@pytest.fixture(scope="module")
def credit():
    return build_demo_model("credit-scoring", n_rows=1200)


@pytest.fixture
def cast(db):
    from tests.governance.workflow_helpers import Cast

    return Cast()


@pytest.fixture
def shared_database(transactional_db, tmp_path):
    """A DATABASE_URL for the worker that reaches the database this test writes to."""
    conn = connections["default"]
    if conn.vendor == "postgresql":
        s = conn.settings_dict
        auth = quote(s["USER"] or "") + (f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else "")
        yield f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        return
    if not conn.is_in_memory_db():
        yield f"sqlite:///{conn.settings_dict['NAME']}"
        return
    # Set the in-memory database aside (closing it would destroy it) and migrate a file for this test.
    kept, name = conn.connection, conn.settings_dict["NAME"]
    conn.connection = None
    conn.settings_dict["NAME"] = str(tmp_path / "shared.sqlite3")
    ContentType.objects.clear_cache()
    try:
        call_command("migrate", verbosity=0)
        yield f"sqlite:///{conn.settings_dict['NAME']}"
    finally:
        conn.close()
        conn.settings_dict["NAME"], conn.connection = name, kept
        ContentType.objects.clear_cache()


def _dataset(passport, actor, frame, name, kind="validation") -> Dataset:
    upload = ContentFile(frame.to_csv(index=False).encode(), name=f"{name}.csv")
    return registry_services.dataset_register(actor=actor, passport=passport, upload=upload, name=name, kind=kind,
                                              fmt="csv")


def _version(passport, actor, model):
    return registry_services.version_register(actor=actor, passport=passport, feature_names=model.feature_names,
                                              upload=ContentFile(model.onnx_bytes, name=f"{model.key}.onnx"))


def _setup(passport, developer, cast, model):
    version = to_in_validation(_version(passport, developer, model), developer, cast)
    return SimpleNamespace(
        version=version, validator=cast.validator, target=model.target,
        reference=_dataset(passport, developer, model.reference, "reference", "reference"),
        validation=_dataset(passport, developer, model.holdout, "holdout"),
    )


@pytest.fixture
def low(developer, owner, team, cast, credit):
    """A tier-3 passport (basic depth: performance, data quality and explainability) with a version in validation."""
    passport = make_passport(actor=developer, key="credit-low", team=team, business_owner=owner, **TIER_3)
    return _setup(passport, developer, cast, credit)
