"""Signed releases: the approved artifact and its manifest in a folder, signed in the OpenSSF Model Signing format.

``release_build(version)`` copies the version's ONNX bytes (refusing them when they no longer match the sha256
that was approved), writes the manifest (:mod:`serving.agent.manifest`: feature schema, reference histograms per
feature and of the score, thresholds, stop-limits, personal-data columns, approval expiry) and signs the folder
with ``release_sign``: a sigstore bundle ``<folder>.sig`` over the sha256 of every file, made offline with the EC
P-256 key of ``MG_SIGNING_KEY_FILE``. Any OpenSSF verifier checks it with the public half
(``core.signing.public_key_pem()``), including the hosts' own (``serving.agent.verify``) and sigstore's
model-validation operator for KServe.

A version has one release; building it again returns the one there is. Releases are written under
``MG_RELEASES_DIR`` (default ``<MEDIA_ROOT>/releases``), a folder the hosts never read directly: they download
each file through the agents' API.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from core import signing
from core.errors import DomainError
from registry.models import SERVED_STOP_LIMIT, ModelVersion, validate_stop_limits
from serving.agent import manifest as mf
from serving.models import Release

SIGNATURE_SUFFIX = ".sig"


def releases_dir() -> Path:
    return Path(settings.MG_RELEASES_DIR or Path(settings.MEDIA_ROOT) / "releases")


def release_sign(folder: Path | str, signature: Path | str | None = None) -> Path:
    """Sign the files of ``folder``; returns the signature's path (``<folder>.sig`` beside the folder by default).

    A signature inside the folder is left out of what it signs, as ``model_signing sign`` does, so that
    ``model_signing verify`` of the folder (sigstore's model-validation operator runs exactly that) accepts it.
    """
    from model_signing import hashing  # imported here: only the control plane's signing pays
    from model_signing import signing as model_signing

    folder = Path(folder)
    if not folder.is_dir() or not any(folder.iterdir()):
        raise ValueError(f"nothing to sign in {folder}")
    signing.private_key()  # the key exists (created on first use) before model_signing reads its file
    signature = Path(signature) if signature else folder.with_name(f"{folder.name}{SIGNATURE_SUFFIX}")
    config = model_signing.Config().use_elliptic_key_signer(private_key=settings.MG_SIGNING_KEY_FILE)
    if signature.resolve().is_relative_to(folder.resolve()):
        inside = signature.resolve().relative_to(folder.resolve())
        config.set_hashing_config(hashing.Config().set_ignored_paths(paths=[inside], ignore_git_paths=True))
    config.sign(folder, signature)
    return signature


def release_paths(release: Release) -> tuple[Path, Path]:
    """The release's folder and its signature file."""
    folder = releases_dir() / release.folder
    return folder, folder.with_name(f"{folder.name}{SIGNATURE_SUFFIX}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _artifact_bytes(version: ModelVersion) -> bytes:
    with version.artifact.open("rb") as handle:
        data = handle.read()
    found = _sha256(data)
    if found != version.sha256:
        raise DomainError(
            _("The stored artifact of v%(n)s no longer matches the sha256 that was approved (expected %(expected)s…, "
              "found %(found)s…): it was altered in storage and will not be released.")
            % {"n": version.number, "expected": version.sha256[:12], "found": found[:12]},
            code="digest_mismatch")
    return data


def reference_frame(version: ModelVersion):
    """The reference data of the version's validation (the run behind the report in force), else its training
    dataset, read and checked against its digest; (frame, dataset) or (None, None)."""
    import pandas as pd

    from validation.selectors import report_in_force

    report = report_in_force(version)
    dataset = report.run.reference if report is not None and report.run_id else version.training_dataset
    if dataset is None:
        return None, None
    with dataset.file.open("rb") as handle:
        data = handle.read()
    if _sha256(data) != dataset.sha256:
        raise DomainError(_("The reference dataset '%(name)s' no longer matches its registered sha256.")
                          % {"name": dataset.name}, code="digest_mismatch")
    buffer = io.BytesIO(data)
    frame = pd.read_parquet(buffer) if dataset.format == "parquet" else pd.read_csv(buffer, low_memory=False)
    limit = settings.MG_RELEASE_REFERENCE_ROWS
    if len(frame) > limit:
        frame = frame.sample(n=limit, random_state=0)
    return frame, dataset


def _histograms(version: ModelVersion, artifact: bytes, features: list[dict]) -> tuple:
    """Reference histograms per feature and of the score; (histograms, rows, dataset sha256, task, explainer)."""
    from validation.checks.stability import is_categorical
    from validation.onnx_predict import OnnxModel

    frame, dataset = reference_frame(version)
    if frame is None:
        return {}, 0, "", "unknown", None
    missing = [f["name"] for f in features if f["name"] not in frame.columns]
    if missing:
        raise DomainError(_("The reference dataset lacks the features %(names)s.") % {"names": ", ".join(missing)},
                          code="invalid_dataset")
    histograms = {}
    for feature in features:
        categorical = is_categorical(feature)
        values = frame[feature["name"]]
        histograms[feature["name"]] = mf.histogram_of(
            values.astype("object").where(values.notna(), None).tolist() if categorical else values.to_numpy(),
            categorical=categorical)
    prediction = OnnxModel(artifact, version.feature_schema).predict(frame)
    histograms[mf.SCORE] = mf.histogram_of(prediction.scores, categorical=False)
    task = "classification" if prediction.kind == "probabilities" else "regression"
    return histograms, len(frame), dataset.sha256, task, _explainer(artifact, frame, version.feature_schema or {})


def _explainer(artifact: bytes, frame, schema: dict) -> mf.Explainer | None:
    """Node covers of a tree ensemble counted on the reference rows, for exact path-dependent TreeSHAP on the hosts;
    None for other models (and for one input per feature, which the host does not explain)."""
    from serving.agent.explain import explainer_spec

    names = [f["name"] for f in schema.get("features", [])]
    if schema.get("layout", "tensor") != "tensor" or any(n not in frame.columns for n in names):
        return None
    try:
        reference = frame[names].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return explainer_spec(artifact, reference)


def _thresholds(passport) -> mf.Thresholds:
    fields = mf.Thresholds.__struct_fields__
    configured = {k: v for k, v in (passport.monitoring_thresholds or {}).items() if k in fields}
    try:
        return mf.Thresholds(**{k: type(getattr(mf.Thresholds(), k))(v) for k, v in configured.items()})
    except (TypeError, ValueError):
        return mf.Thresholds()


def _stop_limits(passport) -> mf.StopLimits:
    """The limit hosts enforce. One that cannot be read refuses the release: read as 0 it would be no limit."""
    limits = passport.stop_limits or {}
    try:
        validate_stop_limits(limits)
    except ValidationError:
        value = limits.get(SERVED_STOP_LIMIT) if isinstance(limits, dict) else limits
        raise DomainError(_("The passport's stop-limit max_decisions_per_day (%(value)s) is not a whole number of 0 "
                            "or more: correct it on the passport before serving the model.") % {"value": value},
                          code="invalid_stop_limit", field="stop_limits") from None
    return mf.StopLimits(max_decisions_per_day=limits.get(SERVED_STOP_LIMIT, 0))


def manifest_for(version: ModelVersion, artifact: bytes, personal_data_columns: list[str]) -> mf.Manifest:
    passport = version.passport
    schema = version.feature_schema or {}
    features = schema.get("features", [])
    histograms, rows, dataset_sha, task, explainer = _histograms(version, artifact, features)
    return mf.Manifest(
        format=mf.FORMAT, passport=passport.key, passport_name=passport.name, version=version.number,
        risk_tier=passport.risk_tier, artifact=mf.ARTIFACT_FILE, artifact_sha256=version.sha256,
        artifact_size=len(artifact), input=schema.get("input"), layout=schema.get("layout", "tensor"),
        features=[mf.Feature(name=f["name"], type=f.get("type", "float"), min=f.get("min"), max=f.get("max"),
                             categories=f.get("categories"), nullable=bool(f.get("nullable", False)))
                  for f in features],
        outputs=list(version.outputs or []), task=task, histograms=histograms, reference_rows=rows,
        reference_dataset_sha256=dataset_sha, thresholds=_thresholds(passport), stop_limits=_stop_limits(passport),
        personal_data_columns=sorted(personal_data_columns),
        approved_until=version.approval_expires_at.astimezone(UTC).isoformat() if version.approval_expires_at
        else "", created_at=datetime.now(UTC).isoformat(), explainer=explainer,
    )


def release_build(version: ModelVersion, *, personal_data_columns: list[str] | None = None) -> Release:
    """The signed release of ``version``, built and signed on first call. Run it outside a transaction: it writes
    files, and records its row last. Builders of one version take turns (a file lock beside the folder), so the
    folder on disk is always the one the row describes."""
    existing = Release.objects.filter(version=version).first()
    if existing is not None and all(p.exists() for p in release_paths(existing)):
        return existing
    name = f"{version.passport.key}/v{version.number}-{version.sha256[:12]}"
    final = releases_dir() / name
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.with_name(f".{final.name}.lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        existing = Release.objects.filter(version=version).first()
        if existing is not None and all(p.exists() for p in release_paths(existing)):
            return existing  # built by the builder we waited for
        return _build(version, name, final, existing, personal_data_columns or [])


def _build(version, name: str, final: Path, existing: Release | None, personal_data_columns: list[str]) -> Release:
    artifact = _artifact_bytes(version)
    manifest = manifest_for(version, artifact, personal_data_columns)
    manifest_bytes = mf.manifest_encode(manifest)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
    try:
        folder = work / final.name
        folder.mkdir()
        (folder / mf.ARTIFACT_FILE).write_bytes(artifact)
        (folder / mf.MANIFEST_FILE).write_bytes(manifest_bytes)
        signature = release_sign(folder)
        signature_bytes = signature.read_bytes()
        if final.exists():  # left by a build whose row was never recorded: replace it
            shutil.rmtree(final)
        os.replace(folder, final)
        os.replace(signature, final.with_name(f"{final.name}{SIGNATURE_SUFFIX}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    fields = {"folder": name, "manifest": msgspec.to_builtins(manifest), "manifest_sha256": _sha256(manifest_bytes),
              "artifact_sha256": version.sha256, "signature_sha256": _sha256(signature_bytes),
              "key_id": signing.key_id()}
    if existing is not None:
        Release.objects.filter(pk=existing.pk).update(**fields)
        return Release.objects.get(pk=existing.pk)
    return Release.objects.create(version=version, **fields)
