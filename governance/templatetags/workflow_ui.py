"""Badges and small renderings of the approval workflow (colours in static/css/app.css)."""

from __future__ import annotations

import re

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from governance.workflow.choices import ChecklistStatus, Decision, FindingSeverity, FindingStatus, SignoffRole
from registry.choices import VersionState
from validation.choices import ValidationDepth

register = template.Library()

HEX_DIGEST = re.compile(r"^[0-9a-f]{40,128}$")


def _badge(css: str, value: str, choices) -> str:
    if not value:
        return ""
    label = choices(value).label if value in choices.values else value
    return format_html('<span class="badge {} {}-{}">{}</span>', css, css, value, label)


@register.simple_tag
def severity_badge(value):
    return _badge("severity", value, FindingSeverity)


@register.simple_tag
def finding_status_badge(value):
    return _badge("fstatus", value, FindingStatus)


@register.simple_tag
def checklist_badge(value):
    return _badge("cstatus", value, ChecklistStatus)


@register.simple_tag
def decision_badge(value):
    return _badge("decision", value, Decision)


@register.simple_tag
def digest(value, length: int = 12):
    """A digest cut to ``length`` in monospace; the full value in its title and behind a copy button."""
    if not value:
        return format_html('<span class="text-secondary">{}</span>', _("none yet"))
    return format_html(
        '<span class="digest-box"><code class="digest" title="{}">{}…</code>'
        '<button type="button" class="btn-copy" data-copy-text="{}" data-copied-label="{}" title="{}">{}</button>'
        '</span>',
        value, str(value)[: int(length)], value, _("Copied"), _("Copy the full value"), _("Copy"),
    )


@register.filter
def is_digest(value) -> bool:
    return isinstance(value, str) and bool(HEX_DIGEST.match(value))


@register.filter
def evidence_text(value) -> str:
    """A value of auto evidence as short text: yes/no, comma-separated lists, "—" for nothing."""
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if value in (None, "", [], {}):
        return "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    # Evidence is recorded in English (what sign-offs bind to); sentences the catalogue knows read translated.
    return _(value) if isinstance(value, str) else str(value)


@register.filter
def signoff_role(value) -> str:
    return SignoffRole(value).label if value in SignoffRole.values else str(value)


@register.filter
def days_phrase(days) -> str:
    """"in 5 days", "today", "3 days ago"."""
    if days == 0:
        return _("today")
    if days > 0:
        return ngettext("in %(n)s day", "in %(n)s days", days) % {"n": days}
    return ngettext("%(n)s day ago", "%(n)s days ago", -days) % {"n": -days}


def _label(choices, value) -> str:
    return str(choices(value).label) if value in choices.values else str(value or "")


def _move(data, choices) -> str:
    return f"{_label(choices, data.get('from'))} → {_label(choices, data.get('to'))}"


@register.simple_tag
def event_summary(event):
    """One line saying what an audit event of a version did; the raw JSON stays behind "Details"."""
    data, action = event.data or {}, event.action
    parts = []
    if action == "finding.status_changed":
        parts.append(_move(data, FindingStatus))
    elif "to" in data and action.startswith("version."):
        parts.append(_move(data, VersionState))
    if action == "signoff.recorded":
        parts.append(f"{_label(SignoffRole, data.get('role'))}: {_label(Decision, data.get('decision'))}")
    if action == "validator.assigned":
        parts.append(str(data.get("validator", "")))
    if action == "checklist.answered":
        parts.append(f"{data.get('code')}: {_label(ChecklistStatus, data.get('status'))}")
    if action == "checklist.auto_evidence_filled":
        parts.append(", ".join(str(code) for code in data.get("codes", [])))
    if action == "report.issued":
        parts.append(str(data.get("filename", "")))
    if action == "finding.raised":
        parts.extend([str(data.get("title", "")), _label(FindingSeverity, data.get("severity"))])
        if data.get("condition_of"):
            parts.append(_("condition of a sign-off"))
    for key in ("reason", "note", "comment"):
        if data.get(key):
            parts.append(f"“{data[key]}”")
    return format_html_join(" · ", "<span>{}</span>", ((p,) for p in parts if p))


@register.filter
def depth_label(value) -> str:
    return ValidationDepth(value).label if value in ValidationDepth.values else (value or "—")


EVIDENCE_LABELS = {
    "artifact_sha256": gettext_lazy("Artifact SHA-256"),
    "operators": gettext_lazy("Operators used"),
    "operator_domains": gettext_lazy("Operator domains"),
    "allowed_domains": gettext_lazy("Allowed domains"),
    "custom_operators": gettext_lazy("Custom operators"),
    "verified_at_registration": gettext_lazy("Verified at registration"),
    "digest_bound_to_signoffs": gettext_lazy("Digest bound to sign-offs"),
    "training_dataset": gettext_lazy("Training dataset"),
    "training_data_sha256": gettext_lazy("Training data SHA-256"),
    # ML01 / ML04, from the latest succeeded validation run (governance.workflow.owasp.validation_evidence)
    "validation_run": gettext_lazy("Validation run"),
    "results_sha256": gettext_lazy("Run results SHA-256"),
    "headline_metric": gettext_lazy("Headline metric"),
    "test_result": gettext_lazy("Test result"),
    "noise_drop": gettext_lazy("Metric drop under noise"),
    "missing_drop": gettext_lazy("Metric drop with missing values"),
    "max_feature_drop": gettext_lazy("Largest drop, one feature perturbed"),
    "worst_feature": gettext_lazy("Most sensitive feature"),
    "drop_max": gettext_lazy("Allowed drop"),
    "feature_drop_max": gettext_lazy("Allowed drop per feature"),
    "noise_scale": gettext_lazy("Noise (reference std)"),
    "missing_rate": gettext_lazy("Share of values blanked"),
    "generalisation_gap": gettext_lazy("Generalisation gap"),
    "gap_max": gettext_lazy("Allowed gap"),
    "train_metric": gettext_lazy("Metric on training data"),
    "holdout_metric": gettext_lazy("Metric on holdout"),
    "membership_attack_auc": gettext_lazy("Membership-attack AUC"),
    "membership_advantage": gettext_lazy("Membership advantage"),
    # ML05 / ML08 / ML09 / ML10, what serving guarantees (serving.providers.serving_evidence)
    "serving_release_access": gettext_lazy("Access to releases"),
    "serving_enrolment": gettext_lazy("Serving enrolment"),
    "serving_agent_rate_limit": gettext_lazy("Serving agent rate limit"),
    "drift_monitoring": gettext_lazy("Drift monitoring"),
    "psi_alert_threshold": gettext_lazy("PSI alert threshold"),
    "score_psi_alert_threshold": gettext_lazy("Score PSI alert threshold"),
    "on_alert": gettext_lazy("On alert"),
    "release_signature": gettext_lazy("Release signature"),
    "signing_key_id": gettext_lazy("Signing key id"),
    "digest_verified_at_load": gettext_lazy("Digest verified at load"),
    "release_digest_check": gettext_lazy("Release digest check"),
}


@register.filter
def evidence_label(key) -> str:
    """A readable name for a key of auto evidence; unknown keys as words."""
    return str(EVIDENCE_LABELS.get(key) or str(key).replace("_", " ").capitalize())

