"""A run's worker is known to be gone the moment its process ends, not after a heartbeat timeout; a database
too busy to claim a run retries the task; a broker that cannot be reached leaves the run visibly waiting for it
and the recovery sweep sends it again.

The leases are real (PostgreSQL advisory locks, or flock on the SQLite file's folder), held by a real process
that is then killed.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import OperationalError, connection

from core import liveness
from tests.validation.test_runs import _queued
from validation import services
from validation.choices import RunState, RunStep
from validation.models import ValidationRun
from validation.tasks import run_validation

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_lease_is_free_the_moment_its_holder_is_killed(shared_database):
    """Another process holds the lease; while it lives nobody else can take it; SIGKILL frees it at once."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "governance.settings.test", "DATABASE_URL": shared_database}
    code = ("import django, sys, time; django.setup(); from core import liveness; "
            "lease = liveness.hold('probe'); print('held' if lease else 'refused', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert liveness.hold("probe") is None and liveness.holder_gone("probe") is False
        assert liveness.holder_gone("another name") is True
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        deadline = time.monotonic() + 5  # PostgreSQL notices the closed socket at once; the kernel frees flock
        while not liveness.holder_gone("probe"):
            assert time.monotonic() < deadline, "the lease outlived its process"
            time.sleep(0.05)
    finally:
        holder.kill()
        holder.wait(timeout=10)
    with liveness.hold("probe") as lease:
        assert lease is not None and liveness.hold("probe") is None
    assert liveness.holder_gone("probe")


def test_a_redelivered_task_takes_over_at_once_from_a_worker_that_has_ended(
        low, eager, django_capture_on_commit_callbacks):
    run = _queued(low, django_capture_on_commit_callbacks)
    # w1 claimed the run and died: its heartbeat is fresh, its lease (which died with it) is free
    services.run_claim(run_id=run.pk, token="a" * 32, worker="w1@host")
    with liveness.hold(services.run_lease_name(run.pk)):  # ...but while a living process holds it: a duplicate
        assert run_validation.apply(kwargs={"run_id": run.pk}).get() == "skipped"
        assert services.runs_recover()["requeued"] == []
    started = time.monotonic()
    assert run_validation.apply(kwargs={"run_id": run.pk}).get() == "succeeded"
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED and run.attempts == 2 and time.monotonic() - started < 60
    assert run.attempt_log[0]["ended"] == "lost" and "w1@host ended" in run.attempt_log[0]["reason"]


def test_the_sweep_requeues_a_run_whose_worker_has_ended_without_waiting_for_its_heartbeat(
        low, django_capture_on_commit_callbacks):
    run = _queued(low, django_capture_on_commit_callbacks)
    services.run_claim(run_id=run.pk, token="a" * 32, worker="w1@host")  # fresh heartbeat, no living holder
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.runs_recover()["requeued"] == [run.pk]
    assert len(callbacks) == 1
    run.refresh_from_db()
    assert (run.state, run.claim) == (RunState.QUEUED, "") and "ended" in run.attempt_log[0]["reason"]


@pytest.mark.skipif("os.environ.get('DATABASE_URL', '').startswith('postgres')",
                    reason="SQLite's write lock; PostgreSQL's lock timeouts are covered in test_busy_database")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_claim_that_meets_a_locked_database_retries_the_task(low, monkeypatch):
    """Another connection holds SQLite's write lock for a second; the claim times out, the task retries, and the
    run goes through once the lock is released."""
    monkeypatch.setattr(services, "enqueue", lambda run_id: True)  # the test delivers the task itself
    run = services.run_start(actor=low.validator, version=low.version, reference=low.reference,
                             validation=low.validation, target=low.target)
    blocker = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None,
                              check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(1.0, blocker.rollback)
    connection.ensure_connection()
    connection.connection.execute("PRAGMA busy_timeout = 100")
    claims = []
    real_claim = services.run_claim

    def counting_claim(**kwargs):
        claims.append(time.monotonic())
        return real_claim(**kwargs)

    services.run_claim = counting_claim
    timer.start()
    try:
        result = run_validation.apply(kwargs={"run_id": run.pk})
    finally:
        services.run_claim = real_claim
        timer.join()
        blocker.close()
        connection.close()
    run.refresh_from_db()
    assert len(claims) > 1, "the first claim should have met the lock"
    assert run.state == RunState.SUCCEEDED and run.attempts == 1, result


def test_a_run_started_while_the_broker_is_down_waits_for_it_visibly_and_is_sent_when_it_answers(
        low, django_capture_on_commit_callbacks):
    from kombu import pools

    from governance.celery import app

    def connect_to(url: str) -> None:  # a real connection attempt to the address, through a fresh pool
        pools.reset()
        app._pool, app.amqp._producer_pool = None, None
        app.conf.broker_url = app.conf.broker_write_url = url

    saved = app.conf.broker_write_url, app.conf.task_always_eager
    connect_to("redis://127.0.0.1:9/0")  # nothing listens on port 9
    app.conf.task_always_eager = False
    try:
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            run = services.run_start(actor=low.validator, version=low.version, reference=low.reference,
                                     validation=low.validation, target=low.target)
        assert time.monotonic() - started < 5
        run.refresh_from_db()
        assert (run.state, run.step) == (RunState.QUEUED, RunStep.BROKER)
        assert run.get_step_display().startswith("Waiting for the broker")
        with django_capture_on_commit_callbacks(execute=True):
            assert services.runs_recover()["reenqueued"] == [run.pk]  # still down: still waiting
        assert ValidationRun.objects.get(pk=run.pk).step == RunStep.BROKER
    finally:
        connect_to(saved[0])
        app.conf.task_always_eager = saved[1]
    app.conf.task_always_eager = True  # the broker "answers": here, the eager transport
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert services.runs_recover()["reenqueued"] == [run.pk]
    finally:
        app.conf.task_always_eager = saved[1]
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED and run.step == RunStep.DONE


def test_an_operational_error_that_is_not_a_lock_is_not_retried(low, eager,
                                                                django_capture_on_commit_callbacks):
    run = _queued(low, django_capture_on_commit_callbacks)
    real_claim = services.run_claim

    def broken(**kwargs):
        raise OperationalError("no such table: validation_validationrun")

    services.run_claim = broken
    try:
        with pytest.raises(OperationalError, match="no such table"):
            run_validation.apply(kwargs={"run_id": run.pk}).get()
    finally:
        services.run_claim = real_claim


def test_a_released_lease_can_be_taken_again_at_once():
    """Released means free now: on PostgreSQL the lock is given up in its session before the session closes (a
    closed session's backend frees its locks only once it has exited, and taking the lease straight after found
    it still held now and then)."""
    for _ in range(200):
        assert liveness.holder_gone("again and again")
        with liveness.hold("again and again") as lease:
            assert lease is not None
