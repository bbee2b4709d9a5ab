"""The OpenAPI schema says what the API does: what every operation can answer (429 from the throttles, 503 from a
busy database), the bounds and requiredness the services enforce, null where a value is absent, and no OPTIONS
endpoint that describes itself (405, in the error shape). schemathesis (tests/test_api_schema.py, coverage phase
on) holds every operation to it; these name the cases that once were not so."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from guardian.shortcuts import assign_perm

from tests.api_helpers import assert_error, bearer_client
from tests.factories import UserFactory
from tests.governance.ledger_helpers import MANAGE, book

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def _operation(schema, path: str, method: str) -> dict:
    return schema["paths"][f"/api/v1{path}"][method]


def _body(schema, operation: dict) -> dict:
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_every_operation_documents_throttling_and_a_busy_database(schema):
    operations = [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()
                  if method in {"get", "post", "put", "patch", "delete"}]
    assert len(operations) > 60
    for path, method, operation in operations:
        for status in ("429", "503"):
            answer = operation["responses"].get(status)
            assert answer and "Retry-After" in answer["headers"], (method, path, status)
            assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
        assert operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


def test_bounds_and_requiredness_are_the_services(schema):
    token = _body(schema, _operation(schema, "/tokens/", "post"))["properties"]["ttl_days"]
    assert token["minimum"] == 1 and token["maximum"] == 365
    for verb in ("reject", "revoke"):
        body = _body(schema, _operation(schema, f"/passports/{{passport_key}}/versions/{{number}}/{verb}/", "post"))
        assert "reason" in body.get("required", []), verb
    refine = _body(schema, _operation(schema, "/passports/{passport_key}/versions/{number}/feature-schema/", "put"))
    field = refine["properties"]["feature_schema"]
    assert field["type"] == "object" and not field.get("nullable")
    owner = next(p for p in _operation(schema, "/findings/", "get")["parameters"] if p["name"] == "owner")
    assert owner["schema"]["maxLength"] == 150
    raise_finding = _body(schema, _operation(schema, "/passports/{passport_key}/versions/{number}/findings/", "post"))
    assert raise_finding["properties"]["owner"]["maxLength"] == 150


def test_an_absent_evidence_link_is_null_not_an_empty_uri(schema, passport):
    finance = UserFactory(username="fin2", roles=["finance"])
    assign_perm(MANAGE, finance, passport.business_unit)
    entry = book(finance, passport, "cost_saving", Decimal("10"))
    entry_schema = schema["components"]["schemas"]["LedgerEntry"]["properties"]["evidence_url"]
    assert entry_schema["nullable"] is True
    rows = bearer_client(finance).get(f"/api/v1/passports/{passport.key}/ledger/entries/").json()["results"]
    assert [r["evidence_url"] for r in rows if r["id"] == entry.pk] == [None]


def test_a_required_reason_is_refused_before_anything_changes(passport, developer):
    from governance.workflow.services import transitions as workflow
    from tests.governance.workflow_helpers import Cast, register

    cast = Cast()
    version = register(passport, developer)
    workflow.version_submit(actor=developer, version=version)
    response = bearer_client(cast.risk).post(f"/api/v1/passports/{passport.key}/versions/{version.number}/reject/",
                                            {}, format="json")
    assert assert_error(response, 400, "invalid")["field"] == "reason"
    version.refresh_from_db()
    assert version.state == "submitted"


def test_options_answers_405_in_the_error_shape(passport, developer):
    response = bearer_client(developer).options(f"/api/v1/passports/{passport.key}/")
    assert_error(response, 405)
