"""Serving's writes: enrolment tokens and hosts, deployments (create, challenger, promote, roll back, stop), and
what the hosts report (heartbeats, monitoring windows, prediction-log digests).

Every change a person makes appends its audit event in the same transaction; a host acts as the system actor
``host <name>``. Deployments lock the passport row first, like every write on a passport (registry's lock order).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor, SystemActor
from core.errors import Conflict, DomainError, validate_model
from governance.audit.services import audit_append
from registry.models import ModelPassport, ModelVersion
from registry.services import lock_passport
from serving import guards
from serving.choices import DeploymentStatus, Environment, Strategy
from serving.models import (
    Deployment,
    DeploymentRevision,
    EnrolmentToken,
    Host,
    MonitoringHour,
    MonitoringWindow,
    PredictionLogDigest,
)

ENROLMENT_PREFIX = "mge_"  # noqa: S105  (markers, not secrets)
HOST_PREFIX = "mgh_"  # noqa: S105
MAX_WINDOWS_PER_CALL = 500
MAX_DIGESTS_PER_CALL = 500


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _key(value, length: int) -> str:
    """A name that comes from a host or a client as a JSON key: control characters (NUL...) dropped, bounded."""
    return _CONTROL.sub("", str(value))[:length]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret(marker: str) -> tuple[str, str]:
    prefix = secrets.token_hex(6)
    return prefix, f"{marker}{prefix}_{secrets.token_urlsafe(32)}"


def _split(raw: str, marker: str) -> str | None:
    if not isinstance(raw, str) or not raw.startswith(marker):
        return None
    parts = raw[len(marker):].split("_", 1)
    return parts[0] if len(parts) == 2 and parts[0] and parts[1] else None


def host_actor(host: Host) -> SystemActor:
    return SystemActor(f"host {host.name}")


# --------------------------------------------------------------------------- enrolment and hosts


@transaction.atomic
def enrolment_token_create(*, actor: Actor, name: str, ttl_hours: int | None = None) -> tuple[EnrolmentToken, str]:
    """An administrator's one-time token for one host; returns the row and the secret (shown once, stored hashed)."""
    guards.manage_hosts(actor).enforce()
    name = (name or "").strip()
    if not name:
        raise DomainError(_("An enrolment token needs a name."), code="required", field="name")
    ttl = settings.MG_ENROLMENT_TOKEN_TTL_HOURS if ttl_hours is None else ttl_hours
    if not 1 <= ttl <= 24 * 30:
        raise DomainError(_("An enrolment token lives between 1 hour and 30 days."), code="invalid", field="ttl_hours")
    prefix, raw = _new_secret(ENROLMENT_PREFIX)
    token = EnrolmentToken(name=name[:100], prefix=prefix, key_hash=_hash(raw), created_by=actor,
                           expires_at=timezone.now() + timedelta(hours=ttl))
    validate_model(token)
    token.save(force_insert=True)
    audit_append(actor=actor, action="host.enrolment_token_created", obj=token,
                 data={"name": token.name, "expires_at": token.expires_at.isoformat()})
    return token, raw


_FACTS = ("address", "gpu_model", "gpu_memory_mb", "provider", "agent_version")


def _clean_facts(facts: dict) -> dict:
    cleaned = {k: facts[k] for k in _FACTS if facts.get(k) not in (None, "")}
    for key in ("address", "gpu_model", "provider", "agent_version"):
        if key in cleaned:
            cleaned[key] = str(cleaned[key])[:Host._meta.get_field(key).max_length]
    if "labels" in facts and isinstance(facts["labels"], dict):
        cleaned["labels"] = {_key(k, 100): _key(v, 200) for k, v in list(facts["labels"].items())[:50]}
    return cleaned


# How long after its enrolment a host that was never heard from may ask again with the same request id.
ENROL_REPEAT_WINDOW = timedelta(minutes=10)


