"""Badges for version states and risk tiers (colours in static/css/app.css)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _

from registry.choices import RiskTier, VersionState

register = template.Library()


@register.simple_tag
def state_badge(state):
    if not state:
        return ""
    label = VersionState(state).label if state in VersionState.values else state
    return format_html('<span class="badge state-badge state-{}">{}</span>', state, label)


@register.simple_tag
def tier_badge(tier, long: bool = False):
    """"Tier 1" in a red, amber or green badge; ``long=True`` adds the level ("Tier 1 (high)")."""
    if tier in (None, ""):
        return ""
    tier = int(tier)
    label = RiskTier(tier).label if long and tier in RiskTier.values else _("Tier %(n)s") % {"n": tier}
    title = RiskTier(tier).label if tier in RiskTier.values else ""
    return format_html('<span class="badge tier-badge tier-{}" title="{}">{}</span>', tier, title, label)


@register.filter
def shape(dims) -> str:
    """An ONNX shape as text: ``[?, 3]`` (unknown dimensions as ``?``, symbolic ones by name)."""
    if not dims:
        return "[]"
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


@register.filter
def mlflow_dataset_note(record: dict) -> str:
    """What became of a dataset an MLflow run logged (``registry.mlflow_datasets``), in the reader's language."""
    if not isinstance(record, dict):
        return ""
    if record.get("skipped"):
        try:
            reason = _(record["skipped"]) % (record.get("skipped_args") or {})
        except (KeyError, TypeError, ValueError):
            reason = _(record["skipped"])
        return _("left behind: %(reason)s") % {"reason": reason}
    if record.get("reused"):
        return _("already held by the passport (same SHA-256)")
    via = {"artifact": _("an artifact of the run"), "shared folder": _("a file under MG_MLFLOW_DATASET_ROOTS")}
    return _("stored from %(via)s") % {"via": via.get(record.get("via"), record.get("via") or "-")}
