"""The project's one domain error.

Services raise :class:`DomainError` (or a subclass) when a business rule refuses an action.
The DRF exception handler and the UI views turn it into the one error shape:
``{"error": {"code": ..., "message": ..., "field": ..., "details": ...}}``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class DomainError(Exception):
    """A business rule refused the action; ``message`` says which rule and why."""

    status_code = 400

    def __init__(self, message: str, *, code: str = "invalid", field: str | None = None, details=None):
        super().__init__(message)
        self.message = str(message)
        self.code = code
        self.field = field
        self.details = details

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "field": self.field, "details": self.details}


class PermissionDenied(DomainError):
    """The actor may see the object but not perform this action on it."""

    status_code = 403

    def __init__(self, message: str | None = None, **kwargs):
        kwargs.setdefault("code", "permission_denied")
        super().__init__(_("You do not have permission to perform this action.") if message is None else message,
                         **kwargs)


class Conflict(DomainError):
    """The action collides with the current state (a concurrent change, a duplicate)."""

    status_code = 409

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("code", "conflict")
        super().__init__(message, **kwargs)


def validate_model(instance, **kwargs) -> None:
    """``instance.full_clean()``, re-raised as the one domain error (first field and message, all in details)."""

    try:
        instance.full_clean(**kwargs)
    except ValidationError as exc:
        errors = getattr(exc, "message_dict", None) or {"__all__": exc.messages}
        field, messages = next(iter(errors.items()))
        field = None if field == "__all__" else field
        text = " ".join(str(m) for m in messages)  # Django's own messages, translated already
        raise DomainError(_("%(field)s: %(messages)s") % {"field": field, "messages": text} if field else text,
                          code="invalid", field=field, details=errors)


def create_validated(model, **fields):
    """Build a ``model`` row from ``fields``, run ``full_clean()`` (as :func:`validate_model`) and insert it."""
    instance = model(**fields)
    validate_model(instance)
    instance.save(force_insert=True)
    return instance