def _repeated_enrolment(token: EnrolmentToken, name: str, request_id: str | None) -> tuple[Host, str] | None:
    """The same agent asking again because the first answer never reached it (a timeout under load, a crash
    between sending and saving): same token, same request id, same name, within the window, and the host never
    heard from since. The host gets a fresh token; the lost one stops working. Anything else: None."""
    host = token.host
    if (not request_id or not token.request_hash or host is None
            or not secrets.compare_digest(token.request_hash, _hash(request_id))
            or (name or "").strip() != host.name or not host.is_active or host.last_heartbeat_at is not None
            or timezone.now() - token.used_at > ENROL_REPEAT_WINDOW):
        return None
    host = Host.objects.select_for_update().get(pk=host.pk)
    if host.last_heartbeat_at is not None or not host.is_active:  # heard from (or revoked) while we waited
        return None
    raw = _host_token_new(host)
    audit_append(actor=host_actor(host), action="host.enrolment_repeated", obj=host,
                 data={"enrolment_token": token.prefix})
    return host, raw


def _host_token_new(host: Host, **changes) -> str:
    """A new token for a locked ``host`` (its hash stored, the old one dead); the raw token is returned once."""
    prefix, raw = _new_secret(HOST_PREFIX)
    host.token_prefix, host.token_hash = prefix, _hash(raw)
    for field, value in changes.items():
        setattr(host, field, value)
    host.save(update_fields=["token_prefix", "token_hash", *changes])
    return raw


@transaction.atomic
def host_enrol(*, enrolment_token: str, name: str, facts: dict, request_id: str | None = None) -> tuple[Host, str]:
    """Spend a one-time enrolment token: the host is recorded and gets its own token (returned once). The same
    agent asking again with the same ``request_id``, its first answer lost, gets a fresh one
    (``_repeated_enrolment``)."""
    prefix = _split(enrolment_token, ENROLMENT_PREFIX)
    token = (EnrolmentToken.objects.select_for_update().filter(prefix=prefix).first() if prefix else None)
    if token is None or not secrets.compare_digest(token.key_hash, _hash(enrolment_token)):
        raise DomainError(_("The enrolment token is not valid."), code="invalid_enrolment_token", field="token")
    if token.used_at is not None:
        repeated = _repeated_enrolment(token, name, request_id)
        if repeated is not None:
            return repeated
        raise Conflict(_("The enrolment token was already used: ask an administrator for a new one."),
                       code="enrolment_token_used")
    if token.expires_at <= timezone.now():
        raise Conflict(_("The enrolment token expired: ask an administrator for a new one."),
                       code="enrolment_token_expired")
    name = (name or "").strip()
    if not name:
        raise DomainError(_("A host needs a name."), code="required", field="name")
    if Host.objects.filter(name=name).exists():
        raise Conflict(_("A host named '%(name)s' is already enrolled.") % {"name": name}, code="duplicate",
                       details={"field": "name"})
    host_prefix, raw = _new_secret(HOST_PREFIX)
    facts = _clean_facts(facts)
    host = Host(name=name, token_prefix=host_prefix, token_hash=_hash(raw), **facts)
    validate_model(host)
    host.save(force_insert=True)
    token.used_at, token.host = timezone.now(), host
    token.request_hash = _hash(request_id) if request_id else ""
    token.save(update_fields=["used_at", "host", "request_hash"])
    audit_append(actor=host_actor(host), action="host.enrolled", obj=host,
                 data={"enrolment_token": token.prefix, "created_by": token.created_by.get_username(),
                       **{k: v for k, v in facts.items() if k != "labels"}})
    return host, raw


def host_authenticate(raw: str) -> Host | None:
    """The active host whose token is ``raw``, or None (hashes compared in constant time)."""
    prefix = _split(raw, HOST_PREFIX)
    if prefix is None:
        return None
    host = Host.objects.filter(token_prefix=prefix).first()
    if host is None or not secrets.compare_digest(host.token_hash, _hash(raw)) or not host.is_active:
        return None
    return host


@transaction.atomic
def host_token_rotate(*, host: Host) -> str:
    """The host replaces its own token: the old one stops working now; returns the new one (shown once)."""
    host = Host.objects.select_for_update().get(pk=host.pk)
    raw = _host_token_new(host, token_rotated_at=timezone.now())
    audit_append(actor=host_actor(host), action="host.token_rotated", obj=host, data={})
    return raw


