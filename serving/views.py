"""Serving UI: the overview (hosts, deployments, incidents), host enrolment, deploying a passport's version, the
deployment page with its monitoring and actions, the passport's monitoring tab, and incidents.

Reads go through ``serving.selectors`` (a deployment of a passport the user may not see is a 404); the buttons
follow ``serving.guards``; writes are ``serving.services`` / ``serving.alerts`` calls whose refusals show on the
page.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.csp import inline_styles
from core.errors import DomainError
from core.forms import apply_domain_error
from registry import selectors as registry_selectors
from serving import alerts, guards, kserve, selectors, services
from serving.choices import ERROR_KINDS, DeploymentStatus, IncidentStatus
from serving.forms import (
    RANGES,
    ChallengerForm,
    DeploymentForm,
    EnrolmentTokenForm,
    NoteForm,
    PolicyForm,
    ReasonForm,
    ResolutionForm,
)
from serving.models import Host
from serving.permissions import MANAGE_HOSTS, VIEW_HOSTS, can_brake, can_deploy
from serving.problems import problem_lines

COLORS = {"blue": "#0d6efd", "red": "#dc3545", "amber": "#fd7e14", "green": "#198754", "grey": "#6c757d",
          "violet": "#6f42c1"}
KSERVE_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
PALETTE = ["#0d6efd", "#6f42c1", "#d63384", "#fd7e14", "#20c997", "#0dcaf0", "#6c757d", "#198754"]


def _layout(y: str = "", **extra) -> dict:
    return {"margin": {"l": 60, "r": 20, "t": 10, "b": 40}, "paper_bgcolor": "#fff", "plot_bgcolor": "#fff",
            "height": 260, "yaxis": {"title": {"text": y}, "gridcolor": "#e9ecef", "rangemode": "tozero",
                                     "automargin": True},
            "xaxis": {"gridcolor": "#e9ecef", "type": "date", "automargin": True},
            "legend": {"orientation": "h", "y": -0.25}, "separators": _(".,"), **extra}


def _threshold_line(value: float, label: str) -> dict:
    return {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": value, "y1": value,
            "line": {"color": COLORS["red"], "dash": "dot", "width": 1}, "label": {"text": label}}


def _broken(x: list, y: list, gaps: list) -> dict:
    """``x`` and ``y`` with a point without a value at each gap between two of their points: Plotly ends the line
    there instead of drawing it across a stretch that had no windows. A value with none beside it draws no line,
    so it gets a dot."""
    xs, ys, pending = [], [], sorted(gaps)
    for at, value in zip(x, y, strict=True):
        while pending and pending[0] < at:
            if xs:
                xs.append(pending[0])
                ys.append(None)
            pending.pop(0)
        xs.append(at)
        ys.append(value)
    alone = [value is not None and (i == 0 or ys[i - 1] is None) and (i == len(ys) - 1 or ys[i + 1] is None)
             for i, value in enumerate(ys)]
    if not any(alone):
        return {"x": xs, "y": ys}
    return {"x": xs, "y": ys, "mode": "lines+markers", "marker": {"size": [6 if a else 0 for a in alone]}}


def monitoring_charts(series: dict, psi_threshold: float = 0.2) -> dict:
    """Plotly specs: traffic and errors, errors by kind, latency percentiles, PSI (worst feature and score) and
    PSI per feature; lines break where no windows came (``series["gaps"]``)."""
    x, gaps = series["x"], series.get("gaps") or []
    line = {"type": "scatter", "mode": "lines"}

    def trace(y, **spec):
        return {**line, **_broken(x, y, gaps), **spec}

    charts = {
        "traffic": {"data": [
            trace(series["requests"], name=_("Requests"), line={"color": COLORS["blue"]}),
            trace(series["errors"], name=_("Errors"), line={"color": COLORS["red"]})],
            "layout": _layout(_("per bucket"))},
        "latency": {"data": [
            trace(series["p50"], name="p50", line={"color": COLORS["green"]}),
            trace(series["p95"], name="p95", line={"color": COLORS["amber"]}),
            trace(series["p99"], name="p99", line={"color": COLORS["red"]})],
            "layout": _layout(_("ms"))},
        "psi": {"data": [
            trace(series["psi"], name=_("Worst feature"), line={"color": COLORS["violet"]}),
            trace(series["score_psi"], name=_("Score"), line={"color": COLORS["blue"]})],
            "layout": _layout("PSI", shapes=[_threshold_line(psi_threshold, "")])},
    }
    if series["errors_by_kind"]:
        charts["errors"] = {"data": [
            {"type": "bar", "x": sorted(points), "y": [points[k] for k in sorted(points)],
             "name": str(ERROR_KINDS.get(kind, kind)),
             "marker": {"color": PALETTE[i % len(PALETTE)]}}
            for i, (kind, points) in enumerate(sorted(series["errors_by_kind"].items()))],
            "layout": _layout(_("errors"), barmode="stack")}
    if series["per_feature"]:
        charts["features"] = {"data": [
            {**line, **_broken(sorted(points), [points[k] for k in sorted(points)], gaps), "name": feature,
             "line": {"color": PALETTE[i % len(PALETTE)]}}
            for i, (feature, points) in enumerate(sorted(series["per_feature"].items()))],
            "layout": _layout("PSI", shapes=[_threshold_line(psi_threshold, "")])}
    return charts


def _range(request) -> tuple[str, float]:
    key = request.GET.get("range") if request.GET.get("range") in RANGES else "24h"
    return key, RANGES[key][1]


def _deployment_or_404(user, pk: int):
    deployment = selectors.deployment_list(user=user).filter(pk=pk).first()
    if deployment is None:
        raise Http404
    return deployment


def _incident_or_404(user, pk: int):
    incident = selectors.incident_list(user=user).filter(pk=pk).first()
    if incident is None:
        raise Http404
    return incident


# --------------------------------------------------------------------------- overview and hosts


@login_required
def overview(request):
    user = request.user
    hosts = list(selectors.host_list(user=user))
    for host in hosts:
        host.problem_lines = problem_lines(host.name, (host.status or {}).get("problems"))
    deployments = list(selectors.deployment_list(user=user).filter(status=DeploymentStatus.ACTIVE)[:100])
    incidents = list(selectors.incident_list(user=user).filter(
        status__in=[IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED])[:50])
    return render(request, "serving/overview.html", {
        "hosts": hosts, "deployments": deployments, "incidents": incidents,
        "can_view_hosts": user.has_perm(VIEW_HOSTS), "can_manage_hosts": user.has_perm(MANAGE_HOSTS),
        "healthy": sum(1 for h in hosts if h.health() == "healthy"),
    })


@login_required
def host_enrol(request):
    if not request.user.has_perm(MANAGE_HOSTS):
        raise PermissionDenied
    form = EnrolmentTokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = services.enrolment_token_create(actor=request.user, name=form.cleaned_data["name"],
                                                            ttl_hours=form.cleaned_data["ttl_hours"])
            created = {"token": token, "secret": secret}
            form = EnrolmentTokenForm()
        except DomainError as exc:
            apply_domain_error(form, exc)
    return render(request, "serving/host_enrol.html", {
        "form": form, "created": created, "tokens": selectors.enrolment_token_list(user=request.user)[:20],
        "base_url": request.build_absolute_uri("/").rstrip("/"),
    }, status=200)


@login_required
@require_POST
def host_revoke(request, pk: int):
    if not request.user.has_perm(MANAGE_HOSTS):
        raise PermissionDenied
    host = Host.objects.filter(pk=pk).first()
    if host is None:
        raise Http404
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            services.host_revoke(actor=request.user, host=host, reason=form.cleaned_data["reason"])
            messages.success(request, _("Host %(name)s revoked: its token no longer works.") % {"name": host.name})
        except DomainError as exc:
            messages.error(request, exc.message)
    else:
        messages.error(request, _("A revocation needs a reason."))
    return redirect("serving:overview")


# --------------------------------------------------------------------------- deployments


@login_required
def deployment_new(request, key: str):
    passport = registry_selectors.passport_get(user=request.user, key=key)
    if not can_deploy(request.user, passport):
        raise PermissionDenied
    form = DeploymentForm(request.POST or None, passport=passport)
    if request.method == "POST" and form.is_valid():
        try:
            deployment = services.deployment_create(actor=request.user, passport=passport, **form.service_kwargs())
            messages.success(request, _("Deployed: the hosts pick it up on their next poll."))
            return redirect("serving:deployment_detail", pk=deployment.pk)
        except DomainError as exc:
            apply_domain_error(form, exc)
    return render(request, "serving/deployment_new.html", {"passport": passport, "form": form},
                  status=400 if form.errors else 200)


@inline_styles  # Plotly injects <style> elements
@login_required
def deployment_detail(request, pk: int):
    deployment = _deployment_or_404(request.user, pk)
    range_key, days = _range(request)
    series = selectors.monitoring_series(deployment=deployment, days=days)
    user = request.user
    operate, brake = guards.operate(user, deployment), guards.brake(user, deployment)
    release = getattr(deployment.version, "release", None)
    thresholds = (release.manifest.get("thresholds") if release else None) or {}
    stop_limit, shares = selectors.stop_limit_shares(deployment)
    hosts = [host for host, _share in shares]
    for host, share in shares:
        host.allowance = share
    return render(request, "serving/deployment_detail.html", {
        "deployment": deployment, "passport": deployment.passport, "hosts": hosts, "stop_limit": stop_limit,
        "release": release, "thresholds": thresholds,
        "challenger_release": getattr(deployment.challenger, "release", None) if deployment.challenger else None,
        "series": series, "charts": monitoring_charts(series, float(thresholds.get("psi", 0.2))),
        "ranges": [(k, label) for k, (label, _d) in RANGES.items()], "range": range_key,
        "can_operate": bool(operate), "can_brake": bool(brake),
        "challenger_form": ChallengerForm(deployment=deployment) if operate else None,
        "reason_form": ReasonForm() if brake else None,
        "incidents": list(deployment.incidents.order_by("-opened_at")[:20]),
        "revisions": list(deployment.revisions.select_related("version").order_by("-pk")[:20]),
        "rollback_to": services.rollback_target(deployment) if brake and not deployment.challenger_id else None,
        "kserve": _kserve_panel(user, deployment),
        "log": selectors.log_digest_summary(deployment),
        "control_plane_url": request.build_absolute_uri("/").rstrip("/"),
    })


def _kserve_panel(user, deployment) -> dict | None:
    """What the page says about rendering for KServe: nothing to people who may not deploy."""
    if not guards.deploy(user, deployment.passport):
        return None
    verdict = guards.deployable(deployment.version)
    return {"refused": "" if verdict else verdict.reason, "available": kserve.available(),
            "install": kserve.INSTALL_COMMAND, "name": kserve.resource_name(deployment),
            "model_name": kserve.model_name(deployment.passport.key)}


@login_required
def deployment_kserve(request, pk: int):
    """The champion's KServe objects as a YAML file; a refusal is a message on the deployment page."""
    deployment = _deployment_or_404(request.user, pk)
    namespace = request.GET.get("namespace", "").strip()
    if namespace and not KSERVE_NAMESPACE.fullmatch(namespace):
        messages.error(request, _("A Kubernetes namespace: lower-case letters, digits and '-', at most 63 "
                                  "characters."))
        return redirect("serving:deployment_detail", pk=pk)
    try:
        rendered = kserve.render_for(request, deployment, namespace=namespace)
    except DomainError as exc:
        if exc.status_code == 403:
            raise PermissionDenied from exc
        messages.error(request, exc.message)
        return redirect("serving:deployment_detail", pk=pk)
    response = HttpResponse(rendered["yaml"], content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{rendered["name"]}-inferenceservice.yaml"'
    return response


def _act(request, obj, run, success: str, back: str):
    """Run one service call on ``obj``; its refusal is a flash message, or a 403 for the person; back to ``back``."""
    try:
        run(obj)
        messages.success(request, success)
    except DomainError as exc:
        if exc.status_code == 403:
            raise PermissionDenied from exc
        messages.error(request, exc.message)
    return redirect(back, pk=obj.pk)


def _deployment_action(request, pk: int, run, success: str):
    return _act(request, _deployment_or_404(request.user, pk), run, success, "serving:deployment_detail")


def _reason(request) -> str:
    form = ReasonForm(request.POST)
    return form.cleaned_data["reason"] if form.is_valid() else ""


@login_required
@require_POST
def deployment_challenger(request, pk: int):
    def run(deployment):
        form = ChallengerForm(request.POST, deployment=deployment)
        if not form.is_valid():
            guards.operate(request.user, deployment).enforce()
            raise DomainError(" ".join(e for errors in form.errors.values() for e in errors))
        services.deployment_challenger_set(actor=request.user, deployment=deployment, **form.cleaned_data)

    return _deployment_action(request, pk, run, _("Challenger set: the hosts pick it up on their next poll."))


@login_required
@require_POST
def deployment_promote(request, pk: int):
    return _deployment_action(
        request, pk, lambda d: services.deployment_promote(actor=request.user, deployment=d),
        _("Challenger promoted: it answers every request from the hosts' next poll."))


@login_required
@require_POST
def deployment_rollback(request, pk: int):
    return _deployment_action(
        request, pk, lambda d: services.deployment_rollback(actor=request.user, deployment=d, reason=_reason(request)),
        _("Rolled back: the hosts switch on their next poll."))


@login_required
@require_POST
def deployment_stop(request, pk: int):
    return _deployment_action(
        request, pk, lambda d: services.deployment_stop(actor=request.user, deployment=d, reason=_reason(request)),
        _("Stopped: the hosts unload it on their next poll."))


# --------------------------------------------------------------------------- the passport's monitoring tab


@inline_styles  # Plotly injects <style> elements
@login_required
def passport_monitoring(request, key: str):
    passport = registry_selectors.passport_get(user=request.user, key=key)
    range_key, days = _range(request)
    series = selectors.monitoring_series(passport=passport, days=days)
    user = request.user
    policy_form = PolicyForm(request.POST or None, initial={"on_alert": alerts.policy_action(passport)})
    may_set_policy = can_brake(user, passport)
    if request.method == "POST":
        if not may_set_policy:
            raise PermissionDenied
        if policy_form.is_valid():
            try:
                alerts.policy_set(actor=user, passport=passport, on_alert=policy_form.cleaned_data["on_alert"])
                messages.success(request, _("Serving policy saved."))
                return redirect("serving:passport_monitoring", key=key)
            except DomainError as exc:
                apply_domain_error(policy_form, exc)
    deployments = list(selectors.deployment_list(user=user, passport=passport)[:20])
    return render(request, "serving/passport_monitoring.html", {
        "passport": passport, "deployments": deployments, "series": series, "charts": monitoring_charts(series),
        "ranges": [(k, label) for k, (label, _d) in RANGES.items()], "range": range_key,
        "incidents": list(selectors.incident_list(user=user, filters={"passport": passport.key})[:20]),
        "policy_form": policy_form if may_set_policy else None, "policy": alerts.policy_action(passport),
        "can_deploy": can_deploy(user, passport),
    }, status=400 if policy_form.errors else 200)


# --------------------------------------------------------------------------- incidents


@login_required
def incident_detail(request, pk: int):
    incident = _incident_or_404(request.user, pk)
    handle = bool(guards.handle_incident(request.user, incident))
    return render(request, "serving/incident_detail.html", {
        "incident": incident, "alerts": list(incident.alerts.select_related("version", "host")),
        "timeline": list(incident.timeline.all()), "can_handle": handle,
        "note_form": NoteForm() if handle else None, "resolution_form": ResolutionForm() if handle else None,
    })


def _incident_action(request, pk: int, run, success: str):
    return _act(request, _incident_or_404(request.user, pk), run, success, "serving:incident_detail")


@login_required
@require_POST
def incident_acknowledge(request, pk: int):
    form = NoteForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    return _incident_action(request, pk, lambda i: alerts.incident_acknowledge(actor=request.user, incident=i,
                                                                               note=note), _("Incident acknowledged."))


@login_required
@require_POST
def incident_resolve(request, pk: int):
    form = ResolutionForm(request.POST)
    resolution = form.cleaned_data["resolution"] if form.is_valid() else ""
    return _incident_action(request, pk, lambda i: alerts.incident_resolve(actor=request.user, incident=i,
                                                                           resolution=resolution),
                            _("Incident resolved."))
