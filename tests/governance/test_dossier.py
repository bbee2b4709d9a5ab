"""Auditor exports: the dossier PDF and the evidence pack of a passport, who may have them, and the ML01 / ML04
checklist evidence a succeeded validation run fills in.

Real WeasyPrint renders every PDF (its text read back with pypdf), real validation runs go through the Celery task
(eager), and the evidence pack's own verify.py recomputes the chain proof in a separate Python process.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import translation
from pypdf import PdfReader

from core import pdf as pdf_module
from core.errors import PermissionDenied
from governance.audit.models import AuditEvent
from governance.demo.onnx_models import build_demo_model
from governance.dossier import records as dossier_module
from governance.dossier import services as evidence
from governance.workflow.models import ChecklistItem
from governance.workflow.services import findings as finding_services
from registry import services as registry_services
from tests import api_helpers
from tests.api_helpers import API, assert_error, bearer_client, raw_sql
from tests.factories import TeamFactory, UserFactory, make_passport
from tests.governance.workflow_helpers import Cast, answer_checklist, register, sign, to_in_validation, to_validated
from validation import services as validation_services
from validation.models import ValidationRun

pytestmark = pytest.mark.django_db

users, world = api_helpers.users, api_helpers.world

HOSTILE = '<script>alert(1)</script><img src="http://example.com/x">'


@pytest.fixture
def cast(db):
    return Cast()


@pytest.fixture
def reviewed(developer, owner, team, cast):
    """A tier-2 passport with hostile text in its fields: v1 validated with a report, an answered checklist, a
    validator's sign-off and an open finding; v2 a draft."""
    passport = make_passport(actor=developer, key="hostile-credit", team=team, business_owner=owner,
                             name=f"Credit {HOSTILE}", purpose=f"Purpose {HOSTILE}", limitations=HOSTILE,
                             materiality="medium")
    v1 = to_validated(register(passport, developer, seed=1), developer, cast)
    answer_checklist(v1, cast.security)
    signoff = sign(v1, cast.validator, "validator", comment=f"Looks fine {HOSTILE}")
    finding = finding_services.finding_raise(actor=cast.risk, version=v1, title=f"Gap {HOSTILE}", severity="high",
                                             owner=developer, due_date=date(2030, 1, 1), description=HOSTILE)
    v2 = register(passport, developer, seed=2)
    return SimpleNamespace(passport=passport, v1=v1, v2=v2, signoff=signoff, finding=finding)


def pdf_text(content: bytes) -> tuple[str, list[str]]:
    reader = PdfReader(io.BytesIO(content))
    pages = [page.extract_text() or "" for page in reader.pages]
    return "\n".join(pages), pages


def squeeze(text: str) -> str:
    """PDF text without whitespace: long digests wrap across lines in table cells."""
    return "".join(text.split())


# --------------------------------------------------------------------------- the dossier PDF


def test_the_dossier_shows_digests_signoffs_and_the_chain_result_with_a_footer_on_every_page(
        reviewed, auditor, cast, settings):
    settings.MG_BASE_URL = "https://governance.bank.example"
    fetcher = pdf_module.StaticOnlyFetcher()
    verification = evidence.audit_verify()
    records = dossier_module.dossier_records(reviewed.passport, verification=verification)
    records_sha256 = dossier_module.sha256_hex(dossier_module.canonical_json(records))
    content = dossier_module.render_dossier_pdf(records, records_sha256=records_sha256, generated_by="auditor",
                                                fetcher=fetcher)
    assert content.startswith(b"%PDF")
    text, pages = pdf_text(content)
    flat = squeeze(text)
    assert len(pages) >= 5
    for version in (reviewed.v1, reviewed.v2):
        assert version.sha256 in flat
    report = reviewed.v1.reports.get()
    assert report.sha256 in flat and "Fit for purpose." in text
    assert reviewed.signoff.checklist_sha256 in flat  # the digest the sign-off binds to
    assert "Audit chain intact." in text and verification.head_hash in flat
    assert f"https://governance.bank.example/passports/{reviewed.passport.key}/" in flat  # where to find it online
    assert "Contents" in text and "Approvals and sign-offs" in text and "OWASP ML Top-10 checklist" in text
    for number, page in enumerate(pages, start=1):
        assert records_sha256 in squeeze(page), f"page {number} has no records digest in its footer"
        assert f"{number} / {len(pages)}" in page
    assert fetcher.refused == []


