"""Job pages: a job's progress (polled while it runs; the page shows the result when it ends), its file, and the
list of the person's own jobs."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core import errors
from core.views import paginate
from governance.jobs import selectors, services
from governance.jobs.models import JobState

POLL_SECONDS = 1


def _context(job) -> dict:
    return {"job": job, "poll": job.is_active, "poll_seconds": POLL_SECONDS,
            "downloadable": job.state == JobState.SUCCEEDED and bool(job.result_file) and not job.result_expired}


@never_cache
@login_required
@require_GET
def job_detail(request, pk: int):
    job = selectors.job_get(user=request.user, pk=pk)
    services.job_seen(job=job)
    return render(request, "governance/jobs/job_detail.html", _context(job))


@never_cache
@login_required
@require_GET
def job_progress(request, pk: int):
    """The job page's progress card; once the job has ended the card shows the result and stops polling."""
    job = selectors.job_get(user=request.user, pk=pk)
    services.job_seen(job=job)
    # the navigation's job count is swapped too (htmx out-of-band), so that it stops saying "running"
    return render(request, "governance/jobs/_job_card.html", {**_context(job), "oob": True})


@never_cache
@login_required
@require_GET
def job_download(request, pk: int):
    job = selectors.job_get(user=request.user, pk=pk)
    if job.state != JobState.SUCCEEDED or not job.result_file or job.result_expired:
        raise Http404("This job has no file to download (any more).")
    try:
        services.job_authorize_download(actor=request.user, job=job)
    except errors.DomainError as exc:
        raise PermissionDenied(exc.message) from exc
    response = FileResponse(job.result_file.open("rb"), as_attachment=True, filename=job.result_name,
                            content_type=job.result_content_type or "application/octet-stream")
    if job.result_sha256:
        response["X-Content-SHA256"] = job.result_sha256
    return response


@never_cache
@login_required
@require_GET
def job_list(request):
    page = paginate(request, selectors.job_list(user=request.user).order_by("-created_at", "-pk"), per_page=25)
    return render(request, "governance/jobs/job_list.html", {"page": page, "jobs": page.object_list})
