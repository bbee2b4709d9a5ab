"""Serving's guards (core.guards): may this actor deploy this version, operate this deployment, now.

The services enforce them; the deployment pages and the API ask the same functions.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

from core.guards import ALLOWED, Verdict, person
from registry.choices import VersionState
from serving import permissions as perms
from serving.choices import DeploymentStatus


def _refused(reason: str, code: str, **details) -> Verdict:
    return Verdict(False, reason, code, state=True, details=details or None)


def deployable(version, now=None) -> Verdict:
    """An approved, unexpired, unrevoked version may be served; anything else is refused with the reason."""
    now = now or timezone.now()
    n = {"n": version.number}
    if version.state == VersionState.REVOKED:
        return _refused(_("v%(n)s cannot be deployed: its approval was revoked.") % n, "version_revoked",
                        state=version.state)
    if version.state != VersionState.APPROVED:
        return _refused(_("v%(n)s cannot be deployed: it is %(state)s, not approved.")
                        % {**n, "state": version.get_state_display().lower()}, "version_not_approved",
                        state=version.state)
    if version.approval_expires_at is None or version.approval_expires_at <= now:
        return _refused(_("v%(n)s cannot be deployed: its approval expired on %(date)s.")
                        % {**n, "date": f"{version.approval_expires_at:%Y-%m-%d}" if version.approval_expires_at
                           else "?"}, "approval_expired", state=version.state)
    return ALLOWED


def deploy(actor, passport) -> Verdict:
    if not perms.can_deploy(actor, passport):
        return person(_("Only the passport's technical owner, its development team or a serving engineer may "
                        "deploy its versions."))
    return ALLOWED


def operate(actor, deployment) -> Verdict:
    """Set a challenger or promote it."""
    verdict = deploy(actor, deployment.passport)
    if not verdict:
        return verdict
    return active(deployment)


def active(deployment) -> Verdict:
    if deployment.status != DeploymentStatus.ACTIVE:
        return _refused(_("The deployment is stopped."), "deployment_stopped")
    return ALLOWED


def brake(actor, deployment) -> Verdict:
    """Roll back or stop: also risk officers."""
    if not perms.can_brake(actor, deployment.passport):
        return person(_("Only the passport's technical owner, its development team, a serving engineer or a risk "
                        "officer may roll back or stop its deployments."))
    return active(deployment)


def handle_incident(actor, incident) -> Verdict:
    """Acknowledge or resolve: whoever may pull the brakes of the incident's deployment; host incidents are for
    administrators."""
    if incident.deployment_id is not None:
        allowed = perms.can_brake(actor, incident.deployment.passport)
    else:
        allowed = actor.has_perm(perms.MANAGE_HOSTS)
    if not allowed:
        return person(_("Only the people who may roll back or stop this deployment may handle its incidents."))
    return ALLOWED


def manage_hosts(actor) -> Verdict:
    if not actor.has_perm(perms.MANAGE_HOSTS):
        return person(_("Only an administrator may enrol, change or revoke serving hosts."))
    return ALLOWED
