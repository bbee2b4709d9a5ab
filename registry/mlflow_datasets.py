"""The datasets an MLflow run logged (``mlflow.log_input``), brought along as the passport's datasets where their
files are reachable, so that a version imported from MLflow can be validated without a hand upload.

A logged dataset is a name, MLflow's digest, a context ("training", "validation", "test"...) and a source. Its file is
reachable when it is

- one of the run's own artifacts: the source names it (``runs:/``, ``mlflow-artifacts:``), or the run logged a file of
  the source's name (``mlflow.log_artifact("train.csv", "data")``), read through the tracking server the operator
  trusts; or
- a local file under one of the folders of ``MG_MLFLOW_DATASET_ROOTS`` (a share the platform and the training
  jobs both mount).

Nothing else is fetched: an HTTP URL, a bucket or a path outside those folders is recorded with the reason it was
left, never read (the platform does not fetch what a run's author points it at). A file already held by the
passport (the same SHA-256) is taken as it is, not stored twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.files import File
from django.utils.translation import gettext_noop

from registry.choices import DatasetKind
from registry.models import Dataset, ModelPassport

logger = logging.getLogger(__name__)
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
CONTEXT_KINDS = {"training": DatasetKind.REFERENCE, "train": DatasetKind.REFERENCE,
                 "validation": DatasetKind.VALIDATION, "eval": DatasetKind.VALIDATION,
                 "evaluation": DatasetKind.VALIDATION, "test": DatasetKind.VALIDATION,
                 "holdout": DatasetKind.VALIDATION}
ARTIFACT_SCHEMES = ("runs", "mlflow-artifacts")
# Why a logged dataset was left behind: recorded in English on the version's provenance, shown translated.
NOT_A_FILE = gettext_noop("its source is not a file (%(type)s)")
NOT_REACHABLE = gettext_noop("its file is neither an artifact of the run nor under MG_MLFLOW_DATASET_ROOTS")
NOT_TABULAR = gettext_noop("its file is neither CSV nor Parquet")
NOT_READABLE = gettext_noop("its file could not be read: %(error)s")
NOT_VALID = gettext_noop("the platform refused it: %(error)s")


@dataclass
class Logged:
    """One dataset input of the run, and where it ended up."""

    name: str
    context: str
    digest: str  # MLflow's own digest of the data
    source_type: str
    source: str  # the URI or path the run named
    kind: str = DatasetKind.OTHER
    path: Path | None = None  # the file here, once found
    via: str = ""  # "artifact" or "shared folder"
    dataset: Dataset | None = None
    reused: bool = False
    skipped: str = ""  # why it was left (English, translated where shown)
    skipped_args: dict = field(default_factory=dict)

    def record(self) -> dict:
        return {"name": self.name, "context": self.context, "mlflow_digest": self.digest,
                "source_type": self.source_type, "source": self.source[:500], "kind": self.kind, "via": self.via,
                "dataset": self.dataset.pk if self.dataset else None,
                "sha256": self.dataset.sha256 if self.dataset else "", "reused": self.reused,
                "skipped": self.skipped, "skipped_args": self.skipped_args}


def logged_inputs(run) -> list[Logged]:
    """The dataset inputs of an MLflow run (``MlflowClient.get_run``), in the order the run logged them."""
    found = []
    for item in getattr(getattr(run, "inputs", None), "dataset_inputs", None) or []:
        data = item.dataset
        context = next((t.value for t in item.tags or [] if t.key == "mlflow.data.context"), "") or ""
        try:
            source = json.loads(data.source or "{}")
        except ValueError:
            source = {}
        uri = str(source.get("uri") or source.get("url") or source.get("path") or "") if isinstance(source,
                                                                                                   dict) else ""
        found.append(Logged(name=(data.name or "")[:200], context=context[:60], digest=data.digest or "",
                            source_type=data.source_type or "", source=uri,
                            kind=CONTEXT_KINDS.get(context.strip().lower(), DatasetKind.OTHER)))
    return found


def _under_roots(path: Path) -> bool:
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return any(root and real.is_relative_to(Path(root).resolve()) for root in settings.MG_MLFLOW_DATASET_ROOTS)


def _local_path(uri: str) -> Path | None:
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if not parts.scheme and uri.startswith("/"):
        return Path(uri)
    return None


def _artifact_files(client, run_id: str, depth: int = 2, path: str | None = None) -> list[str]:
    """The run's artifact files, two folders deep (a run logs its data beside the model, not in it)."""
    files = []
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            if depth > 1:
                files += _artifact_files(client, run_id, depth - 1, info.path)
        else:
            files.append(info.path)
    return files


