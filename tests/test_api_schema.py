"""Property-based check of the API against its own OpenAPI schema (schemathesis).

For every operation, generated requests (valid and invalid) are sent in-process through the WSGI app, once
as an administrator and once as a user without rights, both with bearer tokens holding every scope. Every
response must be free of server errors, use a documented status code, and match the documented schema.

The WSGI calls run in the test's own thread and database transaction, so the seeded rows are visible and
everything is rolled back afterwards.
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from schemathesis.config import SchemathesisConfig

from governance.services import findings as finding_services
from governance.services import workflow
from governance.services.tokens import token_create
from tests import api_helpers
from tests.api_helpers import ALL_SCOPES
from tests.factories import UserFactory
from tests.governance.workflow_helpers import (
    answer_checklist,
    issue_report,
    register,
    sign,
    to_in_validation,
    to_validated,
)

pytestmark = pytest.mark.django_db

users, world = api_helpers.users, api_helpers.world  # the API tests' shared fixtures

MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
CONFIG = SchemathesisConfig.from_dict({
    "seed": 20250101,
    # Examples and fuzzing only: the coverage phase enumerates hundreds of boundary cases per operation.
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True,
                   "with-security-parameters": False},
})

# Path parameters pinned to the seeded rows (by operation path fragment), so that responses of real objects
# are checked too; random values everywhere would only ever meet 404s. Unit tests cover the 404s.
PINNED = {
    "passport_key": lambda case, w: w.key,
    "key": lambda case, w: w.key,
    "number": lambda case, w: _version_for(case.path, w),
    "name": lambda case, w: w.alias,
    "id": lambda case, w: (w.dataset if "/datasets/" in case.path else w.finding if "/findings/" in case.path
                           else case.path_parameters["id"]),
    "report_id": lambda case, w: w.report,
    "code": lambda case, w: "ML07",
    "tier": lambda case, w: 2,
}

# Workflow operations meet a version in the state their verb starts from (the others: the draft v1, or the
# validated version with a report, answered checklist, a finding and a sign-off for the reads).
WORKFLOW_VERSION = {"/assign/": "submitted", "/reject/": "submitted", "/report/": "in_validation",
                    "/mark-validated/": "in_validation", "/revoke/": "approved", "/retire/": "approved",
                    "/submit/": "version"}
WORKFLOW_READS = ("/review/", "/reports/", "/signoffs/", "/findings/", "/checklist/")


def _version_for(path: str, w) -> int:
    for fragment, attribute in WORKFLOW_VERSION.items():
        if path.endswith(fragment):
            return getattr(w, attribute)
    return w.validated if any(fragment in path for fragment in WORKFLOW_READS) else w.version


def _seed_workflow(w, users) -> None:
    """Versions of the world's passport in each review state (once per operation; only workflow operations
    need them). The administrator is the assigned validator of the version in validation."""
    dev, owner, admin = users["developer"], users["owner"], users["admin"]
    cast = SimpleNamespace(risk=UserFactory(username="risk", roles=["risk_officer"]), validator=users["validator"],
                           security=UserFactory(username="sec", roles=["security"]))
    submitted = register(w.passport, dev, seed=2)
    workflow.version_submit(actor=dev, version=submitted)
    admin.groups.add(Group.objects.get(name="validator"))
    in_validation = to_in_validation(register(w.passport, dev, seed=3), dev,
                                     SimpleNamespace(risk=cast.risk, validator=admin))
    issue_report(in_validation, admin)
    validated = to_validated(register(w.passport, dev, seed=4), dev, cast)
    answer_checklist(validated, cast.security)
    sign(validated, cast.validator, "validator")
    finding = finding_services.finding_raise(actor=cast.risk, version=validated, title="Docs gap", severity="high",
                                             owner=dev, due_date=date(2030, 1, 1))
    approved = to_validated(register(w.passport, dev, seed=5), dev, cast)
    answer_checklist(approved, cast.security)
    for user, role in ((cast.validator, "validator"), (cast.risk, "risk_officer"), (cast.security, "security"),
                       (owner, "business_owner")):
        sign(approved, user, role)
    w.submitted, w.in_validation, w.validated, w.approved = (
        submitted.number, in_validation.number, validated.number, approved.number)
    w.finding, w.report = finding.pk, validated.reports.get().pk


def _is_workflow(path: str) -> bool:
    return any(part in path for part in (*WORKFLOW_VERSION, *WORKFLOW_READS, "/findings", "/inbox", "/portfolio"))


# Loaded at collection: serving the schema touches no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler(), config=CONFIG)


@pytest.fixture(autouse=True)
def _keep_test_connection():
    """Keep the test's connection open across WSGI requests, as Django's test client does.

    The WSGI handler closes connections it deems obsolete when a request starts and finishes; inside the
    test's transaction that would be the test's own connection (on PostgreSQL; SQLite's in-memory one survives).
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, world, users):
    if _is_workflow(case.path) and not hasattr(world, "validated"):
        _seed_workflow(world, users)
    for name in set(PINNED) & set(case.path_parameters or {}):
        case.path_parameters[name] = PINNED[name](case, world)
    for name in ("admin", "outsider"):
        # A fresh token per call: a generated revoke may hit the previous one.
        _, secret = token_create(user=users[name], name="schemathesis", scopes=ALL_SCOPES)
        r = case.call_and_validate(headers={"Authorization": f"Bearer {secret}"}, checks=CHECKS)
        import collections, json as _j
        with open("/tmp/st_status.jsonl", "a") as fh:
            fh.write(_j.dumps([case.method, case.path, name, r.status_code]) + "\n")
