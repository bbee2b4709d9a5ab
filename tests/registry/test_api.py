"""Registry REST API: access matrix, filters, uploads, refusals, error shape, query counts."""

from __future__ import annotations

import json

import onnx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from onnx import TensorProto, helper
from rest_framework.test import APIClient

from governance.audit.models import AuditEvent
from registry import services
from registry.models import Alias, Dataset, ModelPassport, ModelVersion
from registry.onnx_inspect import ArtifactRejected
from tests import api_helpers
from tests.api_helpers import API, Endpoint, assert_error, bearer_client, check_endpoint, media_files
from tests.factories import (
    BusinessUnitFactory,
    TeamFactory,
    UserFactory,
    csv_upload,
    linear_onnx,
    make_passport,
    onnx_upload,
)

users, world = api_helpers.users, api_helpers.world  # the API tests' shared fixtures
pytestmark = pytest.mark.django_db


def _passport_body(w):
    return {
        "key": "churn-model", "name": "Churn", "purpose": "Predict churn.",
        "business_owner": w.passport.business_owner_id, "technical_owner": w.passport.technical_owner_id,
        "development_team": w.passport.development_team_id, "business_unit": w.passport.business_unit.code,
        "materiality": "low", "decision_type": "human_in_the_loop", "regulatory_exposure": "none",
    }


def _feature_schema(w):
    features = [{"name": f"f{i}", "type": "float", "min": 0, "max": 10} for i in range(3)]
    return {"feature_schema": {"features": features}}


