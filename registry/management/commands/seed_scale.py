"""Bulk benchmark data: thousands of passports and versions (keys ``scale-…``), written with bulk_create."""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from governance.accounts.choices import Role
from governance.accounts.models import BusinessUnit, Team
from governance.audit.models import AuditChainHead, AuditEvent
from governance.audit.services import GENESIS_HASH, event_hash
from registry.choices import VersionState
from registry.models import Alias, ModelPassport, ModelVersion
from registry.onnx_inspect import derive_feature_schema, inspect_onnx
from registry.services import tier_from_answers

PREFIX = "scale-"
AUDITOR = "scale-auditor"
PASSPORTS_PER_TEAM = 250
DEVELOPERS_PER_TEAM = 4
DOMAINS = ("credit", "fraud", "demand", "churn", "pricing", "collections", "marketing", "aml", "claims", "routing")
FEATURES = ("x_amount", "x_tenure", "x_score")
ANSWERS = {  # tiering questionnaire answer spaces; the tier is derived as the service would
    "materiality": ("low", "medium", "high"),
    "decision_type": ("automated", "human_in_the_loop"),
    "processes_personal_data": (False, True),
    "regulatory_exposure": ("none", "moderate", "high"),
}
LATEST_STATES = [  # state of a passport's newest version, with weights
    (VersionState.DRAFT, 0.2), (VersionState.SUBMITTED, 0.1), (VersionState.IN_VALIDATION, 0.1),
    (VersionState.VALIDATED, 0.1), (VersionState.APPROVED, 0.4), (VersionState.REJECTED, 0.1),
]
OLDER_STATES = [(VersionState.RETIRED, 0.7), (VersionState.REJECTED, 0.2), (VersionState.REVOKED, 0.1)]


@dataclass(frozen=True)
class Artifact:
    """The one real ONNX file every bulk version points at, and what inspecting it gave."""

    name: str
    size: int
    info: object
    schema: dict


class Command(BaseCommand):
    help = (
        "BENCHMARK DATA ONLY. Bulk-insert passports (keys 'scale-…') and versions spread over them, with teams, "
        "owners, business units, aliases and (unless --audit-events 0) one audit event per row. Rows are written "
        "with bulk_create: they bypass registry services, permission checks, full_clean and the services' own audit "
        "events; the synthetic audit events (actor 'seed_scale', data.source='seed_scale') keep the hash chain valid "
        "but record nothing that happened. Every version points at the same small real ONNX file with a distinct "
        "fake sha256. Refuses to run when 'scale-' passports exist unless --yes (which replaces them). --clear "
        "removes the scale rows (audit events are append-only and stay)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--passports", type=int, default=10_000)
        parser.add_argument("--versions", type=int, default=100_000)
        parser.add_argument("--audit-events", type=int, default=None,
                            help="Synthetic audit events to append (default: one per passport and version).")
        parser.add_argument("--batch-size", type=int, default=2_000)
        parser.add_argument("--seed", type=int, default=7, help="Random seed (same seed, same data).")
        parser.add_argument("--yes", action="store_true", help="Replace existing scale data.")
        parser.add_argument("--clear", action="store_true", help="Remove the scale data and stop.")

    def handle(self, *args, **options):
        started = time.monotonic()
        exists = ModelPassport.objects.filter(key__startswith=PREFIX).exists()
        if options["clear"]:
            counts = clear_scale()
            self.stdout.write(f"Removed scale data: {counts}.")
            return
        if exists and not options["yes"]:
            raise CommandError("Scale data ('scale-' passports) exists; pass --yes to replace it or --clear.")
        if options["passports"] < 1 or options["versions"] < 0:
            raise CommandError("--passports must be at least 1 and --versions at least 0.")
        clear_scale()  # the replaced data, or leftovers such as scale users without passports
        counts = seed_scale(passports=options["passports"], versions=options["versions"],
                            audit_events=options["audit_events"], batch_size=options["batch_size"],
                            seed=options["seed"], log=self.stdout.write)
        self.stdout.write(self.style.SUCCESS(
            f"Scale data created in {time.monotonic() - started:.1f} s: "
            + ", ".join(f"{count} {name}" for name, count in counts.items())
        ))


