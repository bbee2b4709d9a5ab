"""Webhook writes: subscribers (administrators), deliveries queued with the audit event they report, attempts
signed in the Standard Webhooks format, retried with exponential backoff, redelivered by hand.

``webhook-id`` is the same for every attempt at a message (the receiver's idempotency key), ``webhook-timestamp``
is the attempt's time, and ``webhook-signature`` is ``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body``
with the subscriber's secret (with the previous secret too, space-separated, for a day after a rotation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from governance.audit.services import audit_append
from governance.webhooks import destinations, events
from governance.webhooks import permissions as perms
from governance.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscriber

logger = logging.getLogger(__name__)
DELIVER_TASK = "governance.webhooks.tasks.webhook_deliver"
ROTATION_GRACE = timedelta(hours=24)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _clean_events(chosen: list[str]) -> list[str]:
    known = {events.ALL, *events.FAMILIES}
    unknown = sorted(set(chosen) - known)
    if not chosen or unknown:
        raise DomainError(_("Choose the events to send: %(known)s.") % {"known": ", ".join(sorted(known))},
                          code="invalid", field="events", details={"unknown": unknown} if unknown else None)
    return [events.ALL] if events.ALL in chosen else sorted(set(chosen))


# --------------------------------------------------------------------------- subscribers


@transaction.atomic
def subscriber_create(*, actor, name: str, url: str, events: list[str]) -> WebhookSubscriber:
    """A new subscriber (its secret is returned on the object once, to be shown to the administrator)."""
    perms.manage(actor).enforce()
    destinations.resolve(url)
    subscriber = WebhookSubscriber.objects.create(name=name.strip(), url=url, events=_clean_events(events),
                                                  secret=new_secret(), created_by=actor)
    audit_append(actor=actor, action="webhook.subscriber_created", obj=subscriber,
                 data={"url": url, "events": subscriber.events})
    return subscriber


@transaction.atomic
def subscriber_update(*, actor, subscriber: WebhookSubscriber, **changes) -> WebhookSubscriber:
    perms.manage(actor).enforce()
    subscriber = WebhookSubscriber.objects.select_for_update().get(pk=subscriber.pk)
    if "url" in changes:
        destinations.resolve(changes["url"])
    if "events" in changes:
        changes["events"] = _clean_events(changes["events"])
    fields = []
    for field in ("name", "url", "events", "active"):
        if field in changes and changes[field] != getattr(subscriber, field):
            setattr(subscriber, field, changes[field])
            fields.append(field)
    if fields:
        subscriber.save(update_fields=fields)
        audit_append(actor=actor, action="webhook.subscriber_changed", obj=subscriber,
                     data={field: getattr(subscriber, field) for field in fields})
    return subscriber


@transaction.atomic
def subscriber_rotate_secret(*, actor, subscriber: WebhookSubscriber) -> WebhookSubscriber:
    """A new secret; the old one signs beside it for a day, so receivers can switch without losing a message."""
    perms.manage(actor).enforce()
    subscriber = WebhookSubscriber.objects.select_for_update().get(pk=subscriber.pk)
    subscriber.previous_secret, subscriber.secret = subscriber.secret, new_secret()
    subscriber.previous_secret_until = timezone.now() + ROTATION_GRACE
    subscriber.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
    audit_append(actor=actor, action="webhook.secret_rotated", obj=subscriber,
                 data={"previous_valid_until": subscriber.previous_secret_until.isoformat()})
    return subscriber


def subscriber_test(*, actor, subscriber: WebhookSubscriber) -> WebhookDelivery:
    """Send a ``webhook.test`` message now (through the queue, like every delivery)."""
    perms.manage(actor).enforce()
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            subscriber=subscriber, message_id=f"msg_test_{secrets.token_hex(8)}", event_type=events.TEST_TYPE,
            body=events.test_body(subscriber, now), next_attempt_at=now)
        transaction.on_commit(lambda: enqueue(delivery.pk), robust=True)
    return delivery


# --------------------------------------------------------------------------- deliveries


def queue_for_event(event) -> int:
    """Inside the transaction that appends ``event``: one delivery per active subscriber that wants it, sent after
    commit (a change that rolls back sends nothing). Returns how many were queued."""
    if events.family_of(event.action) is None:
        return 0
    subscribers = [s for s in WebhookSubscriber.objects.filter(active=True) if events.wants(s.events, event.action)]
    if not subscribers:
        return 0
    body = events.body_for(event)
    now = timezone.now()
    created = WebhookDelivery.objects.bulk_create([
        WebhookDelivery(subscriber=s, message_id=f"msg_{event.hash[:32]}", event_type=event.action,
                        audit_seq=event.seq, body=body, next_attempt_at=now) for s in subscribers])
    ids = [d.pk for d in created]
    if None in ids:  # databases that do not return keys from a bulk insert
        ids = list(WebhookDelivery.objects.filter(audit_seq=event.seq).values_list("pk", flat=True))
    transaction.on_commit(lambda: [enqueue(pk) for pk in ids], robust=True)
    return len(ids)


def enqueue(delivery_id: int, countdown: float = 0) -> bool:
    try:
        queue = settings.MG_WEBHOOK_QUEUE
        current_app.tasks[DELIVER_TASK].apply_async(kwargs={"delivery_id": delivery_id}, countdown=countdown or None,
                                                    **({"queue": queue} if queue else {}))
    except Exception:  # the broker is away: the sweep sends it when it is back
        logger.warning("webhook delivery %s could not be sent to the broker", delivery_id, exc_info=True)
        return False
    return True


def backoff(attempt: int) -> float:
    """Seconds before the next attempt after ``attempt`` failed: base, 3x base, 9x base..."""
    return settings.MG_WEBHOOK_RETRY_BASE_SECONDS * 3 ** (attempt - 1)


def _headers(subscriber: WebhookSubscriber, delivery: WebhookDelivery, now) -> dict[str, str]:
    stamp = int(now.timestamp())
    signatures = [signature(subscriber.secret, delivery.message_id, stamp, delivery.body)]
    if subscriber.previous_secret and subscriber.previous_secret_until and subscriber.previous_secret_until > now:
        signatures.append(signature(subscriber.previous_secret, delivery.message_id, stamp, delivery.body))
    return {"content-type": "application/json", "user-agent": "model-governance-webhooks/1",
            "webhook-id": delivery.message_id, "webhook-timestamp": str(stamp),
            "webhook-signature": " ".join(signatures)}


def delivery_attempt(delivery_id: int, *, manual: bool = False) -> WebhookDelivery | None:
    """One attempt at a pending delivery (or a manual one at any): sent, logged, and the next one scheduled.

    Two workers never attempt the same delivery at once: the attempt takes the row by moving its next attempt
    time forward first (a compare-and-set), and only the one that moved it sends.
    """
    now = timezone.now()
    delivery = WebhookDelivery.objects.select_related("subscriber").filter(pk=delivery_id).first()
    if delivery is None:
        return None
    if not manual:
        if delivery.status != DeliveryStatus.PENDING:
            return delivery
        if delivery.next_attempt_at and delivery.next_attempt_at > now + timedelta(seconds=1):
            return delivery  # an early or duplicate message: the scheduled one comes
        lease = now + timedelta(seconds=settings.MG_WEBHOOK_TIMEOUT_SECONDS * 3 + 30)
        taken = WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING,
                                               next_attempt_at=delivery.next_attempt_at).update(next_attempt_at=lease)
        if not taken:
            return delivery
    subscriber = delivery.subscriber
    number = delivery.attempts + 1
    if not subscriber.active and not manual:
        outcome, refused = destinations.Outcome(None, 0.0, _("the subscriber is paused")), False
    else:
        try:
            destination = destinations.resolve(subscriber.url)
        except destinations.DestinationRefused as exc:
            outcome, refused = destinations.Outcome(None, 0.0, exc.message[:500]), True
        else:
            outcome = destinations.post(destination, delivery.body.encode(), _headers(subscriber, delivery, now))
            refused = False
    with transaction.atomic():
        WebhookAttempt.objects.create(delivery=delivery, number=number, at=now, status_code=outcome.status_code,
                                      response_ms=round(outcome.response_ms, 1), error=outcome.error, manual=manual)
        delivery.attempts = number
        delivery.last_status_code, delivery.last_response_ms = outcome.status_code, round(outcome.response_ms, 1)
        delivery.last_error = outcome.error
        if outcome.ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, now, None
        elif refused:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.REFUSED, None
        elif manual and delivery.status != DeliveryStatus.PENDING:
            delivery.next_attempt_at = None  # a manual try of a finished delivery schedules nothing
        elif number >= settings.MG_WEBHOOK_MAX_ATTEMPTS:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        else:
            delivery.status = DeliveryStatus.PENDING
            delivery.next_attempt_at = now + timedelta(seconds=backoff(number))
        delivery.save()
    if delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at and not manual:
        enqueue(delivery.pk, countdown=backoff(number))
    return delivery


def delivery_redeliver(*, actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, whatever became of it, with the same message id; logged as a manual attempt."""
    perms.manage(actor).enforce()
    return delivery_attempt(delivery.pk, manual=True)


def deliveries_sweep(now=None) -> int:
    """Send again every pending delivery whose time passed a minute ago: the broker was away, or a worker died
    between taking one and finishing it."""
    now = now or timezone.now()
    late = list(WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING,
                                               next_attempt_at__lt=now - timedelta(seconds=60))
                .values_list("pk", flat=True)[:500])
    for pk in late:
        WebhookDelivery.objects.filter(pk=pk, status=DeliveryStatus.PENDING).update(next_attempt_at=now)
        enqueue(pk)
    return len(late)
