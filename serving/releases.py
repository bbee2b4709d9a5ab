"""Signing releases in the control plane: the OpenSSF Model Signing format, offline, with the platform key.

``release_sign(folder)`` writes ``<folder>.sig`` beside the folder: a sigstore bundle over the sha256 of every file
in it (the ONNX artifact and its manifest), signed with the EC P-256 key of ``MG_SIGNING_KEY_FILE``. Any OpenSSF
verifier checks it with the public half (``core.signing.public_key_pem()``), including the hosts' own
(``serving.agent.verify``) and sigstore's model-validation operator for KServe.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from core import signing


def release_sign(folder: Path | str) -> Path:
    """Sign the files of ``folder``; returns the signature's path (``<folder>.sig``, outside the signed folder)."""
    from model_signing import signing as model_signing  # imported here: only the control plane's signing pays

    folder = Path(folder)
    if not folder.is_dir() or not any(folder.iterdir()):
        raise ValueError(f"nothing to sign in {folder}")
    signing.private_key()  # the key exists (created on first use) before model_signing reads its file
    signature = folder.with_name(f"{folder.name}.sig")
    model_signing.Config().use_elliptic_key_signer(private_key=settings.MG_SIGNING_KEY_FILE).sign(folder, signature)
    return signature
