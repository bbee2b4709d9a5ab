"""Background jobs (``governance.jobs``): who sees a job and its file, what a worker that dies mid-job leaves
behind, what the sweep sends again, and how the dossier and the evidence pack reach their owner through one.

The kill test forks a real process that holds the job's lease (an flock on SQLite, an advisory lock on PostgreSQL)
and is killed with SIGKILL half-way; the next attempt takes the job over at once."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import time
import zipfile
from datetime import timedelta
from io import BytesIO

import pytest
from django.db import connections
from django.urls import reverse
from django.utils import timezone, translation

from core.errors import DomainError, PermissionDenied
from governance.audit.models import AuditEvent
from governance.dossier import jobs as dossier_jobs
from governance.jobs import kinds, services
from governance.jobs.models import Job, JobState
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SLOW = "tests.slow"


@pytest.fixture
def slow_kind():
    """A job kind for these tests: halfway it reports 50 % and sleeps ``params['sleep']`` seconds."""
    calls = []

    def run(actor, params, progress):
        calls.append(os.getpid())
        progress("Half-way", 50)
        time.sleep(params.get("sleep", 0))
        if params.get("fail"):
            raise DomainError("The slow job was told to fail.", code="told_to_fail")
        return kinds.Outcome(content=b"made by the slow job", filename="slow.txt", content_type="text/plain",
                             label="Slow job done.")

    def authorize(actor, params):
        if params.get("refuse"):
            raise PermissionDenied("Not for you.")

    kinds.register(kinds.JobKind(name=SLOW, run=run, authorize=authorize, title=lambda p: "A slow job"))
    yield calls
    kinds._KINDS.pop(SLOW, None)


def _job(user, **params) -> Job:
    return Job.objects.create(kind=SLOW, params=params, title="A slow job", created_by=user, language="en")


def test_a_job_runs_reports_progress_and_keeps_its_file(developer, slow_kind):
    job = _job(developer)
    assert services.job_execute(job.pk) == "succeeded"
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED and job.progress == 100 and job.attempts == 1
    assert job.result_sha256 == hashlib.sha256(b"made by the slow job").hexdigest() and job.result_size == 20
    assert job.result_file.read() == b"made by the slow job"
    assert services.job_execute(job.pk) == "skipped"  # a duplicate message does nothing
    assert Job.objects.get(pk=job.pk).attempts == 1


def test_a_refusal_or_an_error_ends_the_job_failed_with_the_reason(developer, slow_kind):
    job = _job(developer, fail=True)
    assert services.job_execute(job.pk) == "failed"
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.error_code == "told_to_fail" and "told to fail" in job.error
    assert not job.result_file
    refused = _job(developer, refuse=True)  # the person lost the right between start and run
    assert services.job_execute(refused.pk) == "failed"
    refused.refresh_from_db()
    assert refused.state == JobState.FAILED and refused.error_code == "permission_denied"
    with pytest.raises(PermissionDenied):
        services.job_start(actor=developer, kind=SLOW, params={"refuse": True})
    with pytest.raises(DomainError) as unknown:
        services.job_start(actor=developer, kind="nope", params={})
    assert unknown.value.code == "unknown_job"
    assert Job.objects.count() == 2  # refused starts record nothing


def test_a_job_speaks_the_language_it_was_asked_in(developer, slow_kind):
    with translation.override("ru"):
        job = services.job_start(actor=developer, kind=SLOW, params={})
    assert job.language == "ru" and job.step == "Ожидание обработчика"
    services.job_execute(job.pk)
    job.refresh_from_db()
    assert job.step == "Готово"  # what the worker wrote, in the language the job was asked in


def _hold_and_run(job_id: int) -> None:  # in a forked child: fresh connections of its own
    for conn in connections.all():
        conn.connection = None  # the parent's sockets are not ours to close
    services.job_execute(job_id)
    os._exit(0)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_killed_mid_job_is_taken_over_at_once(developer, slow_kind):
    job = _job(developer, sleep=60)
    child = multiprocessing.get_context("fork").Process(target=_hold_and_run, args=(job.pk,))
    child.start()
    try:
        deadline = time.monotonic() + 30
        while Job.objects.get(pk=job.pk).progress != 50:
            assert time.monotonic() < deadline, "the child never got half-way"
            time.sleep(0.05)
        assert services.job_execute(job.pk) == "skipped"  # the living attempt holds the lease
        swept = services.jobs_sweep()
        assert swept["resent"] == 0  # nothing to resend while the holder lives
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
    stuck = Job.objects.get(pk=job.pk)
    assert stuck.state == JobState.RUNNING and not stuck.result_file  # nothing half-written
    sent = []
    original = services.enqueue
    services.enqueue = lambda pk: sent.append(pk) or True
    try:
        assert services.jobs_sweep()["resent"] == 1 and sent == [job.pk]  # the free lease tells at once
    finally:
        services.enqueue = original
    Job.objects.filter(pk=job.pk).update(params={})  # the second attempt is quick
    assert services.job_execute(job.pk) == "succeeded"
    done = Job.objects.get(pk=job.pk)
    # the child's attempt ran in its own memory: here only the second one is seen
    assert done.attempts == 2 and done.state == JobState.SUCCEEDED and slow_kind == [os.getpid()]


def test_a_job_whose_workers_keep_dying_fails_and_says_why(developer, slow_kind, settings):
    settings.MG_JOB_MAX_ATTEMPTS = 2
    job = _job(developer)
    Job.objects.filter(pk=job.pk).update(state=JobState.RUNNING, attempts=2, claim="dead")
    assert services.job_execute(job.pk) == "skipped"
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.error_code == "worker_lost" and "2 times" in job.error


def test_old_results_are_removed_and_the_page_says_so(client, developer, slow_kind, settings):
    job = _job(developer)
    services.job_execute(job.pk)
    job.refresh_from_db()
    name = job.result_file.name
    assert services.jobs_sweep()["removed"] == 0
    Job.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(hours=25))
    assert services.jobs_sweep()["removed"] == 1
    assert not job.result_file.storage.exists(name)
    client.force_login(developer)
    assert client.get(reverse("governance:job_download", args=[job.pk])).status_code == 404
    page = client.get(reverse("governance:job_detail", args=[job.pk])).content.decode()
    assert "removed after its retention period" in page


def test_only_its_owner_sees_a_job_and_its_file(client, developer, outsider, admin_user, slow_kind):
    job = _job(developer)
    services.job_execute(job.pk)
    for name in ("job_detail", "job_progress", "job_download"):
        url = reverse(f"governance:{name}", args=[job.pk])
        for other in (outsider, admin_user):
            client.force_login(other)
            assert client.get(url).status_code == 404, (name, other)
        client.force_login(developer)
        assert client.get(url).status_code == 200, name
    assert "A slow job" in client.get(reverse("governance:job_list")).content.decode()
    client.force_login(outsider)
    assert "A slow job" not in client.get(reverse("governance:job_list")).content.decode()
    client.logout()
    assert client.get(reverse("governance:job_detail", args=[job.pk])).status_code == 302  # to the login page


def test_the_navigation_counts_running_and_unseen_jobs(client, developer, slow_kind):
    client.force_login(developer)
    job = _job(developer)
    html = client.get("/passports/").content.decode()
    assert 'id="nav-jobs"' in html and "1 job running" in html
    services.job_execute(job.pk)
    html = client.get("/passports/").content.decode()
    assert "1 job ready" in html
    client.get(reverse("governance:job_detail", args=[job.pk]))  # seen
    assert 'id="nav-jobs"' not in client.get("/passports/").content.decode()


# --------------------------------------------------------------------------- the auditor exports as jobs


def test_the_dossier_and_the_pack_are_prepared_as_jobs(client, auditor, developer, passport, eager,
                                                        django_capture_on_commit_callbacks):
    client.force_login(auditor)
    for kind, name, magic in ((dossier_jobs.DOSSIER, "passport_dossier_prepare", b"%PDF"),
                              (dossier_jobs.EVIDENCE_PACK, "passport_evidence_pack_prepare", b"PK")):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse(f"governance:{name}", args=[passport.key]))
        job = Job.objects.get(kind=kind)
        assert response.status_code == 302 and response["Location"] == reverse("governance:job_detail",
                                                                                args=[job.pk])
        assert job.state == JobState.SUCCEEDED, job.error
        page = client.get(response["Location"]).content.decode()
        assert 'id="job-download"' in page and job.result_sha256 in page
        download = client.get(reverse("governance:job_download", args=[job.pk]))
        body = b"".join(download.streaming_content)
        assert body.startswith(magic) and hashlib.sha256(body).hexdigest() == job.result_sha256
        assert download["X-Content-SHA256"] == job.result_sha256
    recorded = AuditEvent.objects.get(action="dossier.exported")
    assert recorded.digests["dossier_sha256"] == Job.objects.get(kind=dossier_jobs.DOSSIER).result_sha256
    pack = Job.objects.get(kind=dossier_jobs.EVIDENCE_PACK)
    with zipfile.ZipFile(BytesIO(pack.result_file.read())) as archive:
        assert "MANIFEST.json" in archive.namelist()
    assert AuditEvent.objects.get(action="evidence_pack.exported").digests["evidence_pack_sha256"] == \
        pack.result_sha256


def test_exports_are_refused_before_a_job_exists_and_the_file_after_a_role_is_lost(
        client, auditor, developer, passport, eager, django_capture_on_commit_callbacks):
    client.force_login(developer)  # sees the passport, may not export
    assert client.post(reverse("governance:passport_dossier_prepare", args=[passport.key])).status_code == 403
    client.force_login(UserFactory(username="nobody-here"))
    assert client.post(reverse("governance:passport_dossier_prepare", args=[passport.key])).status_code == 404
    assert client.get(reverse("governance:passport_dossier_prepare", args=[passport.key])).status_code == 405
    assert not Job.objects.exists()
    client.force_login(auditor)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("governance:passport_dossier_prepare", args=[passport.key]))
    job = Job.objects.get()
    auditor.groups.clear()
    auditor.user_permissions.clear()
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(pk=auditor.pk))
    assert client.get(reverse("governance:job_download", args=[job.pk])).status_code == 403
