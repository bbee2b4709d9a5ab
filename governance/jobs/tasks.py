"""The background-job task (one attempt per delivery; late acknowledgement, so a killed worker's job is delivered
again) and the sweep that resends lost jobs and removes old results."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections

from governance.jobs import services


@shared_task(name=services.RUN_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job(self, *, job_id: int) -> str:
    if not self.request.is_eager:  # a worker's connection may have gone stale between messages
        close_old_connections()
    return services.job_execute(job_id)


@shared_task(name="governance.jobs.sweep", ignore_result=True)
def jobs_sweep() -> dict:
    close_old_connections()
    return services.jobs_sweep()
