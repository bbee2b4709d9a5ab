"""Webhook API serializers: input types only; the rules live in governance.webhooks.services."""

from __future__ import annotations

from rest_framework import serializers

from governance.webhooks import events
from governance.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscriber

EVENT_CHOICES = [key for key, _label in events.family_choices()]


class SubscriberSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    delivered = serializers.IntegerField(read_only=True, default=None)
    pending = serializers.IntegerField(read_only=True, default=None)
    failed = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = WebhookSubscriber
        fields = ["id", "name", "url", "events", "active", "created_by", "created_at", "delivered", "pending",
                  "failed"]
        read_only_fields = fields


class SubscriberWithSecretSerializer(SubscriberSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret (`whsec_...`): shown on creation "
                                   "and rotation only. Verify with any Standard Webhooks library.")

    class Meta(SubscriberSerializer.Meta):
        fields = [*SubscriberSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class SubscriberCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_CHOICES), allow_empty=False,
                                   max_length=len(EVENT_CHOICES))


class SubscriberUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    url = serializers.URLField(max_length=2000, required=False)
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_CHOICES), allow_empty=False,
                                   max_length=len(EVENT_CHOICES), required=False)
    active = serializers.BooleanField(required=False)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "at", "status_code", "response_ms", "error", "manual"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    subscriber = serializers.IntegerField(source="subscriber_id", read_only=True)
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "subscriber", "message_id", "event_type", "audit_seq", "status", "attempts",
                  "next_attempt_at", "last_status_code", "last_response_ms", "last_error", "created_at",
                  "delivered_at", "body", "attempt_log"]
        read_only_fields = fields
