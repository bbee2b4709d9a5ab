"""Reading jobs: a person sees their own jobs only; anyone else's is a 404, exactly like a missing one."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from governance.jobs.models import ACTIVE_JOB_STATES, Job


def job_list(*, user) -> QuerySet[Job]:
    if not getattr(user, "is_authenticated", False):
        return Job.objects.none()
    return Job.objects.filter(created_by=user)


def job_get(*, user, pk: int) -> Job:
    job = job_list(user=user).filter(pk=pk).first()
    if job is None:
        raise Http404("No such job.")
    return job


def job_counts(*, user) -> dict:
    """For the navigation: how many of the person's jobs run, and how many ended without being looked at."""
    jobs = job_list(user=user)
    return {"active": jobs.filter(state__in=ACTIVE_JOB_STATES).count(),
            "unseen": jobs.filter(finished_at__isnull=False, seen_at__isnull=True).count()}
