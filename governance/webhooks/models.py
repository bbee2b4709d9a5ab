"""Webhook subscribers and their deliveries (app label ``governance``).

A subscriber names a URL, the event families it wants and holds its signing secret (Standard Webhooks:
``whsec_`` and base64; the previous secret keeps signing beside the new one for a day after a rotation). Each audit
event a subscriber wants becomes one delivery, written in the transaction of the change it reports, with the exact
body that every attempt sends; each attempt is logged.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Delivered")
    FAILED = "failed", _("Not delivered")
    REFUSED = "refused", _("Refused destination")


class WebhookSubscriber(models.Model):
    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=2000)
    events = models.JSONField(_("events"), default=list)  # event families, or ["*"]
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("webhook subscriber")
        verbose_name_plural = _("webhook subscribers")

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    subscriber = models.ForeignKey(WebhookSubscriber, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=64)  # the webhook-id header: the receiver's idempotency key
    event_type = models.CharField(_("event"), max_length=100)
    audit_seq = models.BigIntegerField(null=True, blank=True)  # null for test pings
    body = models.TextField()  # exactly the bytes every attempt sends (UTF-8)
    status = models.CharField(_("status"), max_length=10, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_response_ms = models.FloatField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [models.UniqueConstraint(fields=["subscriber", "audit_seq"], name="webhook_once_per_event",
                                               condition=models.Q(audit_seq__isnull=False))]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.subscriber}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response_ms = models.FloatField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    manual = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery}"
