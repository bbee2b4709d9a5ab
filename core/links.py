"""Links that leave the request: e-mails, PDFs, webhook bodies. They use ``MG_BASE_URL`` (the address people reach
the platform at, behind whatever proxy), never the host a request happened to come in on."""

from __future__ import annotations

from django.conf import settings


def absolute_url(path: str = "/") -> str:
    """``MG_BASE_URL`` joined with an absolute ``path`` (``/passports/credit/``)."""
    base = str(getattr(settings, "MG_BASE_URL", "") or "http://127.0.0.1:8000").rstrip("/")
    return f"{base}/{path.lstrip('/')}"