@transaction.atomic
def host_revoke(*, actor: Actor, host: Host, reason: str) -> Host:
    """An administrator revokes a host: its token stops working and it leaves every deployment's desired state."""
    guards.manage_hosts(actor).enforce()
    host = Host.objects.select_for_update().get(pk=host.pk)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("A revocation needs a reason."), code="required", field="reason")
    if host.revoked_at is not None:
        raise Conflict(_("The host is already revoked."), code="already_revoked")
    host.revoked_at, host.revoked_reason = timezone.now(), reason
    host.save(update_fields=["revoked_at", "revoked_reason"])
    audit_append(actor=actor, action="host.revoked", obj=host, data={"reason": reason})
    return host


@transaction.atomic
def host_update(*, actor: Actor, host: Host, **changes) -> Host:
    """An administrator sets a host's cost per hour, currency and labels."""
    guards.manage_hosts(actor).enforce()
    host = Host.objects.select_for_update().get(pk=host.pk)
    before = {}
    if "cost_per_hour" in changes:
        try:
            cost = Decimal(str(changes["cost_per_hour"]))
        except (InvalidOperation, ValueError):
            cost = Decimal(-1)
        if not cost.is_finite() or cost < 0:
            raise DomainError(_("The cost per hour must be a number of at least 0."), code="invalid",
                              field="cost_per_hour")
        before["cost_per_hour"], host.cost_per_hour = str(host.cost_per_hour), cost
    if "currency" in changes:
        currency = str(changes["currency"]).upper()
        if len(currency) != 3 or not currency.isalpha():
            raise DomainError(_("A currency is a three-letter ISO 4217 code."), code="invalid", field="currency")
        before["currency"], host.currency = host.currency, currency
    if "labels" in changes:
        if not isinstance(changes["labels"], dict):
            raise DomainError(_("Labels are an object of names and values."), code="invalid", field="labels")
        before["labels"], host.labels = host.labels, _clean_facts({"labels": changes["labels"]}).get("labels", {})
    validate_model(host)
    host.save()
    audit_append(actor=actor, action="host.updated", obj=host,
                 data={"before": before, "after": {k: str(getattr(host, k)) if k == "cost_per_hour"
                                                   else getattr(host, k) for k in before}})
    return host


def host_heartbeat(*, host: Host, facts: dict, status: dict) -> Host:
    """Record that ``host`` is alive, what it runs on, and what it reports (serving state, problems)."""
    fields = _clean_facts(facts)
    problems = status.get("problems") if isinstance(status, dict) else None
    report = {
        "serving": status.get("serving", []) if isinstance(status, dict) else [],
        "problems": problems if isinstance(problems, list) else [],
    }
    Host.objects.filter(pk=host.pk).update(last_heartbeat_at=timezone.now(), status=report, **fields)
    host.refresh_from_db()
    return host


# --------------------------------------------------------------------------- deployments


def _version_of(passport: ModelPassport, version: ModelVersion | int | None, field: str) -> ModelVersion:
    if isinstance(version, ModelVersion):
        if version.passport_id != passport.pk:
            raise DomainError(_("The version belongs to another passport."), code="invalid", field=field)
        return ModelVersion.objects.get(pk=version.pk)
    found = ModelVersion.objects.filter(passport=passport, number=version).first()
    if found is None:
        raise DomainError(_("The passport has no version %(n)s.") % {"n": version}, code="not_found", field=field)
    return found


def _clean_hosts(hosts) -> list[Host]:
    ids = [h.pk if isinstance(h, Host) else h for h in hosts or []]
    if not ids:
        raise DomainError(_("A deployment needs at least one host."), code="required", field="hosts")
    found = {h.pk: h for h in Host.objects.filter(pk__in=ids)}
    unknown = [i for i in ids if i not in found]
    if unknown:
        raise DomainError(_("Unknown hosts: %(ids)s.") % {"ids": ", ".join(map(str, unknown))}, code="not_found",
                          field="hosts")
    revoked = [h.name for h in found.values() if h.revoked_at is not None]
    if revoked:
        raise DomainError(_("Revoked hosts cannot serve: %(names)s.") % {"names": ", ".join(sorted(revoked))},
                          code="host_revoked", field="hosts")
    return list(found.values())


