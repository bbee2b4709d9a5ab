"""Serving's answers to the slots of the rooms below (core.hooks): the passport page links its Monitoring tab with
the serving health, the version page says where the version is deployed, and the OWASP checklist's ML05, ML08,
ML09 and ML10 get serving's automatic evidence (a person still confirms each item)."""

from __future__ import annotations

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
        return {"serving_release_access": "per-host token (stored hashed, rotatable, revocable); a host downloads "
                                          "only the releases in its own desired state",
                "serving_enrolment": "one-time, expiring enrolment tokens created by administrators",
                "serving_agent_rate_limit": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get("agent")}
    if code == "ML08":
        thresholds = passport.monitoring_thresholds or {}
        return {"drift_monitoring": "PSI per feature and of the score against the release's reference histograms, "
                                    "every monitoring window",
                "psi_alert_threshold": thresholds.get("psi", 0.2),
                "score_psi_alert_threshold": thresholds.get("score_psi", 0.2),
                "on_alert": policy_action(passport)}
    if code == "ML09":
        return {"release_signature": "OpenSSF Model Signing (sigstore bundle), EC P-256, verified by the host before "
                                     "loading", "signing_key_id": key_id()}
    return {"digest_verified_at_load": True,
            "release_digest_check": "the host recomputes every file's sha256 against the signed manifest before "
                                    "loading; a mismatch is refused and raises an alert"}
