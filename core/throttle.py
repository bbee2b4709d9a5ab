"""Failure counters shared by every process (the default cache: Redis at scale, a file cache on one machine).

Password checks made outside the login page (the re-authentication of a sign-off, from a page or the API) count
their failures per user here; past the limit, every attempt is refused for the rest of the window, before the
password is even compared, so the answer tells a guesser nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from core.errors import DomainError


class Throttled(DomainError):
    status_code = 429

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message, code="throttled", details={"retry_after": retry_after})
        self.retry_after = retry_after


class FailureThrottle:
    """At most ``limit`` failures per ``window`` seconds for one key; the window starts at the first failure."""

    def __init__(self, name: str, *, limit_setting: str, window_setting: str, default_limit: int, default_window: int):
        self.name = name
        self._limit = (limit_setting, default_limit)
        self._window = (window_setting, default_window)

    @property
    def limit(self) -> int:
        return int(getattr(settings, self._limit[0], self._limit[1]))

    @property
    def window(self) -> int:
        return int(getattr(settings, self._window[0], self._window[1]))

    def _key(self, who) -> str:
        return f"throttle:{self.name}:{who}"

    def check(self, who) -> None:
        """Raise :class:`Throttled` while ``who`` has used up the failures of the current window."""
        if int(cache.get(self._key(who), 0)) >= self.limit:
            minutes = max(1, round(self.window / 60))
            raise Throttled(_("Too many failed attempts; try again in %(minutes)s minutes.") % {"minutes": minutes},
                            retry_after=self.window)

    def failed(self, who) -> int:
        """Count one failure of ``who``; returns the failures in the window so far."""
        key = self._key(who)
        if cache.add(key, 1, timeout=self.window):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=self.window)
            return 1

    def reset(self, who) -> None:
        cache.delete(self._key(who))


REAUTH = FailureThrottle("reauth", limit_setting="MG_REAUTH_FAILURE_LIMIT", window_setting="MG_REAUTH_WINDOW_SECONDS",
                         default_limit=5, default_window=900)
