"""Account API serializers: user references and the user's own API tokens."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from governance.accounts.choices import TokenScope
from governance.accounts.models import ApiToken


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


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
    ttl_days = serializers.IntegerField(required=False, min_value=1, max_value=settings.MG_TOKEN_MAX_TTL_DAYS,
                                        help_text="Lifetime in days; the server's default when omitted.")
