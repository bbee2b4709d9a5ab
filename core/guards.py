"""Guards: the answer to "may this actor do this now, and if not, why", shared by services, pages and the API.

A room writes one guard function per verb returning a :class:`Verdict`; its service enforces it (raising the
reason), its pages show or hide the button by it, and its API lists the verbs whose verdict is ok.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import Conflict, PermissionDenied


@dataclass(frozen=True)
class Verdict:
    """A guard's answer: ``ok``, else the reason (translated), its error ``code`` and whether the person (403)
    or the version's state (409) stands in the way."""

    ok: bool
    reason: str = ""
    code: str = ""
    state: bool = False
    details: dict | None = None

    def __bool__(self) -> bool:
        return self.ok

    def enforce(self) -> None:
        """Raise the refusal the services raise: Conflict for the state, PermissionDenied for the person."""
        if self.ok:
            return
        if self.state:
            raise Conflict(self.reason, code=self.code, details=self.details)
        raise PermissionDenied(self.reason, code=self.code or "permission_denied")


ALLOWED = Verdict(True)


def person(reason: str, code: str = "permission_denied") -> Verdict:
    """Refused for who the actor is (403)."""
    return Verdict(False, reason, code)


def state(version, reason: str, code: str = "invalid_state") -> Verdict:
    """Refused for the state ``version`` is in (409); ``reason`` names ``%(n)s`` and ``%(state)s``."""
    return Verdict(False, reason % {"n": version.number, "state": version.get_state_display().lower()}, code,
                   state=True, details={"state": version.state})
