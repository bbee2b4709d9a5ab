"""Which audit events a webhook reports, and the body it sends.

Every change the platform records is an event of the audit chain, so webhooks follow the chain: an event family is
a set of audit actions, and the body carries the event as the chain holds it (its sequence number and hash let a
receiver check it against ``/api/v1/audit-events/``). The body follows Standard Webhooks: ``type``, ``timestamp``
and ``data``.
"""

from __future__ import annotations

import json

from django.utils.translation import gettext_lazy as _

from core.links import absolute_url

# family -> (label, the audit actions it covers: exact names or "prefix.")
FAMILIES: dict[str, tuple] = {
    "version": (_("Version state changes"), ("version.",)),
    "signoff": (_("Sign-offs"), ("signoff.",)),
    "finding": (_("Findings"), ("finding.",)),
    "validation": (_("Validation runs completed"), ("validation_run.succeeded", "validation_run.failed",
                                                    "validation_run.cancelled", "validation_run.worker_lost")),
    "report": (_("Reports issued"), ("report.issued",)),
    "deployment": (_("Deployment changes"), ("deployment.",)),
    "alert": (_("Serving alerts and incidents"), ("alert.", "incident.")),
}
ALL = "*"
TEST_TYPE = "webhook.test"


def family_choices() -> list[tuple[str, str]]:
    return [(ALL, _("Every event below")), *((key, label) for key, (label, _actions) in FAMILIES.items())]


def family_of(action: str) -> str | None:
    for key, (_label, actions) in FAMILIES.items():
        if any(action == a or (a.endswith(".") and action.startswith(a)) for a in actions):
            return key
    return None


def wants(subscribed: list[str], action: str) -> bool:
    family = family_of(action)
    return family is not None and (ALL in subscribed or family in subscribed)


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def body_for(event) -> str:
    """The JSON body for an audit event, compact and with sorted keys: the same bytes on every attempt."""
    base = absolute_url("/").rstrip("/")
    data = {
        "event": {"seq": event.seq, "hash": event.hash, "action": event.action,
                  "occurred_at": _iso(event.occurred_at), "actor": event.actor_repr,
                  "object": {"type": event.object_type, "id": event.object_id, "repr": event.object_repr},
                  "passport": event.passport_key or None, "digests": event.digests, "data": event.data,
                  "request_id": event.request_id or None},
        "links": {"audit_event": f"{base}/api/v1/audit-events/{event.pk}/",
                  **({"passport": f"{base}/passports/{event.passport_key}/"} if event.passport_key else {})},
    }
    return json.dumps({"type": event.action, "timestamp": _iso(event.occurred_at), "data": data},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_body(subscriber, now) -> str:
    return json.dumps({"type": TEST_TYPE, "timestamp": _iso(now),
                       "data": {"subscriber": subscriber.name, "message": "A test delivery: the signature checks."}},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