def test_records_are_the_same_whatever_the_language(reviewed):
    verification = evidence.audit_verify()
    english = dossier_module.canonical_json(dossier_module.dossier_records(reviewed.passport,
                                                                          verification=verification))
    with translation.override("ru"):
        russian = dossier_module.canonical_json(dossier_module.dossier_records(reviewed.passport,
                                                                              verification=verification))
    assert english == russian


def test_a_signoff_that_no_longer_counts_is_shown_as_such(reviewed, cast):
    records = dossier_module.dossier_records(reviewed.passport, verification=evidence.audit_verify())
    [signoff] = records["versions"][0]["signoffs"]
    assert signoff["counts"] is True and signoff["changed_digests"] == []
    item = ChecklistItem.objects.get(version=reviewed.v1, code="ML07")
    finding_services.checklist_answer(actor=cast.security, item=item, status="not_applicable",
                                      evidence="Trained from scratch.")
    records = dossier_module.dossier_records(reviewed.passport, verification=evidence.audit_verify())
    [signoff] = records["versions"][0]["signoffs"]
    assert signoff["counts"] is False and signoff["changed_digests"] == ["checklist_sha256"]


def test_a_tampered_audit_chain_is_reported_broken_in_the_dossier(reviewed, auditor):
    event = AuditEvent.objects.filter(passport_key=reviewed.passport.key, action="finding.raised").get()
    raw_sql("UPDATE governance_auditevent SET data = %s WHERE id = %s", [json.dumps({"title": "nothing"}), event.pk])
    dossier = evidence.dossier_export(actor=auditor, passport=reviewed.passport)
    text, _ = pdf_text(dossier.content)
    assert "Audit chain broken." in text and f"First broken event: #{event.seq}." in text
    assert "the row was altered" in text
    exported = AuditEvent.objects.get(action="dossier.exported")
    assert exported.digests["dossier_sha256"] == dossier.sha256 and exported.data["chain_ok"] is False


def test_hostile_text_is_escaped_and_nothing_is_fetched(reviewed, auditor, monkeypatch):
    fetchers = []

    def recording_html_to_pdf(html, *, fetcher=None):
        fetcher = pdf_module.StaticOnlyFetcher()
        fetchers.append((html, fetcher))
        return pdf_module.html_to_pdf(html, fetcher=fetcher)

    monkeypatch.setattr(dossier_module, "html_to_pdf", recording_html_to_pdf)
    dossier = evidence.dossier_export(actor=auditor, passport=reviewed.passport)
    [(html, fetcher)] = fetchers
    assert "<script>alert(1)</script>" not in html and '<img src="http://example.com/x">' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert fetcher.refused == [] and fetcher.served == []  # no <img>, no stylesheet link: nothing to fetch
    text, _ = pdf_text(dossier.content)
    assert "<script>alert(1)</script>" in text and 'src="http://example.com/x"' in text  # shown as text


# --------------------------------------------------------------------------- the evidence pack


def _pack(actor, passport) -> tuple[zipfile.ZipFile, evidence.EvidencePack, bytes]:
    pack = evidence.evidence_pack_export(actor=actor, passport=passport)
    with pack.file:
        data = pack.file.read()
    return zipfile.ZipFile(io.BytesIO(data)), pack, data


def test_the_evidence_pack_manifest_matches_its_files_and_the_export_is_audited(reviewed, auditor, tmp_path):
    archive, pack, data = _pack(auditor, reviewed.passport)
    names = set(archive.namelist())
    report = reviewed.v1.reports.get()
    assert {"README.txt", "MANIFEST.json", "dossier.pdf", "records.json", "verify.py", "chain/verification.json",
            "chain/events.jsonl", "chain/links.jsonl", f"reports/v1/{report.pk}-report.md"} <= names
    manifest = json.loads(archive.read("MANIFEST.json"))
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(listed) == names - {"MANIFEST.json"}
    for name, entry in listed.items():
        body = archive.read(name)
        assert (dossier_module.sha256_hex(body), len(body)) == (entry["sha256"], entry["size"]), name
    assert archive.read(f"reports/v1/{report.pk}-report.md") == b"report body"
    assert manifest["reports"][0]["matches_record"] is True
    assert {a["version"]: (a["sha256"], a["matches"]) for a in manifest["artifacts"]} == {
        1: (reviewed.v1.sha256, True), 2: (reviewed.v2.sha256, True)}
    records = archive.read("records.json")
    assert dossier_module.sha256_hex(records) == manifest["records_sha256"]
    assert manifest["records_sha256"] in squeeze(pdf_text(archive.read("dossier.pdf"))[0])
    assert json.loads(records)["passport"]["name"] == f"Credit {HOSTILE}"
    readme = archive.read("README.txt").decode()
    assert readme.startswith(f'Evidence pack of model passport "{reviewed.passport.key}"')
    event = AuditEvent.objects.get(action="evidence_pack.exported")
    assert event.digests["evidence_pack_sha256"] == pack.sha256 == dossier_module.sha256_hex(data)
    assert event.digests["manifest_sha256"] == dossier_module.sha256_hex(archive.read("MANIFEST.json"))
    assert event.passport_key == reviewed.passport.key and event.actor == auditor


