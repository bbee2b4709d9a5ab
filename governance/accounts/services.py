"""API tokens: created with a one-time secret, stored as sha256, expiring, scoped, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor
from core.errors import DomainError, PermissionDenied, validate_model
from governance.accounts.choices import TokenScope
from governance.accounts.models import ApiToken
from governance.audit.services import audit_append

TOKEN_PREFIX = "mgt_"  # noqa: S105  (a marker, not a secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(raw: str) -> tuple[str, str] | None:
    """``mgt_<prefix>_<secret>`` -> (prefix, whole token) or None if it is not one of ours."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    parts = raw[len(TOKEN_PREFIX) :].split("_", 1)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], raw


@transaction.atomic(durable=True)
def token_create(
    *, user, name: str, scopes: list[str], ttl_days: int | None = None, actor: Actor | None = None
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns the row and the secret, which is shown once and never stored."""
    actor = actor or user
    if actor != user and not actor.is_superuser:
        raise PermissionDenied(_("Only an administrator may create a token for someone else."))
    name = (name or "").strip()
    if not name:
        raise DomainError(_("A token needs a name."), code="required", field="name")
    valid = set(TokenScope.values)
    unknown = sorted(set(scopes) - valid)
    if unknown or not scopes:
        raise DomainError(
            (_("Unknown or missing scopes: %(scopes)s. Valid: %(valid)s.") if unknown
             else _("No scopes given. Valid: %(valid)s.")) % {"scopes": ", ".join(unknown),
                                                             "valid": ", ".join(sorted(valid))},
            code="invalid_scope",
            field="scopes",
        )
    ttl = settings.MG_TOKEN_DEFAULT_TTL_DAYS if ttl_days is None else ttl_days
    if not 1 <= ttl <= settings.MG_TOKEN_MAX_TTL_DAYS:
        raise DomainError(
            _("Token lifetime must be between 1 and %(max)s days.") % {"max": settings.MG_TOKEN_MAX_TTL_DAYS},
            code="invalid",
            field="ttl_days",
        )
    prefix = secrets.token_hex(6)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(
        user=user,
        name=name[:100],
        prefix=prefix,
        key_hash=hash_secret(raw),
        scopes=sorted(set(scopes)),
        expires_at=timezone.now() + timedelta(days=ttl),
    )
    validate_model(token)
    token.save()
    audit_append(
        actor=actor,
        action="token.created",
        obj=token,
        data={"user": user.get_username(), "scopes": token.scopes, "expires_at": token.expires_at.isoformat()},
    )
    return token, raw


@transaction.atomic(durable=True)
def token_revoke(*, token: ApiToken, actor: Actor) -> ApiToken:
    """Revoke a token now. Its owner or an administrator may revoke it; revoking twice is refused."""
    token = ApiToken.objects.select_for_update(no_key=True).get(pk=token.pk)
    if actor != token.user and not actor.is_superuser:
        raise PermissionDenied(_("Only the token's owner or an administrator may revoke it."))
    if token.revoked_at is not None:
        raise DomainError(_("This token is already revoked."), code="already_revoked")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_append(actor=actor, action="token.revoked", obj=token, data={"user": token.user.get_username()})
    return token


def token_authenticate(raw: str) -> ApiToken | None:
    """The active token matching ``raw``, or None. Compares hashes in constant time."""
    parts = split_token(raw)
    if parts is None:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=parts[0]).first()
    if token is None or not secrets.compare_digest(token.key_hash, hash_secret(raw)):
        return None
    if not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
