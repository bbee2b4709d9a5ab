"""Real agent processes on 127.0.0.1 serving signed releases built on disk (no control plane needed here)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from serving.agent import devrelease

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tok-test-client"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Built:
    folder: Path
    signature: Path
    public_key: Path
    key: Path
    artifact: bytes
    x: np.ndarray


@pytest.fixture(scope="session")
def gbdt_release(tmp_path_factory) -> Built:
    """The benchmark's 100-tree gradient-boosting classifier on 30 features, signed."""
    out = tmp_path_factory.mktemp("gbdt")
    x, y = devrelease.data(rows=1500)
    artifact = devrelease.train("gbdt", x, y)
    key = out / "signing-key.pem"
    public = out / "signing-key.pub.pem"
    public.write_text(devrelease.signing_key(key))
    folder, signature = devrelease.write_release(out / "release", artifact, x, key=key, passport="gbdt",
                                                 scores=devrelease.reference_scores(artifact, x))
    return Built(folder, signature, public, key, artifact, x)


def variant(base: Built, out: Path, **options) -> Built:
    """Another release of the same model (other manifest options), signed with the same key."""
    folder, signature = devrelease.write_release(out / "release", base.artifact, base.x, key=base.key,
                                                 passport="gbdt", **options)
    return Built(folder, signature, base.public_key, base.key, base.artifact, base.x)


@dataclass
class AgentProcess:
    port: int
    state: Path
    args: list
    process: subprocess.Popen | None = None
    output: Path = field(default=None)
    file_limit: int | None = None  # RLIMIT_FSIZE of the agent: the OS refuses writes past it (a full disk, per file)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> AgentProcess:
        self.output = self.state.with_suffix(".log")
        handle = open(self.output, "ab")  # noqa: SIM115 (the process owns it)
        self.process = subprocess.Popen([sys.executable, "-m", "serving.agent", *self.args], cwd=ROOT,
                                        stdout=handle, stderr=subprocess.STDOUT,
                                        env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=self._limits)
        if wait:
            self.wait_ready()
        return self

    def _limits(self) -> None:
        if self.file_limit is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_limit, self.file_limit))

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"agent exited {self.process.returncode}: {self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/v2/health/live", timeout=1):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise AssertionError(f"agent not live in {timeout} s: {self.log()[-3000:]}")

    def log(self) -> str:
        return self.output.read_text(errors="replace") if self.output and self.output.exists() else ""

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def clients_file(tmp_path) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"clients": [{"name": "tests", "sha256": hashlib.sha256(TOKEN.encode()).hexdigest()}]}))
    return path


@pytest.fixture
def agent_factory(tmp_path, clients_file):
    started: list[AgentProcess] = []

    def make(built: Built, *extra, state: Path | None = None, port: int | None = None, wait: bool = True,
             clients: Path | None = None, file_limit: int | None = None) -> AgentProcess:
        state = state or tmp_path / f"state-{len(started)}"
        args = ["--release", str(built.folder), "--signature", str(built.signature), "--public-key",
                str(built.public_key), "--state-dir", str(state), "--clients-file", str(clients or clients_file),
                "--port", str(port or free_port()), "--log-level", "WARNING", *extra]
        agent = AgentProcess(port=int(args[args.index("--port") + 1]), state=state, args=args, file_limit=file_limit)
        started.append(agent)
        return agent.start(wait=wait)

    yield make
    for agent in started:
        agent.stop()


def call(url: str, body=None, *, token: str | None = TOKEN, headers: dict | None = None, raw: bytes | None = None,
         method: str | None = None) -> tuple[int, dict, bytes]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"))
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def record(x: np.ndarray) -> dict:
    return {f"x{i}": float(v) for i, v in enumerate(x)}
