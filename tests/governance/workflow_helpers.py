"""Helpers that walk a version through the workflow, for workflow tests."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from governance.workflow.models import ChecklistItem
from governance.workflow.services import findings, signoffs
from governance.workflow.services import transitions as workflow
from registry import services as registry_services
from tests.factories import UserFactory, linear_onnx, onnx_upload
from validation import services as validation_services

PASSWORD = "pw-Secret-123"


class Cast:
    """The people of one review, none of them in the development team."""

    def __init__(self):
        self.risk = UserFactory(username="risk", roles=["risk_officer"])
        self.validator = UserFactory(username="val", roles=["validator"])
        self.validator2 = UserFactory(username="val2", roles=["validator"])
        self.security = UserFactory(username="sec", roles=["security"])


def register(passport, author, seed=0):
    return registry_services.version_register(actor=author, passport=passport,
                                              upload=onnx_upload(linear_onnx(seed=seed)))


def to_in_validation(version, author, cast):
    workflow.version_submit(actor=author, version=version)
    workflow.validator_assign(actor=cast.risk, version=version, validator=cast.validator)
    version.refresh_from_db()
    return version


def issue_report(version, validator, text="report body"):
    upload = SimpleUploadedFile("report.md", text.encode())
    return validation_services.report_issue_uploaded(rating="fit", actor=validator, version=version, upload=upload,
                                                     conclusion="Fit for purpose.")


def to_validated(version, author, cast, *, accept_tests: bool = True):
    """In validation, an uploaded report, validated; the risk officer accepts the uploaded report in place of the
    platform's tests (``accept_tests``), as approval requires."""
    to_in_validation(version, author, cast)
    issue_report(version, cast.validator)
    workflow.version_mark_validated(actor=cast.validator, version=version)
    version.refresh_from_db()
    if accept_tests:
        accept_all_tests(version, cast.risk)
    return version


def accept_all_tests(version, risk):
    """The risk officer accepts every failed or excepted test of the report in force."""
    for gap in signoffs.signoff_status(version).tests_unaccepted:
        signoffs.test_accept(actor=risk, version=version, test=gap["test"],
                             rationale="External validation reviewed; residual risk within appetite.")


def answer_checklist(version, security, status="mitigated"):
    for item in ChecklistItem.objects.filter(version=version):
        findings.checklist_answer(actor=security, item=item, status=status, evidence="Reviewed.")


def sign(version, user, role, decision="approve", **kw):
    return signoffs.signoff_record(actor=user, version=version, role=role, decision=decision, password=PASSWORD,
                                   **kw)


def approve_validated(version, cast, owner):
    """A validated version approved: the checklist answered, then the four sign-offs of a tier-1 review."""
    answer_checklist(version, cast.security)
    for user, role in ((cast.validator, "validator"), (cast.risk, "risk_officer"), (cast.security, "security"),
                       (owner, "business_owner")):
        sign(version, user, role)
    version.refresh_from_db()
    assert version.state == "approved", version.state
    return version
