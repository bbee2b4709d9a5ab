"""How long free text may be: a validator on the model field, so that every path that stores it (forms, the API,
imports; services call ``validate_model``) refuses more with a clear error on that field. A validator and not a
column length: the column stays ``text`` (no table rebuild, and SQLite's append-only triggers stay). Long enough
for any real description; short enough that pages, PDFs and exports stay fast."""

from __future__ import annotations

from django.core.validators import MaxLengthValidator

LONG_TEXT = 20_000  # a passport's descriptive fields, change descriptions, findings, evidence, comments
REPORT_TEXT = 50_000  # a validation report's conclusion


def limited(limit: int) -> dict:
    """Keyword arguments of a TextField limited to ``limit`` characters."""
    return {"validators": [MaxLengthValidator(limit)]}


def said(msgid: str, **args) -> tuple[str, dict]:
    """A sentence the platform writes on its own (an alert, a timeline entry): the English text to store, and
    ``{"msgid", "args"}`` to keep beside it so that pages can say it in the reader's language (:func:`say`).
    Mark ``msgid`` with ``gettext_noop`` where it is written."""
    values = {key: str(value) for key, value in args.items()}
    return msgid % values, {"msgid": msgid, "args": values}


def say(record: dict | None, fallback: str) -> str:
    """The sentence ``record`` (from :func:`said`) in the active language; ``fallback`` (the stored English) when
    there is no record or its values do not fit the translation."""
    from django.utils.translation import gettext

    if isinstance(record, dict) and record.get("msgid") and isinstance(record.get("args"), dict):
        try:
            return gettext(record["msgid"]) % record["args"]
        except (KeyError, TypeError, ValueError):
            return fallback
    return fallback
