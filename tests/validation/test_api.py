"""The validation-run API: start (and its refusals), list and read runs with their progress, read the results with
the explainability, cancel. Runs execute for real (the Celery task, eager, on demo data through ONNX Runtime)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import onnxruntime
import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from governance.audit.models import AuditEvent
from registry import services as registry_services
from tests import api_helpers
from tests.api_helpers import API, assert_error, bearer_client
from tests.factories import make_passport
from tests.governance.workflow_helpers import Cast, to_in_validation
from tests.validation.conftest import TIER_3
from validation import services
from validation.models import ValidationRun

users = api_helpers.users  # the API tests' shared fixture

RUNS = f"{API}/validation/runs/"
TIER_2 = {"materiality": "medium", "decision_type": "human_in_the_loop", "processes_personal_data": True,
          "regulatory_exposure": "none"}




def _dataset(passport, actor, frame, name, kind="validation"):
    upload = ContentFile(frame.to_csv(index=False).encode(), name=f"{name}.csv")
    return registry_services.dataset_register(actor=actor, passport=passport, upload=upload, name=name, kind=kind,
                                              fmt="csv")


def _world(developer, owner, team, credit, key: str, tiering: dict) -> SimpleNamespace:
    cast = Cast()
    passport = make_passport(actor=developer, key=key, team=team, business_owner=owner, **tiering)
    version = registry_services.version_register(
        actor=developer, passport=passport, feature_names=credit.feature_names,
        upload=ContentFile(credit.onnx_bytes, name="credit.onnx"))
    version = to_in_validation(version, developer, cast)
    return SimpleNamespace(
        cast=cast, passport=passport, version=version, validator=cast.validator, target=credit.target,
        reference=_dataset(passport, developer, credit.reference, "reference", "reference"),
        validation=_dataset(passport, developer, credit.holdout, "holdout"))


@pytest.fixture
def low(developer, owner, team, credit):
    """A tier-3 passport (performance, data quality and explainability) with a version in validation and an
    assigned validator."""
    return _world(developer, owner, team, credit, "credit-low", TIER_3)


def _body(w, **extra) -> dict:
    return {"passport": w.passport.key, "version": w.version.number, "reference": w.reference.pk,
            "validation": w.validation.pk, "target": w.target, **extra}


def _runs() -> list[ValidationRun]:
    return list(ValidationRun.objects.all())


# --------------------------------------------------------------------------- start


def test_start_is_for_the_assigned_validator_and_invisible_versions_are_404(low, users):
    assert_error(APIClient().post(RUNS, _body(low), format="json"), 401, "not_authenticated")
    assert_error(bearer_client(users["outsider"]).post(RUNS, _body(low), format="json"), 404, "not_found")
    clients = [bearer_client(users[name]) for name in ("developer", "validator", "auditor")]
    read_only = bearer_client(low.validator, ["governance:read"])
    events = AuditEvent.objects.count()
    for client in clients:  # they see the passport, but are not assigned to v1
        assert_error(client.post(RUNS, _body(low), format="json"), 403, "permission_denied")
    # a token without governance:write may not start runs, even for the assigned validator
    assert_error(read_only.post(RUNS, _body(low), format="json"), 403)
    assert not _runs() and AuditEvent.objects.count() == events

    response = bearer_client(low.validator).post(RUNS, _body(low, segment_column=""), format="json")
    assert response.status_code == 201, response.content
    run = response.json()
    assert (run["passport"], run["version"], run["state"], run["step"], run["progress"]) == (
        low.passport.key, 1, "queued", "queued", 0)
    assert run["reference"] == {"id": low.reference.pk, "name": "reference", "sha256": low.reference.sha256,
                                "rows": low.reference.row_count}
    assert run["target"] == low.target and run["tier"] == 3 and run["depth"] == "basic"
    assert run["planned_tests"] == ["performance", "quality", "explainability"] and run["tests"] == []
    assert run["digests"]["artifact"] == low.version.sha256 and run["seed"] > 0 and run["outcome"] == ""
    assert run["started_by"] == "val" and run["attempts"] == 0
    assert AuditEvent.objects.filter(action="validation_run.queued", object_id=str(run["id"])).exists()


def test_a_dataset_missing_a_feature_is_refused_naming_the_column_and_nothing_is_stored(low, developer, credit):
    no_income = _dataset(low.passport, developer, credit.holdout.drop(columns=["income"]), "no income")
    client = bearer_client(low.validator)
    events = AuditEvent.objects.count()
    error = assert_error(client.post(RUNS, _body(low, validation=no_income.pk), format="json"),
                         400, "missing_column")
    assert "validation dataset 'no income' has no column 'income'" in error["message"]
    assert error["details"] == {"columns": ["income"]}
    error = assert_error(client.post(RUNS, _body(low, target="outcome"), format="json"), 400, "missing_column")
    assert "'outcome' (the target)" in error["message"] and error["field"] == "target"
    assert not _runs() and AuditEvent.objects.count() == events


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"target": ""}, "invalid", "target"),
    ({"target": None}, "invalid", "target"),
    ({"version": "one"}, "invalid", "version"),
    ({"reference": 2**63}, "invalid", "reference"),
    ({"reference": 999_999}, "not_found", "reference"),
    ({"validation": "x"}, "invalid", "validation"),
    ({"champion": 0}, "invalid", "champion"),
    ({"champion": 7}, "not_found", "champion"),
    ({"segment_column": ["a"]}, "invalid", "segment_column"),
])
def test_bad_fields_get_a_clear_error_and_store_nothing(low, change, code, field):
    error = assert_error(bearer_client(low.validator).post(RUNS, _body(low, **change), format="json"), 400, code)
    assert error["field"] == field
    assert not _runs()


def test_refusals_of_the_service_keep_their_message(low, developer, credit, passport):
    client = bearer_client(low.validator)
    error = assert_error(client.post(RUNS, _body(low, reference=low.validation.pk), format="json"), 400)
    assert "must differ" in error["message"]
    # a dataset of a passport the validator sees, but not this version's passport: not among this passport's
    elsewhere = _dataset(passport, developer, credit.holdout, "elsewhere")
    error = assert_error(client.post(RUNS, _body(low, validation=elsewhere.pk), format="json"), 400, "not_found")
    assert error["field"] == "validation"
    assert_error(client.post(RUNS, _body(low, version=9), format="json"), 404, "not_found")
    assert client.post(RUNS, _body(low), format="json").status_code == 201
    error = assert_error(client.post(RUNS, _body(low), format="json"), 409, "run_active")
    assert "with the same inputs is already queued" in error["message"]
    assert len(_runs()) == 1


# --------------------------------------------------------------------------- read


def _queued(w) -> ValidationRun:
    return services.run_start(actor=w.validator, version=w.version, reference=w.reference, validation=w.validation,
                              target=w.target)


def test_list_and_detail_follow_the_passport_visibility_and_filters(low, users):
    run = _queued(low)
    assert_error(APIClient().get(RUNS), 401, "not_authenticated")
    assert bearer_client(users["outsider"]).get(RUNS).json()["count"] == 0
    assert_error(bearer_client(users["outsider"]).get(f"{RUNS}{run.pk}/"), 404, "not_found")
    assert_error(bearer_client(users["outsider"]).get(f"{RUNS}{run.pk}/results/"), 404, "not_found")
    auditor = bearer_client(users["auditor"], ["governance:read"])
    listed = auditor.get(RUNS).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == run.pk and "tests" not in listed["results"][0]
    assert auditor.get(RUNS, {"state": "queued", "passport": low.passport.key}).json()["count"] == 1
    assert auditor.get(RUNS, {"state": "succeeded"}).json()["count"] == 0
    assert auditor.get(RUNS, {"passport": "other"}).json()["count"] == 0
    assert_error(auditor.get(RUNS, {"state": "done"}), 400, "invalid")
    assert_error(auditor.get(RUNS, {"outcome": "maybe"}), 400, "invalid")
    assert_error(auditor.get(f"{RUNS}{2**70}/"), 404, "not_found")
    assert auditor.get(f"{RUNS}{run.pk}/").json()["state"] == "queued"
    assert_error(bearer_client(users["auditor"], ["registry:read"]).get(RUNS), 403)


def test_progress_fields_while_running_and_no_results_yet(low, users):
    run = _queued(low)
    services.run_claim(run_id=run.pk, token="a" * 32, worker="w1@host")
    assert services.run_progress(run_id=run.pk, token="a" * 32, step="quality", progress=42)
    body = bearer_client(users["auditor"]).get(f"{RUNS}{run.pk}/").json()
    assert (body["state"], body["step"], body["step_label"], body["progress"]) == (
        "running", "quality", "Data quality", 42)
    assert (body["attempts"], body["worker"]) == (1, "w1@host")
    assert body["started_at"] and body["heartbeat_at"] and body["finished_at"] is None
    assert body["attempt_log"][0]["worker"] == "w1@host"
    error = assert_error(bearer_client(users["auditor"]).get(f"{RUNS}{run.pk}/results/"), 409, "no_results")
    assert "is running" in error["message"]


def test_a_finished_run_shows_what_reproduces_it_and_its_results_with_explainability(
        developer, owner, team, credit, users, eager, django_capture_on_commit_callbacks):
    w = _world(developer, owner, team, credit, "credit-mid", TIER_2)
    with django_capture_on_commit_callbacks(execute=True):
        response = bearer_client(w.validator).post(RUNS, _body(w), format="json")
    assert response.status_code == 201
    run_id = response.json()["id"]
    client = bearer_client(users["auditor"], ["governance:read"])
    body = client.get(f"{RUNS}{run_id}/").json()
    assert body["state"] == "succeeded", body["failure_reason"]
    assert (body["step"], body["progress"], body["attempts"]) == ("done", 100, 1)
    assert body["outcome"] in ("passed", "failed") and body["duration_seconds"] > 0
    assert body["environment"]["packages"]["onnxruntime"] and body["environment"]["worker"] == body["worker"]
    assert body["environment"]["seeds"]["base"] == body["seed"]
    assert set(body["digests"]) == {"artifact", "reference", "validation", "results"}
    tests = {t["name"]: t for t in body["tests"]}
    assert [t["name"] for t in body["tests"]] == body["planned_tests"]
    assert {"performance", "quality", "calibration", "stability", "explainability"} <= set(tests)
    assert tests["performance"]["headline"] == "auc" and tests["performance"]["value"] > 0.7
    assert tests["performance"]["threshold"] is not None and tests["performance"]["op"] == ">="
    assert tests["performance"]["status"] in ("passed", "failed")
    assert tests["explainability"]["status"] == "info" and tests["explainability"]["passed"] is None
    run = ValidationRun.objects.get(pk=run_id)
    assert body["outcome"] == run.outcome

    results = client.get(f"{RUNS}{run_id}/results/").json()
    assert results["results"] == run.results and results["digests"]["results"] == run.digests["results"]
    explained = results["explainability"]
    assert explained["algorithm"] == "tree_interventional" and explained["exact"] is True
    assert explained["data"]["explained"] == "validation" and explained["data"]["background"] == "reference"
    assert "TreeSHAP" in explained["note"]
    importance = explained["importance"]
    assert {entry["feature"] for entry in importance} == set(credit.feature_names)
    assert importance == sorted(importance, key=lambda e: -e["mean_abs_shap"]) and importance[0]["mean_abs_shap"] > 0
    sample = explained["sample"]
    assert sample["features"] == credit.feature_names and len(sample["shap"]) == len(sample["x"]) >= 10
    assert all(len(row) == len(credit.feature_names) for row in sample["shap"])
    # the per-row SHAP values add up, with the expected value, to the model's raw output (log-odds) of that row
    session = onnxruntime.InferenceSession(credit.onnx_bytes, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: np.asarray(sample["x"], dtype=np.float32)})
    probability = np.array([row[1] for row in outputs[1]]) if isinstance(outputs[1], list) else outputs[1][:, 1]
    log_odds = np.log(probability / (1 - probability))
    assert np.allclose(np.sum(sample["shap"], axis=1) + explained["expected_value"], log_odds, atol=1e-4)


# --------------------------------------------------------------------------- cancel


def test_cancel_is_for_the_assigned_validator_and_only_while_active(low, users):
    run = _queued(low)
    url = f"{RUNS}{run.pk}/cancel/"
    assert_error(APIClient().post(url), 401, "not_authenticated")
    assert_error(bearer_client(users["outsider"]).post(url), 404, "not_found")
    assert_error(bearer_client(users["auditor"]).post(url), 403, "permission_denied")
    assert_error(bearer_client(low.validator, ["governance:read"]).post(url), 403)
    body = bearer_client(low.validator).post(url).json()
    assert body["state"] == "cancelled" and body["finished_at"]
    assert AuditEvent.objects.filter(action="validation_run.cancelled", object_id=str(run.pk)).exists()
    assert_error(bearer_client(low.validator).post(url), 409, "illegal_transition")
    error = assert_error(bearer_client(low.validator).get(f"{RUNS}{run.pk}/results/"), 409, "no_results")
    assert "cancelled" in error["message"]


def test_a_failed_run_says_why(low, developer, credit, users, eager, django_capture_on_commit_callbacks):
    from registry.models import Dataset

    lying = _dataset(low.passport, developer, credit.holdout.drop(columns=["income"]), "lying")
    Dataset.objects.filter(pk=lying.pk).update(schema=low.validation.schema)  # only the worker can find out
    with django_capture_on_commit_callbacks(execute=True):
        run_id = bearer_client(low.validator).post(RUNS, _body(low, validation=lying.pk), format="json").json()["id"]
    body = bearer_client(users["auditor"]).get(f"{RUNS}{run_id}/").json()
    assert body["state"] == "failed" and "has no column 'income'" in body["failure_reason"]
    assert body["tests"] == [] and body["outcome"] == ""
    error = assert_error(bearer_client(users["auditor"]).get(f"{RUNS}{run_id}/results/"), 409, "no_results")
    assert "has no column 'income'" in error["message"]
