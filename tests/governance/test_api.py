"""Governance REST API: audit chain (list, verify), API tokens (hashed, expiring, revocable, scoped)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from governance.accounts.models import ApiToken
from governance.accounts.services import token_create, token_revoke
from governance.audit.models import AuditEvent
from tests import api_helpers
from tests.api_helpers import API, Endpoint, assert_error, bearer_client, check_endpoint, raw_sql

pytestmark = pytest.mark.django_db

users, world = api_helpers.users, api_helpers.world  # the API tests' shared fixtures


def _other_token(w):
    return ApiToken.objects.get(user=w.passport.business_owner, name="owner's")


@pytest.fixture
def gov_world(world):
    token_create(user=world.passport.business_owner, name="owner's", scopes=["registry:read"])
    world.owner_token = _other_token(world).pk
    return world


ENDPOINTS = [
    Endpoint("GET", "/audit-events/", "auditor", 200, (("outsider", 200), ("developer", 200)), id="audit-list"),
    Endpoint("GET", "/audit-events/verify/", "auditor", 200, (("outsider", 403), ("developer", 403)),
             id="audit-verify"),
    Endpoint("GET", "/tokens/", "outsider", 200, id="token-list"),
    Endpoint("POST", "/tokens/", "outsider", 201, body=lambda w: {"name": "ci", "scopes": ["registry:read"]},
             id="token-create"),
    Endpoint("POST", "/tokens/{w.owner_token}/revoke/", "owner", 200, (("outsider", 404), ("developer", 404)),
             id="token-revoke"),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_access_matrix(endpoint, gov_world, users):
    check_endpoint(endpoint, gov_world, users)


# --------------------------------------------------------------------------- audit


def test_audit_list_for_auditors_only_with_filters(world, users):
    client = bearer_client(users["auditor"], ["audit:read"])
    everything = client.get(f"{API}/audit-events/").data
    assert everything["count"] == AuditEvent.objects.count()
    seqs = [e["seq"] for e in everything["results"]]
    assert seqs == sorted(seqs, reverse=True)
    first = everything["results"][-1]
    assert set(first) >= {"seq", "action", "actor", "object_type", "passport_key", "hash", "prev_hash", "digests"}

    def actions(query):
        return {e["action"] for e in client.get(f"{API}/audit-events/?{query}").data["results"]}

    assert actions("action=version.") == {"version.registered"}
    assert actions("passport=credit-score") == {"passport.created", "dataset.registered", "version.registered",
                                                "alias.moved"}
    assert actions("actor=auditor") == {"token.created"}
    assert actions("object_type=registry.alias") == {"alias.moved"}
    assert actions("passport=nope") == set()
    outsider = bearer_client(users["outsider"]).get(f"{API}/audit-events/")
    assert outsider.status_code == 200 and outsider.data["count"] == 0


def test_audit_verify_reports_ok_then_the_tampered_row(world, users):
    client = bearer_client(users["auditor"], ["audit:read"])
    response = client.get(f"{API}/audit-events/verify/")
    assert response.status_code == 200
    assert response.data["ok"] is True and response.data["events_checked"] == AuditEvent.objects.count()
    assert response.data["first_broken_seq"] is None
    target = AuditEvent.objects.get(action="version.registered")
    raw_sql("UPDATE governance_auditevent SET object_repr = %s WHERE id = %s", ["forged", target.pk])
    broken = client.get(f"{API}/audit-events/verify/").data
    assert broken["ok"] is False and broken["first_broken_seq"] == target.seq
    assert broken["first_broken_id"] == target.pk and "altered" in broken["reason"]


def test_audit_needs_the_audit_scope(world, users):
    error = assert_error(bearer_client(users["auditor"], ["registry:read"]).get(f"{API}/audit-events/"), 403,
                         "missing_scope")
    assert error["details"] == {"required_scope": "audit:read", "token_scopes": ["registry:read"]}
    assert "audit:read" in error["message"] and "registry:read" in error["message"]  # says what to ask for
    assert_error(bearer_client(users["auditor"], ["registry:write"]).get(f"{API}/audit-events/verify/"), 403)
    error = assert_error(bearer_client(users["developer"], ["registry:read"]).post(
        f"{API}/passports/{world.key}/versions/", {}), 403, "missing_scope")
    assert error["details"]["required_scope"] == "registry:write"
    assert bearer_client(users["auditor"], ["audit:read"]).get(f"{API}/audit-events/verify/").status_code == 200


# --------------------------------------------------------------------------- tokens


def test_token_create_returns_the_secret_once_and_stores_its_hash(users):
    client = bearer_client(users["developer"], ["tokens:write", "registry:read"])
    response = client.post(f"{API}/tokens/", {"name": "ci", "scopes": ["registry:read"], "ttl_days": 7},
                           format="json")
    assert response.status_code == 201, response.data
    secret = response.data["token"]
    token = ApiToken.objects.get(pk=response.data["id"])
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {token.key_hash, token.prefix, token.name} and token.prefix in secret
    assert (token.expires_at - timezone.now()).days in (6, 7)
    listed = client.get(f"{API}/tokens/").data["results"]
    assert {t["id"] for t in listed} == {token.pk, client.token.pk}
    for item in listed:
        assert "token" not in item and "key_hash" not in item and secret not in str(item)
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert fresh.get(f"{API}/passports/").status_code == 200
    assert AuditEvent.objects.filter(action="token.created", object_id=str(token.pk)).exists()


def test_token_create_refusals(users):
    client = bearer_client(users["developer"])
    url = f"{API}/tokens/"
    assert assert_error(client.post(url, {"name": "x", "scopes": []}, format="json"), 400)["field"] == "scopes"
    assert assert_error(client.post(url, {"name": "x", "scopes": ["root"]}, format="json"), 400)["field"] == "scopes.0"
    response = client.post(url, {"name": "x", "scopes": ["registry:read"], "ttl_days": 10_000}, format="json")
    assert assert_error(response, 400, "invalid")["field"] == "ttl_days"
    response = client.post(url, {"name": "  ", "scopes": ["registry:read"]}, format="json")
    assert assert_error(response, 400)["field"] == "name"


def test_a_token_cannot_mint_a_stronger_token(users):
    client = bearer_client(users["developer"], ["tokens:write"])
    response = client.post(f"{API}/tokens/", {"name": "x", "scopes": ["registry:write"]}, format="json")
    assert assert_error(response, 403, "permission_denied")["field"] == "scopes"
    session = APIClient()
    session.force_login(users["developer"])
    response = session.post(f"{API}/tokens/", {"name": "x", "scopes": ["registry:write"]}, format="json")
    assert response.status_code == 201


def test_tokens_need_the_tokens_scope(users):
    client = bearer_client(users["developer"], ["registry:write"])
    assert_error(client.get(f"{API}/tokens/"), 403)
    assert_error(client.post(f"{API}/tokens/", {"name": "x", "scopes": ["registry:read"]}, format="json"), 403)


def test_revoked_token_is_refused_and_cannot_be_revoked_twice(users):
    client = bearer_client(users["developer"])
    victim = bearer_client(users["developer"], ["registry:read"])
    response = client.post(f"{API}/tokens/{victim.token.pk}/revoke/")
    assert response.status_code == 200 and response.data["revoked_at"] and response.data["is_active"] is False
    assert_error(victim.get(f"{API}/passports/"), 401, "not_authenticated")
    assert_error(client.post(f"{API}/tokens/{victim.token.pk}/revoke/"), 400, "already_revoked")
    assert AuditEvent.objects.filter(action="token.revoked", object_id=str(victim.token.pk)).count() == 1


def test_admin_may_revoke_anyones_token(users):
    victim = bearer_client(users["developer"], ["registry:read"])
    response = bearer_client(users["admin"]).post(f"{API}/tokens/{victim.token.pk}/revoke/")
    assert response.status_code == 200


def test_expired_token_is_refused(users):
    client = bearer_client(users["developer"])
    ApiToken.objects.filter(pk=client.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(client.get(f"{API}/tokens/"), 401, "not_authenticated")


def test_token_of_a_deactivated_user_is_refused(users):
    client = bearer_client(users["developer"])
    users["developer"].is_active = False
    users["developer"].save(update_fields=["is_active"])
    assert_error(client.get(f"{API}/tokens/"), 401, "not_authenticated")


@pytest.mark.parametrize("header", [
    "Bearer mgt_nope_nope", "Bearer not-a-token", "Bearer", "Bearer a b", "Token mgt_x_y",
])
def test_bad_credentials_are_401(users, header):
    client = bearer_client(users["developer"])
    if header.startswith("Bearer mgt_nope"):
        header = f"Bearer mgt_{client.token.prefix}_wrong-secret"  # a real prefix with the wrong secret
    anonymous = APIClient()
    anonymous.credentials(HTTP_AUTHORIZATION=header)
    response = anonymous.get(f"{API}/tokens/")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"


def test_revoking_a_token_of_someone_else_is_a_404(users):
    other = bearer_client(users["owner"], ["registry:read"])
    assert_error(bearer_client(users["developer"]).post(f"{API}/tokens/{other.token.pk}/revoke/"), 404, "not_found")
    token_revoke(token=other.token, actor=users["owner"])  # still the owner's to revoke
