"""Celery workers for tests: real ones, in this process, on a queue of the test's own."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def in_process_worker(queue: str):
    """A real Celery worker (a thread of this process, solo pool) consuming ``queue``. Each task's database
    connection is closed when the task ends: the thread's connection would otherwise outlive the thread, and
    tests that count the connections to their database would count it."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun
    from django.db import connections

    from governance.celery import app, ensure_broker_folders

    def close(**kwargs):
        connections.close_all()

    ensure_broker_folders()
    task_postrun.connect(close, weak=False, dispatch_uid="tests.in_process_worker.close")
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING",
                          queues=[queue]) as worker:
            yield worker
    finally:
        task_postrun.disconnect(dispatch_uid="tests.in_process_worker.close")
