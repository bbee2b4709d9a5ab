"""Serving's answers to the slots of the rooms below (core.hooks): the passport page links its Monitoring tab with
the serving health, the version page says where the version is deployed, and the OWASP checklist's ML05, ML08,
ML09 and ML10 get serving's automatic evidence (a person still confirms each item)."""

from __future__ import annotations

from django.utils.translation import gettext_noop

from governance.dossier import hooks as dossier_hooks
from governance.workflow import hooks as workflow_hooks
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


# Recorded in the checklist in English (sign-offs bind to it); the checklist shows them in the reader's language.
RELEASE_ACCESS = gettext_noop("per-host token (stored hashed, rotatable, revocable); a host downloads only the "
                              "releases in its own desired state")
ENROLMENT = gettext_noop("one-time, expiring enrolment tokens created by administrators")
DRIFT_MONITORING = gettext_noop("PSI per feature and of the score against the release's reference histograms, every "
                                "monitoring window")
RELEASE_SIGNATURE = gettext_noop("OpenSSF Model Signing (sigstore bundle), EC P-256, verified by the host before "
                                 "loading")
DIGEST_CHECK = gettext_noop("the host recomputes every file's sha256 against the signed manifest before loading; a "
                            "mismatch is refused and raises an alert")


@workflow_hooks.checklist_evidence.provide
def serving_evidence(code: str, version) -> dict:
    """What serving guarantees for any release of ``version``'s passport. Only what changes with a decision (the
    policy, the thresholds, the signing key), not what changes with every deployment: a refresh voids the sign-offs
    bound to the checklist."""
    from django.conf import settings

    from core.signing import key_id
    from serving.alerts import policy_action

    if code not in ("ML05", "ML08", "ML09", "ML10"):
        return {}
    passport = version.passport
    if code == "ML05":
        return {"serving_release_access": RELEASE_ACCESS, "serving_enrolment": ENROLMENT,
                "serving_agent_rate_limit": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get("agent")}
    if code == "ML08":
        thresholds = passport.monitoring_thresholds or {}
        return {"drift_monitoring": DRIFT_MONITORING,
                "psi_alert_threshold": thresholds.get("psi", 0.2),
                "score_psi_alert_threshold": thresholds.get("score_psi", 0.2),
                "on_alert": policy_action(passport)}
    if code == "ML09":
        return {"release_signature": RELEASE_SIGNATURE, "signing_key_id": key_id()}
    return {"digest_verified_at_load": True, "release_digest_check": DIGEST_CHECK}


def _when(value) -> str | None:
    return value.isoformat() if value is not None else None


@dossier_hooks.passport_records.provide
def serving_records(passport) -> dict:
    """Deployments, incidents (alerts, timeline) and the serving policy of ``passport``, as stored values."""
    from serving.alerts import policy_action
    from serving.models import Incident, ServingPolicy

    deployments = []
    for d in (Deployment.objects.filter(passport=passport).select_related("version", "challenger", "created_by")
              .prefetch_related("hosts", "revisions__version").order_by("pk")):
        deployments.append({
            "id": d.pk, "environment": d.environment, "status": d.status, "strategy": d.strategy,
            "version": d.version.number, "artifact_sha256": d.version.sha256,
            "challenger": d.challenger.number if d.challenger_id else None, "canary_percent": d.canary_percent,
            "hosts": sorted(h.name for h in d.hosts.all()), "created_by": d.created_by.get_username(),
            "created_at": _when(d.created_at), "stopped_at": _when(d.stopped_at), "stop_reason": d.stop_reason,
            "champions": [{"version": r.version.number, "from": _when(r.started_at), "reason": r.reason}
                          for r in d.revisions.all()],
        })
    incidents = []
    for i in (Incident.objects.filter(passport=passport).select_related("acknowledged_by", "resolved_by")
              .prefetch_related("alerts__version", "timeline").order_by("pk")):
        incidents.append({
            "id": i.pk, "kind": i.kind, "status": i.status, "deployment": i.deployment_id,
            "opened_at": _when(i.opened_at), "acknowledged_at": _when(i.acknowledged_at),
            "acknowledged_by": i.acknowledged_by.get_username() if i.acknowledged_by_id else None,
            "resolved_at": _when(i.resolved_at),
            "resolved_by": i.resolved_by.get_username() if i.resolved_by_id else None, "resolution": i.resolution,
            "alerts": [{"kind": a.kind, "subject": a.subject, "value": a.value, "threshold": a.threshold,
                        "version": a.version.number if a.version_id else None, "message": a.message,
                        "raised_at": _when(a.raised_at), "last_seen_at": _when(a.last_seen_at), "count": a.count}
                       for a in i.alerts.all()],
            "timeline": [{"at": _when(e.at), "kind": e.kind, "actor": e.actor, "text": e.text}
                         for e in i.timeline.all()],
        })
    if not deployments and not incidents and not ServingPolicy.objects.filter(passport=passport).exists():
        return {}
    return {"serving": {"policy": policy_action(passport), "deployments": deployments, "incidents": incidents}}
