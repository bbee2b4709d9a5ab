"""Serving's reads: deployments and hosts as a person may see them, and each host's desired state.

The desired state is computed at every poll from the deployments and the versions' state now: a version whose
approval was revoked or has expired drops out of it on the next poll, with no separate "withdraw" step to forget.
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone

from core.signing import key_id, public_key_pem
from registry.permissions import restrict_passports
from serving import guards
from serving.agent import manifest as mf
from serving.agent.core import stop_limit_share
from serving.choices import NOT_THE_VERSIONS, DeploymentStatus, ServedRole, Strategy
from serving.models import (
    Deployment,
    EnrolmentToken,
    Host,
    Incident,
    MonitoringWindow,
    PredictionLogDigest,
    Release,
)
from serving.permissions import MANAGE_HOSTS, VIEW_HOSTS


def deployment_list(*, user, passport=None, filters: dict | None = None) -> QuerySet[Deployment]:
    filters = filters or {}
    qs = restrict_passports(Deployment.objects.select_related("passport", "version", "challenger"), user,
                            prefix="passport__")
    if passport is not None:
        qs = qs.filter(passport=passport)
    if status := filters.get("status"):
        qs = qs.filter(status=status)
    if key := filters.get("passport"):
        qs = qs.filter(passport__key=key)
    return qs.prefetch_related("hosts").order_by("-created_at", "-pk")


def log_digest_list(*, deployment: Deployment, host: str | None = None) -> QuerySet[PredictionLogDigest]:
    """The prediction-log files the deployment's hosts reported, oldest first (the caller may see ``deployment``)."""
    qs = PredictionLogDigest.objects.filter(deployment=deployment).select_related("host")
    if host:
        qs = qs.filter(host__name=host)
    return qs.order_by("first_at", "pk")


def log_digest_summary(deployment: Deployment) -> dict:
    """Files, records and the last report of the deployment's prediction log, per host."""
    rows = list(PredictionLogDigest.objects.filter(deployment=deployment).values("host__name")
                .annotate(files=Count("pk"), records=Sum("records"), first_at=Min("first_at"),
                          last_at=Max("last_at"), received_at=Max("received_at")).order_by("host__name"))
    return {"hosts": rows, "files": sum(r["files"] for r in rows), "records": sum(r["records"] for r in rows)}


def host_list(*, user) -> QuerySet[Host]:
    if not user.has_perm(VIEW_HOSTS):
        return Host.objects.none()
    return Host.objects.all().order_by("name")


def enrolment_token_list(*, user) -> QuerySet[EnrolmentToken]:
    """Enrolment tokens (never their secrets) for those who manage hosts; none for anyone else."""
    if not user.has_perm(MANAGE_HOSTS):
        return EnrolmentToken.objects.none()
    return EnrolmentToken.objects.select_related("created_by", "host").order_by("-created_at")


def _release_entry(release: Release, role: str) -> dict:
    files = [
        {"name": mf.ARTIFACT_FILE, "sha256": release.artifact_sha256,
         "url": reverse("agent-release-file", kwargs={"pk": release.pk, "name": mf.ARTIFACT_FILE})},
        {"name": mf.MANIFEST_FILE, "sha256": release.manifest_sha256,
         "url": reverse("agent-release-file", kwargs={"pk": release.pk, "name": mf.MANIFEST_FILE})},
    ]
    return {
        "release": release.pk, "role": role, "version": release.version.number,
        "artifact_sha256": release.artifact_sha256, "manifest_sha256": release.manifest_sha256,
        "signature_sha256": release.signature_sha256, "key_id": release.key_id, "files": files,
        "signature_url": reverse("agent-release-signature", kwargs={"pk": release.pk}),
        "approved_until": release.version.approval_expires_at.isoformat(),
    }


def stop_limit_places(deployment: Deployment) -> list[Host]:
    """The deployment's hosts in the order that gives each its place in the split of the release's daily stop-limit
    (``serving.agent.core.stop_limit_share``). A revoked host keeps its place: cut off from the control plane it may
    still be serving what it had."""
    return sorted(deployment.hosts.all(), key=lambda h: h.pk)


