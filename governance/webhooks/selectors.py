"""Webhook reads: subscribers and their deliveries, for the people who may see them (else nothing)."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from governance.webhooks import permissions as perms
from governance.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscriber


def subscriber_list(*, user) -> QuerySet[WebhookSubscriber]:
    if not perms.can_view(user):
        return WebhookSubscriber.objects.none()
    return WebhookSubscriber.objects.annotate(
        delivered=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.SUCCEEDED)),
        pending=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
        failed=Count("deliveries", filter=Q(deliveries__status__in=[DeliveryStatus.FAILED, DeliveryStatus.REFUSED])),
    ).order_by("name", "pk")


def delivery_list(*, user, subscriber: WebhookSubscriber | None = None, status: str = "") -> QuerySet[WebhookDelivery]:
    if not perms.can_view(user):
        return WebhookDelivery.objects.none()
    deliveries = WebhookDelivery.objects.select_related("subscriber").order_by("-pk")
    if subscriber is not None:
        deliveries = deliveries.filter(subscriber=subscriber)
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries


def attempts_of(delivery: WebhookDelivery) -> QuerySet[WebhookAttempt]:
    return delivery.attempt_log.order_by("number")