def test_the_chain_proof_recomputes_offline_and_detects_tampering(reviewed, auditor, tmp_path):
    archive, _, _ = _pack(auditor, reviewed.passport)
    archive.extractall(tmp_path / "ok")
    done = subprocess.run([sys.executable, str(tmp_path / "ok" / "verify.py")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK:")
    helped = subprocess.run([sys.executable, str(tmp_path / "ok" / "verify.py"), "--help"], capture_output=True,
                            text=True)
    assert helped.returncode == 0 and "usage: verify.py" in helped.stdout and "MANIFEST.json" in helped.stdout
    elsewhere = subprocess.run([sys.executable, str(tmp_path / "ok" / "verify.py"), str(tmp_path)],
                               capture_output=True, text=True)
    assert elsewhere.returncode == 1 and "no MANIFEST.json" in elsewhere.stdout
    by_path = subprocess.run([sys.executable, str(tmp_path / "ok" / "verify.py"), str(tmp_path / "ok")],
                             capture_output=True, text=True)
    assert by_path.returncode == 0 and by_path.stdout.startswith("OK:")
    events = [json.loads(line) for line in archive.read("chain/events.jsonl").splitlines()]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events) and len(events) > 10
    links = archive.read("chain/links.jsonl").splitlines()
    assert len(links) == json.loads(archive.read("chain/verification.json"))["events_checked"]

    # An event altered in the pack no longer hashes to its hash.
    altered = tmp_path / "altered"
    archive.extractall(altered)
    lines = (altered / "chain" / "events.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["actor_repr"] = "someone else"
    (altered / "chain" / "events.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    done = subprocess.run([sys.executable, str(altered / "verify.py")], capture_output=True, text=True)
    assert done.returncode == 1 and f"event #{first['seq']}" in done.stdout
    assert "file differs from the manifest: chain/events.jsonl" in done.stdout

    # A row altered in the database: the platform and the offline check both report it.
    event = AuditEvent.objects.filter(passport_key=reviewed.passport.key, action="signoff.recorded").get()
    raw_sql("UPDATE governance_auditevent SET actor_repr = %s WHERE id = %s", ["nobody", event.pk])
    archive, _, _ = _pack(auditor, reviewed.passport)
    archive.extractall(tmp_path / "tampered")
    assert json.loads(archive.read("chain/verification.json"))["first_broken_seq"] == event.seq
    done = subprocess.run([sys.executable, str(tmp_path / "tampered" / "verify.py")], capture_output=True, text=True)
    assert done.returncode == 1
    assert f"event #{event.seq} (signoff.recorded): its fields do not hash to its hash" in done.stdout


def test_only_those_who_read_the_audit_chain_may_export(reviewed, developer, validator):
    for user in (developer, validator):  # they see the passport, but not the audit chain
        with pytest.raises(PermissionDenied):
            evidence.evidence_pack_export(actor=user, passport=reviewed.passport)
        with pytest.raises(PermissionDenied):
            evidence.dossier_export(actor=user, passport=reviewed.passport)
    assert not AuditEvent.objects.filter(action__endswith=".exported").exists()


# --------------------------------------------------------------------------- API and UI access


@pytest.mark.parametrize("path, content_type", [("dossier.pdf", "application/pdf"),
                                                ("evidence-pack.zip", "application/zip")])
def test_api_access_matrix(world, users, path, content_type):
    other_team = UserFactory(username="dev-elsewhere", roles=["model_developer"])
    TeamFactory(name="Elsewhere", members=[other_team])
    users = {**users, "dev_elsewhere": other_team}
    endpoint = api_helpers.Endpoint(
        "GET", f"/passports/{{w.key}}/{path}", allowed="auditor", status=200,
        denied=(("dev_elsewhere", 404), ("outsider", 404), ("developer", 403), ("validator", 403)))
    response = api_helpers.check_endpoint(endpoint, world, users)
    assert response["Content-Type"] == content_type
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body[:4] in (b"%PDF", b"PK\x03\x04")
    assert bearer_client(users["admin"]).get(f"{API}/passports/{world.key}/{path}").status_code == 200
    assert_error(bearer_client(users["auditor"]).get(f"{API}/passports/no-such-passport/{path}"), 404, "not_found")
    registry_only = bearer_client(users["auditor"], scopes=["registry:read"])
    assert_error(registry_only.get(f"{API}/passports/{world.key}/{path}"), 403)


def test_ui_exports_card_and_access(client, world, users):
    url = reverse("registry:passport_detail", args=[world.key])
    dossier_url = reverse("governance:passport_dossier", args=[world.key])
    pack_url = reverse("governance:passport_evidence_pack", args=[world.key])
    anonymous = client.get(dossier_url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(users["developer"])
    assert "Auditor exports" not in client.get(url).content.decode()
    assert client.get(dossier_url).status_code == 403
    client.force_login(users["outsider"])
    assert client.get(dossier_url).status_code == 404 and client.get(pack_url).status_code == 404
    client.force_login(users["auditor"])
    page = client.get(url).content.decode()
    assert "Auditor exports" in page  # the card prepares both in the background (tests/governance/test_jobs.py)
    for name in ("passport_dossier_prepare", "passport_evidence_pack_prepare"):
        assert f'action="{reverse(f"governance:{name}", args=[world.key])}"' in page
    response = client.get(dossier_url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    response = client.get(pack_url)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    data = b"".join(response.streaming_content)
    assert response["X-Evidence-Pack-SHA256"] == dossier_module.sha256_hex(data)
    assert "MANIFEST.json" in zipfile.ZipFile(io.BytesIO(data)).namelist()


# --------------------------------------------------------------------------- ML01 / ML04 auto evidence


def _dataset(passport, actor, frame, name, kind):
    upload = ContentFile(frame.to_csv(index=False).encode(), name=f"{name}.csv")
    return registry_services.dataset_register(actor=actor, passport=passport, upload=upload, name=name, kind=kind,
                                              fmt="csv")


def test_a_succeeded_run_fills_ml01_and_ml04_auto_evidence(developer, owner, team, cast, eager, client,
                                                           django_capture_on_commit_callbacks):
    model = build_demo_model("credit-scoring", n_rows=1200)
    passport = make_passport(actor=developer, key="credit-full", team=team, business_owner=owner)  # tier 1: full
    version = registry_services.version_register(
        actor=developer, passport=passport, feature_names=model.feature_names,
        upload=ContentFile(model.onnx_bytes, name="credit.onnx"))
    version = to_in_validation(version, developer, cast)
    ml06_before = ChecklistItem.objects.get(version=version, code="ML06").auto_evidence
    assert ChecklistItem.objects.get(version=version, code="ML01").auto_evidence == {}
    reference = _dataset(passport, developer, model.reference, "reference", "reference")
    holdout = _dataset(passport, developer, model.holdout, "holdout", "validation")
    with django_capture_on_commit_callbacks(execute=True):
        run = validation_services.run_start(actor=cast.validator, version=version, reference=reference,
                                            validation=holdout, target=model.target)
    run = ValidationRun.objects.get(pk=run.pk)
    assert run.state == "succeeded", run.failure_reason
    robustness, gap = run.results["tests"]["robustness"], run.results["tests"]["generalisation"]

    ml01 = ChecklistItem.objects.get(version=version, code="ML01")
    assert ml01.status == "unanswered" and ml01.answered_by is None  # a person still confirms
    assert ml01.auto_evidence["validation_run"] == run.pk
    assert ml01.auto_evidence["results_sha256"] == run.digests["results"]
    assert ml01.auto_evidence["noise_drop"] == pytest.approx(robustness["metrics"]["noise_drop"]["value"], abs=1e-6)
    assert ml01.auto_evidence["missing_drop"] == pytest.approx(robustness["metrics"]["missing_drop"]["value"],
                                                               abs=1e-6)
    assert ml01.auto_evidence["worst_feature"] == robustness["worst_feature"]
    assert ml01.auto_evidence["drop_max"] == robustness["metrics"]["noise_drop"]["threshold"]
    ml04 = ChecklistItem.objects.get(version=version, code="ML04").auto_evidence
    assert ml04["generalisation_gap"] == pytest.approx(gap["metrics"]["gap"]["value"], abs=1e-6)
    assert ml04["membership_attack_auc"] == pytest.approx(gap["metrics"]["membership_attack_auc"]["value"], abs=1e-6)
    assert 0 <= ml04["membership_attack_auc"] <= 1
    assert ChecklistItem.objects.get(version=version, code="ML06").auto_evidence == ml06_before
    filled = AuditEvent.objects.get(action="checklist.auto_evidence_filled")
    assert filled.data == {"version": version.number, "codes": ["ML01", "ML04"], "validation_run": run.pk}

    # The auditor's dossier shows them in the version's checklist.
    text, _ = pdf_text(evidence.dossier_export(actor=UserFactory(roles=["auditor"]), passport=passport).content)
    text = " ".join(text.split())  # a label may wrap inside its table cell
    assert "Metric drop under noise" in text and "Membership-attack AUC" in text

    # The version page's checklist shows them, with readable names.
    client.force_login(cast.security)
    page = client.get(reverse("registry:version_detail", args=[passport.key, version.number])).content.decode()
    assert "Metric drop under noise" in page and "Membership-attack AUC" in page
    assert str(ml04["membership_attack_auc"]) in page


# --------------------------------------------------------------------------- in the browser


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_auditor_prepares_both_exports_in_the_background_and_downloads_them(live_server, tmp_path, job_worker):
    from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS

    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    developer = UserFactory(username="dev", roles=["model_developer"])
    UserFactory(username="browser-auditor", roles=["auditor"], display_name="Ada Auditor")
    passport = make_passport(actor=developer, key="browser-exports", team=TeamFactory(members=[developer]),
                             name=f"Exports {HOSTILE}")
    to_validated(register(passport, developer, seed=3), developer, Cast())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", "browser-auditor")
        page.fill("#id_password", "pw-Secret-123")
        page.click("main button[type=submit]")
        page.goto(f"{live_server.url}/passports/{passport.key}/")
        card = page.locator("#auditor-exports")
        assert card.is_visible() and page.locator("text=<script>alert(1)</script>").count() >= 1
        card.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "auditor-exports-card.png"), full_page=True)
        downloads = []
        for button in ("#export-dossier", "#export-evidence-pack"):
            page.goto(f"{live_server.url}/passports/{passport.key}/")
            page.click(button)  # a background job: its page shows the progress, then the download
            page.wait_for_url("**/jobs/*/")
            assert page.locator("#job-card").is_visible()
            page.locator("#job-download").wait_for(timeout=120_000)
            assert page.locator("#job-card").get_attribute("data-state") == "succeeded"
            page.wait_for_function("!document.querySelector('#nav-jobs')")  # seen: the navigation calms down
            page.screenshot(path=str(SCREENSHOTS / f"job-{button[1:]}.png"), full_page=True)
            with page.expect_download() as download:
                page.click("#job-download")
            downloads.append(download)
        dossier_download, pack_download = downloads
        dossier_path, pack_path = dossier_download.value.path(), pack_download.value.path()
        page.goto(f"{live_server.url}/jobs/")
        assert page.locator("#job-table tbody tr").count() == 2
        assert page.locator("#nav-jobs").count() == 0  # both seen: nothing left to announce
        from governance.jobs.models import Job
        from tests.ui.test_browser_signoff import shoot_pages

        pack_job = Job.objects.get(kind="dossier.evidence_pack")
        shoot_pages(page, live_server, {"list": "/jobs/", "detail": f"/jobs/{pack_job.pk}/",
                                        "passport": f"/passports/{passport.key}/"}, "jobs")
        assert dossier_download.value.suggested_filename.endswith(".pdf")
        assert Path(dossier_path).read_bytes().startswith(b"%PDF")
        with zipfile.ZipFile(pack_path) as archive:
            assert "dossier.pdf" in archive.namelist() and "MANIFEST.json" in archive.namelist()
        browser.close()
    assert AuditEvent.objects.filter(action="dossier.exported").count() == 1
    assert AuditEvent.objects.filter(action="evidence_pack.exported").count() == 1
