"""Benchmark rollouts and rollbacks end to end: the control plane serving a scratch database over HTTP, a real host
agent process, and constant traffic through the agent.

Each round deploys v2 (measured: from the service's return to the first answer of v2), then rolls it back to v1
(from the rollback's return to the first answer of v1), then stops the deployment. The first round includes the
download, signature check and warm-up of both releases; later rounds find them verified on disk. The agent polls
at the control plane's ``MG_AGENT_POLL_SECONDS`` unless ``--poll-seconds`` is given, so a change reaches it within
one interval: the medians are about half an interval plus the switch. Reported: every round and the medians, and
whether any request failed during the switches (none may).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection, connections
from django.utils import timezone


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Command(BaseCommand):
    help = "Time deployments and rollbacks through a real host agent, in a scratch database."

    def add_arguments(self, parser):
        parser.add_argument("--rounds", type=int, default=10)
        parser.add_argument("--poll-seconds", type=float, default=None,
                            help="the agent's poll interval (default: the control plane's MG_AGENT_POLL_SECONDS)")

    def handle(self, *args, **options):
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1", "localhost"]
        creation = connection.creation
        original = connection.settings_dict["NAME"]
        name = creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False, serialize=False)
        try:
            self._run(options)
        finally:
            connection.close()
            creation.destroy_test_db(original, verbosity=0, keepdb=False)
            self.stdout.write(f"scratch database {name} dropped")

    def _world(self):
        from django.core.files.uploadedfile import SimpleUploadedFile

        from governance.demo.onnx_models import build_demo_model
        from registry import services as registry_services
        from registry.models import ModelVersion
        from serving.management.commands._bench import bench_passport

        admin, engineer, passport = bench_passport("bench-rollout", "Bench rollout")
        model = build_demo_model("credit-scoring", n_rows=1000)
        for variant in ("", "challenger"):
            built = build_demo_model("credit-scoring", n_rows=1000, variant=variant) if variant else model
            version = registry_services.version_register(
                actor=engineer, passport=passport, feature_names=built.feature_names,
                upload=SimpleUploadedFile("model.onnx", built.onnx_bytes, "application/octet-stream"))
            ModelVersion.objects.filter(pk=version.pk).update(
                state="approved", approval_expires_at=timezone.now() + timedelta(days=365))
        return admin, engineer, passport, model

    def _run(self, options):
        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.test.testcases import LiveServerThread

        from serving import services
        from serving.choices import DeploymentStatus
        from serving.models import Deployment, Host

        admin, engineer, passport, model = self._world()
        overrides = None
        if connection.vendor == "sqlite":  # the scratch database lives in memory: the server's threads share it
            overrides = {"default": connections["default"]}
            connections["default"].inc_thread_sharing()
        server = LiveServerThread("127.0.0.1", StaticFilesHandler, connections_override=overrides, port=0)
        server.daemon = True
        server.start()
        server.is_ready.wait()
        if server.error:
            raise server.error
        base = f"http://127.0.0.1:{server.port}"
        _token, secret = services.enrolment_token_create(actor=admin, name="bench agent")
        state = Path(tempfile.mkdtemp(prefix="bench-rollout-"))
        clients = state.with_suffix(".clients.json")
        clients.write_text(json.dumps({"clients": []}))
        port = _free_port()
        command = [sys.executable, "-m", "serving.agent", "--control-plane", base, "--enrolment-token", secret,
                   "--name", "bench-agent", "--state-dir", str(state), "--port", str(port), "--allow-anonymous",
                   "--clients-file", str(clients), "--log-level", "WARNING"]
        if options["poll_seconds"]:
            command += ["--poll-seconds", str(options["poll_seconds"])]
        agent = subprocess.Popen(command, cwd=settings.BASE_DIR, env={**os.environ})  # noqa: S603 (our own command)
        try:
            host = self._wait(lambda: Host.objects.filter(name="bench-agent", last_heartbeat_at__isnull=False).first(),
                              60, "the agent's enrolment")
            self._wait(lambda: _live(f"http://127.0.0.1:{port}/v2/health/live"), 60, "the agent's HTTP server")
            traffic = _Traffic(f"http://127.0.0.1:{port}/v1/models/{passport.key}/predict", model.feature_names)
            traffic.start()
            rounds = []
            for number in range(options["rounds"]):
                began = time.perf_counter()
                deployment = services.deployment_create(actor=engineer, passport=passport, version=2,
                                                        hosts=[host.pk], environment="staging")
                deployed = traffic.wait_version(2, began)
                began = time.perf_counter()
                services.deployment_rollback(actor=engineer, deployment=deployment, reason="benchmark")
                rolled = traffic.wait_version(1, began)
                services.deployment_stop(actor=engineer, deployment=Deployment.objects.get(pk=deployment.pk),
                                         reason="benchmark round over")
                traffic.wait_unserved()
                rounds.append({"deploy_s": round(deployed, 3), "rollback_s": round(rolled, 3)})
                self.stdout.write(f"round {number + 1}: v2 answering {deployed:.3f} s after the deployment, "
                                  f"v1 {rolled:.3f} s after the rollback")
            traffic.stop()
            assert not Deployment.objects.filter(status=DeploymentStatus.ACTIVE).exists()
            poll = options["poll_seconds"] or settings.MG_AGENT_POLL_SECONDS
            later = rounds[1:] or rounds
            self.stdout.write(json.dumps({
                "database": connection.vendor, "poll_seconds": poll, "rounds": rounds,
                "first_deploy_s": rounds[0]["deploy_s"],
                "median_deploy_s": statistics.median(r["deploy_s"] for r in later),
                "median_rollback_s": statistics.median(r["rollback_s"] for r in rounds),
                "max_rollback_s": max(r["rollback_s"] for r in rounds),
                "requests": traffic.answered, "failed_while_serving": traffic.failed_while_serving,
                "failures": traffic.failures[:5]}))
        finally:
            agent.terminate()
            try:
                agent.wait(15)
            except subprocess.TimeoutExpired:
                agent.kill()
            server.terminate()

    @staticmethod
    def _wait(check, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {what}")


def _live(url: str) -> bool:
    """The agent answers (it heartbeats from its first sync, before its HTTP server listens)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 (loopback)
            return answer.status == 200
    except OSError:
        return False