def _check_strategy(strategy: str, challenger, canary_percent: int) -> None:
    if strategy not in Strategy.values:
        raise DomainError(_("Unknown strategy '%(s)s'. Valid: %(valid)s.")
                          % {"s": strategy, "valid": ", ".join(Strategy.values)}, code="invalid", field="strategy")
    if strategy == Strategy.FULL and challenger is not None:
        raise DomainError(_("A full deployment has no challenger: use canary or shadow."), code="invalid",
                          field="challenger")
    if strategy != Strategy.FULL and challenger is None:
        raise DomainError(_("A %(s)s deployment needs a challenger version.") % {"s": strategy}, code="required",
                          field="challenger")
    if strategy == Strategy.CANARY and not 1 <= canary_percent <= 50:
        raise DomainError(_("A canary takes between 1% and 50% of the requests."), code="invalid",
                          field="canary_percent")


def needs_two_hosts(passport, environment: str) -> bool:
    """Tier 1 in production is served by at least 2 hosts (or replicas), for fault tolerance."""
    return passport.risk_tier == 1 and environment == Environment.PRODUCTION


def _require_hosts_for_tier(passport, environment: str, hosts: list[Host]) -> None:
    if needs_two_hosts(passport, environment) and len(hosts) < 2:
        raise DomainError(_("A tier-1 model in production is served by at least 2 hosts, for fault tolerance."),
                          code="too_few_hosts", field="hosts")


def _clean_personal_columns(version: ModelVersion, columns) -> list[str]:
    columns = list(columns or [])
    names = {f["name"] for f in (version.feature_schema or {}).get("features", [])}
    unknown = sorted({str(c) for c in columns} - names)
    if unknown:
        raise DomainError(_("Personal-data columns must be features of the version: %(names)s are not.")
                          % {"names": ", ".join(unknown)}, code="invalid", field="personal_data_columns")
    return sorted({str(c) for c in columns})


def build_releases(*versions: ModelVersion, personal_data_columns: list[str] | None = None) -> None:
    """Sign the releases a deployment will point at before its transaction (building writes files, takes seconds
    the first time and nothing after)."""
    from serving.releases import release_build

    for version in versions:
        if version is not None and guards.deployable(version):
            release_build(version, personal_data_columns=personal_data_columns)


def _audit(actor, action: str, deployment: Deployment, **data) -> None:
    audit_append(actor=actor, action=action, obj=deployment, passport_key=deployment.passport.key,
                 digests={"artifact_sha256": deployment.version.sha256,
                          **({"challenger_sha256": deployment.challenger.sha256} if deployment.challenger else {})},
                 data={"environment": deployment.environment, "strategy": deployment.strategy,
                       "version": deployment.version.number,
                       "challenger": deployment.challenger.number if deployment.challenger else None,
                       "canary_percent": deployment.canary_percent, "generation": deployment.generation,
                       "hosts": sorted(deployment.hosts.values_list("name", flat=True)), **data})


def _require_no_active(passport, environment: str) -> None:
    if Deployment.objects.filter(passport=passport, environment=environment, status=DeploymentStatus.ACTIVE).exists():
        raise Conflict(_("The passport already has an active %(env)s deployment: change it (challenger, promote, "
                         "roll back) or stop it first.") % {"env": environment}, code="deployment_exists")


