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
