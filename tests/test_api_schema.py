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

from governance.accounts.services import token_create
from governance.workflow.services import findings as finding_services
from governance.workflow.services import transitions as workflow
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

MAX_EXAMPLES = 8
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
CONFIG = SchemathesisConfig.from_dict({
    "seed": 20250101,
    # The coverage phase walks every operation's boundaries (missing required fields, values just past each
    # declared bound, wrong types, unsupported methods), so a bound or a requiredness the schema declares and the
    # API does not keep, or the reverse, fails here; then examples and fuzzing.
    "phases": {"coverage": {"enabled": True}, "stateful": {"enabled": False}},
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
    "id": lambda case, w: (w.dataset if "/datasets/" in case.path else w.finding
                           if case.path.startswith("/api/v1/findings/") else case.path_parameters["id"]),
    "report_id": lambda case, w: w.report,
    "code": lambda case, w: "ML07",
    "tier": lambda case, w: 2,
}

# Workflow operations meet a version in the state their verb starts from: the draft v1 for submit, and for the
# reads a validated version with a report, an answered checklist, a sign-off and an open finding.
VERSION_PATH = "/api/v1/passports/{passport_key}/versions/{number}/"
WORKFLOW_VERBS = {"assign": "submitted", "reject": "submitted", "report": "in_validation",
                  "mark-validated": "in_validation", "revoke": "approved", "retire": "approved"}
WORKFLOW_READS = {"review", "reports", "signoffs", "findings", "checklist"}
WORKFLOW_LISTS = ("/api/v1/findings/", "/api/v1/inbox/", "/api/v1/portfolio/")


def _version_for(path: str, w) -> int:
    return getattr(w, _workflow_state(path) or "version")


def _workflow_state(path: str) -> str | None:
    """The seeded version a workflow operation works on (None: the draft v1, or not a workflow operation)."""
    if path.startswith(VERSION_PATH):
        verb = path[len(VERSION_PATH):].split("/", 1)[0]
        return WORKFLOW_VERBS.get(verb) or ("validated" if verb in WORKFLOW_READS else None)
    # The lists get a finding, an assignment and a sign-off due from the validated version.
    return "validated" if path.startswith(WORKFLOW_LISTS) else None


def _seed_workflow(w, users, state: str) -> None:
    """One more version of the world's passport, walked to ``state`` (only what the operation needs: seeding
    every state for every operation would double the run). The administrator validates the in-validation
    version, so its report and mark-validated operations succeed."""
    dev = users["developer"]
    cast = SimpleNamespace(risk=UserFactory(username="risk", roles=["risk_officer"]), validator=users["validator"],
                           security=UserFactory(username="sec", roles=["security"]))
    version = register(w.passport, dev, seed=2)
    if state == "submitted":
        workflow.version_submit(actor=dev, version=version)
    elif state == "in_validation":
        users["admin"].groups.add(Group.objects.get(name="validator"))
        to_in_validation(version, dev, SimpleNamespace(risk=cast.risk, validator=users["admin"]))
        issue_report(version, users["admin"])
    else:
        to_validated(version, dev, cast)
        answer_checklist(version, cast.security)
        sign(version, cast.validator, "validator")
        if state == "approved":
            for user, role in ((cast.risk, "risk_officer"), (cast.security, "security"),
                               (users["owner"], "business_owner")):
                sign(version, user, role)
        else:  # an open high finding keeps it validated and blocks approval
            w.finding = finding_services.finding_raise(actor=cast.risk, version=version, title="Docs gap",
                                                       severity="high", owner=dev, due_date=date(2030, 1, 1)).pk
            w.report = version.reports.get().pk
    setattr(w, state, version.number)


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


@pytest.fixture
def bearer(users):
    """The Authorization header of each user, a token with every scope made once per operation; for the token
    operations a fresh one on every call, since a generated revoke may hit the one before."""
    made = {}

    def header(name: str, fresh: bool) -> dict:
        if fresh or name not in made:
            _, secret = token_create(user=users[name], name="schemathesis", scopes=ALL_SCOPES)
            made[name] = {"Authorization": f"Bearer {secret}"}
        return made[name]
    return header


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, world, users, bearer):
    state = _workflow_state(case.path)
    if state and not hasattr(world, state):
        _seed_workflow(world, users, state)
    for name in set(PINNED) & set(case.path_parameters or {}):
        case.path_parameters[name] = PINNED[name](case, world)
    for name in ("admin", "outsider"):
        case.call_and_validate(headers=bearer(name, fresh=case.path.startswith("/api/v1/tokens/")), checks=CHECKS)
