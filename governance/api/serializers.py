"""Governance API serializers: the one error shape (for the schema), audit events, chain verification, tokens.

Input serializers check types only; the services own every business rule.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from governance.choices import TokenScope
from governance.models import ApiToken, AuditEvent

# The largest value a 64-bit primary key can hold; bigger ids in input are refused as types, not looked up.
MAX_ID = 2**63 - 1

_ERROR_DESCRIPTIONS = {
    400: "Invalid input, or a business rule refused the action (`error.code` says which).",
    401: "Not authenticated: missing, malformed, expired or revoked credentials.",
    403: "Authenticated, but the token lacks the scope or the user may not perform this action.",
    404: "No such object, or one the user may not see (the two look alike); on lists, no such page.",
    405: "This method is not allowed on this endpoint.",
    409: "The action collides with the current state (a duplicate, a concurrent change).",
}


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable reason, e.g. `invalid`, `not_found`, `not_onnx`.")
    message = serializers.CharField(help_text="Human-readable explanation.")
    field = serializers.CharField(allow_null=True, help_text="The input field at fault, if any.")
    details = serializers.JSONField(allow_null=True, help_text="Further structured detail, if any.")


class ErrorSerializer(serializers.Serializer):
    """``{"error": {...}}``: the shape of every error the API returns."""

    error = ErrorBodySerializer()


def error_responses(*statuses: int, media_type: str | None = None) -> dict:
    """OpenAPI responses in the one error shape for the given status codes (401 is always included).

    ``media_type`` pins the errors to one content type (for views that also render something else).
    """
    return {
        (status, media_type) if media_type else status: OpenApiResponse(
            ErrorSerializer, description=_ERROR_DESCRIPTIONS[status]
        )
        for status in sorted({401, *statuses})
    }


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", read_only=True, allow_null=True,
                                  help_text="Username of the acting user; null for system actions.")

    class Meta:
        model = AuditEvent
        fields = ["seq", "occurred_at", "actor", "actor_repr", "action", "object_type", "object_id", "object_repr",
                  "passport_key", "digests", "data", "request_id", "prev_hash", "hash"]
        read_only_fields = fields


class ChainVerificationSerializer(serializers.Serializer):
    """``governance.services.audit.ChainVerification.as_dict()``."""

    ok = serializers.BooleanField()
    events_checked = serializers.IntegerField()
    head_hash = serializers.CharField()
    first_broken_seq = serializers.IntegerField(allow_null=True)
    first_broken_id = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)


class TokenSerializer(serializers.ModelSerializer):
    """A token as listed: never its secret nor the secret's hash."""

    user = serializers.CharField(source="user.username", read_only=True)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=TokenScope.choices), read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "user", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at",
                  "is_active"]
        read_only_fields = fields


class TokenCreatedSerializer(TokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret, shown this once: store it now.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=TokenScope.choices), allow_empty=False)
    ttl_days = serializers.IntegerField(required=False,
                                        help_text="Lifetime in days; the server's default when omitted.")
