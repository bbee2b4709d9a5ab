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

import pytest
from django.core.files.base import ContentFile

from governance.demo.onnx_models import build_demo_model
from registry import services as registry_services
from tests.factories import TeamFactory, UserFactory, make_passport
from tests.governance.workflow_helpers import Cast, to_in_validation
from validation import services
from validation.choices import RunState
from validation.models import ValidationRun

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


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
        began = time.monotonic()
        # the dead worker's heartbeat is fresh and goes stale only after 10 minutes: its free lease tells at once
        _wait(run.pk, lambda r: r.attempts >= 2 or r.state != RunState.RUNNING, 30, workers)
        resumed_in = time.monotonic() - began
        done = _wait(run.pk, lambda r: r.state in (RunState.SUCCEEDED, RunState.FAILED), 180, workers)
    finally:
        for worker in workers:
            worker.stop()

    assert done.state == ends, done.failure_reason
    assert resumed_in < 30, resumed_in  # the worker's own start-up included
    assert done.attempt_log[0]["ended"] == "lost" and first.name in done.attempt_log[0]["reason"]
    if ends == RunState.SUCCEEDED:
        assert done.attempts == 2 and done.worker == second.name and done.environment["worker"] == second.name
        assert set(done.results["tests"]) == {"performance", "quality", "explainability"} and done.failure_reason == ""
    else:
        assert done.results == {} and done.outcome == ""
        assert "interrupted once" in done.failure_reason and first.name in done.failure_reason
