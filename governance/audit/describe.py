"""The audit log in words: each event as a sentence in the reader's language, with links to what it names.

The chain stores facts (``action``, the object's type and id, ``data``); this module reads them out. The rooms
that write events say here what their actions mean (:func:`action_text`, at start-up from their ``audit_texts``
modules), how their objects are named and linked (:data:`object_refs`, one query per object type on a page), and
what their coded values read as (:data:`value_labels`, e.g. ``business_owner`` -> "Business owner"). Nothing
here changes an event: what is hashed stays as written.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.hooks import Slot
from governance.audit.models import AuditEvent


@dataclass(frozen=True)
class ActionText:
    """What an action means: a short ``label`` ("Version approved") and a ``sentence`` whose ``{placeholders}`` are
    ``actor``, ``object``, ``passport`` and the keys of the event's ``data``."""

    label: Promise
    sentence: Promise


@dataclass(frozen=True)
class ObjectRef:
    """How an object reads in a sentence, and where its page is (``url`` empty where it has none)."""

    label: str
    url: str = ""


ACTIONS: dict[str, ActionText] = {}

#: Providers take a list of events and answer ``{(object_type, object_id): ObjectRef}`` for the objects they own.
object_refs = Slot("audit.object_refs")


class _Labels(Slot):
    """A slot whose answers ``{data key: {code: label}}`` merge key by key (several rooms label ``from``/``to``)."""

    def __call__(self) -> dict[str, dict]:
        merged: dict[str, dict] = {}
        for func in self._providers:
            for key, labels in func().items():
                merged.setdefault(key, {}).update(labels)
        return merged


#: Providers answer ``{data key: {code: label}}``; codes of one key should not mean two things.
value_labels = _Labels("audit.value_labels")
#: Providers answer ``{data key: label}`` for keys that name their models' fields (e.g. a passport's fields).
key_labels = Slot("audit.key_labels")

FAMILIES: dict[str, Promise] = {
    "passport": gettext_lazy("Passports"),
    "version": gettext_lazy("Versions"),
    "dataset": gettext_lazy("Datasets"),
    "alias": gettext_lazy("Aliases"),
    "validator": gettext_lazy("Validation"),
    "validation_run": gettext_lazy("Validation runs"),
    "report": gettext_lazy("Reports"),
    "test": gettext_lazy("Validation"),
    "finding": gettext_lazy("Findings"),
    "checklist": gettext_lazy("OWASP checklist"),
    "signoff": gettext_lazy("Sign-offs"),
    "policy": gettext_lazy("Policies"),
    "ledger": gettext_lazy("Ledger"),
    "dossier": gettext_lazy("Exports"),
    "evidence_pack": gettext_lazy("Exports"),
    "deployment": gettext_lazy("Deployments"),
    "host": gettext_lazy("Serving hosts"),
    "serving": gettext_lazy("Serving"),
    "alert": gettext_lazy("Monitoring"),
    "incident": gettext_lazy("Incidents"),
    "user": gettext_lazy("People and access"),
    "team": gettext_lazy("People and access"),
    "object_permission": gettext_lazy("People and access"),
    "token": gettext_lazy("People and access"),
    "webhook": gettext_lazy("Webhooks"),
}

