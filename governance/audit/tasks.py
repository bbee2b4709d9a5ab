"""Periodic audit work: a signed checkpoint of the chain head when the chain has grown (Celery beat)."""

from celery import shared_task

from governance.audit.checkpoints import checkpoint_if_grown


@shared_task(name="governance.audit_checkpoint", ignore_result=True)
def audit_checkpoint() -> int | None:
    """The sequence number checkpointed, or None when nothing was appended since the latest checkpoint."""
    checkpoint = checkpoint_if_grown(reason="scheduled")
    return checkpoint.seq if checkpoint else None
