"""A real Celery worker killed (SIGKILL) in the middle of a validation run: a fresh worker takes the run over and
it ends succeeded, or failed with the reason once its attempts are spent; never stuck 'running', never with
partial results.

The worker is a separate process on the configured broker (the filesystem by default, Redis in CI) and on this
test's database: the PostgreSQL test database when DATABASE_URL names one, otherwise a SQLite file, because
pytest-django's SQLite test database lives in memory, where no other process can reach it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import connections

from governance.demo.onnx_models import build_demo_model
from registry import services as registry_services
from tests.factories import TeamFactory, UserFactory, make_passport
from tests.governance.workflow_helpers import Cast, to_in_validation
from validation import services
from validation.choices import RunState
from validation.models import ValidationRun

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def shared_database(transactional_db, tmp_path):
    """A DATABASE_URL for the worker that reaches the database this test writes to."""
    conn = connections["default"]
    if conn.vendor == "postgresql":
        s = conn.settings_dict
        auth = quote(s["USER"] or "") + (f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else "")
        yield f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        return
    if not conn.is_in_memory_db():
        yield f"sqlite:///{conn.settings_dict['NAME']}"
        return
    # Set the in-memory database aside (closing it would destroy it) and migrate a file for this test.
    kept, name = conn.connection, conn.settings_dict["NAME"]
    conn.connection = None
    conn.settings_dict["NAME"] = str(tmp_path / "shared.sqlite3")
    ContentType.objects.clear_cache()
    try:
        call_command("migrate", verbosity=0)
        yield f"sqlite:///{conn.settings_dict['NAME']}"
    finally:
        conn.close()
        conn.settings_dict["NAME"], conn.connection = name, kept
        ContentType.objects.clear_cache()


class Worker:
    """``celery worker -P solo`` on one queue: the task runs in the process that gets killed."""

    def __init__(self, name: str, env: dict, log: Path):
        self.name, self.log = f"{name}@{os.uname().nodename}", log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "governance", "worker", "-P", "solo", "-l", "INFO",
             "-n", self.name, "-Q", env["MG_TEST_VALIDATION_QUEUE"], "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _wait(run_id: int, until, timeout: float, workers) -> ValidationRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = ValidationRun.objects.get(pk=run_id)
        if until(run):
            return run
        time.sleep(0.2)
    logs = "\n".join(f"--- {w.name}\n{w.output()}" for w in workers)
    raise AssertionError(f"run #{run_id} stayed {run.state} at step {run.step}\n{logs}")


@pytest.mark.parametrize(("attempts", "ends"), [(3, RunState.SUCCEEDED), (1, RunState.FAILED)])
def test_a_worker_killed_mid_run_leaves_the_run_retried_or_failed(shared_database, settings, tmp_path, attempts,
                                                                  ends):
    from governance.celery import ensure_broker_folders

    ensure_broker_folders()
    queue = f"mg-validation-test-{uuid.uuid4().hex[:12]}"
    settings.MG_VALIDATION_QUEUE = queue
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.validation.worker_settings",
           "DATABASE_URL": shared_database, "MG_TEST_MEDIA_ROOT": str(settings.MEDIA_ROOT),
           "MG_TEST_VALIDATION_QUEUE": queue, "MG_TEST_MAX_ATTEMPTS": str(attempts)}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)

    developer = UserFactory(username="dev", roles=["model_developer"])
    passport = make_passport(actor=developer, key="kill-test", team=TeamFactory(members=[developer]),
                             materiality="low", decision_type="human_in_the_loop", processes_personal_data=False,
                             regulatory_exposure="none")
    model = build_demo_model("credit-scoring", n_rows=1000)
    version = registry_services.version_register(
        actor=developer, passport=passport, feature_names=model.feature_names,
        upload=ContentFile(model.onnx_bytes, name="credit.onnx"))
    cast = Cast()
    to_in_validation(version, developer, cast)
    reference, validation = (
        registry_services.dataset_register(actor=developer, passport=passport, name=name, kind=name, fmt="csv",
                                           upload=ContentFile(frame.to_csv(index=False).encode(), name=f"{name}.csv"))
        for name, frame in (("reference", model.reference), ("validation", model.holdout)))

    first = Worker("doomed", env, tmp_path / "doomed.log")
    workers = [first]
    try:
        run = services.run_start(actor=cast.validator, version=version, reference=reference, validation=validation,
                                 target=model.target)  # autocommit: enqueued at once
        running = _wait(run.pk, lambda r: r.state == RunState.RUNNING and r.step not in ("queued", "load"), 120,
                        workers)
        first.kill()
        assert running.worker == first.name
        stuck = ValidationRun.objects.get(pk=run.pk)
        assert stuck.state == RunState.RUNNING and stuck.results == {}  # nothing half-written

        second = Worker("fresh", env, tmp_path / "fresh.log")
        workers.append(second)
        done = _wait(run.pk, lambda r: r.state in (RunState.SUCCEEDED, RunState.FAILED), 180, workers)
    finally:
        for worker in workers:
            worker.stop()

    assert done.state == ends, done.failure_reason
    assert done.attempt_log[0]["ended"] == "lost" and first.name in done.attempt_log[0]["reason"]
    if ends == RunState.SUCCEEDED:
        assert done.attempts == 2 and done.worker == second.name and done.environment["worker"] == second.name
        assert set(done.results["tests"]) == {"performance", "quality"} and done.failure_reason == ""
    else:
        assert done.results == {} and done.outcome == ""
        assert "interrupted once" in done.failure_reason and first.name in done.failure_reason
