"""Signed checkpoints of the audit chain's head, kept outside the database.

A checkpoint says "the chain had ``seq`` events and its last hash was ``hash`` at ``time``", signed with the
platform key (``core.signing``). Checkpoints are written to the artifact store (``audit/checkpoints/``) on the
beat schedule when the chain has grown and at every export, into every dossier and evidence pack, and to
``MG_AUDIT_ANCHOR_DIR`` when the operator names one (files created once, never overwritten: a write-once mount).
Whoever deletes the chain's tail and rewinds its head in the database still cannot unsign a checkpoint held
elsewhere: verification against the latest one names the first missing event.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from core import signing
from governance.audit.models import AuditChainHead

FOLDER = "audit/checkpoints"
CHAIN = "model-governance/audit-chain"


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    time: str
    key_id: str
    signature: str = ""
    reason: str = ""
    algorithm: str = signing.ALGORITHM

    def signed_bytes(self) -> bytes:
        """What the signature covers: the chain, the head and the time, in canonical JSON."""
        return json.dumps({"chain": CHAIN, "seq": self.seq, "hash": self.hash, "time": self.time,
                           "key_id": self.key_id}, sort_keys=True, separators=(",", ":")).encode()

    @property
    def filename(self) -> str:
        stamp = self.time.replace("-", "").replace(":", "").replace("+0000", "Z").replace("+00:00", "Z")
        return f"{self.seq:012d}-{stamp}.json"

    def as_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> bytes:
        return json.dumps({"chain": CHAIN, **self.as_dict()}, indent=2, sort_keys=True).encode()

    def signature_valid(self) -> bool:
        return self.key_id == signing.key_id() and signing.verify(self.signed_bytes(), self.signature)


def _parse(raw: bytes) -> Checkpoint | None:
    try:
        data = json.loads(raw)
        return Checkpoint(seq=int(data["seq"]), hash=str(data["hash"]), time=str(data["time"]),
                          key_id=str(data["key_id"]), signature=str(data["signature"]),
                          reason=str(data.get("reason", "")), algorithm=str(data.get("algorithm", "")))
    except (ValueError, KeyError, TypeError):
        return None


def checkpoint_write(*, reason: str) -> Checkpoint:
    """Sign the chain head as committed now and write it to the artifact store (and the anchor folder)."""
    head = AuditChainHead.objects.filter(pk=1).first()
    seq, last_hash = (head.last_seq, head.last_hash) if head else (0, "0" * 64)
    unsigned = Checkpoint(seq=seq, hash=last_hash, time=timezone.now().isoformat(timespec="microseconds"),
                          key_id=signing.key_id(), reason=reason[:200])
    checkpoint = Checkpoint(**{**unsigned.as_dict(), "signature": signing.sign(unsigned.signed_bytes())})
    body = checkpoint.to_json()
    default_storage.save(f"{FOLDER}/{checkpoint.filename}", ContentFile(body))
    anchor = getattr(settings, "MG_AUDIT_ANCHOR_DIR", "")
    if anchor:
        folder = Path(anchor)
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / checkpoint.filename, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
    return checkpoint


def _stored() -> list[tuple[str, callable]]:
    """(file name, reader) of every checkpoint in the artifact store and the anchor folder."""
    found = []
    try:
        _dirs, files = default_storage.listdir(FOLDER)
    except FileNotFoundError:
        files = []
    found += [(name, lambda n=name: default_storage.open(f"{FOLDER}/{n}", "rb").read()) for name in files]
    anchor = getattr(settings, "MG_AUDIT_ANCHOR_DIR", "")
    if anchor and Path(anchor).is_dir():
        found += [(p.name, p.read_bytes) for p in Path(anchor).glob("*.json")]
    return [(name, read) for name, read in found if name.endswith(".json")]


@dataclass(frozen=True)
class Latest:
    """The newest checkpoint whose signature holds, and the files that claimed to be checkpoints but did not."""

    checkpoint: Checkpoint | None
    rejected: tuple[str, ...] = ()


def checkpoint_latest() -> Latest:
    """The validly signed checkpoint with the highest sequence number, from wherever checkpoints are kept."""
    rejected, best, current_key = [], None, signing.key_id()
    # newest first by name (sequence, then time): the first one whose signature holds is the latest; checkpoints
    # signed by an earlier key (before a rotation) are passed over, forged or damaged ones are reported
    for name, read in sorted(_stored(), key=lambda item: item[0], reverse=True):
        checkpoint = _parse(read())
        if checkpoint is not None and checkpoint.key_id != current_key:
            continue
        if checkpoint is None or not checkpoint.signature_valid():
            rejected.append(name)
            continue
        best = checkpoint
        break  # older ones are vouched for by this one, through the chain
    return Latest(best, tuple(sorted(set(rejected))))


def checkpoint_if_grown(*, reason: str) -> Checkpoint | None:
    """Write a checkpoint when the chain has grown since the latest one (the beat schedule's task)."""
    head = AuditChainHead.objects.filter(pk=1).first()
    latest = checkpoint_latest().checkpoint
    if head is None or (latest is not None and latest.seq >= head.last_seq):
        return None
    return checkpoint_write(reason=reason)
