"""The frozen validation report issued from a real run: HTML and PDF from one content, the digest sign-offs bind
to, hostile text escaped and never fetched, refusals that store nothing, and the UI and API around it."""

from __future__ import annotations

import hashlib
import io
from datetime import date

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from pypdf import PdfReader

from core.errors import Conflict, DomainError, PermissionDenied
from governance.audit.models import AuditEvent
from governance.workflow.services import findings as finding_services
from governance.workflow.services import transitions as workflow
from governance.workflow.services.signoffs import current_digests, signoff_status
from tests.factories import make_passport
from tests.governance.workflow_helpers import sign
from tests.validation.conftest import TIER_3
from tests.validation.test_runs import _setup, _start
from validation import services
from validation.choices import RunState
from validation.models import ValidationReport

HOSTILE = '<script>alert(1)</script><img src="http://example.com/x.png">'


@pytest.fixture
def done(developer, owner, team, cast, credit, eager, django_capture_on_commit_callbacks):
    """A succeeded run on a tier-3 version in validation whose passport and finding carry hostile text."""
    passport = make_passport(actor=developer, key="credit-report", team=team, business_owner=owner,
                             name=f"Credit {HOSTILE}", purpose=f"Scores {HOSTILE}", **TIER_3)
    s = _setup(passport, developer, cast, credit)
    with django_capture_on_commit_callbacks(execute=True):
        run = _start(s)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.failure_reason
    finding_services.finding_raise(actor=cast.validator, version=s.version, title=f"Gap {HOSTILE}", severity="low",
                                   owner=developer, due_date=date(2030, 1, 1))
    s.run = run
    return s


