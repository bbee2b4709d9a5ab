"""Serving's answers to the registry's page slots (core.hooks): the passport page links its Monitoring tab with
the serving health, and the version page says where the version is deployed."""

from __future__ import annotations

from registry import hooks as registry_hooks
from serving.choices import DeploymentStatus
from serving.models import Deployment
from serving.selectors import serving_health


@registry_hooks.passport_abilities.provide
def monitoring_tab(user, passport) -> dict:
    return {"monitoring": True, "serving": serving_health([passport.pk])[passport.pk]}


@registry_hooks.version_page.provide
def deployed_where(request, version, **_state) -> dict:
    rows = (Deployment.objects.filter(status=DeploymentStatus.ACTIVE)
            .filter(version=version) | Deployment.objects.filter(status=DeploymentStatus.ACTIVE,
                                                                  challenger=version))
    return {"deployed": [{"deployment": d, "role": "champion" if d.version_id == version.pk else "challenger",
                          "hosts": [h.name for h in d.hosts.all()]}
                         for d in rows.prefetch_related("hosts").order_by("pk")]}
