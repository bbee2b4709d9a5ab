"""Celery tasks of validation: run a validation, and recover the runs of workers that died.

``run_validation`` is acknowledged late (``acks_late``, ``reject_on_worker_lost``): a worker killed mid-run leaves
its message to be delivered again where the broker can. Each attempt holds the run's lease (``core.liveness``),
which ends with its process, so the redelivery, or ``recover_runs`` (at every worker start, and on the beat
schedule), sees at once that the worker has gone and puts the run back in the queue, or fails it after
``MG_VALIDATION_MAX_ATTEMPTS``; a worker that hangs is found by its stale heartbeat.
Every step is idempotent: an attempt claims the run with a token, recomputes
everything from the stored inputs, and writes the results once; a late or duplicate attempt writes nothing.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

from celery import shared_task
from celery.signals import worker_process_init, worker_ready
from celery.utils.log import get_task_logger
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DatabaseError, OperationalError, close_old_connections, connection

from core import liveness
from core.busy import is_busy
from core.errors import DomainError
from validation import services
from validation.models import ValidationRun
from validation.runner import RunAborted, RunSpec, Source, execute, package_versions

logger = get_task_logger(__name__)
CLAIM_RETRY_SECONDS = 2
CLAIM_RETRIES = 30
OUTCOME_RETRIES = 5


class Heartbeat(threading.Thread):
    """Tells the database every ``interval`` seconds that the attempt is alive, from its own connection."""

    def __init__(self, run_id: int, token: str, interval: float):
        super().__init__(name=f"validation-heartbeat-{run_id}", daemon=True)
        self.run_id, self.token, self.interval = run_id, token, interval
        self.stopped, self.lost = threading.Event(), threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                if not services.run_heartbeat(run_id=self.run_id, token=self.token):
                    self.lost.set()  # cancelled or taken over: the runner stops at its next step
                    return
        except Exception:  # a database hiccup must not kill the attempt; a stale heartbeat is recovered later
            logger.exception("heartbeat of validation run %s failed", self.run_id)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


def _source(label: str, name: str, sha256: str, fmt: str = "onnx", schema: dict | None = None) -> Source:
    return Source(label=label, sha256=sha256, opener=lambda: default_storage.open(name, "rb"), fmt=fmt,
                  feature_schema=schema or {})


def spec_for(run: ValidationRun) -> RunSpec:
    """What the runner needs, from the run's snapshot (digests, thresholds, seed) and the stored files."""
    version, champion = run.version, run.champion
    return RunSpec(
        model=_source(f"the artifact of v{version.number}", version.artifact.name, run.digests["artifact"],
                      schema=version.feature_schema),
        reference=_source(f"the reference dataset '{run.reference.name}'", run.reference.file.name,
                          run.digests["reference"], run.reference.format),
        validation=_source(f"the validation dataset '{run.validation.name}'", run.validation.file.name,
                           run.digests["validation"], run.validation.format),
        champion=None if champion is None else _source(
            f"the champion v{champion.number}", champion.artifact.name, run.digests["champion_artifact"],
            schema=champion.feature_schema),
        target=run.target, segment_column=run.segment_column, tests=tuple(run.thresholds["tests"]),
        thresholds=run.thresholds["thresholds"], seed=run.seed,
        step_delay=float(getattr(settings, "MG_VALIDATION_STEP_DELAY", 0.0)),
    )


def _environment(worker: str, record: dict | None = None) -> dict:
    base = {"worker": worker, "host": socket.gethostname(), "pid": os.getpid(), "packages": package_versions()}
    return {**base, **(record or {})}


@shared_task(name="validation.run", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True,
             soft_time_limit=getattr(settings, "MG_VALIDATION_SOFT_TIME_LIMIT", 3600))
def run_validation(self, *, run_id: int) -> str:
    """Hold the run's lease, claim the run, run it, store its outcome. Returns what happened (for logs): succeeded,
    failed, skipped or aborted.

    The lease (``core.liveness``) lives exactly as long as this process: a delivery that finds it free while the
    run is still marked running knows the previous worker has ended and takes the run over at once; one that
    finds it held is a duplicate and does nothing. A database too busy to claim the run retries the task.
    """
    token, worker = uuid.uuid4().hex, self.request.hostname or socket.gethostname()
    lease = liveness.hold(services.run_lease_name(run_id))
    if lease is None:
        return "skipped"  # a living attempt holds the run
    busy = None
    with lease:
        try:
            run = services.run_claim(run_id=run_id, token=token, worker=worker, lease_held=True)
        except OperationalError as exc:
            if not is_busy(exc):
                raise
            busy = exc
        else:
            if run is None:
                return "skipped"
            run = ValidationRun.objects.select_related("version", "reference", "validation", "champion").get(
                pk=run.pk)
            return execute_claimed(run, token=token, worker=worker, heartbeat=not self.request.is_eager)
    # outside the lease: an eager retry runs in this very process and must be able to take it
    logger.warning("validation run %s: the database is busy; retrying", run_id)
    raise self.retry(exc=busy, countdown=CLAIM_RETRY_SECONDS, max_retries=CLAIM_RETRIES)


