"""The tamper-evident audit chain: append (inside the caller's transaction) and verify."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from django.db import models, transaction
from django.utils import timezone

from core.actors import Actor, SystemActor, require_actor
from core.context import request_id_var
from governance.audit.models import AuditChainHead, AuditEvent

GENESIS_HASH = "0" * 64


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _normalise(value):
    """JSON round-trip so that what is hashed is exactly what the database gives back."""
    return json.loads(_canonical(value or {}))


def event_hash(event: AuditEvent) -> str:
    """sha256 over every recorded field of the event and the previous event's hash."""
    payload = {
        "seq": event.seq,
        "occurred_at": event.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "actor_repr": event.actor_repr,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "passport_key": event.passport_key,
        "digests": event.digests,
        "data": event.data,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
    }
    return hashlib.sha256(_canonical(payload).encode()).hexdigest()


def audit_append(
    *,
    actor: Actor,
    action: str,
    obj: models.Model,
    digests: dict | None = None,
    data: dict | None = None,
    passport_key: str = "",
) -> AuditEvent:
    """Append one event to the chain.

    Must run inside the transaction that makes the change it records, so that the change and its event
    commit or roll back together. Locks the chain head, so concurrent appends are serialised.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_append must run inside the transaction of the change it records")
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head = AuditChainHead.objects.create(pk=1, last_seq=0, last_hash=GENESIS_HASH)
    actor = require_actor(actor)
    is_user = not isinstance(actor, SystemActor)
    event = AuditEvent(
        seq=head.last_seq + 1,
        occurred_at=timezone.now(),
        actor=actor if is_user else None,
        actor_repr=actor.get_username()[:200],
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:300],
        passport_key=passport_key,
        digests=_normalise(digests),
        data=_normalise(data),
        request_id=request_id_var.get(),
        prev_hash=head.last_hash,
    )
    event.hash = event_hash(event)
    event.save(force_insert=True)
    head.last_seq, head.last_hash = event.seq, event.hash
    head.save(update_fields=["last_seq", "last_hash"])
    return event


@dataclass(frozen=True)
class ChainVerification:
    """Result of walking the chain: ``ok`` or the first broken event and why."""

    ok: bool
    events_checked: int
    head_hash: str
    first_broken_seq: int | None = None
    first_broken_id: int | None = None
    reason: str = ""

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "events_checked": self.events_checked,
            "head_hash": self.head_hash,
            "first_broken_seq": self.first_broken_seq,
            "first_broken_id": self.first_broken_id,
            "reason": self.reason,
        }


def audit_verify() -> ChainVerification:
    """Walk every event in order; recompute each hash and check each link and the sequence."""
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        problem = ""
        if event.seq != expected_seq:
            problem = f"sequence gap: expected #{expected_seq}, found #{event.seq} (an event was removed)"
        elif event.prev_hash != expected_prev:
            problem = "previous-hash link does not match the preceding event"
        elif event_hash(event) != event.hash:
            problem = "recorded hash does not match the event's contents (the row was altered)"
        if problem:
            return ChainVerification(False, checked, expected_prev, event.seq, event.pk, problem)
        expected_prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and (head.last_seq != checked or head.last_hash != expected_prev):
        return ChainVerification(
            False, checked, expected_prev, checked, None, "chain head does not match the last event (events removed)"
        )
    return ChainVerification(True, checked, expected_prev)
