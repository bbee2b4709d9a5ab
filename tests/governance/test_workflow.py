"""The approval workflow: transitions, policies, segregation of duties, digest-bound sign-offs, findings,
the OWASP checklist, revocation and expiry. Each refusal is asserted by the rule that refused it."""

from datetime import date, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from core.errors import Conflict, DomainError, PermissionDenied
from governance.audit.models import AuditEvent
from governance.workflow.choices import FindingStatus
from governance.workflow.models import ChecklistItem, RiskTierPolicy, SignOff, VersionReview
from governance.workflow.services import findings, policies, signoffs
from governance.workflow.services import transitions as workflow
from registry.choices import VERSION_TRANSITIONS, VersionState
from registry.models import ModelVersion
from tests.factories import TeamFactory, UserFactory, make_passport
from tests.governance.workflow_helpers import (
    Cast,
    answer_checklist,
    issue_report,
    register,
    sign,
    to_in_validation,
    to_validated,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast(db):
    return Cast()


@pytest.fixture
def version(passport, developer):
    return register(passport, developer)


def last_event(action):
    return AuditEvent.objects.filter(action=action).order_by("-seq").first()


# --- transitions --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(VersionState.values))
def test_every_illegal_transition_is_refused(version, developer, state):
    ModelVersion.objects.filter(pk=version.pk).update(state=state)
    version.refresh_from_db()
    for target in VersionState.values:
        if target in VERSION_TRANSITIONS[state]:
            continue
        with pytest.raises(Conflict) as excinfo:
            workflow.transition(version=version, to=target, actor=developer, action="test")
        assert excinfo.value.code == "illegal_transition"
        version.refresh_from_db()
        assert version.state == state


def test_submit_snapshots_policy_and_opens_checklist(version, developer, passport):
    workflow.version_submit(actor=developer, version=version)
    version.refresh_from_db()
    assert version.state == VersionState.SUBMITTED
    review = VersionReview.objects.get(version=version)
    assert review.required_roles == ["validator", "risk_officer", "security", "business_owner"]
    items = ChecklistItem.objects.filter(version=version)
    assert [i.code for i in items] == [f"ML{n:02d}" for n in range(1, 11)]
    ml06 = items.get(code="ML06").auto_evidence
    assert ml06["artifact_sha256"] == version.sha256 and ml06["operators"] == version.operators
    event = last_event("version.submitted")
    assert event.data["from"] == "draft" and event.data["to"] == "submitted"
    assert event.data["policy"]["tier"] == 1


def test_submit_twice_is_refused(version, developer):
    workflow.version_submit(actor=developer, version=version)
    with pytest.raises(Conflict, match="cannot become submitted"):
        workflow.version_submit(actor=developer, version=version)


def test_outsider_cannot_submit(version, outsider):
    with pytest.raises(PermissionDenied):
        workflow.version_submit(actor=outsider, version=version)


def test_policy_change_applies_only_to_later_submissions(passport, developer, admin_user):
    first = register(passport, developer, seed=1)
    workflow.version_submit(actor=developer, version=first)
    policy = RiskTierPolicy.objects.get(tier=1)
    policies.policy_update(actor=admin_user, policy=policy, required_roles=["validator", "business_owner"],
                           approval_validity_months=6)
    second = register(passport, developer, seed=2)
    workflow.version_submit(actor=developer, version=second)
    assert VersionReview.objects.get(version=first).required_roles[1] == "risk_officer"
    assert VersionReview.objects.get(version=second).required_roles == ["validator", "business_owner"]
    assert last_event("policy.changed").data["new"]["approval_validity_months"] == 6


def test_policy_update_refusals(admin_user, developer):
    policy = RiskTierPolicy.objects.get(tier=2)
    with pytest.raises(PermissionDenied):
        policies.policy_update(actor=developer, policy=policy, approval_validity_months=1)
    with pytest.raises(DomainError, match="independent validator"):
        policies.policy_update(actor=admin_user, policy=policy, required_roles=["business_owner"])
    with pytest.raises(DomainError, match="distinct values"):
        policies.policy_update(actor=admin_user, policy=policy, required_roles=["validator", "ceo"])


# --- assignment and segregation of duties --------------------------------------------------------------------


def test_assignment_moves_to_in_validation(version, developer, cast, django_capture_on_commit_callbacks, settings):
    settings.MG_BASE_URL = "https://governance.bank.example/"  # behind a proxy: never the request's own host
    with django_capture_on_commit_callbacks(execute=True):
        to_in_validation(version, developer, cast)
    assert version.state == VersionState.IN_VALIDATION
    assert last_event("version.validation_started").actor == cast.risk
    assert last_event("validator.assigned").data["validator"] == "val"
    (assigned,) = [m for m in mail.outbox if "assigned" in m.subject]
    page = f"https://governance.bank.example/passports/{version.passport.key}/versions/{version.number}/"
    assert assigned.body.rstrip().endswith(page)  # the link goes to the version, at the configured address
    assert all("127.0.0.1" not in m.body for m in mail.outbox)


def test_only_risk_officer_assigns(version, developer, cast):
    workflow.version_submit(actor=developer, version=version)
    with pytest.raises(PermissionDenied, match="risk officer"):
        workflow.validator_assign(actor=cast.validator, version=version, validator=cast.validator)


def test_assigning_a_non_validator_is_refused(version, developer, cast):
    workflow.version_submit(actor=developer, version=version)
    with pytest.raises(DomainError) as excinfo:
        workflow.validator_assign(actor=cast.risk, version=version, validator=cast.security)
    assert excinfo.value.code == "not_a_validator"


def test_author_cannot_be_assigned_as_validator(passport, cast):
    author = UserFactory(username="dev-val", roles=["model_developer", "validator"])
    passport.development_team.members.add(author)
    version = register(passport, author, seed=5)
    workflow.version_submit(actor=author, version=version)
    passport.development_team.members.remove(author)
    with pytest.raises(DomainError) as excinfo:
        workflow.validator_assign(actor=cast.risk, version=version, validator=author)
    assert excinfo.value.code == "sod_author"


def test_team_member_cannot_be_assigned_as_validator(version, developer, passport, cast):
    passport.development_team.members.add(cast.validator2)
    workflow.version_submit(actor=developer, version=version)
    with pytest.raises(DomainError) as excinfo:
        workflow.validator_assign(actor=cast.risk, version=version, validator=cast.validator2)
    assert excinfo.value.code == "sod_team" and "development team" in excinfo.value.message


def test_unassigned_validator_cannot_issue_report_or_sign(version, developer, cast, owner):
    to_validated(version, developer, cast)
    with pytest.raises(PermissionDenied, match="assigned"):
        issue_report(version, cast.validator2)
    with pytest.raises(PermissionDenied) as excinfo:
        sign(version, cast.validator2, "validator")
    assert excinfo.value.code == "not_assigned"


def test_author_cannot_sign(passport, cast):
    author = UserFactory(username="author-risk", roles=["model_developer", "risk_officer"])
    passport.development_team.members.add(author)
    version = register(passport, author, seed=7)
    workflow.version_submit(actor=author, version=version)
    passport.development_team.members.remove(author)  # left the team, but still authored the version
    workflow.validator_assign(actor=cast.risk, version=version, validator=cast.validator)
    issue_report(version, cast.validator)
    workflow.version_mark_validated(actor=cast.validator, version=version)
    with pytest.raises(PermissionDenied) as excinfo:
        sign(version, author, "risk_officer")
    assert excinfo.value.code == "sod_author"


def test_team_member_cannot_sign(version, developer, cast, passport):
    to_validated(version, developer, cast)
    passport.development_team.members.add(cast.risk)
    with pytest.raises(PermissionDenied) as excinfo:
        sign(version, cast.risk, "risk_officer")
    assert excinfo.value.code == "sod_team"


def test_one_person_cannot_fill_two_roles(version, developer, cast):
    both = UserFactory(username="risk-sec", roles=["risk_officer", "security"])
    to_validated(version, developer, cast)
    answer_checklist(version, cast.security)
    sign(version, both, "risk_officer")
    with pytest.raises(PermissionDenied) as excinfo:
        sign(version, both, "security")
    assert excinfo.value.code == "sod_two_roles"


def test_wrong_role_and_wrong_owner_are_refused(version, developer, cast):
    to_validated(version, developer, cast)
    with pytest.raises(PermissionDenied, match="Security role"):
        sign(version, cast.risk, "security")
    with pytest.raises(PermissionDenied, match="business owner"):
        sign(version, cast.risk, "business_owner")


def test_role_not_required_by_policy_is_refused(passport, developer, cast, owner):
    low = make_passport(actor=developer, key="low-risk", team=passport.development_team, business_owner=owner,
                        materiality="low", decision_type="human_in_the_loop", processes_personal_data=False,
                        regulatory_exposure="none")
    version = to_validated(register(low, developer, seed=9), developer, cast)
    with pytest.raises(DomainError) as excinfo:
        sign(version, cast.risk, "risk_officer")
    assert excinfo.value.code == "role_not_required"


def test_wrong_password_is_refused_and_records_nothing(version, developer, cast):
    to_validated(version, developer, cast)
    with pytest.raises(PermissionDenied) as excinfo:
        signoffs.signoff_record(actor=cast.validator, version=version, role="validator", decision="approve",
                                password="wrong", acknowledge_pending=True)
    assert excinfo.value.code == "reauth_failed" and not SignOff.objects.exists()
    failed = last_event("signoff.reauth_failed")
    assert failed.actor == cast.validator and failed.data["role"] == "validator"


# --- sign-offs and approval ----------------------------------------------------------------------------------


def approve_all(version, cast, owner):
    answer_checklist(version, cast.security)
    sign(version, cast.validator, "validator")
    sign(version, cast.risk, "risk_officer")
    sign(version, cast.security, "security")
    return sign(version, owner, "business_owner")


def test_last_required_signoff_approves(version, developer, cast, owner):
    to_validated(version, developer, cast)
    answer_checklist(version, cast.security)
    sign(version, cast.validator, "validator")
    sign(version, cast.risk, "risk_officer")
    sign(version, cast.security, "security")
    version.refresh_from_db()
    assert version.state == VersionState.VALIDATED  # the business owner is still missing
    assert signoffs.signoff_status(version).missing == ["business_owner"]
    sign(version, owner, "business_owner")
    version.refresh_from_db()
    assert version.state == VersionState.APPROVED
    assert version.approval_expires_at.date() > (timezone.now() + timedelta(days=360)).date()
    event = last_event("version.approved")
    assert event.data["from"] == "validated" and len(event.data["signoffs"]) == 4
    recorded = last_event("signoff.recorded")
    assert recorded.digests["artifact_sha256"] == version.sha256 and recorded.data["reauthenticated"]


def test_approval_needs_validated_state(version, developer, cast):
    to_in_validation(version, developer, cast)
    with pytest.raises(Conflict, match="not possible now"):
        sign(version, cast.validator, "validator")


def test_double_signoff_on_same_digests_refused(version, developer, cast):
    to_validated(version, developer, cast)
    sign(version, cast.validator, "validator", acknowledge_pending=True)
    with pytest.raises(Conflict, match="already signed"):
        sign(version, cast.validator, "validator", acknowledge_pending=True)


def test_changed_artifact_digest_invalidates_signoff(version, developer, cast, owner):
    to_validated(version, developer, cast)
    answer_checklist(version, cast.security)
    signoff = sign(version, cast.validator, "validator")
    assert "validator" in signoffs.signoff_status(version).current
    ModelVersion.objects.filter(pk=version.pk).update(sha256="f" * 64)  # the artifact behind the version changed
    version.refresh_from_db()
    status = signoffs.signoff_status(version)
    assert "validator" in status.missing and status.stale == [signoff]
    sign(version, cast.risk, "risk_officer")
    sign(version, cast.security, "security")
    sign(version, owner, "business_owner")
    version.refresh_from_db()
    assert version.state == VersionState.VALIDATED  # the stale validator sign-off does not count


def test_new_report_invalidates_signoffs(version, developer, cast):
    to_validated(version, developer, cast)
    sign(version, cast.validator, "validator", acknowledge_pending=True)
    issue_report(version, cast.validator, text="revised report")
    assert "validator" in signoffs.signoff_status(version).missing
    sign(version, cast.validator, "validator", acknowledge_pending=True)  # re-signing the new report is allowed
    assert "validator" in signoffs.signoff_status(version).current


def test_changed_checklist_invalidates_signoffs(version, developer, cast):
    to_validated(version, developer, cast)
    answer_checklist(version, cast.security)
    sign(version, cast.risk, "risk_officer")
    item = ChecklistItem.objects.get(version=version, code="ML07")
    findings.checklist_answer(actor=cast.security, item=item, status="not_applicable", evidence="Trained from scratch.")
    assert "risk_officer" in signoffs.signoff_status(version).missing


def test_reject_returns_version_to_author_with_reason(version, developer, cast, django_capture_on_commit_callbacks):
    to_validated(version, developer, cast)
    with django_capture_on_commit_callbacks(execute=True):
        sign(version, cast.validator, "validator", decision="reject", comment="AUC below threshold.")
    version.refresh_from_db()
    assert version.state == VersionState.REJECTED
    assert VersionReview.objects.get(version=version).closed_reason == "AUC below threshold."
    assert last_event("version.rejected").data["reason"] == "AUC below threshold."
    assert any("rejected" in m.subject and "AUC below threshold." in m.body for m in mail.outbox)


def test_conditional_approval_creates_dated_findings(version, developer, cast):
    to_validated(version, developer, cast)
    sign(version, cast.validator, "validator", decision="approve_with_conditions", acknowledge_pending=True,
         conditions=[{"text": "Recalibrate within a quarter", "due_date": "2027-03-01"}])
    finding = version.findings.get()
    assert finding.due_date == date(2027, 3, 1) and finding.severity == "medium" and finding.from_signoff_id
    with pytest.raises(DomainError, match="dated condition"):
        sign(version, cast.risk, "risk_officer", decision="approve_with_conditions", conditions=[],
             acknowledge_pending=True)
    with pytest.raises(DomainError, match="due_date"):
        sign(version, cast.risk, "risk_officer", decision="approve_with_conditions", acknowledge_pending=True,
             conditions=[{"text": "x", "due_date": "soon"}])


# --- findings and checklist ----------------------------------------------------------------------------------


def test_open_high_finding_blocks_approval_until_closed(version, developer, cast, owner):
    to_validated(version, developer, cast)
    finding = findings.finding_raise(actor=cast.validator, version=version, title="Leakage", severity="high",
                                     owner=developer, due_date=date(2027, 1, 1))
    approve_all(version, cast, owner)
    version.refresh_from_db()
    assert version.state == VersionState.VALIDATED
    assert signoffs.signoff_status(version).blocking_findings == [finding]
    with pytest.raises(PermissionDenied, match="risk officer"):
        findings.finding_set_status(actor=developer, finding=finding, status="risk_accepted", note="fine")
    with pytest.raises(DomainError, match="reason"):
        findings.finding_set_status(actor=cast.risk, finding=finding, status="risk_accepted")
    findings.finding_set_status(actor=cast.risk, finding=finding, status="risk_accepted", note="Compensating control")
    finding.refresh_from_db()
    version.refresh_from_db()
    assert finding.status == FindingStatus.RISK_ACCEPTED and finding.accepted_by == cast.risk
    assert version.state == VersionState.APPROVED


def test_finding_owner_remediates_and_illegal_moves_refused(version, developer, cast, outsider):
    workflow.version_submit(actor=developer, version=version)
    finding = findings.finding_raise(actor=cast.risk, version=version, title="Docs", severity="low", owner=developer,
                                     due_date=date(2027, 1, 1))
    with pytest.raises(PermissionDenied):
        findings.finding_set_status(actor=outsider, finding=finding, status="remediated")
    findings.finding_set_status(actor=developer, finding=finding, status="remediated", note="Done")
    with pytest.raises(Conflict):
        findings.finding_set_status(actor=cast.risk, finding=finding, status="risk_accepted", note="x")
    with pytest.raises(PermissionDenied, match="reopen"):
        findings.finding_set_status(actor=developer, finding=finding, status="open")
    assert [e.data["to"] for e in AuditEvent.objects.filter(action="finding.status_changed")] == ["remediated"]


def test_developer_cannot_raise_findings(version, developer):
    workflow.version_submit(actor=developer, version=version)
    with pytest.raises(PermissionDenied):
        findings.finding_raise(actor=developer, version=version, title="x", severity="low", owner=developer,
                               due_date=date(2027, 1, 1))


def test_security_signoff_requires_complete_checklist(version, developer, cast):
    to_validated(version, developer, cast)
    with pytest.raises(DomainError) as excinfo:
        sign(version, cast.security, "security")
    assert excinfo.value.code == "checklist_incomplete" and "ML01" in excinfo.value.message
    answer_checklist(version, cast.security)
    findings.checklist_answer(actor=cast.security, item=ChecklistItem.objects.get(version=version, code="ML03"),
                              status="open", evidence="Probabilities returned in full.")
    with pytest.raises(DomainError, match="ML03"):
        sign(version, cast.security, "security")


def test_checklist_answer_rules(version, developer, cast):
    workflow.version_submit(actor=developer, version=version)
    item = ChecklistItem.objects.get(version=version, code="ML07")
    with pytest.raises(PermissionDenied):
        findings.checklist_answer(actor=developer, item=item, status="mitigated")
    with pytest.raises(DomainError, match="needs evidence"):
        findings.checklist_answer(actor=cast.security, item=item, status="not_applicable")
    with pytest.raises(DomainError, match="http"):
        findings.checklist_answer(actor=cast.security, item=item, status="mitigated", links=["javascript:alert(1)"])
    findings.checklist_answer(actor=cast.security, item=item, status="not_applicable", evidence="From scratch.",
                              links=["https://wiki.example.com/ml07"])
    item.refresh_from_db()
    assert item.answered_by == cast.security and item.links == ["https://wiki.example.com/ml07"]
    assert last_event("checklist.answered").data["code"] == "ML07"


@pytest.mark.parametrize("status", ["mitigated", "partially_mitigated", "not_applicable"])
def test_a_checklist_claim_without_evidence_is_refused(version, developer, cast, status):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from governance.workflow.forms import ChecklistAnswerForm

    workflow.version_submit(actor=developer, version=version)
    item = ChecklistItem.objects.get(version=version, code="ML05")
    events = AuditEvent.objects.count()
    with pytest.raises(DomainError, match="needs evidence") as refused:
        findings.checklist_answer(actor=cast.security, item=item, status=status, evidence="  ")
    assert refused.value.field == "evidence" and AuditEvent.objects.count() == events
    item.refresh_from_db()
    assert item.status == "unanswered"
    findings.checklist_answer(actor=cast.security, item=item, status=status, links=["https://wiki.example.com/ml05"])
    findings.checklist_answer(actor=cast.security, item=ChecklistItem.objects.get(version=version, code="ML06"),
                              status=status, attachment=SimpleUploadedFile("sbom.txt", b"onnx==1.16"))
    findings.checklist_answer(actor=cast.security, item=ChecklistItem.objects.get(version=version, code="ML07"),
                              status="open")  # an open risk claims nothing
    form = ChecklistAnswerForm.for_item(ChecklistItem.objects.get(version=version, code="ML08"))
    assert form["status"].value() in (None, "")  # no status is preselected
    assert not ChecklistAnswerForm.for_item(item, data={"ml05-status": ""}).is_valid()


# --- revocation, retirement and expiry -----------------------------------------------------------------------


@pytest.fixture
def approved(version, developer, cast, owner):
    to_validated(version, developer, cast)
    approve_all(version, cast, owner)
    version.refresh_from_db()
    assert version.state == VersionState.APPROVED
    return version


def test_revocation_needs_risk_officer_and_reason(approved, cast, developer):
    with pytest.raises(PermissionDenied):
        workflow.version_revoke(actor=developer, version=approved, reason="incident")
    with pytest.raises(DomainError, match="reason"):
        workflow.version_revoke(actor=cast.risk, version=approved, reason=" ")
    workflow.version_revoke(actor=cast.risk, version=approved, reason="Incident INC-42")
    approved.refresh_from_db()
    assert approved.state == VersionState.REVOKED
    assert last_event("version.revoked").data["reason"] == "Incident INC-42"


def test_retire_by_business_owner(approved, owner):
    workflow.version_retire(actor=owner, version=approved, reason="Replaced")
    approved.refresh_from_db()
    assert approved.state == VersionState.RETIRED


def test_expiry_revokes_and_warns_once(approved, passport, developer, cast, owner, django_capture_on_commit_callbacks):
    other = to_validated(register(passport, developer, seed=11), developer, cast)
    approve_all(other, cast, owner)
    other.refresh_from_db()
    ModelVersion.objects.filter(pk=approved.pk).update(approval_expires_at=timezone.now() - timedelta(days=1))
    ModelVersion.objects.filter(pk=other.pk).update(approval_expires_at=timezone.now() + timedelta(days=10))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        result = workflow.approvals_expire_and_notify()
    assert result == {"revoked": 1, "warned": 1}
    approved.refresh_from_db()
    assert approved.state == VersionState.REVOKED and "expired" in last_event("version.revoked").data["reason"]
    assert last_event("version.revalidation_due").object_id == str(other.pk)
    assert any("revalidation due" in m.subject for m in mail.outbox)
    assert workflow.approvals_expire_and_notify() == {"revoked": 0, "warned": 0}


def test_beat_schedule_runs_the_expiry_task(settings):
    from governance.workflow.tasks import approvals_expire_and_notify_task

    entry = settings.CELERY_BEAT_SCHEDULE["approvals-expire-and-notify"]
    assert entry["task"] == approvals_expire_and_notify_task.name
    assert approvals_expire_and_notify_task.apply().get() == {"revoked": 0, "warned": 0}


def test_failed_signoff_leaves_no_trace(version, developer, cast):
    to_validated(version, developer, cast)
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        sign(version, cast.risk, "security")
    assert AuditEvent.objects.count() == before and not SignOff.objects.exists()


def test_other_team_validator_may_sign(passport, developer, cast):
    TeamFactory(name="Elsewhere", members=[cast.validator])
    version = to_validated(register(passport, developer, seed=13), developer, cast)
    sign(version, cast.validator, "validator", acknowledge_pending=True)
    assert "validator" in signoffs.signoff_status(version).current
