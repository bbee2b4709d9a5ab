"""Extension points: how a lower room asks a higher room for something without importing it.

Imports run one way through the house (core <- accounts, audit <- registry <- validation <- workflow, ledger <-
dossier <- serving). When a lower room needs an answer only a higher room has (the approval policy in force for a
version, the panels that decorate the version page), it declares a :class:`Hook` or a :class:`Slot` in its own
``hooks.py``, calls it, and the higher room fills it at start-up from its ``AppConfig.ready()``. Events that flow
upwards (a validation run succeeded) are Django signals instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured


class Hook:
    """One function that a higher room provides; calling the hook calls it.

    ``default`` answers while nobody provides the hook (for optional information); without a default an
    unprovided hook is a configuration error, raised loudly rather than answered with a guess.
    """

    def __init__(self, name: str, *, default: Callable[..., Any] | None = None):
        self.name = name
        self._default = default
        self._provider: Callable[..., Any] | None = None

    def provide(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Register ``func`` as the provider (usable as a decorator); a second provider replaces the first."""
        self._provider = func
        return func

    @property
    def provided(self) -> bool:
        return self._provider is not None

    def __call__(self, *args, **kwargs):
        func = self._provider or self._default
        if func is None:
            raise ImproperlyConfigured(f"No installed room provides the hook {self.name!r}.")
        return func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Hook {self.name}>"


class Slot:
    """Any number of providers, each answering a dict; calling the slot merges their answers in order.

    Used for pages that higher rooms decorate (the version page shows the workflow panel and the validation runs,
    both rooms above the registry that owns the page).
    """

    def __init__(self, name: str):
        self.name = name
        self._providers: list[Callable[..., dict]] = []

    def provide(self, func: Callable[..., dict]) -> Callable[..., dict]:
        if func not in self._providers:
            self._providers.append(func)
        return func

    def __call__(self, *args, **kwargs) -> dict:
        merged: dict = {}
        for func in self._providers:
            merged.update(func(*args, **kwargs))
        return merged

    def __repr__(self) -> str:
        return f"<Slot {self.name}: {len(self._providers)} providers>"
