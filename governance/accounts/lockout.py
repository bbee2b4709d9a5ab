"""Login lockouts (django-axes) in the audit chain, and the page that explains them."""

from __future__ import annotations

from axes.signals import user_locked_out
from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.shortcuts import render

from core.actors import SYSTEM
from governance.accounts.models import User
from governance.audit.services import audit_append


def cooloff_minutes() -> int:
    return max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))


def locked_out_page(request, credentials=None, *args, **kwargs):
    """The lockout answer for pages (AXES_LOCKOUT_CALLABLE): 429 with a plain explanation, never a bare 403."""
    response = render(request, "registration/locked_out.html", {"cooloff_minutes": cooloff_minutes()}, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


@receiver(user_locked_out, dispatch_uid="audit.user_locked_out")
def record_lockout(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    """A lockout of an existing account is recorded against it (an unknown name has no row to hang it on; the
    address lockout still applies)."""
    user = User.objects.filter(username=username).first() if username else None
    if user is None:
        return
    with transaction.atomic():
        audit_append(actor=SYSTEM, action="user.login_locked_out", obj=user,
                     data={"username": username, "ip_address": ip_address or "",
                           "failure_limit": settings.AXES_FAILURE_LIMIT, "cooloff_minutes": cooloff_minutes()})
