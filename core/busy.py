"""A write lock that could not be had in time is "busy, try again", never a server error.

On SQLite (the embedded default) a writer waits ``timeout`` seconds for another writer, then gives up with
``database is locked``; on PostgreSQL a statement can meet ``lock_timeout`` or a deadlock victim's error. The
API answers 503 with ``Retry-After`` in the one error shape, pages answer a 503 page, tasks retry.
"""

from __future__ import annotations

from django.db import OperationalError
from django.utils.translation import gettext_lazy as _

RETRY_AFTER_SECONDS = 2
MESSAGE = _("The database is busy with other changes; nothing was changed. Try again in a moment.")
_LOCK_MARKERS = ("database is locked", "database table is locked", "lock timeout", "canceling statement due to "
                 "lock timeout", "deadlock detected", "could not obtain lock")


def is_busy(exc: BaseException) -> bool:
    """True for the lock errors above (an ``OperationalError`` or one of its subclasses)."""
    return isinstance(exc, OperationalError) and any(m in str(exc).lower() for m in _LOCK_MARKERS)
