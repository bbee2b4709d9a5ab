"""Webhook tasks: one attempt per message (retries are new messages with a countdown) and the sweep."""

from __future__ import annotations

from celery import shared_task

from governance.webhooks import services


@shared_task(name="governance.webhooks.tasks.webhook_deliver", acks_late=True, ignore_result=True)
def webhook_deliver(delivery_id: int) -> None:
    services.delivery_attempt(delivery_id)


@shared_task(name="governance.webhooks.tasks.webhooks_sweep", ignore_result=True)
def webhooks_sweep() -> int:
    return services.deliveries_sweep()
