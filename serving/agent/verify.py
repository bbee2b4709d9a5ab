"""Verify a signed release before anything of it is loaded (no Django: this runs on the serving hosts).

A release is a folder (the ONNX artifact and its manifest) and a signature file beside it in the OpenSSF Model
Signing format (a sigstore bundle over the digest of every file in the folder), made offline with the control
plane's EC P-256 key. Verification recomputes every file's digest, checks that no file was added or removed, and
checks the signature with the public key the host enrolled with. Any other outcome is a refusal that says why.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


class ReleaseRejected(Exception):
    """The release is not the one the control plane signed (or not signed by it); ``str()`` says why."""


def release_verify(folder: Path | str, signature: Path | str, public_key_pem: str) -> None:
    """Return when ``signature`` is the control plane's signature of exactly the files in ``folder``; raise
    :class:`ReleaseRejected` otherwise."""
    from model_signing import verifying  # imported here: a host that only serves pays for it at each load

    folder, signature = Path(folder), Path(signature)
    if not folder.is_dir() or not signature.is_file():
        raise ReleaseRejected(f"release not found: {folder} / {signature}")
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=True) as key:
        key.write(public_key_pem)
        key.flush()
        try:
            verifying.Config().use_elliptic_key_verifier(public_key=key.name).verify(folder, signature)
        except Exception as exc:  # model_signing raises ValueError and friends; all mean "not this release"
            raise ReleaseRejected(f"signature check failed: {exc}") from exc
