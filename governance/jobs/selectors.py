"""Reading jobs: a person sees their own jobs only; anyone else's is a 404, exactly like a missing one."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
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
    return job_list(user=user).aggregate(  # one query: this runs on every page
        active=Count("pk", filter=Q(state__in=ACTIVE_JOB_STATES)),
        unseen=Count("pk", filter=Q(finished_at__isnull=False, seen_at__isnull=True)))