def clear_scale() -> dict[str, int]:
    """Delete every scale row except audit events (append-only). Returns rows removed per model."""
    scale = {"passport__key__startswith": PREFIX}
    querysets = {
        "aliases": Alias.objects.filter(**scale),
        "versions": ModelVersion.objects.filter(**scale),
        "passports": ModelPassport.objects.filter(key__startswith=PREFIX),
        "teams": Team.objects.filter(name__startswith=PREFIX),
        "business units": BusinessUnit.objects.filter(code__startswith=PREFIX),
        "users": get_user_model().objects.filter(username__startswith=PREFIX),
    }
    with transaction.atomic():  # in this order: rows that PROTECT a row go before it
        return {name: qs.delete()[1].get(qs.model._meta.label, 0) for name, qs in querysets.items()}


def seed_scale(*, passports: int, versions: int, audit_events: int | None = None, batch_size: int = 2_000,
               seed: int = 7, log=lambda message: None) -> dict[str, int]:
    """Bulk-create the scale data in one transaction; returns the row counts created."""
    rng = np.random.default_rng(seed)
    artifact = shared_artifact()
    with transaction.atomic():
        org = _organisation(passports)
        passport_rows = _passports(rng, passports, org, batch_size)
        log(f"  {len(passport_rows)} passports")
        version_rows = _versions(rng, passport_rows, versions, artifact, batch_size)
        log(f"  {len(version_rows)} versions")
        aliases = _aliases(passport_rows, version_rows, batch_size)
        wanted = len(passport_rows) + len(version_rows) if audit_events is None else audit_events
        events = _audit_events(passport_rows, version_rows, wanted, batch_size)
    _analyze()
    return {"passports": len(passport_rows), "versions": len(version_rows), "aliases": aliases,
            "audit events": events, "teams": len(org["teams"]), "users": org["users"]}


def _analyze() -> None:
    """Refresh PostgreSQL's planner statistics now, as autovacuum would soon after a bulk load."""
    if connection.vendor != "postgresql":
        return
    tables = [model._meta.db_table for model in (ModelPassport, ModelVersion, Alias, AuditEvent, Team, BusinessUnit)]
    tables += [get_user_model()._meta.db_table, Team.members.through._meta.db_table]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(connection.ops.quote_name(t) for t in tables))


def shared_artifact() -> Artifact:
    """Store (once) a tiny linear ONNX model and inspect it, as version_register would."""
    from onnx import TensorProto, helper

    weights = helper.make_tensor("w", TensorProto.FLOAT, [len(FEATURES), 1], [0.4, -0.2, 0.7])
    bias = helper.make_tensor("b", TensorProto.FLOAT, [1], [-0.1])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["float_input", "w"], ["z0"]), helper.make_node("Add", ["z0", "b"], ["z"]),
         helper.make_node("Sigmoid", ["z"], ["probability"])],
        "scale_linear",
        [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, len(FEATURES)])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [None, 1])],
        initializer=[weights, bias],
    )
    model = helper.make_model(graph, producer_name="seed_scale", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    data = model.SerializeToString()
    name = f"artifacts/{PREFIX}shared/{hashlib.sha256(data).hexdigest()}.onnx"
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(data))
    with tempfile.NamedTemporaryFile(suffix=".onnx") as fh:  # inspect a local copy: storage may be remote
        fh.write(data)
        fh.flush()
        info = inspect_onnx(fh.name, max_bytes=len(data) + 1)
    return Artifact(name=name, size=len(data), info=info, schema=derive_feature_schema(info, list(FEATURES)))


