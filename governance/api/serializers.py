"""Governance API serializers: the one error shape (for the schema), audit events, chain verification, tokens.

Input serializers check types only; the services own every business rule.
"""

from __future__ import annotations

from rest_framework import serializers

from governance.choices import TokenScope
from governance.models import ApiToken, AuditEvent


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
