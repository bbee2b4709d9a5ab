"""API tokens: hashed at rest, scoped, expiring, revocable, audited."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.errors import DomainError, PermissionDenied
from governance.accounts.models import ApiToken
from governance.accounts.services import token_authenticate, token_create, token_revoke
from governance.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_secret_is_never_stored(developer):
    token, secret = token_create(user=developer, name="ci", scopes=["registry:read"])
    row = ApiToken.objects.get(pk=token.pk)
    assert secret not in (row.key_hash, row.prefix, row.name)
    assert len(row.key_hash) == 64 and secret.startswith(f"mgt_{row.prefix}_")
    assert token_authenticate(secret) == row
    assert AuditEvent.objects.get(action="token.created").data["scopes"] == ["registry:read"]


def test_wrong_secret_with_right_prefix_fails(developer):
    token, secret = token_create(user=developer, name="ci", scopes=["registry:read"])
    assert token_authenticate(secret[:-2] + "xx") is None
    assert token_authenticate("mgt_nothing") is None and token_authenticate("garbage") is None


def test_expired_and_revoked_tokens_fail(developer):
    token, secret = token_create(user=developer, name="ci", scopes=["registry:read"], ttl_days=1)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert token_authenticate(secret) is None
    token2, secret2 = token_create(user=developer, name="ci2", scopes=["registry:read"])
    token_revoke(token=token2, actor=developer)
    assert token_authenticate(secret2) is None
    assert AuditEvent.objects.filter(action="token.revoked").count() == 1
    with pytest.raises(DomainError, match="already revoked"):
        token_revoke(token=token2, actor=developer)


def test_inactive_user_token_fails(developer):
    _, secret = token_create(user=developer, name="ci", scopes=["registry:read"])
    developer.is_active = False
    developer.save()
    assert token_authenticate(secret) is None


@pytest.mark.parametrize(("scopes", "ttl"), [([], 30), (["registry:admin"], 30), (["registry:read"], 0),
                                             (["registry:read"], 10_000)])
def test_bad_token_requests_are_refused(developer, scopes, ttl):
    with pytest.raises(DomainError):
        token_create(user=developer, name="x", scopes=scopes, ttl_days=ttl)
    assert not ApiToken.objects.exists()


def test_only_owner_or_admin_revokes(developer, outsider, admin_user):
    token, _ = token_create(user=developer, name="ci", scopes=["registry:read"])
    with pytest.raises(PermissionDenied):
        token_revoke(token=token, actor=outsider)
    with pytest.raises(PermissionDenied):
        token_create(user=developer, name="x", scopes=["registry:read"], actor=outsider)
    token_revoke(token=token, actor=admin_user)


def test_management_command_creates_lists_and_revokes(developer, capsys):
    call_command("apitoken", "create", "dev", "--name", "robot", "--scope", "registry:read", "--days", "7")
    secret = capsys.readouterr().out.strip()
    token = token_authenticate(secret)
    assert token is not None and token.scopes == ["registry:read"]
    call_command("apitoken", "list", "dev")
    assert "robot" in capsys.readouterr().out
    call_command("apitoken", "revoke", token.prefix)
    assert token_authenticate(secret) is None
