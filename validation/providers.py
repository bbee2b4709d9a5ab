"""What validation shows on the registry's pages (registry.hooks); connected at start-up
(``validation.apps.ValidationConfig.ready``)."""

from __future__ import annotations

from registry import hooks as registry_hooks
from validation.views import version_runs_card


@registry_hooks.version_page.provide
def validation_runs(request, version, **_state) -> dict:
    return {"validation_runs": version_runs_card(request, version)}
