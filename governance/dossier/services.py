"""Auditor exports of a passport: the dossier PDF and the evidence pack (ZIP).

Both verify the whole audit chain first and render the records of ``governance.dossier``; both append an audit
event with the sha256 of what was handed out (``dossier.exported``, ``evidence_pack.exported``), so an auditor
can later prove which document came from the platform. Only users who may read the audit chain and see the
passport may export (``governance.workflow.permissions.can_export_evidence``); the caller resolves the passport through
a selector first, so an invisible passport is a 404 before it gets here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from core import signing
from core.actors import Actor
from core.errors import PermissionDenied
from governance.audit.checkpoints import checkpoint_write
from governance.audit.models import AuditEvent
from governance.audit.services import audit_append, audit_verify
from governance.dossier.records import (
    canonical_json,
    dossier_records,
    event_record,
    passport_events,
    render_dossier_pdf,
)
from governance.workflow.permissions import can_export_evidence
from registry.models import Dataset, ModelVersion
from validation.models import ValidationReport

PACK_FORMAT = "model-governance/evidence-pack/1"
CHUNK = 1 << 20
VERIFY_SCRIPT = Path(__file__).resolve().parent / "evidence_pack_verify.py"


@dataclass
class Dossier:
    """A rendered dossier: the PDF bytes, their sha256, and the sha256 of the records it was rendered from."""

    content: bytes
    sha256: str
    records_sha256: str
    filename: str


@dataclass
class EvidencePack:
    """A built evidence pack in an anonymous temporary file (deleted when ``file`` is closed), at offset 0."""

    file: IO[bytes]
    sha256: str
    size: int
    filename: str
    manifest: dict


def _require(actor: Actor, passport) -> None:
    if not can_export_evidence(actor, passport):
        raise PermissionDenied(_("Only auditors, risk officers, security reviewers and administrators may export "
                                 "the dossier and evidence pack of passport '%(key)s'.") % {"key": passport.key})


def _stamp(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _silent(step: str, percent: int) -> None:
    return None


def _render(actor: Actor, passport, now, progress=_silent, scale: float = 1.0):
    progress(_("Verifying the audit chain"), int(5 * scale))
    checkpoint_write(reason=f"export of {passport.key}")  # every export anchors the chain outside the database
    verification = audit_verify()
    progress(_("Collecting the records"), int(25 * scale))
    records = dossier_records(passport, verification=verification)
    records_bytes = canonical_json(records)
    records_sha256 = hashlib.sha256(records_bytes).hexdigest()
    progress(_("Rendering the dossier PDF"), int(40 * scale))
    pdf = render_dossier_pdf(records, records_sha256=records_sha256, generated_by=actor.get_username(),
                             generated_at=now)
    return verification, records, records_bytes, records_sha256, pdf


def dossier_export(*, actor: Actor, passport, progress=_silent) -> Dossier:
    """Verify the chain, render the passport's dossier PDF and record ``dossier.exported`` with its sha256.
    ``progress(step, percent)`` hears how far it is (the background job's page shows it)."""
    _require(actor, passport)
    now = timezone.now()
    verification, _events, _records, records_sha256, pdf = _render(actor, passport, now, progress)
    dossier = Dossier(content=pdf, sha256=hashlib.sha256(pdf).hexdigest(), records_sha256=records_sha256,
                      filename=f"{passport.key}-dossier-{_stamp(now)}.pdf")
    with transaction.atomic(durable=True):
        audit_append(actor=actor, action="dossier.exported", obj=passport, passport_key=passport.key,
                     digests={"dossier_sha256": dossier.sha256, "records_sha256": records_sha256},
                     data={"chain_ok": verification.ok, "chain_head_hash": verification.head_hash,
                           "events_checked": verification.events_checked})
    return dossier


# --------------------------------------------------------------------------- the evidence pack


class _PackWriter:
    """Writes entries into a ZIP and remembers each one's sha256 and size for the manifest."""

    def __init__(self, handle: IO[bytes]):
        self.zip = zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self.files: list[dict] = []

    def add_bytes(self, path: str, data: bytes) -> dict:
        self.zip.writestr(path, data)
        return self._entry(path, hashlib.sha256(data).hexdigest(), len(data))

    def add_stream(self, path: str, chunks) -> dict:
        digest, size = hashlib.sha256(), 0
        with self.zip.open(path, "w", force_zip64=True) as target:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                target.write(chunk)
        return self._entry(path, digest.hexdigest(), size)

    def _entry(self, path: str, sha256: str, size: int) -> dict:
        entry = {"path": path, "sha256": sha256, "size": size}
        self.files.append(entry)
        return entry


def _stored_chunks(name: str):
    with default_storage.open(name, "rb") as handle:
        yield from iter(lambda: handle.read(CHUNK), b"")


def _stored_sha256(name: str) -> str | None:
    """sha256 of a stored file as it is now (None when it is missing): recorded digests are checked, not trusted."""
    if not name or not default_storage.exists(name):
        return None
    digest = hashlib.sha256()
    for chunk in _stored_chunks(name):
        digest.update(chunk)
    return digest.hexdigest()


def _jsonl(rows):
    for row in rows:
        yield canonical_json(row) + b"\n"


def _chain_links(upto: int):
    rows = AuditEvent.objects.filter(seq__lte=upto).order_by("seq").values_list("seq", "prev_hash", "hash")
    for seq, prev_hash, hash_ in rows.iterator(chunk_size=5000):
        yield {"seq": seq, "prev_hash": prev_hash, "hash": hash_}


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:120] or "file"


