"""Background jobs: start one, run it in a worker, keep its result for a while, and pick up the ones a dead worker
left behind.

- ``job_start`` asks the kind whether the person may have it done, records the job queued in the person's language
  and sends it to the broker once the transaction commits.
- ``job_execute`` (the Celery task) holds the job's lease (``core.liveness``) for as long as it runs, so that a
  second delivery of the same message does nothing while the first lives, and takes over at once when its process
  has died; it claims the job with a token, asks the kind again, runs it in the job's language and stores the
  outcome. Progress writes carry the token: an attempt that was taken over writes nothing.
- ``jobs_sweep`` (beat) sends again what the broker never delivered or what a dead worker held, fails a job after
  ``MG_JOB_MAX_ATTEMPTS`` and removes result files older than ``MG_JOB_RESULT_TTL_HOURS``.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import uuid
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core import liveness
from core.errors import DomainError
from governance.jobs import kinds
from governance.jobs.models import ACTIVE_JOB_STATES, Job, JobState

logger = logging.getLogger(__name__)
RUN_TASK = "governance.jobs.run"
CHUNK = 1 << 20


def _setting(name: str, default):
    return getattr(settings, name, default)


def lease_name(job_id: int) -> str:
    return f"job:{job_id}"


def job_start(*, actor, kind: str, params: dict, back_url: str = "") -> Job:
    """Record a job for ``actor`` and send it once the surrounding transaction (if any) commits. Refused with the
    kind's own error when the person may not have it done; nothing is recorded then."""
    spec = kinds.get(kind)
    if spec is None:
        raise DomainError(_("There is no background job of kind '%(kind)s'.") % {"kind": kind}, code="unknown_job")
    spec.authorize(actor, params)
    job = Job.objects.create(kind=kind, params=params, title=str(spec.title(params))[:300], back_url=back_url[:500],
                             language=translation.get_language() or settings.LANGUAGE_CODE, created_by=actor,
                             step=_("Waiting for a worker"))
    transaction.on_commit(lambda: enqueue(job.pk))
    return job


def enqueue(job_id: int) -> bool:
    """Send the job's task (to ``MG_JOB_QUEUE`` when set). A broker that does not answer leaves the job queued;
    the sweep sends it again."""
    queue = _setting("MG_JOB_QUEUE", None)
    try:
        current_app.tasks[RUN_TASK].apply_async(kwargs={"job_id": job_id}, **({"queue": queue} if queue else {}))
    except Exception:
        logger.warning("job %s could not be sent to the broker; the sweep sends it again", job_id, exc_info=True)
        return False
    return True


