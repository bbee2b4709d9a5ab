"""Every audit event a subscriber wants becomes a delivery in the same transaction (sent after commit)."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from governance.audit.models import AuditEvent
from governance.webhooks import services


@receiver(post_save, sender=AuditEvent, dispatch_uid="webhooks-queue-for-event")
def queue_webhooks(sender, instance: AuditEvent, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        services.queue_for_event(instance)
