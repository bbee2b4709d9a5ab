"""Validation reads."""

from __future__ import annotations

from .models import ValidationReport


def report_in_force(version) -> ValidationReport | None:
    """The newest issued report of a version (the one sign-offs bind to), or None."""
    return ValidationReport.objects.filter(version=version).order_by("-issued_at", "-pk").first()
