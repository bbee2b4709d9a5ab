"""E-mail notifications, sent after the transaction that caused them commits (never for a rolled-back change)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from core.links import absolute_url

logger = logging.getLogger(__name__)


def users_in_role(role: str):
    return get_user_model().objects.filter(groups__name=role, is_active=True)


def version_path(version) -> str:
    return reverse("registry:version_detail", kwargs={"key": version.passport.key, "number": version.number})


def notify(users, subject: str, body: str, *, path: str = "/") -> list[str]:
    """Queue one e-mail to each distinct address among ``users``, sent on commit; failures are logged. The body
    ends with the link to ``path`` (the page it is about) at ``MG_BASE_URL``. Returns the addresses."""
    recipients = sorted({u.email for u in users if u is not None and u.email})
    if not recipients:
        return recipients
    link = absolute_url(path)

    def send():
        try:
            send_mail(f"[Model Governance] {subject}", f"{body}\n\n{link}",
                      settings.DEFAULT_FROM_EMAIL, recipients)
        except Exception:  # a mail outage must not undo the governance action that already committed
            logger.exception("notification e-mail failed: %s", subject)

    transaction.on_commit(send)
    return recipients
