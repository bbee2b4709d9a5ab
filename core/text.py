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


def said(msgid: str, *, translated: tuple[str, ...] = (), **args) -> tuple[str, dict]:
    """A sentence the platform writes on its own (an alert, a timeline entry): the English text to store, and
    ``{"msgid", "args"}`` to keep beside it so that pages can say it in the reader's language (:func:`say`).
    Mark ``msgid`` with ``gettext_noop`` where it is written. The values named in ``translated`` are themselves
    sentences of the catalogue (a domain rule's message) and are said in the reader's language too."""
    values = {key: str(value) for key, value in args.items()}
    record = {"msgid": msgid, "args": values}
    if translated:
        record["translated"] = [key for key in translated if key in values]
    return msgid % values, record


def say(record: dict | None, fallback: str) -> str:
    """The sentence ``record`` (from :func:`said`) in the active language; ``fallback`` (the stored English) when
    there is no record or its values do not fit the translation."""
    from django.utils.translation import gettext

    if isinstance(record, dict) and record.get("msgid") and isinstance(record.get("args"), dict):
        args = dict(record["args"])
        for key in record.get("translated") or []:
            if isinstance(args.get(key), str):
                args[key] = gettext(args[key])
        try:
            return gettext(record["msgid"]) % args
        except (KeyError, TypeError, ValueError):
            return fallback
    return fallback
