"""Importing a version from MLflow as a background job (``governance.jobs``): downloading the model and the run's
datasets, converting it and checking parity take seconds to minutes, so the passport page's form checks what it can
at once (who may import, the server, the URI's form, the tolerance) and a worker does the rest while the job page
shows how far it is, then links the version."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from governance.jobs.kinds import JobKind, Outcome, register
from registry import mlflow_import
from registry.models import ModelPassport
from registry.selectors import passport_for_job

IMPORT_MLFLOW = "registry.mlflow_import"


def _passport(actor, params: dict) -> ModelPassport:
    return passport_for_job(user=actor, key=params.get("passport"))


def _authorize(actor, params: dict) -> None:
    mlflow_import.check(actor=actor, passport=_passport(actor, params), tracking_uri=params.get("tracking_uri", ""),
                        tolerance=params.get("tolerance", mlflow_import.DEFAULT_TOLERANCE),
                        model_uri=params.get("model_uri", ""))


def _import(actor, params: dict, progress) -> Outcome:
    passport = _passport(actor, params)
    version, created = mlflow_import.version_import(
        actor=actor, passport=passport, model_uri=params["model_uri"], tracking_uri=params.get("tracking_uri", ""),
        tolerance=params.get("tolerance", mlflow_import.DEFAULT_TOLERANCE), progress=progress)
    if created:
        label = _("Version %(number)s imported from %(uri)s as a draft.") % {"number": version.number,
                                                                            "uri": version.mlflow_model_uri}
    else:
        label = _("%(uri)s was imported before, as version %(number)s: nothing new.") % {
            "number": version.number, "uri": version.mlflow_model_uri}
    return Outcome(url=reverse("registry:version_detail", kwargs={"key": passport.key, "number": version.number}),
                   label=label)


def _title(params: dict) -> str:
    return _("Import of %(uri)s into %(passport)s") % {"uri": params.get("model_uri"),
                                                        "passport": params.get("passport")}


register(JobKind(name=IMPORT_MLFLOW, run=_import, authorize=_authorize, title=_title))


def params_for(passport: ModelPassport, *, model_uri: str, tracking_uri: str, tolerance: float) -> dict:
    return {"passport": passport.key, "model_uri": model_uri.strip(), "tracking_uri": tracking_uri.strip(),
            "tolerance": tolerance}
