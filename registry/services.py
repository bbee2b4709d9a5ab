"""Registry writes: passports, versions (checked ONNX artifacts), datasets and aliases.

Each service checks permission, validates, writes in one transaction and appends its audit event there.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor
from core.errors import Conflict, DomainError, PermissionDenied, validate_model
from governance.accounts.choices import Role
from governance.audit.services import audit_append
from registry import permissions as perms
from registry.choices import (
    REVIEW_STATES,
    DatasetFormat,
    DecisionType,
    Materiality,
    RegulatoryExposure,
    VersionState,
)
from registry.models import Alias, Dataset, ModelPassport, ModelVersion
from registry.onnx_inspect import derive_feature_schema, inspect_onnx
from registry.schema import clean_feature_schema, infer_dataset_schema
from registry.storage import staged_upload, store_staged

TIERING_FIELDS = ("materiality", "decision_type", "processes_personal_data", "regulatory_exposure")
# What decides who must sign a version off: changed only by re-tiering (``passport_retier``), never by an edit.
RETIER_FIELDS = (*TIERING_FIELDS, "business_owner")
PASSPORT_FIELDS = (
    "name", "purpose", "intended_use", "out_of_scope_uses", "business_owner", "technical_owner",
    "development_team", "business_unit", *TIERING_FIELDS, "personal_data_legal_basis", "data_sources",
    "features_description", "target", "limitations", "stop_limits", "monitoring_thresholds", "contacts",
)


def tier_from_answers(*, materiality: str, decision_type: str, processes_personal_data: bool,
                      regulatory_exposure: str) -> int:
    """Risk tier from the tiering questionnaire (1 high .. 3 low).

    Points: materiality low/medium/high 0/1/2, automated decisions 1, personal data 1, regulatory exposure
    none/moderate/high 0/1/2. High materiality of an automated decision, or 4+ points, is tier 1; 2-3 points tier 2.
    """
    points = {Materiality.LOW: 0, Materiality.MEDIUM: 1, Materiality.HIGH: 2}[materiality]
    points += 1 if decision_type == DecisionType.AUTOMATED else 0
    points += 1 if processes_personal_data else 0
    points += {RegulatoryExposure.NONE: 0, RegulatoryExposure.MODERATE: 1, RegulatoryExposure.HIGH: 2}[
        regulatory_exposure
    ]
    if points >= 4 or (materiality == Materiality.HIGH and decision_type == DecisionType.AUTOMATED):
        return 1
    return 2 if points >= 2 else 3


def _audit_value(value):
    return getattr(value, "pk", value)


def _is_metric_map(metrics) -> bool:
    return isinstance(metrics, dict) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in metrics.values()
    )


@transaction.atomic(durable=True)
def passport_create(*, actor: Actor, key: str, **fields) -> ModelPassport:
    """Create a passport; the actor needs ``registry.add_modelpassport``. The tier is derived from the answers."""
    if not actor.has_perm(perms.CREATE):
        raise PermissionDenied(_("You may not create passports."))
    unknown = set(fields) - set(PASSPORT_FIELDS)
    if unknown:
        raise DomainError(_("Unknown passport fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))},
                          code="invalid")
    passport = ModelPassport(key=key, created_by=actor, **fields)
    passport.risk_tier = tier_from_answers(**{f: getattr(passport, f) for f in TIERING_FIELDS})
    if ModelPassport.objects.filter(key=key).exists():
        raise Conflict(_("A passport with key '%(key)s' already exists.") % {"key": key}, field="key")
    validate_model(passport)
    passport.save()
    audit_append(
        actor=actor, action="passport.created", obj=passport, passport_key=passport.key,
        data={
            "fields": {f: _audit_value(getattr(passport, f)) for f in PASSPORT_FIELDS},
            "risk_tier": passport.risk_tier,
        },
    )
    return passport


@transaction.atomic(durable=True)
def passport_update(*, actor: Actor, passport: ModelPassport, **fields) -> ModelPassport:
    """Change passport fields (not its key); records old and new values of what changed."""
    passport = lock_passport(passport.pk)
    perms.require(actor, perms.CHANGE, passport, _("change this passport"))
    unknown = set(fields) - set(PASSPORT_FIELDS)
    if unknown:
        raise DomainError(_("Unknown or read-only passport fields: %(fields)s.")
                          % {"fields": ", ".join(sorted(unknown))}, code="invalid")
    retiering = [name for name in RETIER_FIELDS if name in fields and getattr(passport, name) != fields[name]]
    if retiering:
        raise DomainError(_("The tiering answers and the business owner decide who signs a version off; a risk "
                            "officer changes them by re-tiering the passport, with a reason."),
                          code="retier_required", field=retiering[0], details={"fields": retiering})
    changes = {}
    for name, value in fields.items():
        old = getattr(passport, name)
        if old != value:
            changes[name] = {"old": _audit_value(old), "new": _audit_value(value)}
            setattr(passport, name, value)
    if not changes:
        return passport
    passport.updated_at = timezone.now()
    validate_model(passport)
    passport.save()
    audit_append(actor=actor, action="passport.changed", obj=passport, passport_key=passport.key,
                 data={"changes": changes})
    return passport



@transaction.atomic(durable=True)
def passport_retier(*, actor: Actor, passport: ModelPassport, reason: str, **fields) -> ModelPassport:
    """Change the tiering answers and/or the business owner, with a reason; the tier follows the answers.

    Risk officers and administrators only (``registry.retier_modelpassport``); lowering the tier (fewer sign-offs,
    perhaps no checklist) always needs a risk officer. While a version is under review (submitted, in validation,
    validated) the tier may only rise, which takes effect at the next submission (the review keeps the policy it
    was submitted under); lowering it or changing the business owner then waits for the review to end.
    Audit: ``passport.retiered`` with the reason, the changes and both tiers.
    """
    passport = lock_passport(passport.pk)
    if not actor.has_perm(perms.RETIER):
        raise PermissionDenied(_("Only a risk officer or an administrator may re-tier a passport."))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Re-tiering needs a reason."), code="required", field="reason")
    unknown = set(fields) - set(RETIER_FIELDS)
    if unknown:
        raise DomainError(_("Re-tiering changes only the tiering answers and the business owner, not: %(fields)s.")
                          % {"fields": ", ".join(sorted(unknown))}, code="invalid")
    changes = {name: {"old": _audit_value(getattr(passport, name)), "new": _audit_value(value)}
               for name, value in fields.items() if getattr(passport, name) != value}
    if not changes:
        raise DomainError(_("Nothing to change: the answers and the business owner are as given."), code="unchanged")
    old_tier = passport.risk_tier
    for name, value in fields.items():
        setattr(passport, name, value)
    passport.risk_tier = tier_from_answers(**{f: getattr(passport, f) for f in TIERING_FIELDS})
    lowered = passport.risk_tier > old_tier  # tier 1 is the highest risk
    if lowered and not actor.groups.filter(name=Role.RISK_OFFICER).exists():
        raise PermissionDenied(_("Lowering the risk tier (from %(old)s to %(new)s) needs a risk officer.")
                               % {"old": old_tier, "new": passport.risk_tier}, code="risk_officer_required")
    in_review = list(passport.versions.filter(state__in=REVIEW_STATES).values_list("number", flat=True))
    if in_review and (lowered or "business_owner" in changes):
        raise Conflict(_("Version(s) %(versions)s are under review: the tier may only rise until the review ends.")
                       % {"versions": ", ".join(f"v{n}" for n in in_review)}, code="under_review",
                       details={"versions": in_review})
    passport.updated_at = timezone.now()
    validate_model(passport)
    passport.save()
    audit_append(actor=actor, action="passport.retiered", obj=passport, passport_key=passport.key,
                 data={"reason": reason, "changes": changes, "risk_tier": {"old": old_tier, "new": passport.risk_tier},
                       "versions_under_review": in_review})
    return passport


def version_register(
    *, actor: Actor, passport: ModelPassport, upload, feature_names: list[str] | None = None,
    training_dataset: Dataset | None = None, metrics: dict | None = None, parent: ModelVersion | None = None,
    change_description: str = "", mlflow_run_id: str = "", mlflow_model_uri: str = "", provenance: dict | None = None,
) -> ModelVersion:
    """Stream an ONNX upload to the store, check it, and register it as the passport's next draft version.

    Every rejection (size, not ONNX, truncated, external data, custom operator domains, no inputs) raises a
    DomainError naming the problem and leaves nothing stored: no file, no row, no audit event.
    """
    perms.require(actor, perms.UPLOAD, passport, _("register versions"))
    if training_dataset is not None and training_dataset.passport_id != passport.pk:
        raise DomainError(_("The training dataset belongs to another passport."), code="invalid",
                          field="training_dataset")
    if parent is not None and parent.passport_id != passport.pk:
        raise DomainError(_("The parent version belongs to another passport."), code="invalid", field="parent_version")
    if metrics is not None and not _is_metric_map(metrics):
        raise DomainError(_("Metrics must be an object of metric name to number."), code="invalid", field="metrics")
    max_bytes = settings.MG_MAX_ARTIFACT_BYTES
    with staged_upload(upload, max_bytes=max_bytes, suffix=".onnx") as staged:
        info = inspect_onnx(staged.path, max_bytes=max_bytes,
                            allowed_domains=frozenset(settings.MG_ALLOWED_OPERATOR_DOMAINS))
        schema = derive_feature_schema(info, feature_names)
        name, created = store_staged(staged, f"artifacts/{passport.key}/{staged.sha256}.onnx")
    try:
        return _version_insert(actor=actor, passport=passport, name=name, staged=staged, info=info, schema=schema,
                               training_dataset=training_dataset, metrics=metrics or {}, parent=parent,
                               change_description=change_description, mlflow_run_id=mlflow_run_id,
                               mlflow_model_uri=mlflow_model_uri, provenance=provenance or {})
    except Exception:
        if created:
            default_storage.delete(name)
        raise


@transaction.atomic(durable=True)
def _version_insert(*, actor: Actor, passport, name, staged, info, schema, **extra) -> ModelVersion:
    passport = lock_passport(passport.pk)
    duplicate = passport.versions.filter(sha256=staged.sha256).values_list("number", flat=True).first()
    if duplicate is not None:
        raise Conflict(_("This artifact is identical to version %(n)s (sha256 %(sha)s…).")
                       % {"n": duplicate, "sha": staged.sha256[:12]}, field="artifact")
    number = (passport.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    training = extra.get("training_dataset")
    version = ModelVersion(
        passport=passport, number=number, author=actor, sha256=staged.sha256, size=staged.size,
        ir_version=info.ir_version, opset=info.opset, opset_imports=info.opset_imports,
        producer_name=info.producer_name[:200], producer_version=info.producer_version[:100],
        operators=info.operators, inputs=info.inputs, outputs=info.outputs, feature_schema=schema,
        training_data_digest=training.sha256 if training else "", **extra,
    )
    version.artifact.name = name
    validate_model(version)
    try:
        version.save()
    except IntegrityError:
        raise Conflict(_("Another version was registered at the same moment; try again."))
    audit_append(
        actor=actor, action="version.registered", obj=version, passport_key=passport.key,
        digests={"artifact_sha256": version.sha256, "training_data_sha256": version.training_data_digest},
        data={"number": number, "size": version.size, "opset": version.opset, "producer": version.producer_name,
              "operators": version.operators, "parent": extra.get("parent") and extra["parent"].number,
              **({"imported_from": {k: version.provenance.get(k) for k in ("model_uri", "run_id", "flavor", "parity")}}
                 if version.provenance else {})},
    )
    return version


@transaction.atomic(durable=True)
def version_refine_schema(*, actor: Actor, version: ModelVersion, feature_schema: dict) -> ModelVersion:
    """Replace a version's feature schema with a refinement (names, ranges, categories) of the derived one.

    Only draft versions may be refined: once submitted, the schema is part of what reviewers sign.
    """
    version = lock_version(version)
    perms.require(actor, perms.UPLOAD, version, _("refine feature schemas"))
    if version.state != VersionState.DRAFT:
        raise DomainError(_("Only a draft version's schema can be refined; v%(n)s is %(state)s.")
                          % {"n": version.number, "state": version.get_state_display().lower()}, code="invalid_state")
    old = version.feature_schema
    version.feature_schema = clean_feature_schema(feature_schema, derived=old)
    version.save(update_fields=["feature_schema"])
    audit_append(actor=actor, action="version.schema_refined", obj=version, passport_key=version.passport.key,
                 data={"old": old, "new": version.feature_schema})
    return version


def dataset_register(
    *, actor: Actor, passport: ModelPassport, upload, name: str, kind: str, fmt: str | None = None
) -> Dataset:
    """Stream a CSV or Parquet upload, infer its schema, and store it with its digest."""
    perms.require(actor, perms.UPLOAD, passport, _("register datasets"))
    filename = getattr(upload, "name", "") or ""
    fmt = fmt or (DatasetFormat.PARQUET if filename.lower().endswith((".parquet", ".pq")) else DatasetFormat.CSV)
    if fmt not in DatasetFormat.values:
        raise DomainError(_("Datasets must be CSV or Parquet."), code="invalid_dataset", field="format")
    with staged_upload(upload, max_bytes=settings.MG_MAX_DATASET_BYTES, suffix=f".{fmt}") as staged:
        row_count, schema = infer_dataset_schema(Path(staged.path), fmt)
        stored, created = store_staged(staged, f"datasets/{passport.key}/{staged.sha256}.{fmt}")
    try:
        return _dataset_insert(actor=actor, passport=passport, stored=stored, staged=staged, name=name, kind=kind,
                               fmt=fmt, row_count=row_count, schema=schema)
    except Exception:
        if created:
            default_storage.delete(stored)
        raise


@transaction.atomic(durable=True)
def _dataset_insert(*, actor: Actor, passport, stored, staged, name, kind, fmt, row_count, schema) -> Dataset:
    dataset = Dataset(passport=passport, name=(name or "").strip() or staged.sha256[:12], kind=kind, format=fmt,
                      sha256=staged.sha256, size=staged.size, row_count=row_count, schema=schema, uploaded_by=actor)
    dataset.file.name = stored
    validate_model(dataset)
    dataset.save()
    audit_append(actor=actor, action="dataset.registered", obj=dataset, passport_key=passport.key,
                 digests={"dataset_sha256": dataset.sha256},
                 data={"name": dataset.name, "kind": kind, "format": fmt, "rows": row_count})
    return dataset


@transaction.atomic(durable=True)
def alias_set(*, actor: Actor, passport: ModelPassport, name: str, version: ModelVersion) -> Alias:
    """Point alias ``name`` of a passport at ``version`` (creating it if new).

    Production aliases (settings.MG_PRODUCTION_ALIASES, e.g. ``champion``) may point only at an approved version.
    """
    perms.require(actor, perms.MOVE_ALIAS, passport, _("move aliases"))
    if version.passport_id != passport.pk:
        raise DomainError(_("The version belongs to another passport."), code="invalid", field="version")
    version = lock_version(version)
    if name in settings.MG_PRODUCTION_ALIASES and version.state != VersionState.APPROVED:
        raise DomainError(
            _("The production alias '%(alias)s' may point only at an approved version; v%(n)s is %(state)s.")
            % {"alias": name, "n": version.number, "state": version.get_state_display().lower()},
            code="alias_requires_approval", field="version")
    alias = Alias.objects.select_for_update(no_key=True).filter(passport=passport, name=name).first()
    previous = alias.version.number if alias else None
    if alias is None:
        alias = Alias(passport=passport, name=name, version=version, updated_by=actor)
    alias.version, alias.updated_by, alias.updated_at = version, actor, timezone.now()
    validate_model(alias)
    alias.save()
    audit_append(actor=actor, action="alias.moved", obj=alias, passport_key=passport.key,
                 digests={"artifact_sha256": version.sha256},
                 data={"alias": name, "from_version": previous, "to_version": version.number})
    return alias


def lock_passport(passport_id: int) -> ModelPassport:
    """Re-read a passport under a row lock: the first lock of every write on it (see the lock order below)."""
    return ModelPassport.objects.select_for_update(no_key=True).get(pk=passport_id)


def lock_version(version: ModelVersion) -> ModelVersion:
    """Re-read the version under a row lock; the state seen after this is the one that counts.

    The lock order of every write path: the passport row, then the version row, then any rows of its own, and the
    audit chain head last (``audit_append`` is the last statement). Rows are locked ``FOR NO KEY UPDATE``: no write
    changes a key, and so the foreign-key checks of other transactions (PostgreSQL takes ``KEY SHARE`` on the
    referenced passport or version when they commit) never wait for these locks.
    """
    lock_passport(version.passport_id)
    return ModelVersion.objects.select_for_update(no_key=True, of=("self",)).select_related("passport").get(
        pk=version.pk)