#: Data keys as a reader names them; keys not listed are shown humanised ("due_date" -> "Due date").
KEY_LABELS: dict[str, Promise] = {
    "from": gettext_lazy("Was"),
    "to": gettext_lazy("Became"),
    "version": gettext_lazy("Version"),
    "role": gettext_lazy("Role"),
    "roles": gettext_lazy("Roles"),
    "decision": gettext_lazy("Decision"),
    "comment": gettext_lazy("Comment"),
    "reason": gettext_lazy("Reason"),
    "note": gettext_lazy("Note"),
    "severity": gettext_lazy("Severity"),
    "title": gettext_lazy("Title"),
    "status": gettext_lazy("Status"),
    "rating": gettext_lazy("Rating"),
    "conditions": gettext_lazy("Conditions"),
    "due_date": gettext_lazy("Due date"),
    "amount": gettext_lazy("Amount"),
    "currency": gettext_lazy("Currency"),
    "category": gettext_lazy("Category"),
    "period": gettext_lazy("Period"),
    "source": gettext_lazy("Source"),
    "environment": gettext_lazy("Environment"),
    "strategy": gettext_lazy("Strategy"),
    "hosts": gettext_lazy("Hosts"),
    "changes": gettext_lazy("Changes"),
    "validator": gettext_lazy("Validator"),
    "attempt": gettext_lazy("Attempt"),
    "test": gettext_lazy("Test"),
    "kind": gettext_lazy("Kind"),
    "rationale": gettext_lazy("Rationale"),
    "code": gettext_lazy("Item"),
    "evidence": gettext_lazy("Evidence"),
    "signer": gettext_lazy("Signer"),
    "members": gettext_lazy("Members"),
    "permissions": gettext_lazy("Permissions"),
    "filename": gettext_lazy("File"),
    "run": gettext_lazy("Run"),
    "tier": gettext_lazy("Tier"),
    "name": gettext_lazy("Name"),
    "error": gettext_lazy("Error"),
    "expires_at": gettext_lazy("Expires"),
    "signoffs": gettext_lazy("Sign-offs"),
    "signoff": gettext_lazy("Sign-off"),
    "pending_acknowledged": gettext_lazy("Pending items acknowledged"),
    "reauthenticated": gettext_lazy("Password confirmed"),
    "artifact_sha256": gettext_lazy("Artifact SHA-256"),
    "report_sha256": gettext_lazy("Report SHA-256"),
    "pdf_sha256": gettext_lazy("PDF SHA-256"),
    "results_sha256": gettext_lazy("Results SHA-256"),
    "evidence_sha256": gettext_lazy("Evidence SHA-256"),
    "attachment_sha256": gettext_lazy("Attachment SHA-256"),
    "dataset_sha256": gettext_lazy("Dataset SHA-256"),
    "training_data_sha256": gettext_lazy("Training data SHA-256"),
    "reference_sha256": gettext_lazy("Reference data SHA-256"),
    "validation_sha256": gettext_lazy("Validation data SHA-256"),
    "challenger_sha256": gettext_lazy("Challenger SHA-256"),
    "champion_artifact_sha256": gettext_lazy("Champion SHA-256"),
    "policy": gettext_lazy("Policy"),
    "fields": gettext_lazy("Fields"),
    "risk_tier": gettext_lazy("Risk tier"),
    "number": gettext_lazy("Number"),
    "operators": gettext_lazy("Operators"),
    "opset": gettext_lazy("Operator set (opset)"),
    "checklist_sha256": gettext_lazy("Checklist SHA-256"),
    "parent": gettext_lazy("Parent version"),
    "producer": gettext_lazy("Producer"),
    "size": gettext_lazy("Size (bytes)"),
    "format": gettext_lazy("Format"),
    "rows": gettext_lazy("Rows"),
    "alias": gettext_lazy("Alias"),
    "from_version": gettext_lazy("From version"),
    "to_version": gettext_lazy("To version"),
    "new": gettext_lazy("New"),
    "old": gettext_lazy("Old"),
    "plan": gettext_lazy("Plan"),
    "previous": gettext_lazy("Previous"),
    "amount_base": gettext_lazy("Amount in base currency"),
    "base_currency": gettext_lazy("Base currency"),
    "fx_rate_to_base": gettext_lazy("Exchange rate to base"),
    "predictions": gettext_lazy("Predictions"),
    "reversal_of": gettext_lazy("Reverses entry"),
    "holder": gettext_lazy("Holder"),
    "object_id": gettext_lazy("Object id"),
    "object_type": gettext_lazy("Object type"),
    "permission": gettext_lazy("Permission"),
    "links": gettext_lazy("Links"),
    "codes": gettext_lazy("Items"),
    "validation_run": gettext_lazy("Validation run"),
    "failures_in_window": gettext_lazy("Failures in the window"),
    "outcome": gettext_lazy("Outcome"),
    "summary": gettext_lazy("Summary"),
    "worker": gettext_lazy("Worker"),
    "target": gettext_lazy("Target"),
    "depth": gettext_lazy("Depth"),
    "segment_column": gettext_lazy("Segment column"),
    "champion": gettext_lazy("Champion"),
    "challenger": gettext_lazy("Challenger"),
    "exceptions": gettext_lazy("Exceptions"),
    "resolution": gettext_lazy("Resolution"),
    "message": gettext_lazy("Message"),
    "value": gettext_lazy("Value"),
    "threshold": gettext_lazy("Threshold"),
    "subject": gettext_lazy("Subject"),
    "incident": gettext_lazy("Incident"),
    "url": gettext_lazy("URL"),
    "events": gettext_lazy("Events"),
    "scopes": gettext_lazy("Scopes"),
    "user": gettext_lazy("User"),
    "username": gettext_lazy("Username"),
    "ip_address": gettext_lazy("IP address"),
    "chain_ok": gettext_lazy("Chain intact"),
    "chain_head_hash": gettext_lazy("Chain head hash"),
    "files": gettext_lazy("Files"),
    "canary_percent": gettext_lazy("Canary share (%)"),
    "generation": gettext_lazy("Generation"),
    "previous_challenger": gettext_lazy("Previous challenger"),
    "previous_version": gettext_lazy("Previous version"),
    "withdrawn_challenger": gettext_lazy("Withdrawn challenger"),
    "personal_data_columns": gettext_lazy("Personal-data columns"),
    "enrolment_token": gettext_lazy("Enrolment token"),
    "created_by": gettext_lazy("Created by"),
    "before": gettext_lazy("Before"),
    "after": gettext_lazy("After"),
    "previous_valid_until": gettext_lazy("Previous secret valid until"),
    "owner": gettext_lazy("Owner"),
    "condition_of": gettext_lazy("Condition of sign-off"),
    "condition_of_report": gettext_lazy("Condition of report"),
    "policy_id": gettext_lazy("Policy id"),
    "approval_validity_months": gettext_lazy("Approval valid for (months)"),
    "checklist_required": gettext_lazy("Checklist required"),
    "policy_updated_at": gettext_lazy("Policy updated"),
    "required_roles": gettext_lazy("Required sign-offs"),
    "validation_depth": gettext_lazy("Validation depth"),
    "on_alert": gettext_lazy("On alert"),
    "size_bytes": gettext_lazy("Size (bytes)"),
    "description": gettext_lazy("Description"),
    "currency_rate": gettext_lazy("Rate"),
    "business_unit": gettext_lazy("Business unit"),
    "discount_rate": gettext_lazy("Discount rate"),
    "first_year": gettext_lazy("First year"),
    "horizon_years": gettext_lazy("Horizon (years)"),
    "lines": gettext_lazy("Lines"),
    "notes": gettext_lazy("Notes"),
    "ended": gettext_lazy("Ended"),
    "active": gettext_lazy("Active"),
    "is_active": gettext_lazy("Active"),
    "is_staff": gettext_lazy("Staff"),
    "is_superuser": gettext_lazy("Superuser"),
    "secret_rotated": gettext_lazy("Secret rotated"),
    "chain_links_upto_seq": gettext_lazy("Chain up to event"),
    "size_mb": gettext_lazy("Size (MB)"),
}

