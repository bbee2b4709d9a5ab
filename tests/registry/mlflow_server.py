"""A real MLflow tracking server for tests: ``mlflow server`` from var/mlflow-server (scripts/bootstrap.sh test),
SQLite backend, artifacts served by the server from a local folder, on a free port of 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from django.conf import settings

SERVER = Path(settings.BASE_DIR) / "var" / "mlflow-server" / "bin" / "mlflow"

# Each logged model's requirements, named: MLflow otherwise infers them by loading the model in a new interpreter,
# 6 to 17 s a model here, and the platform never reads them. As a pipeline that pins its requirements logs.
SKLEARN = {"pip_requirements": ["scikit-learn"]}
ONNX = {"pip_requirements": ["onnx"]}
XGBOOST = {"pip_requirements": ["xgboost"]}
LIGHTGBM = {"pip_requirements": ["lightgbm"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def tracking_server(root: Path):
    """The server's URL while the block runs; the process is stopped after it."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(SERVER), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true",
                                                                   "DO_NOT_TRACK": "true"})
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the MLflow server did not start") from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