class _Traffic(threading.Thread):
    """One request every 5 ms; remembers the version of each answer, and any failure while a version served."""

    def __init__(self, url: str, features: list[str]):
        super().__init__(daemon=True)
        self.url = url
        self.body = json.dumps({"features": dict.fromkeys(features, 0.0)}).encode()
        self.version: int | None = None
        self.seen_at = time.perf_counter()
        self.answered = 0
        self.failed_while_serving = 0
        self.failures: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            request = urllib.request.Request(self.url, data=self.body, method="POST",  # noqa: S310 (loopback)
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                    version = int(answer.headers["X-Model-Version"])
                    self.answered += 1
            except urllib.error.HTTPError as exc:
                version = None
                if exc.code != 503 and exc.code != 404:  # 503/404: nothing deployed between rounds
                    self.failed_while_serving += 1
                    self.failures.append(f"{exc.code} {exc.read()[:200]!r}")
            except OSError as exc:
                version = None
                self.failed_while_serving += 1
                self.failures.append(repr(exc)[:200])
            if version != self.version:
                self.version, self.seen_at = version, time.perf_counter()
            time.sleep(0.005)

    def wait_version(self, version: int, since: float, timeout: float = 120.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.version == version and self.seen_at >= since:
                return self.seen_at - since
            time.sleep(0.002)
        raise RuntimeError(f"v{version} never answered")

    def wait_unserved(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.version is not None and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        self._halt.set()
        self.join(15)