#: System actors (``core.actors.SystemActor``) by name, or by a name's first word followed by the rest.
SYSTEM_ACTORS: dict[str, Promise] = {
    "system": gettext_lazy("The platform"),
    "worker": gettext_lazy("Worker %(name)s"),
}

_FALLBACK = gettext_lazy("{actor}: {action} ({object})")
_FORMATTER = string.Formatter()


def action_text(action: str, label: Promise, sentence: Promise) -> None:
    """Say what ``action`` means (called by the room that writes it, at start-up)."""
    ACTIONS[action] = ActionText(label=label, sentence=sentence)


def system_actor(name: str, label: Promise) -> None:
    """Name a system actor (``name`` alone, or a first word whose label takes ``%(name)s``, the rest)."""
    SYSTEM_ACTORS[name] = label


def actor_label(event: AuditEvent) -> str:
    """A person by their display name; the platform's own actors in the reader's language."""
    if event.actor_id is not None and event.actor is not None:
        return str(event.actor)
    return system_actor_label(event.actor_repr)


def system_actor_label(name: str) -> str:
    """The platform's own actor ``name`` ("serving monitor", "worker vm-1") in the reader's language; any other
    name as it is."""
    if name in SYSTEM_ACTORS:
        return str(SYSTEM_ACTORS[name])
    first, _sep, rest = name.partition(" ")
    if rest and first in SYSTEM_ACTORS:
        return str(SYSTEM_ACTORS[first]) % {"name": rest}
    return name


def action_label(action: str) -> str:
    text = ACTIONS.get(action)
    return str(text.label) if text else action


def action_family(action: str) -> str:
    return action.split(".", 1)[0]


def action_choices(actions: Iterable[str], current: str = "") -> list[tuple[str, list[tuple[str, str]]]]:
    """Grouped choices for a filter: per group of actions, "All" of each prefix in it, then its actions by label.

    ``current``: the value asked for; a prefix (``version.``) or an action that no event has yet is offered too."""
    actions = set(actions)
    if current and not current.endswith("."):
        actions.add(current)
    groups: dict[str, list[tuple[str, str]]] = {}
    for action in sorted(actions):
        family = str(FAMILIES.get(action_family(action), action_family(action)))
        groups.setdefault(family, []).append((action, action_label(action)))
    if current.endswith("."):
        family = str(FAMILIES.get(current[:-1], current[:-1]))
        groups.setdefault(family, [])
    out = []
    for family in sorted(groups, key=str.casefold):
        items = sorted(groups[family], key=lambda c: c[1].casefold())
        prefixes = sorted({action_family(a) + "." for a, _label in items}
                          | ({current} if current.endswith(".") and str(FAMILIES.get(current[:-1], current[:-1]))
                             == family else set()))
        # "All" of a group when one prefix makes it (people and access mixes user., team., token.)
        alls = [(p, _("All: %(group)s") % {"group": family if len(prefixes) == 1 else p[:-1]}) for p in prefixes
                if len(prefixes) == 1 or p == current]
        out.append((family, [*(alls if len(items) > 1 or not items or current in prefixes else []), *items]))
    return out