def deployment_create(*, actor: Actor, passport: ModelPassport, version, hosts, environment: str = "production",
                      strategy: str = "full", challenger=None, canary_percent: int = 0,
                      personal_data_columns=None) -> Deployment:
    """Deploy an approved, unexpired, unrevoked version (and challenger) of ``passport`` to ``hosts``."""
    guards.deploy(actor, passport).enforce()
    version = _version_of(passport, version, "version")
    challenger = _version_of(passport, challenger, "challenger") if challenger is not None else None
    if environment not in Environment.values:
        raise DomainError(_("Unknown environment '%(e)s'. Valid: %(valid)s.")
                          % {"e": environment, "valid": ", ".join(Environment.values)}, code="invalid",
                          field="environment")
    _check_strategy(strategy, challenger, canary_percent)
    if challenger is not None and challenger.pk == version.pk:
        raise DomainError(_("The challenger must be another version than the champion."), code="invalid",
                          field="challenger")
    for candidate in (version, challenger):
        if candidate is not None:
            guards.deployable(candidate).enforce()
    host_rows = _clean_hosts(hosts)
    _require_hosts_for_tier(passport, environment, host_rows)
    columns = _clean_personal_columns(version, personal_data_columns)
    _require_no_active(passport, environment)
    build_releases(version, challenger, personal_data_columns=columns)
    with transaction.atomic():
        passport = lock_passport(passport.pk)
        for candidate in (version, challenger):  # re-read under the passport lock: a revocation may have landed
            if candidate is not None:
                candidate.refresh_from_db()
                guards.deployable(candidate).enforce()
        _require_no_active(passport, environment)
        deployment = Deployment(passport=passport, version=version, challenger=challenger, strategy=strategy,
                                canary_percent=canary_percent if strategy == Strategy.CANARY else 0,
                                environment=environment, personal_data_columns=columns, created_by=actor)
        validate_model(deployment)
        try:
            with transaction.atomic():
                deployment.save(force_insert=True)
        except IntegrityError:
            raise Conflict(_("The passport already has an active %(env)s deployment.") % {"env": environment},
                           code="deployment_exists") from None
        deployment.hosts.set(host_rows)
        DeploymentRevision.objects.create(deployment=deployment, version=version, reason="created")
        _audit(actor, "deployment.created", deployment)
    return deployment


def _lock(deployment: Deployment) -> Deployment:
    lock_passport(deployment.passport_id)
    return Deployment.objects.select_for_update(of=("self",)).select_related(
        "passport", "version", "challenger").get(pk=deployment.pk)


def _bump(deployment: Deployment, fields: list[str]) -> None:
    deployment.generation += 1
    deployment.updated_at = timezone.now()
    deployment.save(update_fields=[*fields, "generation", "updated_at"])


def deployment_challenger_set(*, actor: Actor, deployment: Deployment, version, strategy: str,
                              canary_percent: int = 0) -> Deployment:
    """Put a challenger beside the champion, as a canary (a share of requests) or a shadow (a copy of each)."""
    guards.operate(actor, deployment).enforce()
    challenger = _version_of(deployment.passport, version, "version")
    if strategy == Strategy.FULL:
        raise DomainError(_("A challenger runs as canary or shadow."), code="invalid", field="strategy")
    _check_strategy(strategy, challenger, canary_percent)
    guards.deployable(challenger).enforce()
    build_releases(challenger, personal_data_columns=deployment.personal_data_columns)
    with transaction.atomic():
        deployment = _lock(deployment)
        guards.operate(actor, deployment).enforce()
        challenger.refresh_from_db()
        guards.deployable(challenger).enforce()
        if challenger.pk == deployment.version_id:
            raise DomainError(_("The challenger must be another version than the champion."), code="invalid",
                              field="version")
        previous = deployment.challenger.number if deployment.challenger else None
        deployment.challenger, deployment.strategy = challenger, strategy
        deployment.canary_percent = canary_percent if strategy == Strategy.CANARY else 0
        _bump(deployment, ["challenger", "strategy", "canary_percent"])
        _audit(actor, "deployment.challenger_set", deployment, previous_challenger=previous)
    return deployment


