"""Approval-workflow REST API: the whole review over HTTP with bearer tokens, the access matrix of every
endpoint, segregation-of-duties and re-authentication refusals, input errors, scopes and audit events."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cached_property
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from governance.audit.models import AuditEvent
from governance.workflow.models import ChecklistItem, Finding, RiskTierPolicy, SignOff
from governance.workflow.owasp import CHECKLIST_CODES
from governance.workflow.services import findings as finding_services
from governance.workflow.services import transitions as workflow
from registry.choices import VersionState
from registry.models import ModelVersion
from tests import api_helpers
from tests.api_helpers import API, Endpoint, assert_error, bearer_client, check_endpoint
from tests.factories import TeamFactory, UserFactory, make_passport
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

pytestmark = pytest.mark.django_db

users, world = api_helpers.users, api_helpers.world  # the API tests' shared fixtures

WRITE = ["governance:write", "registry:read"]
DUE = (date.today() + timedelta(days=90)).isoformat()


@pytest.fixture
def cast(db):
    return Cast()


@pytest.fixture
def people(users, cast):
    """The API suite's users plus the review cast: risk (risk officer), val (the assigned validator), val2 (a
    validator not assigned), sec (security)."""
    return {**users, "risk": cast.risk, "val": cast.validator, "val2": cast.validator2, "sec": cast.security}


class Flow:
    """``world`` (v1 draft) plus versions in each review state, each built on first use (a test pays only for
    the states it touches): submitted, in_validation (val assigned, report issued), validated (checklist
    answered, a finding owned by dev, one report) and approved."""

    def __init__(self, world, people, cast):
        self._world, self._people, self._cast = world, people, cast

    def __getattr__(self, name):
        return getattr(self._world, name)

    def build(self, *names: str) -> None:
        for name in names:
            getattr(self, name)

    def _new(self, seed: int) -> ModelVersion:
        return register(self._world.passport, self._people["developer"], seed=seed)

    @cached_property
    def submitted(self) -> int:
        version = self._new(2)
        workflow.version_submit(actor=self._people["developer"], version=version)
        return version.number

    @cached_property
    def in_validation(self) -> int:
        version = to_in_validation(self._new(3), self._people["developer"], self._cast)
        issue_report(version, self._cast.validator)
        return version.number

    @cached_property
    def _validated(self) -> ModelVersion:
        version = to_validated(self._new(4), self._people["developer"], self._cast)
        answer_checklist(version, self._cast.security)
        return version

    @cached_property
    def validated(self) -> int:
        return self._validated.number

    @cached_property
    def report(self) -> int:
        return self._validated.reports.get().pk

    @cached_property
    def finding(self) -> int:
        return finding_services.finding_raise(actor=self._cast.validator, version=self._validated, title="Docs gap",
                                              severity="low", owner=self._people["developer"],
                                              due_date=date.today() + timedelta(days=30)).pk

    @cached_property
    def approved(self) -> int:
        version = to_validated(self._new(5), self._people["developer"], self._cast)
        answer_checklist(version, self._cast.security)
        for user, role in ((self._cast.validator, "validator"), (self._cast.risk, "risk_officer"),
                           (self._cast.security, "security"), (self._people["owner"], "business_owner")):
            sign(version, user, role)
        return version.number


@pytest.fixture
def flow(world, people, cast):
    return Flow(world, people, cast)


def _url(w, number, tail=""):
    return f"/passports/{w.key}/versions/{number}/{tail}"


def _report_upload(w=None):
    return {"file": SimpleUploadedFile("report.md", b"# Validation\nFit.", "text/markdown"),
            "conclusion": "Fit for purpose.", "rating": "fit"}


ENDPOINTS = [
    Endpoint("GET", "/passports/{w.key}/versions/{w.validated}/review/", "developer", 200, (("outsider", 404),),
             id="review"),
    Endpoint("POST", "/passports/{w.key}/versions/{w.version}/submit/", "developer", 200,
             (("outsider", 404), ("risk", 403), ("owner", 403)), id="submit"),
    Endpoint("POST", "/passports/{w.key}/versions/{w.submitted}/assign/", "risk", 201,
             (("outsider", 404), ("developer", 403), ("val", 403)), body=lambda w: {"validator": "val"}, id="assign"),
    Endpoint("POST", "/passports/{w.key}/versions/{w.in_validation}/report/", "val", 201,
             (("outsider", 404), ("val2", 403), ("developer", 403)), body=_report_upload, format="multipart",
             id="report-issue"),
    Endpoint("GET", "/passports/{w.key}/versions/{w.validated}/reports/", "owner", 200, (("outsider", 404),),
             id="report-list"),
    Endpoint("GET", "/passports/{w.key}/versions/{w.validated}/reports/{w.report}/file/", "developer", 200,
             (("outsider", 404),), id="report-file"),
    Endpoint("POST", "/passports/{w.key}/versions/{w.in_validation}/mark-validated/", "val", 200,
             (("outsider", 404), ("val2", 403), ("risk", 403)), id="mark-validated"),
    Endpoint("GET", "/passports/{w.key}/versions/{w.validated}/signoffs/", "auditor", 200, (("outsider", 404),),
             id="signoff-list"),
    Endpoint("POST", "/passports/{w.key}/versions/{w.validated}/signoffs/", "val", 201,
             (("outsider", 404), ("developer", 403), ("risk", 403), ("val2", 403)),
             body=lambda w: {"role": "validator", "decision": "approve", "password": PASSWORD}, id="signoff-record"),
    Endpoint("GET", "/passports/{w.key}/versions/{w.validated}/test-acceptances/", "auditor", 200,
             (("outsider", 404),), id="test-acceptance-list"),
    # the uploaded report of the validated version was accepted on the way there: a second acceptance collides
    Endpoint("POST", "/passports/{w.key}/versions/{w.validated}/test-acceptances/", "risk", 409,
             (("outsider", 404), ("developer", 403), ("val", 403)),
             body=lambda w: {"test": "uploaded_report", "rationale": "Within the appetite agreed with the board."},
             id="test-accept"),
    Endpoint("GET", "/passports/{w.key}/versions/{w.validated}/findings/", "developer", 200, (("outsider", 404),),
             id="version-findings"),
    Endpoint("POST", "/passports/{w.key}/versions/{w.validated}/findings/", "validator", 201,
             (("outsider", 404), ("developer", 403), ("owner", 403)),
             body=lambda w: {"title": "Drift unmonitored", "severity": "medium", "owner": "dev", "due_date": DUE},
             id="finding-raise"),
    Endpoint("GET", "/passports/{w.key}/versions/{w.validated}/checklist/", "developer", 200, (("outsider", 404),),
             id="checklist"),
    Endpoint("POST", "/passports/{w.key}/versions/{w.validated}/checklist/ML07/", "sec", 200,
             (("outsider", 404), ("developer", 403), ("validator", 403)),
             body=lambda w: {"status": "not_applicable", "evidence": "Trained from scratch."}, id="checklist-answer"),
    Endpoint("POST", "/passports/{w.key}/versions/{w.submitted}/reject/", "risk", 200,
             (("outsider", 404), ("developer", 403), ("owner", 403)), body=lambda w: {"reason": "Incomplete."},
             id="reject"),
    Endpoint("POST", "/passports/{w.key}/versions/{w.approved}/revoke/", "risk", 200,
             (("outsider", 404), ("developer", 403), ("owner", 403)), body=lambda w: {"reason": "INC-1"},
             id="revoke"),
    Endpoint("POST", "/passports/{w.key}/versions/{w.approved}/retire/", "owner", 200,
             (("outsider", 404), ("developer", 403), ("sec", 403)), body=lambda w: {"reason": "Replaced."},
             id="retire"),
    Endpoint("GET", "/findings/", "developer", 200, (("outsider", 200),), id="finding-list"),
    Endpoint("POST", "/findings/{w.finding}/status/", "developer", 200, (("outsider", 404), ("auditor", 403)),
             body=lambda w: {"status": "remediated", "note": "Documented."}, id="finding-status"),
    Endpoint("GET", "/policies/", "outsider", 200, id="policy-list"),
    Endpoint("PATCH", "/policies/2/", "admin", 200, (("risk", 403), ("developer", 403)),
             body=lambda w: {"approval_validity_months": 18}, id="policy-update"),
    Endpoint("GET", "/inbox/", "val", 200, id="inbox"),
    Endpoint("GET", "/portfolio/", "risk", 200, id="portfolio"),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_access_matrix(endpoint, flow, people):
    check_endpoint(endpoint, flow, people)


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


# --------------------------------------------------------------------------- the whole review over HTTP


def test_full_review_over_http(world, people, cast):
    url = API + _url(world, world.version)
    dev, risk, val, sec, owner = (bearer_client(people[n], WRITE) for n in ("developer", "risk", "val", "sec", "owner"))

    response = dev.post(url + "submit/")
    assert response.status_code == 200, response.data
    assert response.data["state"] == "submitted" and _events("version.submitted")[-1].actor == people["developer"]

    response = risk.post(url + "assign/", {"validator": "val"}, format="json")
    assert response.status_code == 201, response.data
    assert response.data["validator"] == "val" and response.data["version"]["state"] == "in_validation"
    assert _events("validator.assigned")[-1].data["validator"] == "val"
    assert _events("version.validation_started")[-1].actor == people["risk"]

    response = val.post(url + "report/", _report_upload(), format="multipart")
    assert response.status_code == 201, response.data
    report = response.data
    assert report["filename"] == "report.md" and report["size"] == len(b"# Validation\nFit.") and report["in_force"]
    assert _events("report.issued")[-1].digests["report_sha256"] == report["sha256"]
    listed = dev.get(url + "reports/").data
    assert [(r["sha256"], r["issued_by"], r["conclusion"]) for r in listed] == [
        (report["sha256"], "val", "Fit for purpose.")]
    download = dev.get(report["file_url"])
    assert download.status_code == 200 and download["X-Report-SHA256"] == report["sha256"]
    assert b"".join(download.streaming_content) == b"# Validation\nFit."
    assert download["Content-Type"] == "application/octet-stream" and "attachment" in download["Content-Disposition"]

    response = val.post(url + "mark-validated/")
    assert response.status_code == 200 and response.data["state"] == "validated"
    assert _events("version.validated")[-1].digests["report_sha256"] == report["sha256"]

    # an uploaded report stands in for the platform's tests: the risk officer accepts that, by name
    (gap,) = dev.get(url + "test-acceptances/").data
    assert (gap["test"], gap["kind"], gap["acceptance"]) == ("uploaded_report", "excepted", None)
    response = risk.post(url + "test-acceptances/", {"test": "uploaded_report",
                                                     "rationale": "External validation by the model risk team."},
                         format="json")
    assert response.status_code == 201 and response.data["report_sha256"] == report["sha256"]

    for code in CHECKLIST_CODES[:-1]:
        response = sec.post(url + f"checklist/{code}/", {"status": "mitigated", "evidence": "Reviewed.",
                                                          "links": ["https://wiki.example.com/" + code]},
                            format="json")
        assert response.status_code == 200, response.data
    evidence = SimpleUploadedFile("pentest.txt", b"no findings", "text/plain")
    response = sec.post(url + "checklist/ML10/", {"status": "mitigated", "evidence": "Pentest.",
                                                  "attachment": evidence}, format="multipart")
    assert response.status_code == 200, response.data
    checklist = response.data
    ml10 = next(i for i in checklist["items"] if i["code"] == "ML10")
    assert ml10["answered_by"] == "sec" and len(ml10["attachment_sha256"]) == 64 and ml10["risk"] == "Model Poisoning"
    assert len(_events("checklist.answered")) == 10
    assert dev.get(url + "checklist/").data == checklist

    review = dev.get(url + "review/").data
    assert review["missing_roles"] == ["validator", "risk_officer", "security", "business_owner"]
    assert review["checklist_missing"] == [] and review["digests"]["checklist_sha256"] == checklist["digest"]
    assert review["policy"]["tier"] == 1 and review["assignments"][0]["validator"] == "val"

    for client, role in ((val, "validator"), (risk, "risk_officer"), (sec, "security"), (owner, "business_owner")):
        assert role in client.get(url + "review/").data["signable_roles"]
        response = client.post(url + "signoffs/", {"role": role, "decision": "approve", "password": PASSWORD,
                                                   "comment": f"{role} ok"}, format="json")
        assert response.status_code == 201, response.data
        assert response.data["counts"] is True and response.data["report_sha256"] == report["sha256"]
    recorded = _events("signoff.recorded")
    assert [e.data["role"] for e in recorded] == ["validator", "risk_officer", "security", "business_owner"]
    assert all(e.data["reauthenticated"] for e in recorded)
    assert len(_events("version.approved")) == 1

    review = risk.get(url + "review/").data
    assert review["state"] == "approved" and review["missing_roles"] == [] and review["stale_signoffs"] == []
    assert {s["role"]: s["signer"] for s in review["current_signoffs"]} == {
        "validator": "val", "risk_officer": "risk", "security": "sec", "business_owner": "owner"}
    assert review["approval_expires_at"] and set(review["available_actions"]) >= {"revoke", "retire"}
    assert ModelVersion.objects.get(passport=world.passport, number=world.version).state == VersionState.APPROVED


def test_review_of_a_draft(world, people):
    review = bearer_client(people["developer"], WRITE).get(API + _url(world, world.version, "review/")).data
    assert review["state"] == "draft" and review["policy"] is None and review["required_roles"] == []
    assert review["available_actions"] == ["submit"] and review["digests"]["report_sha256"] == ""


def test_stale_signoffs_name_the_changed_digest(flow, people, cast):
    url = API + _url(flow, flow.validated)
    val = bearer_client(people["val"], WRITE)
    assert val.post(url + "signoffs/", {"role": "validator", "decision": "approve", "password": PASSWORD},
                    format="json").status_code == 201
    assert val.post(url + "report/", _report_upload(), format="multipart").status_code == 201  # a revised report
    review = val.get(url + "review/").data
    assert "validator" in review["missing_roles"] and review["current_signoffs"] == []
    assert [(s["role"], s["changed_digests"]) for s in review["stale_signoffs"]] == [("validator", ["report_sha256"])]
    listed = val.get(url + "signoffs/").data
    assert [(s["role"], s["counts"]) for s in listed] == [("validator", False)]
    reports = val.get(url + "reports/").data
    assert [r["in_force"] for r in reports] == [True, False]


# --------------------------------------------------------------------------- refusals


def test_wrong_password_is_refused(flow, people):
    response = bearer_client(people["val"], WRITE).post(
        API + _url(flow, flow.validated, "signoffs/"),
        {"role": "validator", "decision": "approve", "password": "guess"}, format="json")
    assert_error(response, 403, "reauth_failed")
    assert not SignOff.objects.filter(version__number=flow.validated).exists()


@pytest.mark.parametrize("rule", ["sod_author", "sod_team", "sod_two_roles"])
def test_segregation_of_duties_refusals_name_the_rule(flow, people, rule):
    url = API + _url(flow, flow.validated, "signoffs/")
    if rule == "sod_author":
        user, role = people["developer"], "risk_officer"
    elif rule == "sod_team":
        user, role = people["risk"], "risk_officer"
        flow.passport.development_team.members.add(user)
    else:
        user, role = UserFactory(username="risk-sec", roles=["risk_officer", "security"]), "security"
        sign(ModelVersion.objects.get(passport=flow.passport, number=flow.validated), user, "risk_officer")
    client = bearer_client(user, WRITE)
    before = AuditEvent.objects.count()
    response = client.post(url, {"role": role, "decision": "approve", "password": PASSWORD}, format="json")
    error = assert_error(response, 403, rule)
    assert "Segregation of duties" in error["message"] and AuditEvent.objects.count() == before


def test_assigning_a_team_member_names_the_rule(flow, people):
    flow.passport.development_team.members.add(people["val2"])
    response = bearer_client(people["risk"], WRITE).post(API + _url(flow, flow.submitted, "assign/"),
                                                         {"validator": "val2"}, format="json")
    assert "development team" in assert_error(response, 400, "sod_team")["message"]


def test_illegal_transition_is_409(flow, people):
    dev = bearer_client(people["developer"], WRITE)
    error = assert_error(dev.post(API + _url(flow, flow.submitted, "submit/")), 409, "illegal_transition")
    assert error["details"] == {"from": "submitted", "to": "submitted"}
    risk = bearer_client(people["risk"], WRITE)
    assert_error(risk.post(API + _url(flow, flow.approved, "reject/"), {"reason": "x"}, format="json"), 409,
                 "illegal_transition")
    response = bearer_client(people["val"], WRITE).post(
        API + _url(flow, flow.in_validation, "signoffs/"),
        {"role": "validator", "decision": "approve", "password": PASSWORD}, format="json")
    assert_error(response, 409, "illegal_transition")


@pytest.mark.parametrize(("tail", "number", "user", "body", "field"), [
    ("assign/", "submitted", "risk", {"validator": "nobody"}, "validator"),
    ("assign/", "submitted", "risk", {"validator": ["val"]}, "validator"),
    ("signoffs/", "validated", "val", {"role": "ceo", "decision": "approve", "password": PASSWORD}, "role"),
    ("signoffs/", "validated", "val", {"role": "validator", "decision": "maybe", "password": PASSWORD}, "decision"),
    ("signoffs/", "validated", "val", {"role": "validator", "decision": "approve"}, "password"),
    ("signoffs/", "validated", "val", {"role": "validator", "decision": "approve_with_conditions",
                                       "password": PASSWORD, "conditions": [{"text": "x", "due_date": "soon"}]},
     "conditions.0.due_date"),
    ("signoffs/", "validated", "val", {"role": "validator", "decision": "approve", "password": PASSWORD,
                                       "conditions": "none"}, "conditions"),
    ("findings/", "validated", "validator", {"title": "x", "severity": "critical", "owner": "dev", "due_date": DUE},
     "severity"),
    ("findings/", "validated", "validator", {"title": "x", "severity": "low", "owner": "dev", "due_date": "friday"},
     "due_date"),
    ("findings/", "validated", "validator", {"title": "x", "severity": "low", "owner": 5, "due_date": DUE}, "owner"),
    ("checklist/ML01/", "validated", "sec", {"status": "unanswered"}, "status"),
    ("checklist/ML01/", "validated", "sec", {"status": "mitigated", "links": "https://x"}, "links"),
    ("reject/", "submitted", "risk", {"reason": ["a"]}, "reason"),
    ("reject/", "submitted", "risk", {}, "reason"),  # the service's rule: a rejection needs a reason
])
def test_wrong_input_is_400_naming_the_field(flow, people, tail, number, user, body, field):
    url, client = API + _url(flow, getattr(flow, number), tail), bearer_client(people[user], WRITE)
    before = AuditEvent.objects.count()
    response = client.post(url, body, format="json")
    assert assert_error(response, 400)["field"] == field
    assert AuditEvent.objects.count() == before


def test_other_400s_name_the_field(flow, people):
    admin = bearer_client(people["admin"], WRITE)
    response = admin.patch(f"{API}/policies/1/", {"approval_validity_months": "many"}, format="json")
    assert assert_error(response, 400)["field"] == "approval_validity_months"
    assert assert_error(admin.patch(f"{API}/policies/1/", {}, format="json"), 400)["field"] is None
    response = admin.patch(f"{API}/policies/1/", {"required_roles": ["business_owner"]}, format="json")
    assert assert_error(response, 400)["field"] == "required_roles"
    dev = bearer_client(people["developer"], WRITE)
    assert assert_error(dev.get(f"{API}/findings/?severity=critical"), 400)["field"] == "severity"
    response = dev.post(f"{API}/findings/{flow.finding}/status/", {"status": "closed"}, format="json")
    assert assert_error(response, 400)["field"] == "status"
    response = bearer_client(people["val"], WRITE).post(API + _url(flow, flow.in_validation, "report/"),
                                                        {"conclusion": "ok", "rating": "fit"}, format="multipart")
    assert assert_error(response, 400)["field"] == "file"
    assert_error(bearer_client(people["sec"], WRITE).post(API + _url(flow, flow.validated, "checklist/ML99/"),
                                                          {"status": "mitigated"}, format="json"), 404, "not_found")


# --------------------------------------------------------------------------- scopes


def test_read_scope_cannot_write_and_registry_scope_cannot_read(flow, people):
    reader = bearer_client(people["risk"], ["governance:read"])
    assert reader.get(API + _url(flow, flow.validated, "review/")).status_code == 200
    assert reader.get(f"{API}/findings/").status_code == 200
    for tail, number in (("submit/", "version"), ("assign/", "submitted"), ("reject/", "submitted"),
                         ("signoffs/", "validated"), ("findings/", "validated")):
        assert_error(reader.post(API + _url(flow, getattr(flow, number), tail), {}, format="json"), 403)
    assert_error(reader.post(f"{API}/findings/{flow.finding}/status/", {"status": "remediated"}, format="json"), 403)
    assert_error(bearer_client(people["admin"], ["governance:read"]).patch(
        f"{API}/policies/1/", {"approval_validity_months": 6}, format="json"), 403)
    registry_only = bearer_client(people["risk"], ["registry:read", "registry:write"])
    assert_error(registry_only.get(API + _url(flow, flow.validated, "review/")), 403)
    assert_error(registry_only.get(f"{API}/inbox/"), 403)


# --------------------------------------------------------------------------- each verb's audit event


def test_reject_revoke_retire_record_their_events(flow, people):
    risk = bearer_client(people["risk"], WRITE)
    response = risk.post(API + _url(flow, flow.submitted, "reject/"), {"reason": "Missing docs."}, format="json")
    assert response.status_code == 200 and response.data["state"] == "rejected"
    assert _events("version.rejected")[-1].data["reason"] == "Missing docs."
    response = risk.post(API + _url(flow, flow.approved, "revoke/"), {"reason": "INC-42"}, format="json")
    assert response.status_code == 200 and response.data["state"] == "revoked"
    assert _events("version.revoked")[-1].data["reason"] == "INC-42"

    other = to_validated(register(flow.passport, people["developer"], seed=8), people["developer"],
                         SimpleNamespace(risk=people["risk"], validator=people["val"]))
    answer_checklist(other, people["sec"])
    for user, role in ((people["val"], "validator"), (people["risk"], "risk_officer"), (people["sec"], "security"),
                       (people["owner"], "business_owner")):
        sign(other, user, role)
    response = bearer_client(people["owner"], WRITE).post(API + _url(flow, other.number, "retire/"),
                                                          {"reason": "Replaced by v9."}, format="json")
    assert response.status_code == 200 and response.data["state"] == "retired"
    assert _events("version.retired")[-1].data == {"from": "approved", "to": "retired", "reason": "Replaced by v9."}


def test_findings_raise_status_and_filters(flow, people):
    flow.build("finding")
    val = bearer_client(people["val"], WRITE)
    response = val.post(API + _url(flow, flow.validated, "findings/"),
                        {"title": "Leakage", "description": "Target leaks.", "severity": "high", "owner": "dev",
                         "due_date": (date.today() - timedelta(days=1)).isoformat()}, format="json")
    assert response.status_code == 201, response.data
    high = response.data
    assert high["owner"] == "dev" and high["raised_by"] == "val" and high["overdue"] is True
    assert _events("finding.raised")[-1].data["title"] == "Leakage"
    review = val.get(API + _url(flow, flow.validated, "review/")).data
    assert [f["id"] for f in review["blocking_findings"]] == [high["id"]]

    hidden = make_passport(actor=people["owner"], key="hidden", team=TeamFactory(name="Other",
                                                                                  members=[people["owner"]]))
    hidden_version = to_validated(register(hidden, people["owner"], seed=21), people["owner"],
                                  SimpleNamespace(risk=people["risk"], validator=people["val"]))
    hidden_finding = finding_services.finding_raise(actor=people["risk"], version=hidden_version, title="Secret",
                                                    severity="low", owner=people["owner"], due_date=date(2030, 1, 1))
    dev = bearer_client(people["developer"], WRITE)

    def ids(query=""):
        response = dev.get(f"{API}/findings/?{query}")
        assert response.status_code == 200, response.data
        return {f["id"] for f in response.data["results"]}

    assert ids() == {flow.finding, high["id"]}  # not the hidden passport's
    assert ids("severity=high") == ids("overdue=true") == {high["id"]}
    assert ids("overdue=false") == {flow.finding}
    assert ids("owner=dev") == {flow.finding, high["id"]} and ids("owner=val") == set()
    assert ids("passport=hidden") == set()
    assert hidden_finding.pk in {f["id"] for f in bearer_client(people["risk"], WRITE).get(
        f"{API}/findings/?passport=hidden").data["results"]}
    assert_error(dev.post(f"{API}/findings/{hidden_finding.pk}/status/", {"status": "remediated"}, format="json"),
                 404, "not_found")

    risk = bearer_client(people["risk"], WRITE)
    error = assert_error(risk.post(f"{API}/findings/{high['id']}/status/", {"status": "risk_accepted"},
                                   format="json"), 400, "required")
    assert error["field"] == "note"
    response = risk.post(f"{API}/findings/{high['id']}/status/", {"status": "risk_accepted", "note": "Control X"},
                         format="json")
    assert response.status_code == 200 and response.data["status"] == "risk_accepted"
    assert _events("finding.status_changed")[-1].data == {"from": "open", "to": "risk_accepted", "note": "Control X",
                                                          "severity": "high"}
    assert_error(risk.post(f"{API}/findings/{high['id']}/status/", {"status": "remediated"}, format="json"), 409,
                 "illegal_transition")


def test_conditional_approval_over_http(flow, people):
    response = bearer_client(people["val"], WRITE).post(
        API + _url(flow, flow.validated, "signoffs/"),
        {"role": "validator", "decision": "approve_with_conditions", "password": PASSWORD,
         "conditions": [{"text": "Recalibrate quarterly", "due_date": "2030-03-01"}]}, format="json")
    assert response.status_code == 201, response.data
    assert response.data["conditions"] == [{"text": "Recalibrate quarterly", "due_date": "2030-03-01"}]
    finding = Finding.objects.get(from_signoff=response.data["id"])
    assert finding.due_date == date(2030, 3, 1) and _events("finding.raised")[-1].object_id == str(finding.pk)


def test_policies_list_and_update(flow, people):
    listed = bearer_client(people["outsider"], ["governance:read"]).get(f"{API}/policies/").data["results"]
    assert [p["tier"] for p in listed] == [1, 2, 3]
    assert listed[0]["required_roles"] == ["validator", "risk_officer", "security", "business_owner"]
    response = bearer_client(people["admin"], WRITE).patch(
        f"{API}/policies/3/", {"required_roles": ["validator", "business_owner"], "approval_validity_months": 30},
        format="json")
    assert response.status_code == 200, response.data
    assert response.data["approval_validity_months"] == 30 and response.data["updated_by"] == "admin"
    assert RiskTierPolicy.objects.get(tier=3).approval_validity_months == 30
    assert _events("policy.changed")[-1].data["new"]["approval_validity_months"] == 30
    assert_error(bearer_client(people["admin"], WRITE).patch(f"{API}/policies/9/", {"checklist_required": False},
                                                             format="json"), 404, "not_found")


def test_inbox_and_portfolio(flow, people):
    flow.build("submitted", "in_validation", "finding", "approved")
    inbox = bearer_client(people["val"], WRITE).get(f"{API}/inbox/").data
    assert {v["number"] for v in inbox["assigned"]} == {flow.in_validation, flow.validated}
    assert {v["number"] for v in inbox["signoffs_due"]} == {flow.validated}
    owner_inbox = bearer_client(people["owner"], WRITE).get(f"{API}/inbox/").data
    assert [v["number"] for v in owner_inbox["signoffs_due"]] == [flow.validated]
    dev_inbox = bearer_client(people["developer"], WRITE).get(f"{API}/inbox/").data
    assert [(f["id"], f["version"]["number"], f["version"]["passport"]) for f in dev_inbox["findings"]] == [
        (flow.finding, flow.validated, flow.key)]
    Finding.objects.filter(pk=flow.finding).update(due_date=date.today() - timedelta(days=2))
    portfolio = bearer_client(people["risk"], WRITE).get(f"{API}/portfolio/").data
    counts = {(r["state"], r["tier"]): r["count"] for r in portfolio["by_state_tier"]}
    assert counts == {("draft", 1): 1, ("submitted", 1): 1, ("in_validation", 1): 1, ("validated", 1): 1,
                      ("approved", 1): 1}
    assert portfolio["overdue_count"] == 1 and portfolio["overdue_findings"][0]["owner"] == "dev"
    assert portfolio["open_findings_by_severity"] == {"high": 0, "medium": 0, "low": 1}
    empty = bearer_client(people["outsider"], WRITE).get(f"{API}/portfolio/").data
    assert empty["by_state_tier"] == [] and empty["overdue_count"] == 0


def test_checklist_before_submission_is_empty(world, people):
    response = bearer_client(people["developer"], WRITE).get(API + _url(world, world.version, "checklist/"))
    assert response.status_code == 200 and response.data == {"digest": "", "items": []}
    assert not ChecklistItem.objects.exists()


def test_signoff_attempts_are_throttled_per_user(monkeypatch):
    """Password guessing through the sign-off endpoint stops at the 'reauth' rate."""
    from django.core.cache import cache
    from rest_framework.test import APIClient

    from governance.workflow.api.views import ReauthThrottle
    from tests.factories import UserFactory

    monkeypatch.setattr(ReauthThrottle, "THROTTLE_RATES", {**ReauthThrottle.THROTTLE_RATES, "reauth": "2/min"})
    cache.clear()
    user = UserFactory(username="guesser", roles=["validator"])
    client = APIClient()
    client.force_authenticate(user)
    url = "/api/v1/passports/nope/versions/1/signoffs/"
    codes = [client.post(url, {"role": "validator", "decision": "approve", "password": "x"}, format="json")
             .status_code for _ in range(3)]
    cache.clear()
    assert codes == [404, 404, 429]
