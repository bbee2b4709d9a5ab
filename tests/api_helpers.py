"""API test helpers and fixtures: token-authenticated clients, a seeded registry, and the one endpoint check.

Test modules expose the fixtures they use by name: ``users, world = api_helpers.users, api_helpers.world``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from governance.accounts.choices import TokenScope
from governance.accounts.services import token_create
from governance.audit.models import AuditEvent
from registry import services as registry_services
from registry.models import MlflowFollow
from tests.factories import csv_upload, linear_onnx, onnx_upload

ALL_SCOPES = list(TokenScope.values)
API = "/api/v1"


def bearer_client(user, scopes: list[str] | None = None, *, ttl_days: int | None = None) -> APIClient:
    """An APIClient authenticated by a fresh API token of ``user`` (all scopes unless given)."""
    token, secret = token_create(user=user, name="test", scopes=scopes or ALL_SCOPES, ttl_days=ttl_days)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    client.token, client.secret = token, secret
    return client


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response has ``status`` and the one error shape (and ``code`` when given); returns the error."""
    assert response.status_code == status, (response.status_code, getattr(response, "data", response.content))
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "field", "details"}, error
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def media_files() -> list[Path]:
    """Every stored file under MEDIA_ROOT (staging folders may exist, but must be empty)."""
    root = Path(settings.MEDIA_ROOT)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def raw_sql(sql: str, params) -> None:
    """Change rows behind the application's back, as a DBA could (on PostgreSQL, past the append-only trigger)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")


# --------------------------------------------------------------------------- the one endpoint check

ERROR_CODES = {401: "not_authenticated", 404: "not_found", 405: "method_not_allowed"}


@dataclass(frozen=True)
class Endpoint:
    """One endpoint's access matrix.

    ``url`` is formatted with the ``world`` namespace (``{w.key}``, ``{w.version}``...). ``body`` builds a fresh
    request body for each call (uploads cannot be read twice). ``denied`` lists (user, status) pairs: 404 for
    users who may not see the object, 403 for users who see it but may not act, 200 for lists that are
    merely empty. ``allowed`` is the user for whom the call succeeds with ``status``.
    """

    method: str
    url: str
    allowed: str
    status: int
    denied: tuple[tuple[str, int], ...] = ()
    body: Callable[[SimpleNamespace], dict] | None = None
    format: str = "json"
    id: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.id or f"{self.method} {self.url}"


def call(client: APIClient, endpoint: Endpoint, world: SimpleNamespace):
    url = API + endpoint.url.format(w=world)
    data = endpoint.body(world) if endpoint.body else None
    return getattr(client, endpoint.method.lower())(url, data, format=endpoint.format)


def check_endpoint(endpoint: Endpoint, world: SimpleNamespace, users: dict) -> object:
    """Anonymous gets 401; each denied user gets their status and changes nothing; the allowed user succeeds.

    Returns the allowed user's response for further assertions.
    """
    assert_error(call(APIClient(), endpoint, world), 401, "not_authenticated")
    for name, status in endpoint.denied:
        client = bearer_client(users[name])
        events = AuditEvent.objects.count()
        response = call(client, endpoint, world)
        if status >= 400:
            assert_error(response, status, ERROR_CODES.get(status))
        else:
            assert response.status_code == status, (name, response.status_code, response.content[:500])
        assert AuditEvent.objects.count() == events, f"{name} changed something"
    response = call(bearer_client(users[endpoint.allowed]), endpoint, world)
    assert response.status_code == endpoint.status, (response.status_code, getattr(response, "data", None))
    return response


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def users(developer, owner, outsider, validator, auditor, admin_user):
    """The suite's users by name: developer (team, technical owner), owner (business owner), outsider (no
    role, no relation), validator (sees every passport, changes none), auditor (reads everything), admin."""
    return {"developer": developer, "owner": owner, "outsider": outsider, "validator": validator,
            "auditor": auditor, "admin": admin_user}


@pytest.fixture
def world(passport, developer):
    """A passport with one draft version, one dataset and one alias (``challenger`` -> v1)."""
    dataset = registry_services.dataset_register(
        actor=developer, passport=passport, upload=csv_upload("x0,x1,x2,y\n1,2,3,0\n4,5,6,1\n"), name="train",
        kind="reference")
    version = registry_services.version_register(
        actor=developer, passport=passport, upload=onnx_upload(linear_onnx(seed=1)), training_dataset=dataset)
    alias = registry_services.alias_set(actor=developer, passport=passport, name="challenger", version=version)
    follow = MlflowFollow.objects.create(passport=passport, tracking_uri="http://mlflow.invalid",
                                         registered_model="credit", created_by=developer)
    return SimpleNamespace(passport=passport, key=passport.key, version=version.number, version_obj=version,
                           dataset=dataset.pk, dataset_obj=dataset, alias=alias.name, follow=follow.pk)
