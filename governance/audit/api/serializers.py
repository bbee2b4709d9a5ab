"""Audit API serializers: events and the chain verification result."""

from __future__ import annotations

from rest_framework import serializers

from governance.audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", read_only=True, allow_null=True,
                                  help_text="Username of the acting user; null for system actions.")

    class Meta:
        model = AuditEvent
        fields = ["seq", "occurred_at", "actor", "actor_repr", "action", "object_type", "object_id", "object_repr",
                  "passport_key", "digests", "data", "request_id", "prev_hash", "hash"]
        read_only_fields = fields


class ChainVerificationSerializer(serializers.Serializer):
    """``governance.audit.services.ChainVerification.as_dict()``."""

    ok = serializers.BooleanField()
    events_checked = serializers.IntegerField()
    head_hash = serializers.CharField()
    first_broken_seq = serializers.IntegerField(allow_null=True)
    first_broken_id = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