def _value(key: str, value, labels: dict[str, dict], depth: int = 0) -> str:
    """A data value in words: coded values by their label, lists joined, a top-level dict one "key: value" a line
    (deeper structures as compact JSON)."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        if any(isinstance(v, dict | list) for v in value):
            return json.dumps(value, ensure_ascii=False, sort_keys=True)
        return ", ".join(_value(key, v, labels, depth + 1) for v in value) or "—"
    if isinstance(value, dict):
        if depth:
            return json.dumps(value, ensure_ascii=False, sort_keys=True)
        return "\n".join(f"{key_label(k)}: {_value(k, v, labels, depth + 1)}" for k, v in value.items()) or "—"
    coded = labels.get(key, {})
    return str(coded.get(value, value)) if isinstance(value, str) else str(value)


#: Data keys that hold a username: shown as the person's name (one query per page).
USER_KEYS = frozenset({"validator", "signer", "user", "owner", "created_by"})


def _people(events: list[AuditEvent]) -> dict[str, str]:
    from django.contrib.auth import get_user_model

    names = {str(e.data[k]) for e in events if isinstance(e.data, dict) for k in USER_KEYS if e.data.get(k)}
    if not names:
        return {}
    model = get_user_model()
    return {u.get_username(): f"{u} ({u.get_username()})" if str(u) != u.get_username() else str(u)
            for u in model.objects.filter(**{f"{model.USERNAME_FIELD}__in": names})}


def key_label(key: str) -> str:
    """A data key as a reader names it: this module's words, then the rooms' field names, else humanised."""
    label = KEY_LABELS.get(key) or _field_labels().get(key)
    return capfirst(str(label)) if label else key.replace("_", " ").capitalize()


@cache
def _field_labels() -> dict:
    """The rooms' field names (lazy labels, so one answer serves every language)."""
    return key_labels()


@dataclass
class DescribedEvent:
    """One event as the log shows it. ``sentence`` is HTML (escaped, with links); ``text`` the same in plain words."""

    event: AuditEvent
    label: str
    sentence: SafeString
    text: str
    object_ref: ObjectRef
    passport_url: str = ""
    details: list[tuple[str, str]] = field(default_factory=list)
    digests: list[tuple[str, str]] = field(default_factory=list)


def _placeholders(template: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in _FORMATTER.parse(template) if name}


def describe_events(events: Iterable[AuditEvent]) -> list[DescribedEvent]:
    """Describe a page of events: one object-ref query per object type among them, none per event."""
    from django.urls import NoReverseMatch, reverse

    events = list(events)
    refs: dict[tuple[str, str], ObjectRef] = object_refs(events) if events else {}
    labels: dict[str, dict] = value_labels()
    people = _people(events)
    for key in USER_KEYS:
        labels[key] = people
    out = []
    for event in events:
        ref = refs.get((event.object_type, event.object_id)) or ObjectRef(label=event.object_repr)
        passport_url = ""
        if event.passport_key:
            try:
                passport_url = reverse("registry:passport_detail", args=[event.passport_key])
            except NoReverseMatch:
                passport_url = ""
        data = event.data if isinstance(event.data, dict) else {}
        values = {key: _value(key, value, labels) for key, value in data.items()}
        text = ACTIONS.get(event.action)
        template = str(text.sentence) if text else str(_FALLBACK)
        wanted = _placeholders(template)
        plain_values = {**values, "actor": actor_label(event), "object": ref.label,
                        "passport": event.passport_key, "action": event.action}
        if not wanted <= plain_values.keys():  # an older event without a key the sentence names
            template = str(_FALLBACK)
            wanted = _placeholders(template)
        html_values = dict(plain_values)
        html_values["actor"] = format_html("<strong>{}</strong>", plain_values["actor"])
        if ref.url:
            html_values["object"] = format_html('<a href="{}">{}</a>', ref.url, ref.label)
        if passport_url:
            html_values["passport"] = format_html('<a href="{}">{}</a>', passport_url, event.passport_key)
        sentence = format_html(template, **{k: html_values[k] for k in wanted})
        plain = template.format(**{k: plain_values[k] for k in wanted})
        details = [(key_label(k), values[k]) for k in data if k not in wanted]
        digests = [(key_label(k), str(v)) for k, v in (event.digests or {}).items() if v]
        out.append(DescribedEvent(event=event, label=text.label if text else event.action, sentence=sentence,
                                  text=plain, object_ref=ref, passport_url=passport_url, details=details,
                                  digests=digests))
    return out


def ids_of(events: Iterable[AuditEvent], object_type: str) -> list[int]:
    """The integer ids of the events' objects of ``object_type`` (for a provider's one query)."""
    return sorted({int(e.object_id) for e in events if e.object_type == object_type and e.object_id.isdigit()})