def _pdf_text(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def test_issuing_freezes_html_and_pdf_with_the_digest_sign_offs_bind_to(done, cast):
    report = services.report_issue_generated(actor=cast.validator, run=done.run, conclusion=f"Fit. {HOSTILE}",
                                             rating="fit")
    html = default_storage.open(report.file.name).read()
    pdf = default_storage.open(report.pdf_file.name).read()
    assert report.source == "generated" and report.run == done.run
    assert hashlib.sha256(html).hexdigest() == report.sha256 and report.size == len(html)
    assert hashlib.sha256(pdf).hexdigest() == report.pdf_sha256 and pdf.startswith(b"%PDF")
    assert current_digests(done.version)["report_sha256"] == report.sha256  # the report in force

    text = html.decode()
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert '<img src="http://example.com' not in text
    assert done.version.sha256 in text and done.reference.sha256 in text and done.validation.sha256 in text
    assert 'data-chart="fig-performance-0"' in text  # interactive charts drawn by the vendored Plotly
    pages = _pdf_text(pdf)
    assert len(pages) >= 4
    for page in pages:  # the report digest in every footer
        assert report.sha256 in page.replace("\n", "")
    whole = " ".join(pages)
    assert "Contents" in whole and "Reproducibility" in whole and done.version.sha256 in whole.replace("\n", "")
    assert "<script>alert(1)</script>" in whole  # shown as text, never as markup
    event = AuditEvent.objects.filter(action="report.issued").latest("seq")
    assert event.digests["report_sha256"] == report.sha256 and event.digests["pdf_sha256"] == report.pdf_sha256


def test_a_newer_report_makes_earlier_sign_offs_stale(done, cast, owner):
    first = services.report_issue_generated(rating="fit", actor=cast.validator, run=done.run, conclusion="Fit.")
    workflow.version_mark_validated(actor=cast.validator, version=done.version)
    done.version.refresh_from_db()
    signed = sign(done.version, cast.validator, "validator")
    assert signed.report_sha256 == first.sha256 and "validator" in signoff_status(done.version).current
    second = services.report_issue_generated(actor=cast.validator, run=done.run, conclusion="Fit, with a caveat.",
                                             rating="fit")
    assert second.sha256 != first.sha256
    status = signoff_status(done.version)
    assert "validator" not in status.current and signed in status.stale


def test_refusals_name_the_rule_and_store_nothing(done, cast, developer):
    reports, files = ValidationReport.objects.count(), _stored()
    with pytest.raises(PermissionDenied):
        services.report_issue_generated(rating="fit", actor=cast.validator2, run=done.run, conclusion="Fit.")
    with pytest.raises(DomainError, match="conclusion"):
        services.report_issue_generated(rating="fit", actor=cast.validator, run=done.run, conclusion="   ")
    workflow.version_reject(actor=cast.risk, version=done.version, reason="Out of scope.")
    with pytest.raises(Conflict, match="versions in validation"):
        services.report_issue_generated(rating="fit", actor=cast.validator, run=done.run, conclusion="Fit.")
    assert ValidationReport.objects.count() == reports and _stored() == files


def test_a_run_that_did_not_succeed_cannot_be_issued(low, cast):
    run = _start(low)  # queued: no worker ran it
    with pytest.raises(Conflict, match="succeeded run") as refused:
        services.report_issue_generated(rating="fit", actor=cast.validator, run=run, conclusion="Fit.")
    assert refused.value.code == "run_not_succeeded" and not ValidationReport.objects.exists()


def test_a_rendering_failure_stores_nothing(done, cast, monkeypatch):
    from validation import report

    def broken(*args, **kwargs):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(report, "html_to_pdf", broken)
    files = _stored()
    with pytest.raises(RuntimeError):
        services.report_issue_generated(rating="fit", actor=cast.validator, run=done.run, conclusion="Fit.")
    assert not ValidationReport.objects.exists() and _stored() == files
    assert not AuditEvent.objects.filter(action="report.issued").exists()


def test_ui_issue_then_read_html_and_pdf(client, done, cast, outsider, eager, django_capture_on_commit_callbacks):
    from governance.jobs.models import Job

    client.force_login(cast.validator)
    url = reverse("validation:report_issue", args=[done.run.pk])
    page = client.get(url)
    assert page.status_code == 200 and "report-issue-form" in page.content.decode()
    assert 'name="rating" value="fit_with_conditions"' in page.content.decode()  # the rating is asked
    assert client.post(url, {"conclusion": ""}).status_code == 400
    assert not Job.objects.exists()  # refused at once, nothing started
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"conclusion": f"Fit for purpose. {HOSTILE}", "rating": "fit"})
    report, job = ValidationReport.objects.get(), Job.objects.get()
    # issued in the background: the job's page follows it and then links the report and the version
    assert response.status_code == 302 and response["Location"] == reverse("governance:job_detail", args=[job.pk])
    assert job.state == "succeeded" and job.result_url == reverse("validation:report_html", args=[report.pk])
    assert job.back_url == reverse("registry:version_detail", args=[done.version.passport.key, done.version.number])
    job_page = client.get(response["Location"]).content.decode()
    assert f'href="{job.result_url}"' in job_page and f'href="{job.back_url}"' in job_page
    assert report.sha256[:12] in job_page
    html = client.get(job.result_url)
    assert f'href="{job.back_url}"' in html.content.decode()  # the frozen report links back to its version
    assert html.status_code == 200 and hashlib.sha256(html.content).hexdigest() == report.sha256
    assert "script-src 'self'" in html["Content-Security-Policy"]
    pdf = client.get(reverse("validation:report_pdf", args=[report.pk]))
    assert pdf["Content-Type"] == "application/pdf" and hashlib.sha256(pdf.content).hexdigest() == report.pdf_sha256
    version_page = client.get(reverse("registry:version_detail", args=[done.version.passport.key,
                                                                      done.version.number])).content.decode()
    assert reverse("validation:report_html", args=[report.pk]) in version_page
    assert reverse("validation:report_pdf", args=[report.pk]) in version_page
    client.force_login(outsider)
    assert client.get(reverse("validation:report_html", args=[report.pk])).status_code == 404
    assert client.get(reverse("validation:report_issue", args=[done.run.pk])).status_code == 404


