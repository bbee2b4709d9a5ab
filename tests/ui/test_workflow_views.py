"""The workflow UI: who sees which button, each form calls its service (and its audit event lands), refusals
show as alerts and change nothing, hostile text is escaped, "My reviews" and the portfolio, in English and Russian."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.workflow.models import ChecklistItem, Finding, SignOff, ValidatorAssignment
from governance.workflow.services import findings as finding_services
from registry.choices import VersionState
from registry.models import ModelVersion
from tests.factories import TeamFactory, make_passport
from tests.governance.workflow_helpers import (
    PASSWORD,
    Cast,
    answer_checklist,
    issue_report,
    register,
    sign,
    to_in_validation,
    to_validated,
)
from validation.models import ValidationReport

pytestmark = pytest.mark.django_db

HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_EVIDENCE = "<img src=http://x>"
LOW_RISK = {"materiality": "low", "decision_type": "human_in_the_loop", "processes_personal_data": False,
            "regulatory_exposure": "none"}


@pytest.fixture
def cast(db):
    return Cast()


@pytest.fixture
def version(passport, developer):
    return register(passport, developer)


@pytest.fixture
def low_version(developer, owner):
    """A tier-3 version: approval needs only the validator and the business owner."""
    team = TeamFactory(name="Low-risk team", members=[developer])
    passport = make_passport(actor=developer, key="low-risk", team=team, business_owner=owner, **LOW_RISK)
    assert passport.risk_tier == 3
    return register(passport, developer)


def version_url(version) -> str:
    return reverse("registry:version_detail", args=[version.passport.key, version.number])


def wf_url(name: str, version, *args) -> str:
    return reverse(f"governance:{name}", args=[version.passport.key, version.number, *args])


def page_of(client, user, version) -> str:
    client.force_login(user)
    response = client.get(version_url(version))
    assert response.status_code == 200
    return response.content.decode()


def events(action: str):
    return AuditEvent.objects.filter(action=action)


def state_of(version) -> str:
    return ModelVersion.objects.get(pk=version.pk).state


# --- routes and visibility ------------------------------------------------------------------------------------


def test_named_routes():
    assert reverse("governance:inbox") == "/reviews/"
    assert reverse("governance:portfolio") == "/portfolio/"
    base = "/passports/credit-score/versions/2/review/"
    assert reverse("governance:version_submit", args=["credit-score", 2]) == f"{base}submit/"
    assert reverse("governance:signoff_record", args=["credit-score", 2]) == f"{base}sign/"
    assert reverse("governance:checklist_answer", args=["credit-score", 2, "ML01"]) == f"{base}checklist/ML01/"
    assert reverse("governance:finding_set_status", args=["credit-score", 2, 7]) == f"{base}findings/7/status/"


@pytest.mark.parametrize("url", ["/reviews/", "/portfolio/"])
def test_pages_require_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_invisible_passport_is_404(client, outsider, version, cast):
    to_validated(version, version.author, cast)
    report = ValidationReport.objects.get(version=version)
    client.force_login(outsider)
    assert client.get(version_url(version)).status_code == 404
    for name in ("version_submit", "validator_assign", "report_issue", "version_mark_validated", "finding_raise",
                 "signoff_record", "version_reject", "version_revoke", "version_retire"):
        assert client.post(wf_url(name, version), {}).status_code == 404, name
    assert client.post(wf_url("checklist_answer", version, "ML01"), {}).status_code == 404
    assert client.get(wf_url("report_download", version, report.pk)).status_code == 404
    assert client.post(wf_url("signoff_record", version), {"sign-password": PASSWORD}).status_code == 404
    assert not SignOff.objects.exists()


def test_workflow_posts_need_post(client, developer, version):
    client.force_login(developer)
    assert client.get(wf_url("version_submit", version)).status_code == 405
    assert state_of(version) == VersionState.DRAFT


def test_nav_has_my_reviews_and_portfolio(client, developer):
    client.force_login(developer)
    html = client.get(reverse("registry:passport_list")).content.decode()
    assert 'href="/reviews/"' in html and 'href="/portfolio/"' in html
    assert "My reviews" in html and "Portfolio" in html


def test_nav_badge_counts_waiting_items(client, version, developer, cast):
    to_in_validation(version, developer, cast)
    client.force_login(cast.validator)
    html = client.get(reverse("governance:inbox")).content.decode()
    badge = re.search(r'class="badge rounded-pill nav-count[^"]*"[^>]*>(\d+)<', html)
    assert badge and badge.group(1) == "1"  # one assigned validation
    client.force_login(cast.validator2)
    assert "nav-count" not in client.get(reverse("governance:inbox")).content.decode()


# --- who sees which button ------------------------------------------------------------------------------------


def test_developer_sees_submit_on_draft_but_no_signoff_form(client, developer, version):
    html = page_of(client, developer, version)
    assert wf_url("version_submit", version) in html
    assert wf_url("signoff_record", version) not in html and 'name="sign-password"' not in html
    assert wf_url("validator_assign", version) not in html
    assert 'class="wf-stepper"' in html and "Policy on submission" in html


def test_reviewers_see_no_submit_on_draft(client, version, cast):
    html = page_of(client, cast.risk, version)
    assert wf_url("version_submit", version) not in html


def test_risk_officer_sees_assign_with_validators_only(client, version, developer, cast):
    from governance.workflow.services import transitions as workflow

    workflow.version_submit(actor=developer, version=version)
    html = page_of(client, cast.risk, version)
    assert wf_url("validator_assign", version) in html and wf_url("version_reject", version) in html
    select = re.search(r'<select name="assign-validator".*?</select>', html, re.S).group(0)
    assert ">val<" in select and ">val2<" in select and ">risk<" not in select and ">sec<" not in select
    html = page_of(client, developer, version)
    assert wf_url("validator_assign", version) not in html and wf_url("version_reject", version) not in html


def test_only_the_assigned_validator_sees_the_signoff_form(client, version, developer, cast):
    to_validated(version, developer, cast)
    html = page_of(client, cast.validator2, version)  # a validator, but not assigned
    assert wf_url("signoff_record", version) not in html and 'name="sign-password"' not in html
    html = page_of(client, cast.validator, version)
    assert wf_url("signoff_record", version) in html and 'name="sign-password"' in html
    roles = re.search(r'<select name="sign-role".*?</select>', html, re.S).group(0)
    assert 'value="validator"' in roles and 'value="risk_officer"' not in roles
    html = page_of(client, developer, version)  # the author never signs
    assert wf_url("signoff_record", version) not in html


def test_validated_page_shows_policy_signoffs_digests_reports_and_checklist(client, version, developer, cast):
    to_validated(version, developer, cast)
    report = ValidationReport.objects.get(version=version)
    html = page_of(client, cast.risk, version)
    for text in ("Policy in force", "Required sign-offs", "Missing", "Current digests", "Validation reports",
                 "OWASP ML Top-10 checklist", "Input Manipulation Attack", "Model Poisoning", "Filled by the platform",
                 "History", "version.validated", "report.issued", "Fit for purpose."):
        assert text in html, text
    assert report.sha256 in html and version.sha256 in html  # full digests in title / copy attributes
    assert wf_url("report_download", version, report.pk) in html
    assert html.count('class="check-item check-') == 10


def test_stale_signoff_says_why(client, version, developer, cast):
    to_validated(version, developer, cast)
    sign(version, cast.validator, "validator", acknowledge_pending=True)
    issue_report(version, cast.validator, text="second report")  # a new report: the validator's sign-off goes stale
    html = page_of(client, cast.risk, version)
    assert "No longer counts: report changed" in html


# --- each form calls its service --------------------------------------------------------------------------------


def test_submit_assign_report_and_mark_validated(client, version, developer, cast):
    client.force_login(developer)
    response = client.post(wf_url("version_submit", version))
    assert response.status_code == 302 and response["Location"].startswith(version_url(version))
    assert state_of(version) == VersionState.SUBMITTED and events("version.submitted").count() == 1

    client.force_login(cast.risk)
    response = client.post(wf_url("validator_assign", version), {"assign-validator": cast.validator.pk})
    assert response.status_code == 302
    assert ValidatorAssignment.objects.filter(version=version, validator=cast.validator).exists()
    assert events("validator.assigned").count() == 1 and state_of(version) == VersionState.IN_VALIDATION

    client.force_login(cast.validator)
    upload = SimpleUploadedFile("validation.md", b"# Validation\nAll good.")
    response = client.post(wf_url("report_issue", version),
                           {"report-file": upload, "report-conclusion": "Fit.", "report-rating": "fit"})
    assert response.status_code == 302 and events("report.issued").count() == 1
    report = ValidationReport.objects.get(version=version)
    download = client.get(wf_url("report_download", version, report.pk))
    assert download.status_code == 200 and "attachment" in download["Content-Disposition"]
    assert download["Content-Type"] == "application/octet-stream"
    assert b"".join(download.streaming_content) == b"# Validation\nAll good."

    response = client.post(wf_url("version_mark_validated", version))
    assert response.status_code == 302 and state_of(version) == VersionState.VALIDATED
    assert events("version.validated").count() == 1
    followed = client.get(response["Location"]).content.decode()
    assert "is validated" in followed


def test_refusal_is_an_alert_and_changes_nothing(client, version, developer, cast):
    to_in_validation(version, developer, cast)
    client.force_login(cast.validator)
    before = AuditEvent.objects.count()
    response = client.post(wf_url("version_mark_validated", version))  # no report yet
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="workflow-error"' in html and "Issue a validation report before completing the validation." in html
    assert state_of(version) == VersionState.IN_VALIDATION and AuditEvent.objects.count() == before


def test_assign_refused_for_developer_is_403_alert(client, version, developer, cast):
    from governance.workflow.services import transitions as workflow

    workflow.version_submit(actor=developer, version=version)
    client.force_login(developer)
    response = client.post(wf_url("validator_assign", version), {"assign-validator": cast.validator.pk})
    assert response.status_code in (400, 403)  # the form offers nothing or the service refuses
    assert not ValidatorAssignment.objects.exists() and state_of(version) == VersionState.SUBMITTED


def test_raise_finding_and_change_its_status(client, version, developer, cast, owner):
    to_in_validation(version, developer, cast)
    client.force_login(cast.validator)
    due = (timezone.localdate() + timedelta(days=14)).isoformat()
    response = client.post(wf_url("finding_raise", version), {
        "finding-title": "Calibration drifts", "finding-description": "Brier score above limit.",
        "finding-severity": "high", "finding-owner": developer.pk, "finding-due_date": due})
    assert response.status_code == 302
    finding = Finding.objects.get(version=version)
    assert finding.severity == "high" and finding.owner == developer and events("finding.raised").count() == 1

    client.force_login(cast.risk)  # accepting a risk needs the reason: refused, shown, nothing changes
    prefix = f"finding-{finding.pk}"
    response = client.post(wf_url("finding_set_status", version, finding.pk), {f"{prefix}-status": "risk_accepted"})
    assert response.status_code == 400 and "Accepting a risk needs the reason." in response.content.decode()
    finding.refresh_from_db()
    assert finding.status == "open" and not events("finding.status_changed").exists()

    response = client.post(wf_url("finding_set_status", version, finding.pk),
                           {f"{prefix}-status": "risk_accepted", f"{prefix}-note": "Compensating control."})
    assert response.status_code == 302
    finding.refresh_from_db()
    assert finding.status == "risk_accepted" and finding.accepted_by == cast.risk
    assert events("finding.status_changed").count() == 1

    client.force_login(cast.validator)
    response = client.post(wf_url("finding_set_status", version, finding.pk), {f"{prefix}-status": "open"})
    assert response.status_code == 302
    finding.refresh_from_db()
    assert finding.status == "open"


def test_finding_owner_may_only_mark_remediated(client, version, developer, cast):
    to_in_validation(version, developer, cast)
    finding = finding_services.finding_raise(actor=cast.validator, version=version, title="Gap", severity="low",
                                             owner=developer, due_date=timezone.localdate())
    html = page_of(client, developer, version)
    form = re.search(rf'<select name="finding-{finding.pk}-status".*?</select>', html, re.S).group(0)
    assert 'value="remediated"' in form and 'value="risk_accepted"' not in form


def test_answer_checklist_item_plain_and_htmx(client, version, developer, cast):
    to_in_validation(version, developer, cast)
    client.force_login(cast.security)
    response = client.post(wf_url("checklist_answer", version, "ML01"), {
        "ml01-status": "mitigated", "ml01-evidence": "Schema enforced at the agent.",
        "ml01-links": "https://wiki.example/ml01\n\nhttps://ci.example/run/7"})
    assert response.status_code == 302 and response["Location"].endswith("#check-ML01")
    item = ChecklistItem.objects.get(version=version, code="ML01")
    assert item.status == "mitigated" and item.answered_by == cast.security
    assert item.links == ["https://wiki.example/ml01", "https://ci.example/run/7"]
    assert events("checklist.answered").count() == 1

    attachment = SimpleUploadedFile("pentest.txt", b"no findings")
    response = client.post(wf_url("checklist_answer", version, "ML07"), {
        "ml07-status": "not_applicable", "ml07-evidence": "Trained from scratch.", "ml07-attachment": attachment},
        HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="check-ML07"' in html and "Saved" in html and 'hx-swap-oob="true"' in html
    assert 'id="wf-digests"' in html and 'id="wf-signoffs"' in html
    item = ChecklistItem.objects.get(version=version, code="ML07")
    assert item.status == "not_applicable" and item.attachment_sha256
    download = client.get(wf_url("checklist_attachment", version, "ML07"))
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"no findings"


def test_checklist_refusal_over_htmx_stays_in_the_item(client, version, developer, cast):
    to_in_validation(version, developer, cast)
    client.force_login(cast.security)
    response = client.post(wf_url("checklist_answer", version, "ML03"), {"ml03-status": "partially_mitigated"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="check-ML03"' in html and "needs evidence: a text, a link or an attachment" in html
    assert ChecklistItem.objects.get(version=version, code="ML03").status == "unanswered"
    assert not events("checklist.answered").exists()


def test_developer_cannot_answer_checklist(client, version, developer, cast):
    to_in_validation(version, developer, cast)
    html = page_of(client, developer, version)
    assert wf_url("checklist_answer", version, "ML01") not in html
    response = client.post(wf_url("checklist_answer", version, "ML01"), {"ml01-status": "mitigated"})
    assert response.status_code == 403 and not events("checklist.answered").exists()


def test_signoff_form_records_and_approves(client, low_version, developer, owner, cast):
    version = to_validated(low_version, developer, cast)
    client.force_login(cast.validator)
    response = client.post(wf_url("signoff_record", version), {
        "sign-role": "validator", "sign-decision": "approve", "sign-comment": "Validated on holdout.",
        "sign-password": PASSWORD})
    assert response.status_code == 302
    signoff = SignOff.objects.get(version=version)
    assert signoff.signer == cast.validator and signoff.role == "validator"
    assert events("signoff.recorded").get().data["reauthenticated"] is True
    assert state_of(version) == VersionState.VALIDATED

    client.force_login(owner)
    response = client.post(wf_url("signoff_record", version), {
        "sign-role": "business_owner", "sign-decision": "approve_with_conditions", "sign-password": PASSWORD,
        "sign-cond-TOTAL_FORMS": "2", "sign-cond-INITIAL_FORMS": "0",
        "sign-cond-0-text": "Monitor PSI weekly", "sign-cond-0-due_date": "2031-01-31",
        "sign-cond-1-text": "", "sign-cond-1-due_date": ""})
    assert response.status_code == 302
    assert state_of(version) == VersionState.APPROVED and events("version.approved").count() == 1
    assert Finding.objects.get(version=version).title == "Monitor PSI weekly"
    html = client.get(response["Location"]).content.decode()
    assert "approved" in html.lower() and "Monitor PSI weekly" in html


def test_wrong_password_shows_error_and_records_nothing(client, low_version, developer, cast):
    version = to_validated(low_version, developer, cast)
    before = AuditEvent.objects.count()
    client.force_login(cast.validator)
    response = client.post(wf_url("signoff_record", version), {
        "sign-role": "validator", "sign-decision": "approve", "sign-comment": "ok", "sign-password": "wrong"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "Re-authentication failed: the password does not match." in html and 'id="workflow-error"' in html
    assert 'value="wrong"' not in html  # the password is never echoed back
    assert not SignOff.objects.exists()
    assert list(AuditEvent.objects.filter(seq__gt=before).values_list("action", flat=True)) == [
        "signoff.reauth_failed"]  # only the failed attempt itself is recorded
    assert state_of(version) == VersionState.VALIDATED


def test_signoff_without_password_is_a_form_error(client, low_version, developer, cast):
    version = to_validated(low_version, developer, cast)
    client.force_login(cast.validator)
    response = client.post(wf_url("signoff_record", version), {"sign-role": "validator", "sign-decision": "approve"})
    assert response.status_code == 400 and not SignOff.objects.exists()


def test_reject_revoke_and_retire(client, developer, owner, cast, low_version):
    version = to_validated(low_version, developer, cast)
    sign(version, cast.validator, "validator")
    sign(version, owner, "business_owner")
    assert state_of(version) == VersionState.APPROVED
    html = page_of(client, cast.risk, version)
    assert wf_url("version_revoke", version) in html and wf_url("version_retire", version) in html
    response = client.post(wf_url("version_revoke", version), {"revoke-reason": ""})
    assert response.status_code == 400 and state_of(version) == VersionState.APPROVED
    response = client.post(wf_url("version_revoke", version), {"revoke-reason": "Incident INC-42."})
    assert response.status_code == 302 and state_of(version) == VersionState.REVOKED
    assert events("version.revoked").count() == 1
    html = client.get(version_url(version)).content.decode()
    assert "Incident INC-42." in html and "wf-step-bad" in html

    second = register(version.passport, developer, seed=1)
    to_in_validation(second, developer, cast)
    response = client.post(wf_url("version_reject", second), {"reject-reason": "Wrong target."})
    assert response.status_code == 302 and state_of(second) == VersionState.REJECTED
    assert events("version.rejected").count() == 1

    third = to_validated(register(version.passport, developer, seed=2), developer, cast)
    sign(third, cast.validator, "validator")
    sign(third, owner, "business_owner")
    client.force_login(owner)  # the business owner may retire
    response = client.post(wf_url("version_retire", third), {"retire-reason": ""})
    assert response.status_code == 302 and state_of(third) == VersionState.RETIRED


# --- escaping ---------------------------------------------------------------------------------------------------


def test_hostile_text_is_escaped(client, version, developer, cast):
    to_in_validation(version, developer, cast)
    finding_services.finding_raise(actor=cast.validator, version=version, title=HOSTILE_TITLE,
                                   description=HOSTILE_EVIDENCE, severity="medium", owner=developer,
                                   due_date=timezone.localdate())
    item = ChecklistItem.objects.get(version=version, code="ML02")
    finding_services.checklist_answer(actor=cast.security, item=item, status="mitigated", evidence=HOSTILE_EVIDENCE)
    for user in (cast.risk, developer):
        html = page_of(client, user, version)
        assert HOSTILE_TITLE not in html and HOSTILE_EVIDENCE not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=http://x&gt;" in html
    client.force_login(developer)
    html = client.get(reverse("governance:inbox")).content.decode()
    assert HOSTILE_TITLE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- inbox and portfolio ----------------------------------------------------------------------------------------


@pytest.fixture
def busy(developer, owner, cast, passport, low_version):
    """A validated tier-3 version waiting on its owner, an approved one expiring soon, findings (one overdue)."""
    waiting = to_validated(low_version, developer, cast)
    sign(waiting, cast.validator, "validator")
    expiring = to_validated(register(low_version.passport, developer, seed=3), developer, cast)
    sign(expiring, cast.validator, "validator")
    sign(expiring, owner, "business_owner")
    ModelVersion.objects.filter(pk=expiring.pk).update(approval_expires_at=timezone.now() + timedelta(days=10))
    in_review = to_in_validation(register(passport, developer), developer, cast)
    today = timezone.localdate()
    finding_services.finding_raise(actor=cast.validator, version=in_review, title="Overdue gap", severity="high",
                                   owner=developer, due_date=today - timedelta(days=3))
    finding_services.finding_raise(actor=cast.validator, version=in_review, title="Later gap", severity="low",
                                   owner=developer, due_date=today + timedelta(days=20))
    return {"waiting": waiting, "expiring": expiring, "in_review": in_review}


def test_inbox_lists_what_waits(client, busy, developer, owner, cast):
    client.force_login(owner)
    html = client.get(reverse("governance:inbox")).content.decode()
    waiting, expiring = busy["waiting"], busy["expiring"]
    assert f"{version_url(waiting)}#sign" in html  # the owner's sign-off is due
    section = html[html.index('id="expiring"'):]
    assert version_url(expiring) in section and ("in 9 days" in section or "in 10 days" in section)

    client.force_login(developer)
    html = client.get(reverse("governance:inbox")).content.decode()
    assert "Overdue gap" in html and "Later gap" in html and "row-overdue" in html
    assert html.count('class="row-overdue"') == 1

    client.force_login(cast.validator)
    html = client.get(reverse("governance:inbox")).content.decode()
    assert version_url(busy["in_review"]) in html[html.index('id="assigned"'):]


def test_inbox_empty(client, outsider):
    client.force_login(outsider)
    html = client.get(reverse("governance:inbox")).content.decode()
    assert "No sign-off waits on you." in html and "You own no open finding." in html


def test_portfolio_kpis_and_chart_data(client, busy, cast):
    client.force_login(cast.risk)
    response = client.get(reverse("governance:portfolio"))
    assert response.status_code == 200
    html = response.content.decode()
    kpi = {k: re.search(rf'id="kpi-{k}">(\d+)<', html).group(1) for k in
           ("in-review", "approved", "open-high", "overdue", "expiring")}
    assert kpi == {"in-review": "2", "approved": "1", "open-high": "1", "overdue": "1", "expiring": "1"}
    states = json.loads(re.search(r'<script id="chart-states-data" type="application/json">(.*?)</script>',
                                  html, re.S).group(1))
    assert states["layout"]["barmode"] == "stack"
    by_name = {trace["name"]: trace["y"] for trace in states["data"]}
    assert by_name["Approved"] == [0, 0, 1] and by_name["In validation"] == [1, 0, 0]
    donut = json.loads(re.search(r'<script id="chart-findings-data" type="application/json">(.*?)</script>',
                                 html, re.S).group(1))
    assert donut["data"][0]["type"] == "pie" and sorted(donut["data"][0]["values"]) == [1, 1]
    assert "/static/vendor/plotly/plotly.min.js" in html and "cdn" not in html.lower()
    assert "Overdue gap" in html[html.index('id="overdue-findings"'):]


def test_portfolio_chart_data_is_escaped(client, developer, cast, passport):
    version = to_in_validation(register(passport, developer), developer, cast)
    finding_services.finding_raise(actor=cast.validator, version=version, title="</script><script>alert(1)</script>",
                                   severity="high", owner=developer, due_date=timezone.localdate() - timedelta(days=1))
    client.force_login(cast.risk)
    html = client.get(reverse("governance:portfolio")).content.decode()
    assert "<script>alert(1)</script>" not in html


def test_portfolio_for_someone_who_sees_nothing(client, outsider, busy):
    client.force_login(outsider)
    html = client.get(reverse("governance:portfolio")).content.decode()
    assert 'id="kpi-in-review">0<' in html and "No versions yet." in html and "Overdue gap" not in html


def test_inbox_portfolio_and_version_page_in_russian(client, busy, owner, cast):
    client.cookies["django_language"] = "ru"
    client.force_login(owner)
    html = client.get(reverse("governance:inbox")).content.decode()
    assert "Мои согласования" in html and "Ожидают вашей подписи" in html and "через" in html
    html = client.get(reverse("governance:portfolio")).content.decode()
    assert "Портфель" in html and "На проверке" in html
    assert "Утверждено" in html  # the KPI
    states = json.loads(re.search(r'<script id="chart-states-data" type="application/json">(.*?)</script>',
                                  html, re.S).group(1))
    assert "Утверждена" in [trace["name"] for trace in states["data"]]  # chart labels are translated too
    assert states["layout"]["yaxis"]["title"]["text"] == "Версии"
    html = client.get(version_url(busy["waiting"])).content.decode()
    assert "Требуемые подписи" in html and "Ваша подпись" in html and "Подписать" in html
    client.force_login(busy["waiting"].passport.business_owner)  # eligible: only the password is left to check
    response = client.post(wf_url("signoff_record", busy["waiting"]), {
        "sign-role": "business_owner", "sign-decision": "approve", "sign-password": "nope"})
    assert "пароль не совпадает" in response.content.decode()


def test_approved_page_lists_all_signoffs(client, low_version, developer, owner, cast, auditor):
    version = to_validated(low_version, developer, cast)
    sign(version, cast.validator, "validator", comment="Holdout AUC 0.81.")
    sign(version, owner, "business_owner")
    html = page_of(client, auditor, version)  # auditors read everything and act on nothing
    assert 'name="sign-password"' not in html and wf_url("version_revoke", version) not in html
    assert "Holdout AUC 0.81." in html and "2 of 2 signed" in html
    assert 'aria-current="step"' in html and "wf-state-approved" in html


def test_checklist_required_tier_blocks_security(client, version, developer, cast):
    to_validated(version, developer, cast)
    html = page_of(client, cast.security, version)
    assert "Approval waits for" in html and "ML01" in html
    answer_checklist(version, cast.security)
    html = page_of(client, cast.security, version)
    assert "OWASP checklist items still open" not in html