ENDPOINTS = [
    Endpoint("GET", "/passports/", "developer", 200, (("outsider", 200),), id="passport-list"),
    Endpoint("POST", "/passports/", "developer", 201, (("outsider", 403), ("validator", 403)),
             body=_passport_body, id="passport-create"),
    Endpoint("GET", "/passports/{w.key}/", "developer", 200, (("outsider", 404),), id="passport-get"),
    Endpoint("PATCH", "/passports/{w.key}/", "owner", 200, (("outsider", 404), ("validator", 403)),
             body=lambda w: {"name": "Renamed"}, id="passport-patch"),
    Endpoint("POST", "/passports/{w.key}/retier/", "admin", 200, (("outsider", 404), ("developer", 403),
             ("owner", 403), ("validator", 403)),
             body=lambda w: {"reason": "The owner moved.", "business_owner": w.passport.technical_owner_id},
             id="passport-retier"),
    Endpoint("GET", "/passports/{w.key}/versions/", "validator", 200, (("outsider", 404),), id="version-list"),
    Endpoint("POST", "/passports/{w.key}/versions/", "developer", 201,
             (("outsider", 404), ("validator", 403), ("owner", 403)),
             body=lambda w: {"artifact": onnx_upload(linear_onnx(seed=7))}, format="multipart", id="version-create"),
    # The import itself runs against a real MLflow server in tests/registry/test_mlflow_import.py; here the door:
    # who may ask, and an operator who allowed no server yet (400 tracking_uri_not_allowed, nothing changes).
    Endpoint("POST", "/passports/{w.key}/versions/import-mlflow/", "developer", 400,
             (("outsider", 404), ("validator", 403), ("owner", 403)),
             body=lambda w: {"model_uri": "models:/credit/1"}, id="version-import-mlflow"),
    Endpoint("GET", "/passports/{w.key}/versions/{w.version}/", "developer", 200, (("outsider", 404),),
             id="version-get"),
    Endpoint("POST", "/passports/{w.key}/versions/{w.version}/feature-schema/", "developer", 200,
             (("outsider", 404), ("validator", 403)), body=_feature_schema, id="version-schema"),
    Endpoint("PUT", "/passports/{w.key}/versions/{w.version}/feature-schema/", "developer", 200,
             (("outsider", 404), ("validator", 403), ("owner", 403)), body=_feature_schema, id="version-schema-put"),
    Endpoint("GET", "/passports/{w.key}/versions/{w.version}/artifact/", "validator", 200, (("outsider", 404),),
             id="version-artifact"),
    Endpoint("GET", "/passports/{w.key}/datasets/", "validator", 200, (("outsider", 404),), id="dataset-list"),
    Endpoint("POST", "/passports/{w.key}/datasets/", "developer", 201, (("outsider", 404), ("validator", 403)),
             body=lambda w: {"file": csv_upload("a,b\n1,2\n"), "kind": "validation"}, format="multipart",
             id="dataset-create"),
    Endpoint("GET", "/passports/{w.key}/datasets/{w.dataset}/", "developer", 200, (("outsider", 404),),
             id="dataset-get"),
    Endpoint("GET", "/passports/{w.key}/mlflow-follows/", "developer", 200, (("outsider", 404),),
             id="follow-list"),
    Endpoint("GET", "/passports/{w.key}/mlflow-follows/{w.follow}/", "validator", 200, (("outsider", 404),),
             id="follow-get"),
    # following runs against a real MLflow server in tests/registry/test_mlflow_import.py; here the door
    Endpoint("POST", "/passports/{w.key}/mlflow-follows/", "developer", 400,
             (("outsider", 404), ("validator", 403), ("owner", 403)),
             body=lambda w: {"registered_model": "credit"}, id="follow-create"),
    Endpoint("POST", "/passports/{w.key}/mlflow-follows/{w.follow}/stop/", "developer", 200,
             (("outsider", 404), ("validator", 403), ("owner", 403)), id="follow-stop"),
    Endpoint("GET", "/passports/{w.key}/aliases/", "developer", 200, (("outsider", 404),), id="alias-list"),
    Endpoint("GET", "/passports/{w.key}/aliases/{w.alias}/", "developer", 200, (("outsider", 404),), id="alias-get"),
    Endpoint("PUT", "/passports/{w.key}/aliases/candidate/", "owner", 200, (("outsider", 404), ("validator", 403)),
             body=lambda w: {"version": w.version}, id="alias-set"),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_access_matrix(endpoint, world, users):
    check_endpoint(endpoint, world, users)


# --------------------------------------------------------------------------- passports


def test_passport_list_shows_only_visible_passports_with_annotations(world, users):
    make_passport(actor=users["owner"], key="hidden-model", team=TeamFactory(members=[users["owner"]]))
    response = bearer_client(users["developer"]).get(f"{API}/passports/")
    assert [p["key"] for p in response.data["results"]] == ["credit-score"]
    item = response.data["results"][0]
    assert item["version_count"] == 1 and item["latest_version"] == 1 and item["latest_state"] == "draft"
    assert item["risk_tier"] == 1 and item["business_unit"] == world.passport.business_unit.code
    assert item["business_owner"] == {"id": users["owner"].pk, "username": "owner"}
    assert item["development_team"] == {"id": world.passport.development_team_id, "name": "Risk models"}
    assert bearer_client(users["outsider"]).get(f"{API}/passports/").data["count"] == 0
    assert bearer_client(users["validator"]).get(f"{API}/passports/").data["count"] == 2


def test_passport_filters_and_ordering(world, users):
    dev = users["developer"]
    unit = BusinessUnitFactory(code="retail")
    make_passport(actor=dev, key="alpha-low", name="Zeta", team=world.passport.development_team, business_unit=unit,
                  materiality="low", decision_type="human_in_the_loop", processes_personal_data=False,
                  regulatory_exposure="none", business_owner=users["admin"], technical_owner=users["admin"])
    client = bearer_client(users["validator"])

    def keys(query):
        response = client.get(f"{API}/passports/?{query}")
        assert response.status_code == 200, response.data
        return [p["key"] for p in response.data["results"]]

    assert keys("") == ["alpha-low", "credit-score"]
    assert keys("tier=3") == ["alpha-low"]
    assert keys("tier=1") == ["credit-score"]
    assert keys("q=CREDIT") == ["credit-score"]
    assert keys("business_unit=retail") == ["alpha-low"]
    assert keys(f"business_unit={unit.pk}") == ["alpha-low"]
    assert keys(f"owner={users['admin'].pk}") == ["alpha-low"]
    assert keys("state=draft") == ["credit-score"]
    assert keys("state=approved") == []
    assert keys("ordering=-key") == ["credit-score", "alpha-low"]
    assert keys("ordering=name") == ["credit-score", "alpha-low"]
    assert keys("ordering=-risk_tier") == ["alpha-low", "credit-score"]
    assert_error(client.get(f"{API}/passports/?tier=9"), 400, "invalid")
    error = assert_error(client.get(f"{API}/passports/?state=bogus"), 400, "invalid")
    assert error["field"] == "state"
    assert_error(client.get(f"{API}/passports/?owner=abc"), 400, "invalid")


def test_passport_pagination(world, users):
    for i in range(3):
        make_passport(actor=users["developer"], key=f"model-{i}", team=world.passport.development_team)
    client = bearer_client(users["developer"])
    page = client.get(f"{API}/passports/?page_size=2&page=2").data
    assert page["count"] == 4 and len(page["results"]) == 2 and page["previous"] and page["next"] is None
    assert_error(client.get(f"{API}/passports/?page=99"), 404, "not_found")


def test_passport_create_derives_tier_and_audits(world, users):
    client = bearer_client(users["developer"])
    response = client.post(f"{API}/passports/", _passport_body(world), format="json")
    assert response.status_code == 201, response.data
    assert response.data["risk_tier"] == 3 and response.data["version_count"] == 0
    assert response.data["latest_version"] is None
    assert AuditEvent.objects.filter(action="passport.created", passport_key="churn-model").exists()
    duplicate = client.post(f"{API}/passports/", _passport_body(world), format="json")
    assert assert_error(duplicate, 409, "conflict")["field"] == "key"


def test_passport_create_validation_errors_have_one_shape(world, users):
    client = bearer_client(users["developer"])
    error = assert_error(client.post(f"{API}/passports/", {"key": "x"}, format="json"), 400, "invalid")
    assert error["field"] and isinstance(error["details"], dict)
    body = {**_passport_body(world), "key": "Bad Key!"}
    error = assert_error(client.post(f"{API}/passports/", body, format="json"), 400, "invalid")
    assert error["field"] == "key"
    body = {**_passport_body(world), "business_owner": 999999}
    assert assert_error(client.post(f"{API}/passports/", body, format="json"), 400)["field"] == "business_owner"
    response = client.post(f"{API}/passports/", "not json", content_type="application/json")
    assert_error(response, 400, "parse_error")
    assert not ModelPassport.objects.filter(key="churn-model").exists()


def test_passport_patch_changes_fields_but_never_the_key(world, users):
    client = bearer_client(users["owner"])
    response = client.patch(f"{API}/passports/{world.key}/", {"name": "Renamed", "key": "renamed"}, format="json")
    assert response.status_code == 200, response.data
    assert response.data["key"] == world.key and response.data["name"] == "Renamed"
    assert response.data["version_count"] == 1


@pytest.mark.parametrize(("field", "value"), [
    ("stop_limits", {"max_decisions_per_day": -1000}),  # read as 0 by serving, that was no limit at all
    ("stop_limits", {"max_decisions_per_day": "1000 a day"}),
    ("stop_limits", {"max_decisions_per_day": 1000.5}),
    ("stop_limits", {"max_decisions_per_day": True}),
    ("stop_limits", ["max_decisions_per_day", 1000]),
    ("monitoring_thresholds", {"psi": -1}),  # every window would alert, and roll the version back
    ("monitoring_thresholds", {"psi": 0}),
    ("monitoring_thresholds", {"error_rate": 1.5}),
    ("monitoring_thresholds", {"latency_p95_ms": "fast"}),
    ("monitoring_thresholds", {"min_window_requests": 0}),
    ("monitoring_thresholds", {"score_psi": 1e308 * 10}),  # infinity, as JSON cannot say it: 400 either way
])
def test_limits_serving_enforces_must_be_readable(world, users, field, value):
    client = bearer_client(users["owner"])
    body = json.dumps({field: value}).replace("Infinity", "1e999")
    error = assert_error(client.patch(f"{API}/passports/{world.key}/", body, content_type="application/json"), 400)
    assert error["field"] == field or error["code"] in ("parse_error", "invalid")
    world.passport.refresh_from_db()
    assert getattr(world.passport, field) != value
    assert not AuditEvent.objects.filter(action="passport.changed").exists()


def test_limits_serving_does_not_read_are_recorded_as_given(world, users):
    client = bearer_client(users["owner"])
    limits = {"max_decisions_per_day": 0, "max_declines_per_hour": "5000", "<b>k</b>": "<i>v</i>"}
    thresholds = {"psi": 0.25, "error_rate": 1, "min_window_requests": 200, "auc_min": 0.72}
    response = client.patch(f"{API}/passports/{world.key}/", {"stop_limits": limits,
                                                              "monitoring_thresholds": thresholds}, format="json")
    assert response.status_code == 200, response.data
    world.passport.refresh_from_db()
    assert world.passport.stop_limits == limits and world.passport.monitoring_thresholds == thresholds


@pytest.mark.parametrize("who", ["developer", "owner"])
def test_a_patch_cannot_retier_or_pick_the_business_owner(world, users, who):
    """A developer's token once lowered its model from tier 1 to 3 and chose who signs as business owner."""
    client = bearer_client(users[who])
    for body in ({"materiality": "low", "decision_type": "human_in_the_loop", "processes_personal_data": False,
                  "regulatory_exposure": "none"}, {"business_owner": users["validator"].pk}):
        response = client.patch(f"{API}/passports/{world.key}/", body, format="json")
        assert response.status_code in (400, 403), response.data
        if response.status_code == 400:
            assert assert_error(response, 400, "retier_required")["field"] in body
    world.passport.refresh_from_db()
    assert world.passport.risk_tier == 1 and world.passport.business_owner == users["owner"]
    assert not AuditEvent.objects.filter(action__in=["passport.changed", "passport.retiered"]).exists()


def test_passport_put_and_delete_are_not_allowed(world, users):
    client = bearer_client(users["admin"])
    url = f"{API}/passports/{world.key}/"
    assert_error(client.put(url, {"name": "x"}, format="json"), 405, "method_not_allowed")
    assert_error(client.delete(url), 405, "method_not_allowed")
    assert ModelPassport.objects.filter(key=world.key).exists()


def test_missing_objects_give_404_in_the_error_shape(world, users):
    client = bearer_client(users["admin"])
    for url in ("/passports/nope/", "/passports/nope/versions/", f"/passports/{world.key}/versions/99/",
                f"/passports/{world.key}/datasets/99/", f"/passports/{world.key}/aliases/nope/",
                f"/passports/{world.key}/versions/99/artifact/"):
        assert_error(client.get(API + url), 404, "not_found")


# --------------------------------------------------------------------------- versions


def test_version_upload_with_metadata(world, users):
    client = bearer_client(users["developer"])
    response = client.post(f"{API}/passports/{world.key}/versions/", {
        "artifact": onnx_upload(linear_onnx(seed=11)), "feature_names": '["age", "income", "debt"]',
        "metrics": json.dumps({"auc": 0.81}), "parent": world.version, "training_dataset": world.dataset,
        "change_description": "retrained", "mlflow_run_id": "run-1",
    }, format="multipart")
    assert response.status_code == 201, response.data
    data = response.data
    assert data["number"] == 2 and data["parent"] == 1 and data["training_dataset"] == world.dataset
    assert data["training_data_digest"] == world.dataset_obj.sha256 and data["metrics"] == {"auc": 0.81}
    assert [f["name"] for f in data["feature_schema"]["features"]] == ["age", "income", "debt"]
    assert data["author"] == "dev" and data["state"] == "draft" and data["artifact_url"].endswith("/2/artifact/")
    assert AuditEvent.objects.filter(action="version.registered", object_id=str(
        ModelVersion.objects.get(passport=world.passport, number=2).pk)).exists()


def test_version_upload_accepts_comma_separated_feature_names(world, users):
    response = bearer_client(users["developer"]).post(f"{API}/passports/{world.key}/versions/", {
        "artifact": onnx_upload(linear_onnx(seed=12)), "feature_names": "a, b,c"}, format="multipart")
    assert response.status_code == 201, response.data
    assert [f["name"] for f in response.data["feature_schema"]["features"]] == ["a", "b", "c"]


@pytest.mark.parametrize(("form", "field"), [
    ({"metrics": "[1, 2]"}, "metrics"),
    ({"metrics": "{not json"}, "metrics"),
    ({"metrics": '{"auc": "high"}'}, "metrics"),
    ({"feature_names": "[1, 2, 3]"}, "feature_names"),
    ({"feature_names": "a,,b"}, "feature_names"),
    ({"feature_names": "a,b"}, "feature_names"),
    ({"parent": 42}, "parent"),
    ({"training_dataset": 999999}, "training_dataset"),
    ({"parent": "one"}, "parent"),
])
def test_version_upload_refuses_bad_fields(world, users, form, field):
    before = (ModelVersion.objects.count(), AuditEvent.objects.count(), len(media_files()))
    response = bearer_client(users["developer"]).post(f"{API}/passports/{world.key}/versions/", {
        "artifact": onnx_upload(linear_onnx(seed=13)), **form}, format="multipart")
    assert assert_error(response, 400)["field"] == field
    assert (ModelVersion.objects.count(), AuditEvent.objects.count() - 1, len(media_files())) == before


def test_version_upload_refuses_a_training_dataset_of_another_passport(world, users):
    other = make_passport(actor=users["developer"], key="other-model", team=world.passport.development_team)
    dataset = services.dataset_register(actor=users["developer"], passport=other, upload=csv_upload("a\n1\n"),
                                        name="d", kind="reference")
    response = bearer_client(users["developer"]).post(f"{API}/passports/{world.key}/versions/", {
        "artifact": onnx_upload(linear_onnx(seed=14)), "training_dataset": dataset.pk}, format="multipart")
    assert assert_error(response, 400)["field"] == "training_dataset"


def test_duplicate_artifact_is_a_conflict(world, users):
    response = bearer_client(users["developer"]).post(f"{API}/passports/{world.key}/versions/", {
        "artifact": onnx_upload(linear_onnx(seed=1))}, format="multipart")
    assert assert_error(response, 409, "conflict")["field"] == "artifact"


def _custom_domain_onnx() -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Secret", ["x"], ["y"], domain="evil.ops")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("evil.ops", 1)])
    return model.SerializeToString()


def _external_data_onnx() -> bytes:
    model = onnx.load_from_string(linear_onnx(seed=2))
    tensor = model.graph.initializer[0]
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    return model.SerializeToString()


BAD_ARTIFACTS = {
    "not_onnx": lambda: b"this is plainly not a model",
    "truncated": lambda: linear_onnx(seed=3)[:60],
    "custom_operator_domain": _custom_domain_onnx,
    "external_data": _external_data_onnx,
}


@pytest.mark.parametrize("code", sorted(BAD_ARTIFACTS))
def test_bad_onnx_upload_is_refused_and_stores_nothing(world, users, code):
    assert code in ArtifactRejected.__doc__
    client = bearer_client(users["developer"])
    before = (ModelVersion.objects.count(), AuditEvent.objects.count(), sorted(media_files()))
    response = client.post(f"{API}/passports/{world.key}/versions/",
                           {"artifact": onnx_upload(BAD_ARTIFACTS[code](), name="bad.onnx")}, format="multipart")
    error = assert_error(response, 400, code)
    assert error["message"]
    assert (ModelVersion.objects.count(), AuditEvent.objects.count(), sorted(media_files())) == before


def test_oversized_upload_is_refused(world, users, settings):
    settings.MG_MAX_ARTIFACT_BYTES = 100
    before = sorted(media_files())
    response = bearer_client(users["developer"]).post(f"{API}/passports/{world.key}/versions/",
                                                      {"artifact": onnx_upload()}, format="multipart")
    assert_error(response, 400, "too_large")
    assert sorted(media_files()) == before and ModelVersion.objects.count() == 1


def test_version_upload_needs_multipart_and_an_artifact(world, users):
    client = bearer_client(users["developer"])
    url = f"{API}/passports/{world.key}/versions/"
    assert_error(client.post(url, {"change_description": "x"}, format="json"), 415, "unsupported_media_type")
    assert assert_error(client.post(url, {"change_description": "x"}, format="multipart"), 400)["field"] == "artifact"


def test_feature_schema_refinement(world, users):
    client = bearer_client(users["developer"])
    url = f"{API}/passports/{world.key}/versions/{world.version}/feature-schema/"
    response = client.put(url, _feature_schema(world), format="json")
    assert response.status_code == 200, response.data
    assert [f["name"] for f in response.data["feature_schema"]["features"]] == ["f0", "f1", "f2"]
    assert response.data["feature_schema"]["features"][0]["max"] == 10
    bad = {"feature_schema": {"features": [{"name": "only-one"}]}}
    assert_error(client.post(url, bad, format="json"), 400, "invalid_feature_schema")
    assert assert_error(client.post(url, {"feature_schema": [1]}, format="json"), 400)["field"] == "feature_schema"
    assert assert_error(client.post(url, {}, format="json"), 400)["field"] == "feature_schema"


def test_feature_schema_of_a_submitted_version_is_frozen(world, users):
    ModelVersion.objects.filter(pk=world.version_obj.pk).update(state="submitted")  # governance's move, simulated
    response = bearer_client(users["developer"]).post(
        f"{API}/passports/{world.key}/versions/{world.version}/feature-schema/", _feature_schema(world), format="json")
    assert_error(response, 400, "invalid_state")


def test_artifact_download_streams_the_file(world, users):
    response = bearer_client(users["validator"]).get(f"{API}/passports/{world.key}/versions/1/artifact/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Artifact-SHA256"] == world.version_obj.sha256
    assert "credit-score-v1.onnx" in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == linear_onnx(seed=1)
    octet = bearer_client(users["developer"]).get(f"{API}/passports/{world.key}/versions/1/artifact/",
                                                   HTTP_ACCEPT="application/octet-stream")
    assert octet.status_code == 200


def test_version_list_is_newest_first(world, users):
    services.version_register(actor=users["developer"], passport=world.passport,
                              upload=onnx_upload(linear_onnx(seed=5)))
    response = bearer_client(users["developer"]).get(f"{API}/passports/{world.key}/versions/")
    assert [v["number"] for v in response.data["results"]] == [2, 1]


# --------------------------------------------------------------------------- datasets and aliases


def test_dataset_upload(world, users):
    response = bearer_client(users["developer"]).post(f"{API}/passports/{world.key}/datasets/", {
        "file": csv_upload("age,income\n30,1000\n40,2000\n50,\n"), "name": "holdout", "kind": "validation"},
        format="multipart")
    assert response.status_code == 201, response.data
    assert response.data["row_count"] == 3 and response.data["format"] == "csv"
    assert [c["name"] for c in response.data["schema"]] == ["age", "income"]
    assert response.data["uploaded_by"] == "dev"


def test_bad_dataset_is_refused_and_stores_nothing(world, users):
    before = (Dataset.objects.count(), AuditEvent.objects.count(), sorted(media_files()))
    client = bearer_client(users["developer"])
    response = client.post(f"{API}/passports/{world.key}/datasets/", {
        "file": csv_upload("a,b\n"), "kind": "validation"}, format="multipart")
    assert_error(response, 400, "invalid_dataset")
    response = client.post(f"{API}/passports/{world.key}/datasets/", {
        "file": csv_upload(""), "kind": "validation"}, format="multipart")
    assert assert_error(response, 400, "invalid")["field"] == "file"
    response = client.post(f"{API}/passports/{world.key}/datasets/", {
        "file": csv_upload("a\n1\n"), "kind": "nonsense"}, format="multipart")
    assert assert_error(response, 400, "invalid")["field"] == "kind"
    assert (Dataset.objects.count(), AuditEvent.objects.count() - 1, sorted(media_files())) == before


def test_alias_set_and_production_alias_rule(world, users):
    client = bearer_client(users["developer"])
    url = f"{API}/passports/{world.key}/aliases/"
    response = client.put(url + "challenger/", {"version": 1}, format="json")
    assert response.status_code == 200 and response.data["version"] == 1
    assert_error(client.put(url + "champion/", {"version": 1}, format="json"), 400, "alias_requires_approval")
    assert assert_error(client.put(url + "beta/", {"version": 7}, format="json"), 400)["field"] == "version"
    assert assert_error(client.put(url + "beta/", {}, format="json"), 400)["field"] == "version"
    assert_error(client.put(url + "Not%20a%20slug/", {"version": 1}, format="json"), 400, "invalid")
    assert_error(client.patch(url + "challenger/", {"version": 1}, format="json"), 405, "method_not_allowed")
    assert [a["name"] for a in client.get(url).data["results"]] == ["challenger"]
    assert not Alias.objects.filter(name="champion").exists()


# --------------------------------------------------------------------------- token scopes on registry endpoints


def test_read_scope_cannot_write_and_other_scopes_cannot_read(world, users):
    reader = bearer_client(users["developer"], ["registry:read"])
    assert reader.get(f"{API}/passports/{world.key}/").status_code == 200
    response = reader.patch(f"{API}/passports/{world.key}/", {"name": "x"}, format="json")
    assert assert_error(response, 403, "missing_scope")["details"]["required_scope"] == "registry:write"
    response = reader.post(f"{API}/passports/{world.key}/versions/", {"artifact": onnx_upload()}, format="multipart")
    assert_error(response, 403)
    auditor_token = bearer_client(users["developer"], ["audit:read"])
    assert_error(auditor_token.get(f"{API}/passports/"), 403)
    writer = bearer_client(users["developer"], ["registry:write"])
    assert writer.get(f"{API}/passports/").status_code == 200
    assert writer.patch(f"{API}/passports/{world.key}/", {"name": "x"}, format="json").status_code == 200


def test_session_login_works_without_token_scopes(world, users):
    client = APIClient()
    client.force_login(users["developer"])
    assert client.get(f"{API}/passports/{world.key}/").status_code == 200


# --------------------------------------------------------------------------- query counts


def _count_queries(client, url: str) -> int:
    client.get(url)  # warm up: the token's first use of the minute records last_used_at
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.data
    return len(ctx.captured_queries)


def test_passport_list_query_count_does_not_grow_with_page_size(world, users):
    team, dev = world.passport.development_team, users["developer"]
    for i in range(55):
        owner = UserFactory(username=f"bo{i}")
        make_passport(actor=dev, key=f"bulk-{i:02d}", team=team, business_owner=owner)
    client = bearer_client(users["validator"])
    small = _count_queries(client, f"{API}/passports/?page_size=5")
    large = _count_queries(client, f"{API}/passports/?page_size=50")
    assert small == large
    assert len(client.get(f"{API}/passports/?page_size=50").data["results"]) == 50


def test_child_lists_query_count_does_not_grow_with_page_size(world, users):
    dev = users["developer"]
    for seed in range(20, 32):
        services.version_register(actor=dev, passport=world.passport, upload=onnx_upload(linear_onnx(seed=seed)),
                                  parent=world.version_obj, training_dataset=world.dataset_obj)
    for i in range(12):
        services.dataset_register(actor=dev, passport=world.passport, upload=csv_upload(f"a\n{i}\n"), name=f"d{i}",
                                  kind="other")
        services.alias_set(actor=UserFactory(username=f"mover{i}", roles=["admin"]), passport=world.passport,
                           name=f"alias-{i}", version=world.version_obj)
    client = bearer_client(users["developer"])
    for child in ("versions", "datasets", "aliases"):
        url = f"{API}/passports/{world.key}/{child}/"
        assert _count_queries(client, url + "?page_size=2") == _count_queries(client, url + "?page_size=12"), child