def stop_limit_shares(deployment: Deployment) -> tuple[int, list[tuple[Host, int | None]]]:
    """The champion release's daily stop-limit (0: none) and each host's share of it, as the hosts are told it."""
    release = getattr(deployment.version, "release", None)
    limit = ((release.manifest.get("stop_limits") if release else None) or {}).get("max_decisions_per_day") or 0
    hosts = stop_limit_places(deployment)
    return limit, [(host, stop_limit_share(limit, len(hosts), place) if limit else None)
                   for place, host in enumerate(hosts)]


def version_failures(requests: int, errors: dict) -> tuple[int, int]:
    """Of ``requests`` with ``errors`` by kind: the version's own failures and the requests it was asked to score,
    the refusals that say nothing of it left out of both (``NOT_THE_VERSIONS``). The error-rate alert and the
    pages read the error rate alike from these."""
    refused = sum(errors.get(kind, 0) for kind in NOT_THE_VERSIONS)
    return sum(errors.values()) - refused, requests - refused


def desired_state(host: Host, now=None) -> dict:
    """What ``host`` should serve now: per active deployment, the champion's and challenger's signed releases,
    the strategy and the traffic split. Versions that may no longer be served are left out and named."""
    now = now or timezone.now()
    deployments = (Deployment.objects.filter(hosts=host, status=DeploymentStatus.ACTIVE)
                   .select_related("passport", "version", "challenger").prefetch_related("hosts").order_by("pk"))
    deployments = list(deployments)
    version_ids = {d.version_id for d in deployments} | {d.challenger_id for d in deployments if d.challenger_id}
    releases = {r.version_id: r for r in Release.objects.filter(version_id__in=version_ids).select_related("version")}
    entries = []
    for deployment in deployments:
        served, withdrawn = [], []
        for role, version in ((ServedRole.CHAMPION, deployment.version),
                              (ServedRole.CHALLENGER, deployment.challenger)):
            if version is None:
                continue
            verdict = guards.deployable(version, now)
            release = releases.get(version.pk)
            if not verdict or release is None:
                withdrawn.append({"role": role, "version": version.number,
                                  "reason": verdict.code or "release_missing"})
                continue
            served.append(_release_entry(release, role))
        roles = {entry["role"] for entry in served}
        strategy = deployment.strategy if {ServedRole.CHAMPION, ServedRole.CHALLENGER} <= roles else Strategy.FULL
        if ServedRole.CHAMPION not in roles and served:
            served = []  # a challenger never answers alone: without a servable champion nothing is served
            withdrawn.append({"role": ServedRole.CHALLENGER, "version": deployment.challenger.number,
                              "reason": "champion_withdrawn"})
        # The release's daily stop-limit is the deployment's: its hosts split it (each counts its own decisions and
        # stops at its share), so adding hosts adds no decisions.
        sharing = [h.pk for h in stop_limit_places(deployment)]
        entries.append({
            "deployment": deployment.pk, "passport": deployment.passport.key, "environment": deployment.environment,
            "generation": deployment.generation, "strategy": strategy,
            "canary_percent": deployment.canary_percent if strategy == Strategy.CANARY else 0,
            "releases": served, "withdrawn": withdrawn,
            "stop_limit_hosts": len(sharing), "stop_limit_index": sharing.index(host.pk),
        })
    body = {"host": host.name, "poll_seconds": settings.MG_AGENT_POLL_SECONDS, "key_id": key_id(),
            "deployments": entries}
    body["etag"] = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:32]
    body["public_key_pem"] = public_key_pem()
    return body


def release_for_host(host: Host, pk: int) -> Release | None:
    """The release ``pk`` if it is in ``host``'s desired state now (a host downloads nothing else)."""
    state = desired_state(host)
    wanted = {r["release"] for d in state["deployments"] for r in d["releases"]}
    return Release.objects.select_related("version").filter(pk=pk).first() if pk in wanted else None


