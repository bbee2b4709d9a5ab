"""The audit chain: append-only events, each holding the hash of the one before, and the chain head."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """One append-only link of the audit chain.

    ``hash`` is the sha256 of the event's canonical JSON including ``prev_hash``; ``seq`` counts from 1
    without gaps. Rows are written only by ``governance.services.audit_append``; on PostgreSQL a trigger
    refuses UPDATE and DELETE.
    """

    seq = models.BigIntegerField(_("sequence"), unique=True)
    occurred_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=True
    )
    actor_repr = models.CharField(_("actor"), max_length=200)
    action = models.CharField(_("action"), max_length=100, db_index=True)
    object_type = models.CharField(_("object type"), max_length=100)
    object_id = models.CharField(_("object id"), max_length=64)
    object_repr = models.CharField(_("object"), max_length=300)
    passport_key = models.CharField(_("passport"), max_length=100, blank=True, db_index=True)
    digests = models.JSONField(_("digests"), default=dict, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_repr}"


class AuditChainHead(models.Model):
    """The chain's tip (a single row, locked while appending so that appends are serialised)."""

    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"head #{self.last_seq}"