def _organisation(passports: int) -> dict:
    """Business units, owners, teams of developers, and an auditor; all usernames and codes start 'scale-'."""
    User = get_user_model()
    password = make_password(None)  # unusable: bench_lists logs in with force_login
    n_teams = max(1, passports // PASSPORTS_PER_TEAM)
    n_owners = max(2, passports // 50)
    units = BusinessUnit.objects.bulk_create(
        [BusinessUnit(code=f"{PREFIX}bu-{i:02d}", name=f"Scale unit {i:02d}") for i in range(12)])
    owners = User.objects.bulk_create(
        [User(username=f"{PREFIX}owner-{i:04d}", password=password) for i in range(n_owners)])
    developers = User.objects.bulk_create(
        [User(username=f"{PREFIX}dev-{i:03d}", password=password) for i in range(n_teams * DEVELOPERS_PER_TEAM)])
    auditor = User.objects.create(username=AUDITOR, password=password)
    teams = Team.objects.bulk_create([Team(name=f"{PREFIX}team-{i:03d}") for i in range(n_teams)])
    Membership = Team.members.through
    Membership.objects.bulk_create(
        [Membership(team_id=teams[i // DEVELOPERS_PER_TEAM].pk, user_id=dev.pk) for i, dev in enumerate(developers)])
    Groups = get_user_model().groups.through
    roles = {Role.MODEL_OWNER: owners, Role.MODEL_DEVELOPER: developers, Role.AUDITOR: [auditor]}
    Groups.objects.bulk_create([Groups(group_id=Group.objects.get(name=role).pk, user_id=user.pk)
                                for role, users in roles.items() for user in users])
    return {"units": units, "owners": owners, "developers": developers, "teams": teams,
            "users": len(owners) + len(developers) + 1}


def _passports(rng, count: int, org: dict, batch_size: int) -> list[ModelPassport]:
    now = timezone.now()
    teams, developers = org["teams"], org["developers"]
    rows = []
    for i in range(count):
        answers = {name: values[rng.integers(len(values))] for name, values in ANSWERS.items()}
        answers["processes_personal_data"] = bool(answers["processes_personal_data"])
        team_index = int(rng.integers(len(teams)))
        domain = DOMAINS[i % len(DOMAINS)]
        created = now - timedelta(days=float(rng.uniform(30, 1100)))
        technical = developers[team_index * DEVELOPERS_PER_TEAM + int(rng.integers(DEVELOPERS_PER_TEAM))]
        rows.append(ModelPassport(
            key=f"{PREFIX}{domain}-{i:05d}", name=f"{domain.title()} model {i:05d}",
            purpose=f"Benchmark passport {i} ({domain}); synthetic data written by seed_scale.",
            business_owner=org["owners"][int(rng.integers(len(org["owners"])))], technical_owner=technical,
            development_team=teams[team_index], business_unit=org["units"][int(rng.integers(len(org["units"])))],
            risk_tier=tier_from_answers(**answers), created_by=technical, created_at=created, updated_at=created,
            stop_limits={"max_decisions_per_day": 10_000}, monitoring_thresholds={"psi": 0.2}, **answers,
        ))
    return ModelPassport.objects.bulk_create(rows, batch_size=batch_size)


def _version_counts(rng, passports: int, versions: int) -> np.ndarray:
    """Versions per passport: at least one each (when there are enough), the rest skewed (a few have many)."""
    base = min(1, versions // passports)
    extra = versions - base * passports
    weights = rng.lognormal(0.0, 1.0, passports)
    return base + rng.multinomial(extra, weights / weights.sum())


def _states(rng, count: int) -> list[str]:
    """States of versions 1..count: older ones retired/rejected/revoked, the newest anywhere in the workflow;
    when the newest is not approved, the one before it is often the approved champion."""
    latest = [s for s, _ in LATEST_STATES][rng.choice(len(LATEST_STATES), p=[w for _, w in LATEST_STATES])]
    older = [s for s, _ in OLDER_STATES]
    states = [older[i] for i in rng.choice(len(older), size=count - 1, p=[w for _, w in OLDER_STATES])] + [latest]
    if count > 1 and latest != VersionState.APPROVED and rng.random() < 0.6:
        states[-2] = VersionState.APPROVED
    return states


def _versions(rng, passports: list[ModelPassport], total: int, artifact: Artifact, batch_size: int) -> list:
    info, created = artifact.info, []
    counts = _version_counts(rng, len(passports), total)
    batch: list[ModelVersion] = []
    for passport, count in zip(passports, counts, strict=True):
        for number, state in enumerate(_states(rng, int(count)) if count else [], start=1):
            batch.append(ModelVersion(
                passport=passport, number=number, state=state, sha256=_fake_sha(passport.key, number),
                size=artifact.size, ir_version=info.ir_version, opset=info.opset, opset_imports=info.opset_imports,
                producer_name=info.producer_name, producer_version=info.producer_version, operators=info.operators,
                inputs=info.inputs, outputs=info.outputs, feature_schema=artifact.schema, metrics={"auc": 0.8},
                change_description=f"Synthetic version {number}.", author=passport.technical_owner,
                created_at=passport.created_at + timedelta(days=7 * number),
                approval_expires_at=passport.created_at + timedelta(days=7 * number + 365)
                if state == VersionState.APPROVED else None,
            ))
            batch[-1].artifact.name = artifact.name
        if len(batch) >= batch_size:
            created += ModelVersion.objects.bulk_create(batch, batch_size=batch_size)
            batch = []
    return created + ModelVersion.objects.bulk_create(batch, batch_size=batch_size)


def _fake_sha(key: str, number: int) -> str:
    return hashlib.sha256(f"seed_scale:{key}:{number}".encode()).hexdigest()


def _aliases(passports: list[ModelPassport], versions: list[ModelVersion], batch_size: int) -> int:
    """``champion`` at each passport's newest approved version; ``challenger`` at a newer validated one."""
    by_passport: dict[int, list[ModelVersion]] = {}
    for version in versions:
        by_passport.setdefault(version.passport_id, []).append(version)
    rows = []
    for passport in passports:
        approved = [v for v in by_passport.get(passport.pk, []) if v.state == VersionState.APPROVED]
        if not approved:
            continue
        rows.append(Alias(passport=passport, name="champion", version=approved[-1],
                          updated_by=passport.technical_owner, updated_at=approved[-1].created_at))
        newest = by_passport[passport.pk][-1]
        if newest.number > approved[-1].number and newest.state == VersionState.VALIDATED:
            rows.append(Alias(passport=passport, name="challenger", version=newest,
                              updated_by=passport.technical_owner, updated_at=newest.created_at))
    return len(Alias.objects.bulk_create(rows, batch_size=batch_size))


def _audit_events(passports: list, versions: list, wanted: int, batch_size: int) -> int:
    """Append ``wanted`` synthetic events (passport.created, then version.registered, cycling) with a valid chain."""
    if wanted <= 0:
        return 0
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head = AuditChainHead.objects.create(pk=1, last_seq=0, last_hash=GENESIS_HASH)
    objects = [("passport.created", p, p.key) for p in passports] + [
        ("version.registered", v, v.passport.key) for v in versions]
    now, batch = timezone.now(), []
    seq, prev = head.last_seq, head.last_hash
    for i in range(wanted):
        action, obj, key = objects[i % len(objects)]
        seq += 1
        event = AuditEvent(
            seq=seq, occurred_at=now + timedelta(microseconds=i), actor=None, actor_repr="seed_scale",
            action=action, object_type=obj._meta.label_lower, object_id=str(obj.pk), object_repr=str(obj)[:300],
            passport_key=key, digests={"artifact_sha256": obj.sha256} if isinstance(obj, ModelVersion) else {},
            data={"source": "seed_scale"}, request_id="", prev_hash=prev,
        )
        event.hash = prev = event_hash(event)
        batch.append(event)
        if len(batch) >= batch_size:
            AuditEvent.objects.bulk_create(batch)
            batch = []
    AuditEvent.objects.bulk_create(batch)
    head.last_seq, head.last_hash = seq, prev
    head.save(update_fields=["last_seq", "last_hash"])
    return wanted