def test_api_issue_and_fetch(done, cast, developer):
    from tests.api_helpers import bearer_client

    api = "/api/v1/validation"
    client = bearer_client(cast.validator)
    refused = client.post(f"{api}/runs/{done.run.pk}/report/", {}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "conclusion"
    created = client.post(f"{api}/runs/{done.run.pk}/report/", {"conclusion": "Fit.", "rating": "fit"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    report = ValidationReport.objects.get(pk=body["id"])
    assert body["sha256"] == report.sha256 and body["pdf_sha256"] == report.pdf_sha256 and body["run"] == done.run.pk
    html = client.get(body["html_url"])
    assert html.status_code == 200 and hashlib.sha256(html.content).hexdigest() == report.sha256
    pdf = client.get(body["pdf_url"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get(f"{api}/reports/{report.pk}/").json()["sha256"] == report.sha256
    assert bearer_client(developer).post(f"{api}/runs/{done.run.pk}/report/", {"conclusion": "Mine.", "rating": "fit"},
                                         format="json").status_code == 403
    assert client.get(f"{api}/reports/999999/").status_code == 404


@pytest.fixture
def low(developer, owner, team, cast, credit):
    passport = make_passport(actor=developer, key="credit-low-r", team=team, business_owner=owner, **TIER_3)
    return _setup(passport, developer, cast, credit)


def _stored() -> set[str]:
    try:
        folders, _files = default_storage.listdir("reports")
    except FileNotFoundError:
        return set()
    out = set()
    for passport in folders:
        for version in default_storage.listdir(f"reports/{passport}")[0]:
            out.update(default_storage.listdir(f"reports/{passport}/{version}")[1])
    return out


def test_bench_report_renders_a_full_report_of_every_test(tmp_path):
    """The benchmark's stand-in run must keep up with what a report reads from a run (it once lacked the tier
    policy's tests): a small run of every test renders to a PDF whose table of contents reaches the appendix."""
    from django.core.management import call_command

    out, pdf = io.StringIO(), tmp_path / "report.pdf"
    call_command("bench_report", rows=2_000, reference_rows=2_000, trees=10, depth=3, repeat=1, out=str(pdf),
                 stdout=out)
    reader = PdfReader(pdf)
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) > 10
    for heading in ("1. Summary", "4. Results by test", "4.7 Explainability (SHAP)", "8. Reproducibility"):
        assert heading in text, heading
    assert '"pdf_median_s"' in out.getvalue()


def test_the_sampled_rows_table_shows_the_most_important_features_and_sums_the_rest():
    """Thirty columns of SHAP values read as noise on an A4 page: the table keeps the eight features of highest
    mean |SHAP| in that order, and one column sums the others' values, so each row still adds up."""
    from validation.run_display import SAMPLE_FEATURES, _explainability

    names = [f"f{i:02d}" for i in range(30)]
    rng = np.random.default_rng(3)
    shap = rng.normal(size=(12, 30)).round(6).tolist()
    importance = [{"feature": name, "mean_abs_shap": 1.0 / (rank + 1)}
                  for rank, name in enumerate(reversed(names))]  # f29 first
    tables = _explainability({"importance": importance,
                              "sample": {"features": names, "rows": list(range(100, 112)), "shap": shap}})
    table = next(t for t in tables if t.key == "shap-sample")
    assert table.columns[1:SAMPLE_FEATURES + 1] == [f"f{i:02d}" for i in range(29, 29 - SAMPLE_FEATURES, -1)]
    assert str(table.columns[-1]) == "Other 22 features (sum)" and len(table.columns) == SAMPLE_FEATURES + 2
    assert len(table.rows) == 10 and table.rows[0][0].text == "100"
    first = shap[0]
    assert float(table.rows[0][1].text.replace("\u2212", "-")) == pytest.approx(first[29], rel=1e-3, abs=1e-4)
    others = sum(first[i] for i in range(30 - SAMPLE_FEATURES))
    assert float(table.rows[0][-1].text.replace("\u2212", "-")) == pytest.approx(others, rel=1e-3, abs=1e-4)

    importance[-5:] = [{"feature": entry["feature"], "mean_abs_shap": 0.0} for entry in importance[-5:]]
    ranked = next(t for t in _explainability({"importance": importance}) if t.key == "importance")
    assert len(ranked.rows) == 26 and [cell.text for cell in ranked.rows[-1]] == [
        "No effect (5): f04, f03, f02, f01, f00", "0", "0.0 %"]

    few = _explainability({"importance": importance[:3], "sample": {"features": names[:3], "rows": [1],
                                                                     "shap": [[0.1, 0.2, 0.3]]}})
    assert few[-1].columns == ["Row", "f00", "f01", "f02"]  # nothing to sum: no extra column
