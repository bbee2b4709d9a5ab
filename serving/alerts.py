"""Alerts and incidents: monitoring windows checked against the release's thresholds, problems hosts report, hosts
that fall silent; each alert opens (or joins) an incident with a timeline, notifies the people of the passport,
and applies the passport's serving policy: notify, roll back to the previous approved version, or stop.

An alert of a kind already in the open incident of the same deployment (or host) counts there again instead of
opening another, so a drifting model that keeps drifting gives one incident, one notification and one action.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from core.actors import Actor, SystemActor
from core.errors import Conflict, DomainError
from core.text import said
from governance.accounts.choices import Role
from governance.audit.services import audit_append
from governance.workflow.notifications import notify, users_in_role
from governance.workflow.services.checklist_evidence import checklist_refresh_auto
from registry.choices import REVIEW_STATES
from serving import guards, services
from serving.agent import manifest as mf
from serving.choices import (
    INPUT_ERRORS,
    POLICY_KINDS,
    AlertKind,
    DeploymentStatus,
    IncidentStatus,
    PolicyAction,
    TimelineKind,
)
from serving.models import Alert, Deployment, Host, Incident, MonitoringWindow, ServingPolicy, TimelineEntry
from serving.problems import problem_said
from serving.selectors import release_thresholds, version_failures

logger = logging.getLogger(__name__)
POLICY = SystemActor("serving policy")
MONITOR = SystemActor("serving monitor")
# Without a policy row: tier 1 rolls back at once, the others notify and let a person decide.
DEFAULT_ACTION = {1: PolicyAction.ROLLBACK, 2: PolicyAction.NOTIFY, 3: PolicyAction.NOTIFY}


def policy_action(passport) -> str:
    row = ServingPolicy.objects.filter(passport=passport).first()
    return row.on_alert if row else DEFAULT_ACTION.get(passport.risk_tier, PolicyAction.NOTIFY)


@transaction.atomic
def policy_set(*, actor: Actor, passport, on_alert: str) -> ServingPolicy:
    """Set what alerts do for ``passport``: risk officers and the people who may stop its deployments."""
    from serving.permissions import can_brake

    if not can_brake(actor, passport):
        from core.errors import PermissionDenied

        raise PermissionDenied(_("Only the people who may roll back or stop this passport's deployments may set its "
                                 "serving policy."))
    if on_alert not in PolicyAction.values:
        raise DomainError(_("Unknown action '%(a)s'. Valid: %(valid)s.")
                          % {"a": on_alert, "valid": ", ".join(PolicyAction.values)}, code="invalid", field="on_alert")
    before = policy_action(passport)
    row, _created = ServingPolicy.objects.update_or_create(
        passport=passport, defaults={"on_alert": on_alert, "updated_by": actor, "updated_at": timezone.now()})
    audit_append(actor=actor, action="serving.policy_set", obj=row, passport_key=passport.key,
                 data={"from": before, "to": on_alert})
    if before != on_alert:  # ML08's evidence names the policy: versions under review see the new one
        for version in passport.versions.filter(state__in=REVIEW_STATES):
            checklist_refresh_auto(actor=actor, version=version, codes=["ML08"],
                                   reason=_("the serving policy of %(key)s changed to '%(action)s'")
                                   % {"key": passport.key, "action": on_alert})
    return row


def _people(passport) -> list:
    return [passport.technical_owner, passport.business_owner, *users_in_role(Role.RISK_OFFICER)]


def _entry(incident, entry_kind: str, actor: str, text: str | tuple[str, dict], **data) -> None:
    """A timeline entry; ``text`` is a person's words, or the platform's sentence from ``said`` (kept to be said in
    the reader's language)."""
    if isinstance(text, tuple):
        text, data["said"] = text
    TimelineEntry.objects.create(incident=incident, kind=entry_kind, actor=actor, text=text, data=data)


def raise_alert(*, kind: str, message: str | tuple[str, dict], deployment: Deployment | None = None,
                host: Host | None = None, version=None, subject: str = "", value: float | None = None,
                threshold: float | None = None) -> Alert:
    """Record an alert and do what the policy says. Returns the alert row (new, or the one seen again).
    ``message`` is the sentence from ``core.text.said`` (or plain English)."""
    message, record = message if isinstance(message, tuple) else (message, {})
    with transaction.atomic():
        scope = {"deployment": deployment} if deployment is not None else {"host": host}
        incident = Incident.objects.select_for_update().filter(
            status__in=[IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED], **scope).first()
        if incident is not None:
            # the same alert of the same version counts again; another version's is its own (a late window of
            # the version served before must not stand for the one serving now)
            seen = Alert.objects.filter(incident=incident, kind=kind, subject=subject[:200], version=version).first()
            if seen is not None:
                Alert.objects.filter(pk=seen.pk).update(count=seen.count + 1, last_seen_at=timezone.now(),
                                                        value=value)
                return seen
        passport = deployment.passport if deployment is not None else None
        if incident is None:
            title = (f"{passport.key}: {AlertKind(kind).label}" if passport else f"{host.name}: "
                     f"{AlertKind(kind).label}")
            incident = Incident.objects.create(passport=passport, deployment=deployment, host=host, title=str(title),
                                               kind=kind)
        alert = Alert.objects.create(incident=incident, kind=kind, deployment=deployment, host=host, version=version,
                                     subject=subject[:200], value=value, threshold=threshold, message=message,
                                     said=record)
        _entry(incident, TimelineKind.ALERT, str(MONITOR), (message, record), kind=kind, value=value,
               threshold=threshold, subject=subject)
        audit_append(actor=MONITOR, action="alert.raised", obj=alert, passport_key=passport.key if passport else "",
                     data={"incident": incident.pk, "kind": kind, "subject": subject, "value": value,
                           "threshold": threshold, "message": message,
                           "version": version.number if version is not None else None,
                           "host": host.name if host is not None else None})
        people = _people(passport) if passport else list(users_in_role(Role.ADMIN))
        addresses = notify(people, f"Alert: {incident.title}", message,
                           path=reverse("serving:incident_detail", kwargs={"pk": incident.pk}))
        _entry(incident, TimelineKind.NOTIFICATION, str(MONITOR),
               said(gettext_noop("E-mail to %(n)s recipient(s)."), n=len(addresses)) if addresses
               else said(gettext_noop("Nobody to e-mail.")),
               recipients=addresses)
    if deployment is not None and kind in POLICY_KINDS:
        _apply_policy(alert, incident, deployment)
    return alert


def _apply_policy(alert: Alert, incident: Incident, deployment: Deployment) -> None:
    action = policy_action(deployment.passport)
    if action == PolicyAction.NOTIFY:
        return
    if incident.timeline.filter(kind=TimelineKind.ACTION).exists():
        return  # one action per incident: the next alert of it says the same thing about the same serving
    deployment.refresh_from_db()
    if alert.version is not None and alert.version.pk not in (deployment.version_id, deployment.challenger_id):
        return  # about a version that no longer serves here (a window delivered late): nothing to roll back or stop
    challenger = alert.version is not None and deployment.challenger_id == alert.version.pk
    reason = f"Serving policy ({action}) on INC-{incident.pk}: {alert.message}"
    withdrawn = None  # a challenger withdrawn on the way to rolling its champion back
    try:
        if challenger:  # a challenger misbehaving is withdrawn, under either policy: the champion answers on
            done = services.deployment_rollback(actor=POLICY, deployment=deployment, reason=reason, by_policy=True)
            text = said(gettext_noop("Challenger v%(c)s withdrawn: v%(n)s answers."), c=alert.version.number,
                        n=done.version.number)
        elif action == PolicyAction.ROLLBACK:
            if deployment.challenger_id is not None:  # the champion misbehaving: its challenger goes first (a
                # rollback with one withdraws it), then the champion itself goes back
                withdrawn = deployment.challenger.number
                deployment = services.deployment_rollback(actor=POLICY, deployment=deployment, reason=reason,
                                                          by_policy=True)
            done = services.deployment_rollback(actor=POLICY, deployment=deployment, reason=reason, by_policy=True)
            text = said(gettext_noop("Rolled back: v%(n)s answers."), n=done.version.number)
        else:
            done = services.deployment_stop(actor=POLICY, deployment=deployment, reason=reason, by_policy=True)
            text = said(gettext_noop("Stopped serving."))
    except (Conflict, DomainError) as exc:
        # the rule's message is a sentence of the catalogue when the worker wrote it in English: said again in
        # the reader's language
        text = (said(gettext_noop("Rollback not applied: %(reason)s"), reason=exc.message, translated=("reason",))
                if action == PolicyAction.ROLLBACK or challenger else
                said(gettext_noop("Stop not applied: %(reason)s"), reason=exc.message, translated=("reason",)))
        if withdrawn is not None:  # what was done before the step that could not be
            text = said(gettext_noop("Challenger v%(c)s withdrawn; the champion's rollback not applied: "
                                     "%(reason)s"), c=withdrawn, reason=exc.message, translated=("reason",))
        done = None
    with transaction.atomic():
        _entry(incident, TimelineKind.ACTION, str(POLICY), text, action=action,
               generation=done.generation if done else None)
        if done is None:
            notify(_people(deployment.passport), f"Action failed: {incident.title}", text[0],
                   path=reverse("serving:incident_detail", kwargs={"pk": incident.pk}))


# --------------------------------------------------------------------------- what raises alerts


def windows_receive(*, host: Host, windows: list[dict]) -> dict:
    """Store a host's windows (idempotent) and check the ones stored now; returns the counts."""
    received = services.windows_ingest(host=host, windows=windows)
    if received.fresh:
        windows_check(received.fresh)
    return received.counts()


def log_digests_receive(*, host: Host, digests: list[dict]) -> dict:
    """Store a host's log-file digests. A file reported again with another sha256 is refused
    (``digest_changed``) and raises an alert: the file changed on the host after it was reported."""
    try:
        return services.log_digests_record(host=host, digests=digests)
    except Conflict as exc:
        if exc.code == "digest_changed":
            details = exc.details
            raise_alert(kind=AlertKind.LOG_ALTERED, deployment=Deployment.objects.get(pk=details["deployment"]),
                        subject=f"{host.name}/{details['name']}"[:200],
                        message=said(gettext_noop(
                            "%(host)s reported the prediction-log file %(name)s again with another sha256 "
                            "(%(reported)s, stored %(stored)s): the file changed after it was reported."),
                            host=host.name, name=details["name"], reported=details["reported"][:16],
                            stored=details["stored"][:16]))
        raise


def heartbeat_receive(*, host: Host, facts: dict, status: dict) -> Host:
    """Record a heartbeat; problems the host reports become alerts (each once per open incident)."""
    host = services.host_heartbeat(host=host, facts=facts, status=status)
    problems_check(host, status.get("problems") or [])
    return host




def windows_check(windows: list[MonitoringWindow]) -> list[Alert]:
    """Check stored windows against the thresholds of the release they measured (deployments still active)."""
    raised, deployments = [], {}
    released = release_thresholds({window.version_id for window in windows})
    for window in windows:
        if window.deployment_id not in deployments:
            deployments[window.deployment_id] = Deployment.objects.select_related(
                "passport", "version", "challenger").get(pk=window.deployment_id)
        deployment = deployments[window.deployment_id]
        if deployment.status != DeploymentStatus.ACTIVE:
            continue
        thresholds = mf.Thresholds(**released[window.version_id])  # the manifest's own defaults fill the gaps
        psi_max, score_max = float(thresholds.psi), float(thresholds.score_psi)
        latency_max, error_max = float(thresholds.latency_p95_ms), float(thresholds.error_rate)
        enough = window.requests >= int(thresholds.min_window_requests)
        common = {"deployment": deployment, "version": window.version}
        label = f"{deployment.passport.key} v{window.version.number} ({window.role}, {window.host.name})"
        if enough:
            for feature, value in sorted(window.psi.items()):
                if value > psi_max:
                    raised.append(raise_alert(
                        kind=AlertKind.FEATURE_PSI, subject=feature, value=value, threshold=psi_max,
                        message=said(gettext_noop("%(label)s: PSI of '%(feature)s' is %(value)s, above %(limit)s."),
                                     label=label, feature=feature, value=f"{value:.3f}", limit=f"{psi_max:g}"),
                        **common))
            if window.score_psi is not None and window.score_psi > score_max:
                raised.append(raise_alert(
                    kind=AlertKind.SCORE_PSI, value=window.score_psi, threshold=score_max,
                    message=said(gettext_noop("%(label)s: PSI of the score is %(value)s, above %(limit)s."),
                                 label=label, value=f"{window.score_psi:.3f}", limit=f"{score_max:g}"), **common))
        if window.latency_p95_ms is not None and window.latency_p95_ms > latency_max and window.requests:
            raised.append(raise_alert(
                kind=AlertKind.LATENCY, value=window.latency_p95_ms, threshold=latency_max,
                message=said(gettext_noop("%(label)s: p95 latency %(value)s ms, over the SLO of %(limit)s ms."),
                             label=label, value=f"{window.latency_p95_ms:.1f}", limit=f"{latency_max:g}"),
                **common))
        own, attempted = version_failures(window.requests, window.errors)
        if attempted > 0 and attempted >= int(thresholds.min_window_requests):
            rate = own / attempted
            if rate > error_max:
                raised.append(raise_alert(
                    kind=AlertKind.ERROR_RATE, value=rate, threshold=error_max,
                    message=said(gettext_noop("%(label)s: %(value)s of requests failed, above %(limit)s."),
                                 label=label, value=f"{rate:.1%}", limit=f"{error_max:.1%}"), **common))
        invalid = sum(window.errors.get(kind, 0) for kind in INPUT_ERRORS)
        if invalid and enough and window.requests > 0 and invalid / window.requests > error_max:
            raised.append(raise_alert(
                kind=AlertKind.INPUT_REFUSED, value=invalid / window.requests, threshold=error_max,
                message=said(gettext_noop("%(label)s: %(value)s of requests were refused as invalid input, above "
                                          "%(limit)s (an upstream change of the data?). The version is not "
                                          "blamed: nothing is rolled back."),
                             label=label, value=f"{invalid / window.requests:.1%}", limit=f"{error_max:.1%}"),
                **common))
    return raised


_PROBLEM_KINDS = {"digest_mismatch": AlertKind.DIGEST_MISMATCH, "signature_invalid": AlertKind.DIGEST_MISMATCH,
                  "stop_limit_reached": AlertKind.STOP_LIMIT, "load_failed": AlertKind.LOAD_FAILED,
                  "manifest_invalid": AlertKind.LOAD_FAILED, "log_unavailable": AlertKind.LOG_UNAVAILABLE,
                  "log_disk_low": AlertKind.LOG_DISK_LOW}


def problems_check(host: Host, problems: list[dict]) -> list[Alert]:
    """Alerts for the problems a host reports in its heartbeat (a refused release, a stop-limit, a failed load, a
    prediction log the disk will not take or a disk nearly full)."""
    raised = []
    served = {d.pk: d for d in Deployment.objects.filter(hosts=host).select_related("passport")}
    for problem in problems:
        kind = _PROBLEM_KINDS.get(problem.get("kind"))
        if kind is None:
            continue
        deployment = served.get(problem.get("deployment"))
        english, record = problem_said(host.name, problem)
        raised.append(raise_alert(kind=kind, deployment=deployment, host=host if deployment is None else None,
                                  subject=f"{host.name}:{problem.get('release') or ''}",
                                  message=(english[:2000], record)))
    return raised


def hosts_check_lost(now=None) -> list[Alert]:
    """One alert per silence: a host quiet for longer than MG_HOST_LOST_SECONDS, alerted once until it speaks."""
    now = now or timezone.now()
    limit = now - timezone.timedelta(seconds=settings.MG_HOST_LOST_SECONDS)
    raised = []
    for host in Host.objects.filter(revoked_at__isnull=True, last_heartbeat_at__lt=limit):
        if host.lost_alerted_at is not None and host.lost_alerted_at >= host.last_heartbeat_at:
            continue
        Host.objects.filter(pk=host.pk).update(lost_alerted_at=now)
        silent = int((now - host.last_heartbeat_at).total_seconds())
        deployments = list(Deployment.objects.filter(hosts=host, status=DeploymentStatus.ACTIVE)
                           .select_related("passport"))
        message = said(gettext_noop("%(host)s has been silent for %(seconds)s s (last heartbeat %(time)s UTC)."),
                       host=host.name, seconds=silent, time=f"{host.last_heartbeat_at:%H:%M:%S}")
        if not deployments:
            raised.append(raise_alert(kind=AlertKind.HOST_LOST, host=host, subject=host.name, message=message))
        for deployment in deployments:
            raised.append(raise_alert(kind=AlertKind.HOST_LOST, deployment=deployment, subject=host.name,
                                      message=message))
    return raised


# --------------------------------------------------------------------------- people handle incidents


@transaction.atomic
def incident_acknowledge(*, actor: Actor, incident: Incident, note: str = "") -> Incident:
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    guards.handle_incident(actor, incident).enforce()
    if incident.status != IncidentStatus.OPEN:
        raise Conflict(_("Only an open incident can be acknowledged; this one is %(status)s.")
                       % {"status": incident.get_status_display().lower()}, code="invalid_state")
    incident.status, incident.acknowledged_at, incident.acknowledged_by = (
        IncidentStatus.ACKNOWLEDGED, timezone.now(), actor)
    incident.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
    _entry(incident, TimelineKind.ACKNOWLEDGED, actor.get_username(),
           note.strip() or said(gettext_noop("Acknowledged.")))
    audit_append(actor=actor, action="incident.acknowledged", obj=incident,
                 passport_key=incident.passport.key if incident.passport else "", data={"note": note.strip()})
    return incident


@transaction.atomic
def incident_resolve(*, actor: Actor, incident: Incident, resolution: str) -> Incident:
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    guards.handle_incident(actor, incident).enforce()
    resolution = (resolution or "").strip()
    if not resolution:
        raise DomainError(_("A resolution says what was found and done."), code="required", field="resolution")
    if incident.status == IncidentStatus.RESOLVED:
        raise Conflict(_("The incident is already resolved."), code="invalid_state")
    incident.status, incident.resolved_at, incident.resolved_by, incident.resolution = (
        IncidentStatus.RESOLVED, timezone.now(), actor, resolution)
    incident.save(update_fields=["status", "resolved_at", "resolved_by", "resolution"])
    _entry(incident, TimelineKind.RESOLVED, actor.get_username(), resolution)
    audit_append(actor=actor, action="incident.resolved", obj=incident,
                 passport_key=incident.passport.key if incident.passport else "", data={"resolution": resolution})
    return incident