def _patiently(write, **kwargs):
    """A service call that stores an attempt's outcome, retried while the database is busy: the work behind it
    (minutes of scoring) is not thrown away for a lock held a moment too long."""
    for attempt in range(OUTCOME_RETRIES):
        try:
            return write(**kwargs)
        except OperationalError as exc:
            if not is_busy(exc) or attempt == OUTCOME_RETRIES - 1:
                raise
            logger.warning("validation run %s: the database is busy; storing the outcome again", kwargs["run_id"])
            close_old_connections()
            time.sleep(CLAIM_RETRY_SECONDS * (attempt + 1))
    return None


def execute_claimed(run: ValidationRun, *, token: str, worker: str, heartbeat: bool = True) -> str:
    interval = float(getattr(settings, "MG_VALIDATION_HEARTBEAT_SECONDS", 10.0))
    beat = Heartbeat(run.pk, token, interval) if heartbeat and interval > 0 else None
    current = {"step": "load"}

    def progress(step: str, percent: int) -> bool:
        current["step"] = step
        alive = services.run_progress(run_id=run.pk, token=token, step=step, progress=percent)
        return alive and not (beat and beat.lost.is_set())

    began = time.monotonic()
    if beat:
        beat.start()
    try:
        output = execute(spec_for(run), progress)
    except RunAborted:
        logger.info("validation run %s stopped: cancelled or taken over", run.pk)
        return "aborted"
    except DomainError as exc:
        _patiently(services.run_fail, run_id=run.pk, token=token, reason=f"Step '{current['step']}': {exc}",
                   environment=_environment(worker))
        return "failed"
    except Exception as exc:  # any other error ends the run failed with the reason, never half-written
        logger.exception("validation run %s failed in step %s", run.pk, current["step"])
        _patiently(services.run_fail, run_id=run.pk, token=token, environment=_environment(worker),
                   reason=f"Step '{current['step']}' raised {type(exc).__name__}: {str(exc)[:1000]}")
        return "failed"
    finally:
        if beat:
            beat.stop()
    record = _environment(worker, output.record)
    done = _patiently(services.run_succeed, run_id=run.pk, token=token, results=output.results,
                      environment=record, duration_seconds=round(time.monotonic() - began, 3))
    return "succeeded" if done is not None else "aborted"


@shared_task(name="validation.recover_runs", ignore_result=True)
def recover_runs() -> dict:
    """Re-queue (or fail) runs whose worker died; see ``services.runs_recover``."""
    close_old_connections()
    try:
        return services.runs_recover()
    except DatabaseError:  # a worker on a database without validation tables (not migrated yet): nothing to do
        logger.warning("validation runs could not be recovered", exc_info=True)
        return {}


@worker_ready.connect
def _recover_at_start(sender=None, **kwargs):
    """A starting worker may be the replacement of one that died mid-run: look for orphaned runs now, and again
    once the dead worker's last heartbeat has had time to go stale."""
    queue = getattr(settings, "MG_VALIDATION_QUEUE", None)
    options = {"queue": queue} if queue else {}
    stale = float(getattr(settings, "MG_VALIDATION_STALE_SECONDS", 120))
    try:
        recover_runs.apply_async(**options)
        recover_runs.apply_async(countdown=stale + 1, **options)
    except Exception:  # the broker may be down at start; beat or the next start will try again
        logger.exception("could not schedule the recovery of validation runs")


def _warmup_enabled() -> bool:
    return bool(getattr(settings, "MG_WORKER_WARMUP", True))


@worker_process_init.connect
def _warm_pool_process(**kwargs):
    """A prefork pool's child takes the tasks: it warms itself (validation.warmup) in a background thread, since
    this signal's handler must return within seconds."""
    if _warmup_enabled():
        from validation.warmup import warm_in_background

        warm_in_background("pool process")


@worker_ready.connect
def _warm_solo_worker(sender=None, **kwargs):
    """A solo or threads pool runs tasks in the worker's own process: warm that one."""
    pool = getattr(sender, "pool", None)
    if _warmup_enabled() and type(pool).__module__.rsplit(".", 1)[-1] in ("solo", "thread"):
        from validation.warmup import warm_in_background

        warm_in_background("worker")