def incident_list(*, user, filters: dict | None = None) -> QuerySet[Incident]:
    """Incidents of deployments on passports ``user`` may see; host incidents (no passport) for those who see
    hosts. Newest first; ``status`` and ``passport`` narrow them."""
    filters = filters or {}
    visible = restrict_passports(Incident.objects.filter(passport__isnull=False), user, prefix="passport__")
    qs = Incident.objects.filter(pk__in=visible.values("pk"))
    if user.has_perm(VIEW_HOSTS):
        qs = Incident.objects.filter(Q(pk__in=visible.values("pk")) | Q(passport__isnull=True))
    if status := filters.get("status"):
        qs = qs.filter(status=status)
    if key := filters.get("passport"):
        qs = qs.filter(passport__key=key)
    return qs.select_related("passport", "deployment", "host", "acknowledged_by", "resolved_by").order_by(
        "-opened_at", "-pk")


# --------------------------------------------------------------------------- monitoring


def _json_series(rows) -> tuple[dict, dict]:
    """Per-feature worst PSI and errors by kind per bucket, from (bucket, psi, errors) tuples."""
    per_feature: dict[str, dict] = {}
    by_kind: dict[str, dict] = {}
    for bucket, psi, errors in rows:
        key = bucket.isoformat()
        for feature, value in (psi or {}).items():
            slot = per_feature.setdefault(feature, {})
            if value is not None and value > slot.get(key, -1.0):
                slot[key] = value
        for kind, count in (errors or {}).items():
            slot = by_kind.setdefault(kind, {})
            slot[key] = slot.get(key, 0) + count
    return per_feature, by_kind


DRIFT_MINIMUM = mf.Thresholds().min_window_requests


def release_thresholds(version_ids) -> dict[int, dict]:
    """Per version: the monitoring thresholds of its signed release (only that key of the manifest is read; a
    version without a release gets ``{}``, so the defaults apply). The alerts and ``drift_minimums`` read them
    here, in one query for any number of versions."""
    wanted = set(version_ids)
    found = dict(Release.objects.filter(version_id__in=wanted).values_list("version_id", "manifest__thresholds"))
    return {pk: found.get(pk) or {} for pk in wanted}


def drift_minimums(version_ids) -> dict[int, int]:
    """Per version: the fewest requests a monitoring window needs for its PSI to count, from the thresholds in the
    version's signed release (PSI over a handful of requests says nothing about drift). The alerts, the hourly
    sums and the charts all apply it, so a chart never shows drift that raised no alert."""
    return {pk: int(found.get("min_window_requests", DRIFT_MINIMUM))
            for pk, found in release_thresholds(version_ids).items()}


