"""The platform's signing key: one EC P-256 key that signs what must be checked outside the database (audit
checkpoints now; releases later), verifiable by anyone with its public half.

``MG_SIGNING_KEY_FILE`` names a PEM private key (PKCS#8, unencrypted, readable by the platform only). When the
file does not exist it is created once, with mode 0600, so the embedded default works out of the box; at scale
the operator provisions it (a secret mount) and keeps its public half with the auditors.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

ALGORITHM = "ecdsa-p256-sha256"


def _key_path() -> Path:
    return Path(settings.MG_SIGNING_KEY_FILE)


@lru_cache(maxsize=4)
def _load(path: str) -> ec.EllipticCurvePrivateKey:
    file = Path(path)
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        # Written whole under a name of its own, then linked into place: processes starting together (a web
        # server and a worker, test workers) never read a key another one is still writing, and all use the one
        # that was linked first.
        partial = file.with_name(f".{file.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
                os.link(partial, file)
        finally:
            partial.unlink()
    key = serialization.load_pem_private_key(file.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError(f"{file} is not an EC P-256 private key")
    return key


def private_key() -> ec.EllipticCurvePrivateKey:
    return _load(str(_key_path()))


def public_key_pem() -> str:
    return private_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id(public_pem: str | None = None) -> str:
    """sha256 of the public key's DER encoding: names the key in what it signs."""
    public = (serialization.load_pem_public_key(public_pem.encode()) if public_pem
              else private_key().public_key())
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def sign(data: bytes) -> str:
    """Base64 of the DER ECDSA signature of ``data``."""
    return base64.b64encode(private_key().sign(data, ec.ECDSA(hashes.SHA256()))).decode()


def verify(data: bytes, signature: str, public_pem: str | None = None) -> bool:
    """True when ``signature`` is this key's (or ``public_pem``'s) signature of ``data``; False for any other
    signature, and for one that is not even base64."""
    public = (serialization.load_pem_public_key(public_pem.encode()) if public_pem
              else private_key().public_key())
    try:
        public.verify(base64.b64decode(signature, validate=True), data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True
