"""Releases are signed in the OpenSSF Model Signing format with the platform key, offline, and the hosts' verifier
(the model-signing package's own) accepts exactly what was signed: an altered artifact, an added file or another
key's signature is refused, saying why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core import signing
from governance.demo.onnx_models import build_demo_model
from serving.agent.verify import ReleaseRejected, release_verify
from serving.releases import release_sign

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def release(tmp_path, settings):
    settings.MG_SIGNING_KEY_FILE = str(tmp_path / "keys" / "platform.pem")
    folder = tmp_path / "credit-scoring-v1"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(build_demo_model("credit-scoring", n_rows=200).onnx_bytes)
    (folder / "manifest.json").write_text('{"passport": "credit-scoring", "version": 1}')
    return folder, release_sign(folder)


def test_a_signed_release_verifies_with_the_platform_public_key(release):
    folder, signature = release
    assert signature == folder.with_name("credit-scoring-v1.sig") and signature.stat().st_size > 500
    release_verify(folder, signature, signing.public_key_pem())


def test_the_host_verifier_runs_without_django(release):
    """The agent side imports no Django: verify in a bare interpreter with only the public key."""
    folder, signature = release
    code = ("import sys; from serving.agent.verify import release_verify; "
            "release_verify(sys.argv[1], sys.argv[2], open(sys.argv[3]).read()); "
            "assert 'django' not in sys.modules; print('ok')")
    key = folder.parent / "public.pem"
    key.write_text(signing.public_key_pem())
    done = subprocess.run([sys.executable, "-c", code, str(folder), str(signature), str(key)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize("damage", ["altered artifact", "added file", "removed manifest"])
def test_a_release_changed_after_signing_is_refused(release, damage):
    folder, signature = release
    if damage == "altered artifact":
        with open(folder / "model.onnx", "r+b") as handle:
            handle.seek(100)
            handle.write(b"\x00\x01")
    elif damage == "added file":
        (folder / "extra_op.so").write_bytes(b"\x7fELF")
    else:
        (folder / "manifest.json").unlink()
    with pytest.raises(ReleaseRejected, match="signature check failed"):
        release_verify(folder, signature, signing.public_key_pem())


def test_a_signature_by_another_key_is_refused(release):
    folder, signature = release
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(ReleaseRejected):
        release_verify(folder, signature, other)
    with pytest.raises(ReleaseRejected, match="not found"):
        release_verify(folder, folder.with_name("missing.sig"), signing.public_key_pem())
