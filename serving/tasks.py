"""Serving's periodic work (Celery beat): hosts that fell silent raise their alert."""

from celery import shared_task

from serving.alerts import hosts_check_lost


@shared_task(name="serving.hosts_check_lost", ignore_result=True)
def hosts_check_lost_task() -> int:
    """The number of alerts raised (one per silence of a host, per deployment it serves)."""
    return len(hosts_check_lost())


@shared_task(name="serving.book_usage", ignore_result=True)
def book_usage_task() -> int:
    """Inference cost of the complete days not booked yet; the number of ledger entries booked."""
    from serving.usage import book_pending

    return sum(len(day["booked"]) for day in book_pending())