def _claim(job_id: int, token: str) -> Job | None:
    """Take the job for this attempt (the caller holds its lease): a queued job, or a running one whose previous
    attempt's process has ended (its lease was free). None when it has ended already or was tried too often."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state not in ACTIVE_JOB_STATES:
            return None
        now = timezone.now()
        if job.attempts >= int(_setting("MG_JOB_MAX_ATTEMPTS", 3)):
            job.state, job.finished_at, job.error_code = JobState.FAILED, now, "worker_lost"
            with translation.override(job.language):
                job.error = _("The worker running this job stopped %(n)s times; it was not tried again.") % {
                    "n": job.attempts}
            job.save(update_fields=["state", "finished_at", "error_code", "error"])
            return None
        job.state, job.claim, job.attempts = JobState.RUNNING, token, job.attempts + 1
        job.started_at = job.started_at or now
        job.save(update_fields=["state", "claim", "attempts", "started_at"])
        return job


def _progress_writer(job: Job, token: str):
    def progress(step: str, percent: int) -> None:
        Job.objects.filter(pk=job.pk, claim=token, state=JobState.RUNNING).update(
            step=str(step)[:200], progress=max(0, min(100, int(percent))))
    return progress


def _store(job: Job, outcome: kinds.Outcome) -> tuple[str, str, int | None]:
    """Write the outcome's file to the artifact store; returns (name, sha256, size) or ("", "", None)."""
    if outcome.content is None and outcome.file is None:
        return "", "", None
    if outcome.content is not None:
        content, digest, size = ContentFile(outcome.content), hashlib.sha256(outcome.content).hexdigest(), len(
            outcome.content)
    else:
        digest, size = hashlib.sha256(), 0
        spool = tempfile.TemporaryFile()  # noqa: SIM115  closed below
        for chunk in iter(lambda: outcome.file.read(CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
            spool.write(chunk)
        spool.seek(0)
        content, digest = File(spool), digest.hexdigest()
    try:
        field = job.result_file
        name = field.storage.save(field.field.generate_filename(job, outcome.filename or "result"), content)
    finally:
        content.close()
    return name, outcome.sha256 or digest, size


def _finish(job: Job, token: str, **fields) -> bool:
    with transaction.atomic():
        current = Job.objects.select_for_update().filter(pk=job.pk).first()
        if current is None or current.claim != token or current.state != JobState.RUNNING:
            return False
        for key, value in fields.items():
            setattr(current, key, value)
        current.finished_at = timezone.now()
        current.save()
        return True


def job_execute(job_id: int) -> str:
    """Run one job in this process; returns what happened (for logs): succeeded, failed or skipped."""
    lease = liveness.hold(lease_name(job_id))
    if lease is None:
        return "skipped"  # a living attempt holds it
    with lease:
        token = uuid.uuid4().hex
        job = _claim(job_id, token)
        if job is None:
            return "skipped"
        spec = kinds.get(job.kind)
        with translation.override(job.language):
            progress, outcome = _progress_writer(job, token), None
            try:
                if spec is None:
                    raise DomainError(_("This kind of job is no longer known to the platform."), code="unknown_job")
                spec.authorize(job.created_by, job.params)
                progress(_("Starting"), 1)
                outcome = spec.run(job.created_by, job.params, progress)
                progress(_("Storing the result"), 95)
                name, digest, size = _store(job, outcome)
            except DomainError as exc:
                _finish(job, token, state=JobState.FAILED, error_code=exc.code or "refused", error=exc.message)
                return "failed"
            except Exception as exc:  # any other error: the job fails with the reason, the page says so
                logger.exception("job %s (%s) failed", job.pk, job.kind)
                _finish(job, token, state=JobState.FAILED, error_code="error",
                        error=_("The job stopped on an unexpected error (%(kind)s: %(message)s).")
                        % {"kind": type(exc).__name__, "message": str(exc)[:500]})
                return "failed"
            finally:
                if outcome is not None and outcome.file is not None:
                    outcome.file.close()
            done = _finish(job, token, state=JobState.SUCCEEDED, progress=100, step=_("Ready"),
                           result_url=outcome.url[:500], result_label=str(outcome.label)[:300],
                           result_file=name, result_name=(outcome.filename or "")[:200],
                           result_content_type=outcome.content_type[:100] if name else "",
                           result_sha256=digest, result_size=size)
            if not done and name:
                Job._meta.get_field("result_file").storage.delete(name)
            return "succeeded" if done else "skipped"


def job_seen(*, job: Job) -> None:
    """Its owner has seen how the job ended (it leaves the navigation's count)."""
    if not job.is_active and job.seen_at is None:
        Job.objects.filter(pk=job.pk, seen_at__isnull=True).update(seen_at=timezone.now())


def job_authorize_download(*, actor, job: Job) -> None:
    """The result file is handed out only while its owner may still have it made."""
    spec = kinds.get(job.kind)
    if spec is None:
        raise DomainError(_("This kind of job is no longer known to the platform."), code="unknown_job")
    spec.authorize(actor, job.params)


def jobs_sweep(*, now=None) -> dict:
    """Send again the jobs that wait on a broker that lost them or on a worker that died; remove old results."""
    now = now or timezone.now()
    resent = 0
    # a running job whose lease is free lost its worker; a queued one may only be waiting behind long work, so it
    # is sent again only after a quiet while (a duplicate message finds the job taken or ended and does nothing)
    quiet = now - timedelta(seconds=float(_setting("MG_JOB_RESEND_SECONDS", 300)))
    stalled = Job.objects.filter(state=JobState.RUNNING) | Job.objects.filter(state=JobState.QUEUED,
                                                                              created_at__lt=quiet)
    for pk in stalled.values_list("pk", flat=True):
        if liveness.holder_gone(lease_name(pk)) and enqueue(pk):
            resent += 1
    removed = 0
    ttl = now - timedelta(hours=float(_setting("MG_JOB_RESULT_TTL_HOURS", 24)))
    for job in Job.objects.filter(finished_at__lt=ttl, result_expired=False).exclude(result_file=""):
        job.result_file.storage.delete(job.result_file.name)
        Job.objects.filter(pk=job.pk).update(result_expired=True)
        removed += 1
    return {"resent": resent, "removed": removed}
