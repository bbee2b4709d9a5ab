"""What validation shows on the registry's pages (registry.hooks); connected at start-up
(``validation.apps.ValidationConfig.ready``)."""

from __future__ import annotations

from django.urls import reverse

from registry import hooks as registry_hooks
from validation.views import version_runs_card


@registry_hooks.version_page.provide
def validation_runs(request, version, **_state) -> dict:
    explainable = (version.feature_schema or {}).get("layout", "tensor") == "tensor"
    return {"validation_runs": version_runs_card(request, version),
            "explain_url": reverse("validation:explain", args=[version.passport.key, version.number])
            if explainable else ""}
