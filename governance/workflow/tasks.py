"""Periodic governance work: approval expiry and revalidation reminders (Celery beat, daily)."""

from celery import shared_task

from governance.workflow.services.transitions import approvals_expire_and_notify


@shared_task(name="governance.approvals_expire_and_notify")
def approvals_expire_and_notify_task() -> dict:
    return approvals_expire_and_notify()