def deployment_promote(*, actor: Actor, deployment: Deployment) -> Deployment:
    """The challenger becomes the champion and answers every request."""
    guards.operate(actor, deployment).enforce()
    with transaction.atomic():
        deployment = _lock(deployment)
        guards.operate(actor, deployment).enforce()
        if deployment.challenger is None:
            raise Conflict(_("The deployment has no challenger to promote."), code="no_challenger")
        guards.deployable(deployment.challenger).enforce()
        previous = deployment.version
        deployment.version, deployment.challenger = deployment.challenger, None
        deployment.strategy, deployment.canary_percent = Strategy.FULL, 0
        _bump(deployment, ["version", "challenger", "strategy", "canary_percent"])
        DeploymentRevision.objects.create(deployment=deployment, version=deployment.version, reason="promoted")
        _audit(actor, "deployment.promoted", deployment, previous_version=previous.number)
    return deployment


def rollback_target(deployment: Deployment) -> ModelVersion | None:
    """The version to go back to: the latest champion this deployment served before, numbered below the current
    one and still servable, else the newest servable version of the passport below the current; None if none."""
    current = deployment.version.number
    for revision in deployment.revisions.select_related("version").filter(
            version__number__lt=current).order_by("-pk"):
        if guards.deployable(revision.version):
            return revision.version
    for candidate in ModelVersion.objects.filter(passport_id=deployment.passport_id,
                                                 number__lt=current).order_by("-number"):
        if guards.deployable(candidate):
            return candidate
    return None


def _brake(actor, deployment, by_policy: bool):
    """A person's brake, or the passport's serving policy acting as the system (``by_policy``)."""
    if by_policy:
        if not isinstance(actor, SystemActor):
            raise TypeError("only the platform acts by policy")
        return guards.active(deployment)
    return guards.brake(actor, deployment)


def deployment_rollback(*, actor: Actor, deployment: Deployment, reason: str, by_policy: bool = False) -> Deployment:
    """With a challenger: withdraw it (the champion keeps answering). Without: serve the previous approved
    version again. Reaches the hosts on their next poll."""
    _brake(actor, deployment, by_policy).enforce()
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("A rollback needs a reason."), code="required", field="reason")
    if deployment.challenger_id is None:  # the version gone back to is signed before the hosts are told about it
        build_releases(rollback_target(deployment), personal_data_columns=deployment.personal_data_columns)
    with transaction.atomic():
        deployment = _lock(deployment)
        _brake(actor, deployment, by_policy).enforce()
        if deployment.challenger is not None:
            withdrawn = deployment.challenger.number
            deployment.challenger, deployment.strategy, deployment.canary_percent = None, Strategy.FULL, 0
            _bump(deployment, ["challenger", "strategy", "canary_percent"])
            _audit(actor, "deployment.rolled_back", deployment, reason=reason, withdrawn_challenger=withdrawn)
            return deployment
        target = rollback_target(deployment)
        if target is None:
            raise Conflict(_("There is no earlier approved, unexpired version to roll back to: stop the deployment "
                             "instead."), code="no_rollback_target")
        previous = deployment.version.number
        deployment.version = target
        _bump(deployment, ["version"])
        DeploymentRevision.objects.create(deployment=deployment, version=target, reason="rolled_back")
        _audit(actor, "deployment.rolled_back", deployment, reason=reason, previous_version=previous)
    return deployment


def deployment_stop(*, actor: Actor, deployment: Deployment, reason: str, by_policy: bool = False) -> Deployment:
    """Stop serving: the hosts unload the deployment on their next poll."""
    _brake(actor, deployment, by_policy).enforce()
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Stopping a deployment needs a reason."), code="required", field="reason")
    with transaction.atomic():
        deployment = _lock(deployment)
        _brake(actor, deployment, by_policy).enforce()
        deployment.status, deployment.stopped_at, deployment.stop_reason = (
            DeploymentStatus.STOPPED, timezone.now(), reason)
        _bump(deployment, ["status", "stopped_at", "stop_reason"])
        _audit(actor, "deployment.stopped", deployment, reason=reason)
    return deployment


# --------------------------------------------------------------------------- what hosts report


