"""Who acts: a signed-in user, or the platform itself under a name (a beat task, a worker, a receiver).

Every service takes ``actor: Actor``. The audit chain records a user by username and a system actor by its name;
anything else (a bare string, None) is refused, so no event is ever attributed to nobody.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser


@dataclass(frozen=True)
class SystemActor:
    """The platform acting on its own behalf. It holds no permission and is never a user."""

    name: str = "system"
    is_authenticated = False
    is_active = False
    pk = None

    def __str__(self) -> str:
        return self.name

    def has_perm(self, perm: str, obj=None) -> bool:
        return False

    def get_username(self) -> str:
        return self.name


SYSTEM = SystemActor()


def worker(name: str) -> SystemActor:
    """A Celery worker, recorded by its node name."""
    return SystemActor(f"worker {name}")


Actor = AbstractBaseUser | SystemActor


def require_actor(actor) -> Actor:
    """``actor`` if it is a user or a system actor; TypeError otherwise (a bug in the caller, never user input)."""
    if isinstance(actor, SystemActor | AbstractBaseUser):
        return actor
    raise TypeError(f"an actor is a user or a core.actors.SystemActor, not {type(actor).__name__}")
