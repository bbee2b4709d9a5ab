"""Dated conditions (an approval with conditions, a report rated fit with conditions): each a text and a due date,
each later a finding owned and tracked like any other. One cleaning rule for every place that takes them."""

from __future__ import annotations

from datetime import date

from django.utils.translation import gettext as _

from core.errors import DomainError

MAX_CONDITIONS = 10


def clean_conditions(conditions, *, field: str = "conditions") -> list[dict]:
    """``[{"text", "due_date": "YYYY-MM-DD"}, ...]`` checked and trimmed; refused naming the first bad one."""
    if conditions in (None, "", [], ()):
        return []
    if not isinstance(conditions, list | tuple):
        raise DomainError(_("Conditions are a list of objects with a text and a due_date."), code="invalid",
                          field=field)
    conditions = list(conditions)
    if len(conditions) > MAX_CONDITIONS:
        raise DomainError(_("At most %(n)s conditions.") % {"n": MAX_CONDITIONS}, code="invalid", field=field)
    cleaned = []
    for i, cond in enumerate(conditions):
        text = str((cond or {}).get("text", "")).strip() if isinstance(cond, dict) else ""
        try:
            due = date.fromisoformat(str(cond.get("due_date")))
        except (ValueError, TypeError, AttributeError):
            due = None
        if not text or due is None:
            raise DomainError(_("Condition #%(n)s needs a text and a due_date (YYYY-MM-DD).") % {"n": i + 1},
                              code="invalid", field=field)
        cleaned.append({"text": text[:2000], "due_date": due.isoformat()})
    return cleaned
