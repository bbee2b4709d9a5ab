"""Releases on the host's disk, verified before anything of them is loaded (no Django).

``<state>/releases/<id>/`` holds a release's files exactly as signed, ``<state>/releases/<id>.sig`` its OpenSSF
signature. A release is checked every time it is opened, from the network or from this cache: the signature
over the folder with the control plane's public key, then the artifact's sha256 against the manifest and
against the desired state, then the approval's expiry. The last good releases stay here, so a restarted host
serves through a control-plane outage.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from serving.agent.manifest import ARTIFACT_FILE, MANIFEST_FILE, Manifest, ManifestInvalid, manifest_decode
from serving.agent.verify import ReleaseRejected, release_verify


class Refusal(Exception):
    """A release this host will not serve. ``kind`` is what the heartbeat reports: ``signature_invalid``,
    ``digest_mismatch``, ``release_expired``, ``manifest_invalid`` or ``download_failed``."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


@dataclass(frozen=True)
class Opened:
    release: int
    folder: Path
    manifest: Manifest
    artifact: bytes


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def expired(manifest: Manifest, now: datetime | None = None) -> bool:
    if not manifest.approved_until:
        return False
    until = datetime.fromisoformat(manifest.approved_until)
    return (now or datetime.now(UTC)) >= until


def open_release(folder: Path, signature: Path, public_key_pem: str, *, release: int = 0,
                 expected_sha256: str | None = None) -> Opened:
    """Verify and read a release; raise :class:`Refusal` for anything that is not exactly what was signed."""
    try:
        release_verify(folder, signature, public_key_pem)
    except ReleaseRejected as exc:
        raise Refusal("signature_invalid", str(exc)) from exc
    try:
        manifest = manifest_decode((folder / MANIFEST_FILE).read_bytes())
    except ManifestInvalid as exc:
        raise Refusal("manifest_invalid", str(exc)) from exc
    artifact = (folder / ARTIFACT_FILE).read_bytes()
    digest = _sha256(artifact)
    if digest != manifest.artifact_sha256 or (expected_sha256 and digest != expected_sha256):
        raise Refusal("digest_mismatch", f"artifact sha256 {digest[:12]}… is not the approved "
                                         f"{(expected_sha256 or manifest.artifact_sha256)[:12]}…")
    if expired(manifest):
        raise Refusal("release_expired", f"the approval of v{manifest.version} expired at {manifest.approved_until}")
    return Opened(release=release, folder=folder, manifest=manifest, artifact=artifact)


class ReleaseStore:
    def __init__(self, root: Path):
        self.root = Path(root) / "releases"
        self.root.mkdir(parents=True, exist_ok=True)

    def paths(self, release: int) -> tuple[Path, Path]:
        return self.root / str(release), self.root / f"{release}.sig"

    def have(self, release: int) -> bool:
        folder, signature = self.paths(release)
        return folder.is_dir() and signature.is_file()

    def fetch(self, control_plane, entry: dict) -> None:
        """Download a release of the desired state into its place (files first, then the signature)."""
        folder, signature = self.paths(entry["release"])
        work = self.root / f".{entry['release']}.download"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            for item in entry["files"]:
                if item["name"] not in (ARTIFACT_FILE, MANIFEST_FILE):
                    raise Refusal("manifest_invalid", f"unexpected release file {item['name']!r}")
                control_plane.download(item["url"], work / item["name"])
            control_plane.download(entry["signature_url"], work.with_suffix(".sig"))
            shutil.rmtree(folder, ignore_errors=True)
            work.rename(folder)
            work.with_suffix(".sig").rename(signature)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            work.with_suffix(".sig").unlink(missing_ok=True)

    def open(self, entry: dict, public_key_pem: str) -> Opened:
        folder, signature = self.paths(entry["release"])
        return open_release(folder, signature, public_key_pem, release=entry["release"],
                            expected_sha256=entry.get("artifact_sha256"))

    def drop(self, release: int) -> None:
        folder, signature = self.paths(release)
        shutil.rmtree(folder, ignore_errors=True)
        signature.unlink(missing_ok=True)

    def prune(self, keep: set[int]) -> None:
        """Drop releases no longer wanted, keeping ``keep`` (the ones served now and the last good ones)."""
        for path in self.root.iterdir():
            stem = path.name.removesuffix(".sig")
            if stem.isdigit() and int(stem) not in keep:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
