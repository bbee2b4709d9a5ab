"""Following a registered MLflow model: each version registered there from the day it is followed is imported as a
draft of the passport by a periodic task, with the checks of any import (``registry.mlflow_import``).

- ``follow_start`` checks the person, the server and that the model exists, and starts from the model's latest
  version (what is already there is imported by hand, if wanted).
- ``follows_poll`` (beat, every ``MG_MLFLOW_FOLLOW_SECONDS``) asks each followed model for its versions above the
  last one handled and imports them in order, as the person who set the follow up. A version that is refused
  (parity, a foreign flavour, an ONNX check) is recorded with the reason and passed over; an unreachable server
  is tried again at the next poll; a person who may no longer import stops the follow. One poller at a time per
  follow (a lease), and a version imported twice is still one version.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core import liveness
from core.actors import SystemActor
from core.errors import Conflict, DomainError, PermissionDenied
from governance.audit.services import audit_append
from registry import mlflow_import
from registry import permissions as perms
from registry.models import MlflowFollow, ModelPassport

logger = logging.getLogger(__name__)
FOLLOWER = SystemActor("mlflow follower")
RETRY_LATER = ("mlflow_unreachable",)  # the server, not the version: the same version is tried again next time


def _versions(tracking_uri: str, name: str) -> list[int]:
    client = mlflow_import.client_for(tracking_uri)
    quoted = name.replace("'", "\\'")
    try:
        found = client.search_model_versions(f"name='{quoted}'")
    except Exception as exc:
        raise mlflow_import.refusal_for(exc, tracking_uri, f"models:/{name}") from None
    return sorted(int(v.version) for v in found)


def follow_start(*, actor, passport: ModelPassport, registered_model: str, tracking_uri: str = "",
                 tolerance: float = mlflow_import.DEFAULT_TOLERANCE) -> MlflowFollow:
    name = (registered_model or "").strip()
    tracking_uri = (tracking_uri or settings.MG_MLFLOW_TRACKING_URI).strip()
    mlflow_import.check(actor=actor, passport=passport, tracking_uri=tracking_uri, tolerance=tolerance)
    if not name or "/" in name or "@" in name or len(name) > 256:
        raise DomainError(_("Give the registered model's name as MLflow shows it (no version, no alias)."),
                          code="invalid", field="registered_model")
    if MlflowFollow.objects.filter(passport=passport, tracking_uri=tracking_uri, registered_model=name,
                                   active=True).exists():
        raise Conflict(_("%(name)s on %(server)s is followed already.") % {"name": name, "server": tracking_uri},
                          code="already_followed", field="registered_model")
    try:
        mlflow_import.client_for(tracking_uri).get_registered_model(name)
    except Exception as exc:
        raise mlflow_import.refusal_for(exc, tracking_uri, f"models:/{name}") from None
    latest = max(_versions(tracking_uri, name), default=0)
    with transaction.atomic():
        follow, _created = MlflowFollow.objects.update_or_create(
            passport=passport, tracking_uri=tracking_uri, registered_model=name,
            defaults={"tolerance": tolerance, "active": True, "last_version": latest, "created_by": actor,
                      "language": translation.get_language() or settings.LANGUAGE_CODE,
                      "created_at": timezone.now(), "last_error": "", "last_error_code": "",
                      "last_checked_at": timezone.now()})
        audit_append(actor=actor, action="mlflow.follow_started", obj=follow, passport_key=passport.key,
                     data={"registered_model": name, "tracking_uri": tracking_uri, "from_version": latest,
                           "tolerance": tolerance})
    return follow


def follow_stop(*, actor, follow: MlflowFollow) -> MlflowFollow:
    perms.require(actor, perms.UPLOAD, follow.passport, _("stop following MLflow models"))
    with transaction.atomic():
        changed = MlflowFollow.objects.filter(pk=follow.pk, active=True).update(active=False)
        if changed:
            audit_append(actor=actor, action="mlflow.follow_stopped", obj=follow, passport_key=follow.passport.key,
                         data={"registered_model": follow.registered_model, "tracking_uri": follow.tracking_uri})
    follow.refresh_from_db()
    return follow


def _note(follow: MlflowFollow, **fields) -> None:
    MlflowFollow.objects.filter(pk=follow.pk).update(last_checked_at=timezone.now(), **fields)


def follow_poll(follow: MlflowFollow) -> dict:
    """Import what is new for one follow, in the language of the person who set it up (what it records of a
    refusal reads as their own import would); returns counts (imported, refused) for logs and tests."""
    with translation.override(follow.language or settings.LANGUAGE_CODE):
        return _poll(follow)


def _poll(follow: MlflowFollow) -> dict:
    done = {"imported": 0, "refused": 0}
    try:
        numbers = [n for n in _versions(follow.tracking_uri, follow.registered_model) if n > follow.last_version]
    except DomainError as exc:
        _note(follow, last_error_code=exc.code, last_error=str(exc.message)[:2000])
        return done
    actor, passport = follow.created_by, follow.passport
    for number in numbers:
        uri = f"models:/{follow.registered_model}/{number}"
        try:
            version, created = mlflow_import.version_import(actor=actor, passport=passport, model_uri=uri,
                                                            tracking_uri=follow.tracking_uri,
                                                            tolerance=follow.tolerance)
        except PermissionDenied as exc:  # the person who set it up may not import any more: the follow ends
            with transaction.atomic():
                _note(follow, active=False, last_error_code=exc.code or "permission_denied",
                      last_error=str(exc.message)[:2000])
                audit_append(actor=FOLLOWER, action="mlflow.follow_stopped", obj=follow, passport_key=passport.key,
                             data={"registered_model": follow.registered_model,
                                   "reason": exc.code or "permission_denied"})
            return done
        except DomainError as exc:
            if exc.code in RETRY_LATER:
                _note(follow, last_error_code=exc.code, last_error=str(exc.message)[:2000])
                return done
            done["refused"] += 1
            with transaction.atomic():  # the version passed over and its record go together
                _note(follow, last_version=number, last_error_code=exc.code or "refused",
                      last_error=(_("%(uri)s was not imported: %(reason)s")
                                  % {"uri": uri, "reason": exc.message})[:2000])
                audit_append(actor=FOLLOWER, action="mlflow.follow_refused", obj=follow, passport_key=passport.key,
                             data={"model_uri": uri, "code": exc.code or "refused", "reason": str(exc.message)[:500]})
            follow.last_version = number
            continue
        follow.last_version = number
        done["imported"] += int(created)
        MlflowFollow.objects.filter(pk=follow.pk).update(imported=F("imported") + int(created), last_version=number,
                                                         last_error_code="", last_error="")
        logger.info("followed %s: imported %s as version %s", uri, passport.key, version.number)
    _note(follow)
    return done


def follows_poll() -> dict:
    """Every active follow, each under its own lease (a second poller passes over what the first is doing)."""
    totals = {"follows": 0, "imported": 0, "refused": 0, "busy": 0}
    for pk in MlflowFollow.objects.filter(active=True).values_list("pk", flat=True):
        lease = liveness.hold(f"mlflow-follow:{pk}")
        if lease is None:
            totals["busy"] += 1
            continue
        with lease:
            follow = MlflowFollow.objects.select_related("passport", "created_by").filter(pk=pk, active=True).first()
            if follow is None:
                continue
            done = follow_poll(follow)
        totals["follows"] += 1
        totals["imported"] += done["imported"]
        totals["refused"] += done["refused"]
    return totals
