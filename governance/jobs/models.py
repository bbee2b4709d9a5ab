"""Background jobs: work a person asked for that takes longer than a request should (issuing a validation report,
rendering the dossier, building the evidence pack), run by a Celery worker while the page shows its progress.

A job belongs to the person who started it: nobody else sees it (404). It records the language it was asked in
(what it writes and says is in that language), its progress and step, and at the end either what it produced (a
page to open, a file to download, kept for ``MG_JOB_RESULT_TTL_HOURS``) or why it failed. What a job does is
decided by the room that registers its kind (``governance.jobs.kinds``)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class JobState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Ready")
    FAILED = "failed", _("Did not finish")


ACTIVE_JOB_STATES = (JobState.QUEUED, JobState.RUNNING)


def job_result_path(instance: Job, filename: str) -> str:
    return f"jobs/{instance.pk}/{filename}"


class Job(models.Model):
    kind = models.CharField(_("kind"), max_length=60)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    title = models.CharField(_("title"), max_length=300)
    back_url = models.CharField(_("page it belongs to"), max_length=500, blank=True)
    language = models.CharField(_("language"), max_length=10, default="en")

    state = models.CharField(_("state"), max_length=20, choices=JobState.choices, default=JobState.QUEUED,
                             db_index=True)
    step = models.CharField(_("step"), max_length=200, blank=True)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0, validators=[MaxValueValidator(100)])
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    claim = models.CharField(max_length=64, blank=True, help_text="Token of the attempt that holds the job.")

    result_url = models.CharField(_("result page"), max_length=500, blank=True)
    result_label = models.CharField(_("result"), max_length=300, blank=True)
    result_file = models.FileField(_("result file"), upload_to=job_result_path, max_length=300, blank=True)
    result_name = models.CharField(_("file name"), max_length=200, blank=True)
    result_content_type = models.CharField(max_length=100, blank=True)
    result_sha256 = models.CharField(_("sha256"), max_length=64, blank=True)
    result_size = models.BigIntegerField(_("size in bytes"), null=True, blank=True)
    result_expired = models.BooleanField(_("result removed"), default=False)
    error_code = models.CharField(max_length=60, blank=True)
    error = models.TextField(_("why it did not finish"), blank=True)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(_("started"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True, help_text="When its owner saw how it ended.")

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("background job")
        verbose_name_plural = _("background jobs")
        indexes = [models.Index(fields=["created_by", "state"])]
        constraints = [models.CheckConstraint(condition=models.Q(progress__lte=100), name="job_progress_max_100")]

    def __str__(self) -> str:
        return f"job #{self.pk} {self.kind}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_JOB_STATES

    @property
    def display_title(self) -> str:
        """What the job is about, in the reader's language (the stored title is in the language it was asked in)."""
        from governance.jobs.kinds import get

        spec = get(self.kind)
        return str(spec.title(self.params)) if spec is not None else self.title

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at and self.created_at:
            return (self.finished_at - self.created_at).total_seconds()
        return None