def monitoring_series(*, passport=None, deployment=None, days: float = 1.0, now=None) -> dict:
    """Monitoring of a passport (every deployment) or one deployment over the last ``days``: up to a day one point
    a minute from the windows, beyond it one point an hour from the hourly sums the ingest keeps
    (``MonitoringHour``), so 30 days read 720 rows a host, not 43,200. Aggregated in the database: traffic,
    errors, latency (mean p50, worst p95 and p99), worst feature PSI and score PSI; per-feature PSI and errors by
    kind come from the rows' JSON, read once as tuples. PSI counts only windows with enough requests
    (``drift_minimums``; the hourly sums keep only those). Returns plain lists for the charts and the summary,
    ``gaps`` (moments inside stretches without windows, where the charts break their lines) and
    ``drift_minimum``."""
    from django.db.models import Avg, Case, Count, F, Max, Min, Sum, When
    from django.db.models.functions import TruncMinute

    now = now or timezone.now()
    since = now - timezone.timedelta(days=days)
    scope = {"deployment": deployment} if deployment is not None else {"passport": passport}
    if days <= 1:
        qs = MonitoringWindow.objects.filter(started_at__gte=since, **scope).annotate(bucket=TruncMinute("started_at"))
        minimums = drift_minimums(qs.values_list("version_id", flat=True).distinct())
        enough = Q(pk=None)  # true of no window: what is left with no version in range
        for version_id, least in minimums.items():
            enough |= Q(version_id=version_id, requests__gte=least)
        counted = qs.annotate(counted_psi=Case(When(enough, then=F("max_feature_psi"))),
                              counted_score_psi=Case(When(enough, then=F("score_psi"))))
        rows = list(counted.values("bucket").order_by("bucket").annotate(
            requests=Sum("requests"), errors=Sum("error_count"), p50=Avg("latency_p50_ms"),
            p95=Max("latency_p95_ms"), p99=Max("latency_p99_ms"), psi=Max("counted_psi"),
            score_psi=Max("counted_score_psi"), windows=Count("pk"), first=Min("started_at"), last=Max("ended_at")))
        per_feature, by_kind = _json_series(
            (bucket, psi if requests >= minimums[version_id] else None, errors)
            for bucket, psi, errors, version_id, requests in qs.values_list("bucket", "psi", "errors", "version_id",
                                                                            "requests"))
        bucket = "minute"
        # Windows follow one another end to start; two minutes without one (an agent down, windows not yet
        # delivered) is a gap in the lines, not a slope across it.
        gaps = [a["last"] for a, b in zip(rows, rows[1:], strict=False)
                if b["first"] - a["last"] > timezone.timedelta(minutes=2)]
    else:
        from serving.models import MonitoringHour

        qs = MonitoringHour.objects.filter(hour__gte=since.replace(minute=0, second=0, microsecond=0), **scope)
        rows = list(qs.values("hour").order_by("hour").annotate(
            bucket=F("hour"), requests=Sum("requests"), errors=Sum("error_count"), p50_total=Sum("p50_total"),
            p50_count=Sum("p50_count"), p95=Max("p95_max"), p99=Max("p99_max"), psi=Max("max_feature_psi"),
            score_psi=Max("score_psi"), windows=Sum("windows")))
        for row in rows:
            row["p50"] = row["p50_total"] / row["p50_count"] if row["p50_count"] else None
        per_feature, by_kind = _json_series(qs.values_list("hour", "psi", "errors"))
        minimums = drift_minimums(qs.values_list("deployment__version_id", flat=True).distinct())
        bucket = "hour"
        gaps = [a["bucket"] + timezone.timedelta(hours=1) for a, b in zip(rows, rows[1:], strict=False)
                if b["bucket"] - a["bucket"] > timezone.timedelta(hours=2)]
    total = sum(r["requests"] or 0 for r in rows)
    failed = sum(r["errors"] or 0 for r in rows)
    own, scored = version_failures(total, {kind: sum(points.values()) for kind, points in by_kind.items()})
    return {
        "x": [r["bucket"].isoformat() for r in rows],
        "requests": [r["requests"] or 0 for r in rows],
        "errors": [r["errors"] or 0 for r in rows],
        "p50": [r["p50"] for r in rows], "p95": [r["p95"] for r in rows], "p99": [r["p99"] for r in rows],
        "psi": [r["psi"] for r in rows], "score_psi": [r["score_psi"] for r in rows],
        "per_feature": per_feature, "errors_by_kind": by_kind, "gaps": [g.isoformat() for g in gaps],
        "drift_minimum": min(minimums.values(), default=DRIFT_MINIMUM),
        "summary": {"requests": total, "errors": failed, "refused": failed - own, "version_errors": own,
                    "error_rate": own / scored if scored > 0 else None,
                    "error_pct": 100.0 * own / scored if scored > 0 else None,
                    "p95": max((r["p95"] for r in rows if r["p95"] is not None), default=None),
                    "psi": max((r["psi"] for r in rows if r["psi"] is not None), default=None),
                    "score_psi": max((r["score_psi"] for r in rows if r["score_psi"] is not None), default=None),
                    "windows": sum(r["windows"] or 0 for r in rows)},
        "bucket": bucket,
    }


def serving_health(passport_ids) -> dict[int, dict]:
    """Per passport: active deployments, open incidents and the served version numbers (for the portfolio and
    the passport page), in three grouped queries."""
    from django.db.models import Count

    health = {pk: {"deployments": 0, "incidents": 0, "versions": []} for pk in passport_ids}
    for row in (Deployment.objects.filter(passport_id__in=passport_ids, status=DeploymentStatus.ACTIVE)
                .values("passport_id", "version__number")):
        health[row["passport_id"]]["deployments"] += 1
        health[row["passport_id"]]["versions"].append(row["version__number"])
    for row in (Incident.objects.filter(passport_id__in=passport_ids, status__in=["open", "acknowledged"])
                .values("passport_id").annotate(n=Count("pk"))):
        health[row["passport_id"]]["incidents"] = row["n"]
    return health
