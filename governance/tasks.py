"""The governance rooms' Celery tasks, gathered where ``app.autodiscover_tasks()`` looks (``<app>.tasks``)."""

from governance.audit.tasks import audit_checkpoint
from governance.jobs.tasks import jobs_sweep, run_job
from governance.webhooks.tasks import webhook_deliver, webhooks_sweep
from governance.workflow.tasks import approvals_expire_and_notify_task

__all__ = ["approvals_expire_and_notify_task", "audit_checkpoint", "jobs_sweep", "run_job", "webhook_deliver",
           "webhooks_sweep"]