def _when(value, field: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise DomainError(_("'%(field)s' is not an ISO 8601 time.") % {"field": field}, code="invalid",
                              field=field) from None
    if timezone.is_naive(parsed):
        raise DomainError(_("'%(field)s' needs a time zone.") % {"field": field}, code="invalid", field=field)
    return parsed


@dataclass(frozen=True)
class WindowsReceived:
    received: int
    stored: int
    duplicates: int
    fresh: list  # the windows stored by this call, for the alert checks

    def counts(self) -> dict:
        return {"received": self.received, "stored": self.stored, "duplicates": self.duplicates}


def windows_ingest(*, host: Host, windows: list[dict]) -> WindowsReceived:
    """Store monitoring windows of deployments this host serves; a window already stored (same host, deployment
    and sequence) is skipped, so an agent may deliver again after any failure. Returns the counts."""
    if len(windows) > MAX_WINDOWS_PER_CALL:
        raise DomainError(_("At most %(n)s windows per call.") % {"n": MAX_WINDOWS_PER_CALL}, code="too_many",
                          field="windows")
    served = {d.pk: d for d in Deployment.objects.filter(hosts=host)}
    rows, versions = [], {}
    for index, window in enumerate(windows):
        deployment = served.get(window["deployment"])
        if deployment is None:
            raise DomainError(_("Window %(i)s: this host does not serve deployment %(d)s.")
                              % {"i": index, "d": window["deployment"]}, code="not_served",
                              field=f"windows[{index}].deployment")
        version_key = (deployment.passport_id, window["version"])
        if version_key not in versions:
            versions[version_key] = ModelVersion.objects.filter(passport_id=deployment.passport_id,
                                                                number=window["version"]).first()
        version = versions[version_key]
        if version is None:
            raise DomainError(_("Window %(i)s: the passport has no version %(n)s.")
                              % {"i": index, "n": window["version"]}, code="not_found",
                              field=f"windows[{index}].version")
        started, ended = _when(window["started_at"], "started_at"), _when(window["ended_at"], "ended_at")
        if ended <= started:
            raise DomainError(_("Window %(i)s ends before it starts.") % {"i": index}, code="invalid",
                              field=f"windows[{index}].ended_at")
        psi = {_key(k, 200): float(v) for k, v in (window.get("psi") or {}).items() if v is not None}
        errors = {_key(k, 50): int(v) for k, v in (window.get("errors") or {}).items()}
        if sum(errors.values()) > window.get("requests", 0):  # every refusal is a request the window counted
            raise DomainError(_("Window %(i)s counts more errors than requests.") % {"i": index}, code="invalid",
                              field=f"windows[{index}].errors")
        rows.append(MonitoringWindow(
            host=host, deployment=deployment, passport_id=deployment.passport_id, version=version,
            role=window.get("role") or "champion", sequence=window["sequence"], started_at=started, ended_at=ended,
            requests=window.get("requests", 0), predictions=window.get("predictions", 0), errors=errors,
            error_count=sum(errors.values()), latency_p50_ms=window.get("latency_p50_ms"),
            latency_p95_ms=window.get("latency_p95_ms"), latency_p99_ms=window.get("latency_p99_ms"), psi=psi,
            max_feature_psi=max(psi.values()) if psi else None, score_psi=window.get("score_psi"),
            shadow_disagreement=window.get("shadow_disagreement")))
    with transaction.atomic():
        # The host's hour rows first, locked in a fixed order: a second delivery of the same windows (a retry
        # racing the original) waits here, then finds them stored, so neither the windows nor the hourly sums
        # count twice.
        hours = _lock_hours(host, {(r.deployment_id, r.passport_id, hour_of(r.started_at)) for r in rows})
        keys = {(r.deployment_id, r.sequence) for r in rows}
        existing = set(MonitoringWindow.objects.filter(
            host=host, deployment_id__in={k[0] for k in keys}, sequence__in={k[1] for k in keys},
        ).values_list("deployment_id", "sequence"))
        fresh, seen = [], set(existing)
        for row in rows:
            key = (row.deployment_id, row.sequence)
            if key not in seen:
                seen.add(key)
                fresh.append(row)
        MonitoringWindow.objects.bulk_create(fresh)
        hours_add(hours, fresh)
        for hour in hours.values():
            hour.save()
    return WindowsReceived(received=len(rows), stored=len(fresh), duplicates=len(rows) - len(fresh), fresh=fresh)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _lock_hours(host: Host, keys: set[tuple[int, int, datetime]]) -> dict:
    hours = {}
    for deployment_id, passport_id, hour in sorted(keys):
        row = MonitoringHour.objects.select_for_update().filter(deployment_id=deployment_id, host=host,
                                                                hour=hour).first()
        if row is None:
            try:
                with transaction.atomic():
                    row = MonitoringHour.objects.create(deployment_id=deployment_id, host=host,
                                                        passport_id=passport_id, hour=hour)
            except IntegrityError:  # another delivery made it first: wait for it, then add to it
                row = MonitoringHour.objects.select_for_update().get(deployment_id=deployment_id, host=host,
                                                                     hour=hour)
        hours[(deployment_id, hour)] = row
    return hours


def _max(a, b):
    return b if a is None else (a if b is None else max(a, b))


def hours_add(hours: dict, windows: list[MonitoringWindow]) -> None:
    """Add ``windows`` to their hour rows (``hours`` keyed by (deployment id, hour)), in memory; the PSI of a window
    with too few requests (``selectors.drift_minimums``) is left out, as the alerts leave it."""
    from serving.selectors import drift_minimums

    minimums = drift_minimums({window.version_id for window in windows})
    for window in windows:
        hour = hours[(window.deployment_id, hour_of(window.started_at))]
        hour.windows += 1
        hour.requests += window.requests
        hour.predictions += window.predictions
        hour.error_count += window.error_count
        for kind, count in window.errors.items():
            hour.errors[kind] = hour.errors.get(kind, 0) + count
        if window.latency_p50_ms is not None:
            hour.p50_total += window.latency_p50_ms
            hour.p50_count += 1
        hour.p95_max = _max(hour.p95_max, window.latency_p95_ms)
        hour.p99_max = _max(hour.p99_max, window.latency_p99_ms)
        if window.requests < minimums[window.version_id]:
            continue
        for feature, value in window.psi.items():
            hour.psi[feature] = _max(hour.psi.get(feature), value)
        hour.max_feature_psi = _max(hour.max_feature_psi, window.max_feature_psi)
        hour.score_psi = _max(hour.score_psi, window.score_psi)


def log_digests_record(*, host: Host, digests: list[dict]) -> dict:
    """Store the digests of rotated prediction-log files; the same file reported again is stored once, and a
    different digest for a file already reported is refused (a log rewritten after the fact)."""
    if len(digests) > MAX_DIGESTS_PER_CALL:
        raise DomainError(_("At most %(n)s digests per call.") % {"n": MAX_DIGESTS_PER_CALL}, code="too_many",
                          field="digests")
    served = set(Deployment.objects.filter(hosts=host).values_list("pk", flat=True))
    stored = duplicates = 0
    for index, entry in enumerate(digests):
        if entry["deployment"] not in served:
            raise DomainError(_("Digest %(i)s: this host does not serve deployment %(d)s.")
                              % {"i": index, "d": entry["deployment"]}, code="not_served",
                              field=f"digests[{index}].deployment")
        # One row per host and file (a unique constraint): of two reports racing, the second finds the first's row
        # here, and is a duplicate or, with another sha256, refused, as if it had come later.
        known, created = PredictionLogDigest.objects.get_or_create(
            host=host, name=entry["name"],
            defaults={"deployment_id": entry["deployment"], "sha256": entry["sha256"], "records": entry["records"],
                      "first_at": _when(entry["first_at"], "first_at"), "last_at": _when(entry["last_at"], "last_at")})
        if created:
            stored += 1
        elif known.sha256 != entry["sha256"]:
            raise Conflict(_("The log file '%(name)s' was reported before with another sha256.")
                           % {"name": entry["name"]}, code="digest_changed",
                           details={"index": index, "deployment": known.deployment_id, "name": known.name,
                                    "stored": known.sha256, "reported": entry["sha256"]})
        else:
            duplicates += 1
    return {"stored": stored, "duplicates": duplicates}
