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


class CheckpointSerializer(serializers.Serializer):
    """``governance.audit.checkpoints.Checkpoint``: the chain head signed with the platform key."""

    seq = serializers.IntegerField(min_value=0)
    hash = serializers.CharField()
    time = serializers.CharField()
    key_id = serializers.CharField()
    signature = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    algorithm = serializers.CharField()


class ChainVerificationSerializer(serializers.Serializer):
    """``governance.audit.services.ChainVerification.as_dict()``."""

    ok = serializers.BooleanField()
    events_checked = serializers.IntegerField()
    head_hash = serializers.CharField()
    first_broken_seq = serializers.IntegerField(allow_null=True)
    first_broken_id = serializers.IntegerField(allow_null=True)
    first_missing_seq = serializers.IntegerField(
        allow_null=True, help_text="The first event that should exist and does not (a gap, or a removed tail).")
    reason = serializers.CharField(allow_blank=True)
    checkpoint = CheckpointSerializer(
        allow_null=True, help_text="The latest signed checkpoint, kept outside the database, verified against.")
    rejected_checkpoints = serializers.ListField(
        child=serializers.CharField(), help_text="Files in the checkpoint folders whose signature does not hold.")