def _add_reports(writer: _PackWriter, passport) -> list[dict]:
    """Every issued report file (and its rendered PDF, where reports have one) under reports/v<n>/."""

    out = []
    for report in ValidationReport.objects.filter(version__passport=passport).select_related("version").order_by(
            "version__number", "issued_at", "pk"):
        pdf = getattr(report, "pdf_file", None)
        for kind, field, recorded in (("file", report.file, report.sha256),
                                      ("pdf_file", pdf, getattr(report, "pdf_sha256", None))):
            if not field or not getattr(field, "name", ""):
                continue
            base = report.filename if kind == "file" else Path(field.name).name
            path = f"reports/v{report.version.number}/{report.pk}-{_safe_name(base)}"
            if kind == "pdf_file" and not path.endswith(".pdf"):
                path += ".pdf"
            entry = {"version": report.version.number, "report": report.pk, "kind": kind, "path": path,
                     "recorded_sha256": recorded or None}
            if not default_storage.exists(field.name):
                out.append({**entry, "missing": True})
                continue
            written = writer.add_stream(path, _stored_chunks(field.name))
            out.append({**entry, "sha256": written["sha256"],
                        "matches_record": None if not recorded else written["sha256"] == recorded})
    return out


def _stored_digests(passport) -> tuple[list[dict], list[dict]]:

    artifacts = [{"version": v.number, "sha256": v.sha256, "size": v.size,
                  "stored_sha256": (stored := _stored_sha256(v.artifact.name)), "matches": stored == v.sha256}
                 for v in ModelVersion.objects.filter(passport=passport).order_by("number")]
    datasets = [{"id": d.pk, "name": d.name, "kind": d.kind, "sha256": d.sha256, "size": d.size,
                 "stored_sha256": (stored := _stored_sha256(d.file.name)), "matches": stored == d.sha256}
                for d in Dataset.objects.filter(passport=passport).order_by("created_at", "pk")]
    return artifacts, datasets


def _readme(passport, manifest_head: dict) -> bytes:
    return render_to_string("governance/dossier/README.txt", {**manifest_head, "passport": passport}).encode()


def _write_pack(writer: _PackWriter, actor: Actor, passport, now, progress=_silent) -> dict:
    upto = AuditEvent.objects.aggregate(head=Max("seq"))["head"] or 0
    verification, records, records_bytes, records_sha256, pdf = _render(actor, passport, now, progress, scale=0.6)
    progress(_("Adding the chain proof"), 45)
    writer.add_bytes("dossier.pdf", pdf)
    writer.add_bytes("records.json", records_bytes)
    writer.add_bytes("chain/verification.json", canonical_json(verification.as_dict()))
    if verification.checkpoint:
        writer.add_bytes("chain/checkpoint.json", canonical_json(verification.checkpoint))
        writer.add_bytes("chain/platform-key.pem", signing.public_key_pem().encode())
    writer.add_stream("chain/events.jsonl", _jsonl(event_record(e) for e in
                                                   passport_events(passport).filter(seq__lte=upto).iterator()))
    writer.add_stream("chain/links.jsonl", _jsonl(_chain_links(upto)))
    writer.add_bytes("verify.py", VERIFY_SCRIPT.read_bytes())
    progress(_("Adding the issued reports"), 60)
    reports = _add_reports(writer, passport)
    progress(_("Checking the digests of artifacts and datasets"), 75)
    head = {"format": PACK_FORMAT, "passport": passport.key, "generated_at": now.astimezone(dt.UTC).isoformat(),
            "generated_by": actor.get_username(), "records_sha256": records_sha256,
            "dossier_sha256": hashlib.sha256(pdf).hexdigest(), "chain": verification.as_dict(),
            "chain_links_upto_seq": upto}
    writer.add_bytes("README.txt", _readme(passport, head))
    artifacts, datasets = _stored_digests(passport)
    manifest = {**head, "files": list(writer.files), "reports": reports, "artifacts": artifacts,
                "datasets": datasets}
    writer.add_bytes("MANIFEST.json", json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True).encode())
    return manifest


def evidence_pack_export(*, actor: Actor, passport, progress=_silent) -> EvidencePack:
    """Build the passport's evidence pack in a temporary file and record ``evidence_pack.exported`` with its
    sha256 (and the manifest's). Contents: README.txt, MANIFEST.json (sha256 and size of every other file, the
    recorded and recomputed digests of every artifact and dataset), dossier.pdf, records.json, every issued
    report file, the chain proof under chain/ and verify.py, which checks all of it offline."""
    _require(actor, passport)
    now = timezone.now()
    # Not a context manager: the open file is handed to the caller, whose response streams and then closes it.
    handle = tempfile.TemporaryFile(prefix="evidence-", suffix=".zip")  # noqa: SIM115
    try:
        writer = _PackWriter(handle)
        with writer.zip:
            manifest = _write_pack(writer, actor, passport, now, progress)
        size, digest = handle.seek(0, 2), hashlib.sha256()
        handle.seek(0)
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
        handle.seek(0)
        pack = EvidencePack(file=handle, sha256=digest.hexdigest(), size=size, manifest=manifest,
                            filename=f"{passport.key}-evidence-{_stamp(now)}.zip")
        manifest_sha256 = next(f["sha256"] for f in writer.files if f["path"] == "MANIFEST.json")
        with transaction.atomic(durable=True):
            audit_append(actor=actor, action="evidence_pack.exported", obj=passport, passport_key=passport.key,
                         digests={"evidence_pack_sha256": pack.sha256, "manifest_sha256": manifest_sha256,
                                  "records_sha256": manifest["records_sha256"],
                                  "dossier_sha256": manifest["dossier_sha256"]},
                         data={"files": len(writer.files), "size": size, "chain_ok": manifest["chain"]["ok"],
                               "chain_head_hash": manifest["chain"]["head_hash"]})
    except BaseException:
        handle.close()
        raise
    return pack