def _download(client, uri: str, tracking_uri: str, folder: Path) -> Path:
    import mlflow.artifacts

    from registry.mlflow_import import artifact_location

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=artifact_location(client, uri), dst_path=str(folder),
                                                    tracking_uri=tracking_uri, registry_uri=tracking_uri))


def locate(items: list[Logged], *, client, run_id: str, tracking_uri: str, folder: Path) -> None:
    """Find each logged dataset's file (setting ``path`` and ``via``) or say why it is left (``skipped``)."""
    artifacts: list[str] | None = None
    for n, item in enumerate(items):
        target = folder / f"dataset-{n}"
        target.mkdir(parents=True, exist_ok=True)
        scheme = urlsplit(item.source).scheme
        local = _local_path(item.source)
        name = PurePosixPath(urlsplit(item.source).path).name if item.source else ""
        try:
            if scheme in ARTIFACT_SCHEMES:
                item.path, item.via = _download(client, item.source, tracking_uri, target), "artifact"
            elif local is not None and _under_roots(local):
                item.path, item.via = local.resolve(), "shared folder"
            elif name and Path(name).suffix.lower() in FORMATS:
                if artifacts is None:
                    artifacts = _artifact_files(client, run_id) if run_id else []
                match = next((a for a in artifacts if PurePosixPath(a).name == name), None)
                if match is not None:
                    item.path, item.via = _download(client, f"runs:/{run_id}/{match}", tracking_uri,
                                                    target), "artifact"
        except Exception as exc:  # the server lost the file, a broken URI: left with the reason
            item.skipped, item.skipped_args = NOT_READABLE, {"error": str(exc).splitlines()[0][:200] if str(exc)
                                                             else type(exc).__name__}
            continue
        if item.path is None:
            is_file = item.source_type in ("local", "http", "https", "s3", "gs", "wasbs", "hdfs") or scheme
            item.skipped, item.skipped_args = (NOT_REACHABLE, {}) if is_file else (
                NOT_A_FILE, {"type": item.source_type or "-"})
        elif item.path.is_dir() or item.path.suffix.lower() not in FORMATS:
            item.path, item.skipped = None, NOT_TABULAR


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def register(items: list[Logged], *, actor, passport: ModelPassport, run_id: str) -> None:
    """Store each located file as a dataset of the passport (or take the one it already holds)."""
    from core.errors import DomainError
    from registry.services import dataset_register

    for item in items:
        if item.path is None:
            continue
        existing = passport.datasets.filter(sha256=_sha256(item.path)).order_by("pk").first()
        if existing is not None:
            item.dataset, item.reused = existing, True
            continue
        name = item.name or item.path.stem
        if item.context:
            name = f"{name} ({item.context}, MLflow run {run_id[:8]})"
        try:
            with item.path.open("rb") as handle:
                item.dataset = dataset_register(actor=actor, passport=passport, upload=File(handle,
                                                                                           name=item.path.name),
                                                name=name[:200], kind=item.kind, fmt=FORMATS[item.path.suffix.lower()])
        except DomainError as exc:
            item.skipped, item.skipped_args = NOT_VALID, {"error": exc.message[:200]}


def training(items: list[Logged]) -> Dataset | None:
    return next((i.dataset for i in items if i.dataset is not None and i.kind == DatasetKind.REFERENCE), None)


def sample_frame(items: list[Logged], columns: list[str] | None, rows: int):
    """Rows of the first logged training (else any) dataset found, in ``columns`` when given: the parity sample
    of a model logged without an input example. None when there is none, or it lacks a column."""
    import pandas as pd

    ordered = sorted((i for i in items if i.path is not None), key=lambda i: i.kind != DatasetKind.REFERENCE)
    for item in ordered:
        try:
            frame = (pd.read_parquet(item.path) if FORMATS[item.path.suffix.lower()] == "parquet"
                     else pd.read_csv(item.path, nrows=rows))
        except Exception:  # a file pandas cannot read is no sample; the next one may be
            logger.info("logged dataset %s is unreadable as a parity sample", item.name, exc_info=True)
            continue
        if columns:
            if not set(columns) <= set(frame.columns):
                continue
            frame = frame[columns]
        return frame.head(rows), item.name
    return None
