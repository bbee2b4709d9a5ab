"""Renderings for the auditor dossier (PDF) and the "Auditor exports" card of the passport page.

The dossier renders plain JSON records (``governance.dossier``): dates arrive as ISO strings and choices as
their stored values, so these filters turn them back into labels in the active language.
"""

from __future__ import annotations

import datetime as dt
import json

from django import template

from governance.workflow.choices import ChecklistStatus, Decision, FindingSeverity, FindingStatus, SignoffRole
from governance.workflow.owasp import CHECKLIST
from governance.workflow.permissions import can_export_evidence
from registry.choices import DatasetKind, DecisionType, Materiality, RegulatoryExposure, RiskTier, VersionState
from validation.choices import CheckStatus, Outcome, RunState, RunStep

register = template.Library()

_CHOICES = {"state": VersionState, "severity": FindingSeverity, "finding_status": FindingStatus,
            "checklist_status": ChecklistStatus, "decision": Decision, "role": SignoffRole,
            "materiality": Materiality, "decision_type": DecisionType, "regulatory_exposure": RegulatoryExposure,
            "risk_tier": RiskTier, "dataset_kind": DatasetKind}


@register.filter
def label(value, kind: str) -> str:
    """The display label of a stored choice value: ``{{ v.state|label:"state" }}``."""
    if kind in ("test_status", "run_state", "outcome", "test"):

        choices = {"test_status": CheckStatus, "run_state": RunState, "outcome": Outcome, "test": RunStep}[kind]
    else:
        choices = _CHOICES[kind]
    return str(choices(value).label) if value in choices.values else str(value or "—")


@register.filter
def owasp_risk(code) -> str:
    """The OWASP ML Top-10 risk name of an item code, in the active language."""

    return str(CHECKLIST.get(code, {}).get("risk", ""))


@register.filter
def iso_dt(value) -> str:
    """An ISO date or time of the records as ``YYYY-MM-DD HH:MM UTC`` (dates stay dates)."""
    if not value:
        return "—"
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if len(str(value)) <= 10:
        return parsed.date().isoformat()
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@register.filter
def compact_json(value, limit: int = 400) -> str:
    """A value as one line of JSON, cut to ``limit`` characters (the records carry it whole)."""
    if value in (None, "", {}, []):
        return ""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= int(limit) else text[: int(limit)] + "…"


@register.filter
def number(value, places: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.{int(places)}f}"
    return str(value)


@register.simple_tag(takes_context=True)
def may_export_evidence(context, passport) -> bool:
    """Whether the requesting user may export this passport's dossier and evidence pack."""
    request = context.get("request")
    return bool(request is not None and can_export_evidence(request.user, passport))
