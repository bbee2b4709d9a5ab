"""Signed releases built on disk without the control plane: for developing the agent, its tests and its benchmark.

``python -m serving.agent.devrelease --model gbdt --out var/dev-release`` trains one of the benchmark models
(a 100-tree gradient-boosting classifier of depth 6, or a 30-64-64-1 MLP, both on 30 features), exports it to
ONNX, writes the manifest with reference histograms, and signs the folder in the OpenSSF Model Signing format with
an EC P-256 key of its own (created beside it). Needs scikit-learn and skl2onnx (the ``demo`` extra).
"""

from __future__ import annotations

import argparse
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from serving.agent import manifest as mf
from serving.agent.explain import explainer_spec

FEATURES = 30


def signing_key(path: Path) -> str:
    """The EC P-256 private key at ``path`` (created when absent); returns the public key in PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = Path(path)
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def data(rows: int = 4000, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES)).astype(np.float32)
    y = ((x[:, 0] + 0.5 * x[:, 1] - 0.25 * x[:, 2] + rng.normal(scale=0.5, size=rows)) > 0).astype(np.int64)
    return x, y


def train(model: str, x: np.ndarray, y: np.ndarray) -> bytes:
    """ONNX bytes of the benchmark model ``gbdt`` or ``mlp`` fitted on ``x, y``."""
    from skl2onnx import to_onnx

    if model == "gbdt":
        from sklearn.ensemble import GradientBoostingClassifier

        fitted = GradientBoostingClassifier(n_estimators=100, max_depth=6, random_state=0).fit(x, y)
        options = {id(fitted): {"zipmap": False}}
    elif model == "mlp":
        from sklearn.neural_network import MLPRegressor

        fitted = MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=60, random_state=0).fit(x, y.astype(np.float32))
        options = None
    else:
        raise ValueError(f"unknown model {model!r}")
    return to_onnx(fitted, x[:1], options=options, target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString()


def write_release(folder: Path, artifact: bytes, reference: np.ndarray, *, key: Path, passport: str = "bench",
                  version: int = 1, scores: np.ndarray | None = None, task: str = "classification",
                  names: list[str] | None = None, bounds: float | None = 10.0, personal: list[str] | None = None,
                  max_decisions_per_day: int = 0, approved_until: datetime | None = None) -> tuple[Path, Path]:
    """Write and sign a release of ``artifact`` in ``folder``; returns the folder and its signature file."""
    from model_signing import signing

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"x{i}" for i in range(reference.shape[1])]
    histograms = {name: mf.histogram_of(reference[:, i], categorical=False) for i, name in enumerate(names)}
    if scores is not None:
        histograms[mf.SCORE] = mf.histogram_of(scores, categorical=False)
    features = [mf.Feature(name=n, type="float", min=None if bounds is None else -bounds,
                           max=None if bounds is None else bounds) for n in names]
    until = approved_until or datetime.now(UTC) + timedelta(days=30)
    explainer = explainer_spec(artifact, reference)
    manifest = mf.Manifest(
        format=mf.FORMAT, passport=passport, passport_name=passport.title(), version=version, risk_tier=2,
        artifact=mf.ARTIFACT_FILE, artifact_sha256=hashlib.sha256(artifact).hexdigest(), artifact_size=len(artifact),
        input=None, layout="tensor", features=features, outputs=[], task=task, histograms=histograms,
        reference_rows=len(reference), reference_dataset_sha256="0" * 64, thresholds=mf.Thresholds(),
        stop_limits=mf.StopLimits(max_decisions_per_day=max_decisions_per_day),
        personal_data_columns=sorted(personal or []), approved_until=until.isoformat(),
        created_at=datetime.now(UTC).isoformat(), explainer=explainer)
    (folder / mf.ARTIFACT_FILE).write_bytes(artifact)
    (folder / mf.MANIFEST_FILE).write_bytes(mf.manifest_encode(manifest))
    signature = folder.with_name(f"{folder.name}.sig")
    signing_key(key)
    signing.Config().use_elliptic_key_signer(private_key=key).sign(folder, signature)
    return folder, signature


def reference_scores(artifact: bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(artifact, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    last = np.asarray(outputs[-1], dtype=np.float64)
    return last[:, 1] if last.ndim == 2 and last.shape[1] == 2 else last.ravel()


def build(model: str, out: Path, **options) -> tuple[Path, Path, Path]:
    """Train, export, write and sign; returns the release folder, its signature and the public key file."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    x, y = data()
    artifact = train(model, x, y)
    key = out / "signing-key.pem"
    public = out / "signing-key.pub.pem"
    public.write_text(signing_key(key))
    folder, signature = write_release(out / f"{model}-release", artifact, x, key=key, passport=model,
                                      scores=reference_scores(artifact, x),
                                      task="classification" if model == "gbdt" else "regression", **options)
    return folder, signature, public


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m serving.agent.devrelease", description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["gbdt", "mlp"], default="gbdt")
    parser.add_argument("--out", type=Path, default=Path("var/dev-release"))
    args = parser.parse_args(argv)
    folder, signature, public = build(args.model, args.out)
    print(f"release {folder}\nsignature {signature}\npublic key {public}")


if __name__ == "__main__":
    main()
