"""Approval-workflow API serializers: reviews, assignments, reports, sign-offs, findings, checklist, policies,
inbox and portfolio.

Output serializers render what the services and selectors returned. Input serializers check types and shapes
only (usernames become users, dates become dates); ``governance.services`` own every business rule.

Enum naming: drf-spectacular names an enum after the field holding it, and warns when one field name carries
two choice sets in several components, or one choice set goes by two field names. So sign-off roles are an
enum only in ``role`` (role lists are plain strings), and each ``status`` choice set lives in one component.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from governance.workflow.choices import ChecklistStatus, Decision, FindingSeverity, FindingStatus, SignoffRole
from governance.workflow.models import (
    ChecklistItem,
    Finding,
    RiskTierPolicy,
    SignOff,
    TestAcceptance,
    ValidatorAssignment,
)
from governance.workflow.owasp import CHECKLIST
from registry.choices import VersionState
from validation.choices import Rating, ValidationDepth
from validation.models import ValidationReport

DIGEST_NAMES = ("artifact_sha256", "report_sha256", "checklist_sha256")

_active_users = get_user_model().objects.filter(is_active=True)


def _username(field_source: str, **kwargs) -> serializers.CharField:
    return serializers.CharField(source=f"{field_source}.username", read_only=True, **kwargs)


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 150})
class _UsernameField(serializers.SlugRelatedField):
    """An active user named by username (400 naming the field when there is none)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "Username.")
        super().__init__(slug_field="username", queryset=_active_users, **kwargs)


# --------------------------------------------------------------------------- versions (compact)


class VersionRefSerializer(serializers.Serializer):
    """A version as other objects point at it: passport key, number and state."""

    passport = serializers.CharField(source="passport.key", read_only=True, help_text="Passport key.")
    number = serializers.IntegerField(read_only=True)
    state = serializers.ChoiceField(choices=VersionState.choices, read_only=True)
    approval_expires_at = serializers.DateTimeField(read_only=True, allow_null=True)


class DigestsSerializer(serializers.Serializer):
    """The three sha256 digests a sign-off binds to (empty string: no report / no checklist yet)."""

    artifact_sha256 = serializers.CharField(read_only=True)
    report_sha256 = serializers.CharField(read_only=True, allow_blank=True)
    checklist_sha256 = serializers.CharField(read_only=True, allow_blank=True)


# --------------------------------------------------------------------------- assignments and reports


class AssignmentSerializer(serializers.ModelSerializer):
    validator = _username("validator")
    assigned_by = _username("assigned_by")
    version = VersionRefSerializer(read_only=True, help_text="The version, in its state after the assignment.")

    class Meta:
        model = ValidatorAssignment
        fields = ["id", "validator", "assigned_by", "assigned_at", "version"]
        read_only_fields = fields


class AssignSerializer(serializers.Serializer):
    validator = _UsernameField(help_text="Username of a user holding the validator role.")


class ReportSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number", read_only=True, help_text="Version number.")
    issued_by = _username("issued_by")
    in_force = serializers.SerializerMethodField(help_text="The newest report: the one sign-offs bind to.")
    file_url = serializers.SerializerMethodField()

    class Meta:
        model = ValidationReport
        fields = ["id", "version", "source", "filename", "sha256", "size", "conclusion", "rating", "conditions",
                  "issued_by", "issued_at", "in_force", "file_url"]
        read_only_fields = fields

    def get_in_force(self, report: ValidationReport) -> bool:
        return report.pk == self.context.get("in_force_id", report.pk)

    @extend_schema_field(OpenApiTypes.URI)
    def get_file_url(self, report: ValidationReport) -> str:
        path = reverse("governance-api:passport-version-workflow-report-file", kwargs={
            "passport_key": report.version.passport.key, "number": report.version.number, "report_id": report.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class ReportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The report document (.pdf, .html, .md, .txt, .docx, .xlsx or .zip).")
    conclusion = serializers.CharField(help_text="The validator's conclusion.")
    rating = serializers.ChoiceField(choices=Rating.choices, help_text="The validator's rating of the model.")
    conditions = serializers.JSONField(
        required=False, default=list, binary=True,
        help_text='For `fit_with_conditions`: a JSON list of {"text", "due_date": "YYYY-MM-DD"}; each becomes a '
                  "dated finding owned by the technical owner.")


# --------------------------------------------------------------------------- sign-offs


class ConditionSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=2000)
    due_date = serializers.DateField()


class SignOffSerializer(serializers.ModelSerializer):
    """A sign-off and whether it still counts: the context's ``digests`` are the version's current ones."""

    role = serializers.ChoiceField(choices=SignoffRole.choices, read_only=True)
    signer = _username("signer")
    conditions = ConditionSerializer(many=True, read_only=True)
    counts = serializers.SerializerMethodField(
        help_text="An approval whose three digests are all still current; a stale or rejecting sign-off does not.")
    changed_digests = serializers.SerializerMethodField(
        help_text="The digests (artifact_sha256, report_sha256, checklist_sha256) changed since the signature.")

    class Meta:
        model = SignOff
        fields = ["id", "role", "signer", "decision", "comment", "conditions", "artifact_sha256", "report_sha256",
                  "checklist_sha256", "signed_at", "counts", "changed_digests", "voided_at", "voided_reason"]
        read_only_fields = fields

    def get_changed_digests(self, signoff: SignOff) -> list[str]:
        digests = self.context["digests"]
        return [name for name in DIGEST_NAMES if getattr(signoff, name) != digests[name]]

    def get_counts(self, signoff: SignOff) -> bool:
        return signoff.decision != Decision.REJECT and not self.get_changed_digests(signoff)


class SignOffCreateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=SignoffRole.choices, help_text="One of the roles the policy requires.")
    decision = serializers.ChoiceField(choices=Decision.choices)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"},
                                     help_text="The signer's own password: the sign-off is an electronic signature.")
    conditions = serializers.ListField(child=ConditionSerializer(), required=False, max_length=50,
                                       help_text="Dated conditions; required for `approve_with_conditions`.")
    acknowledge_pending = serializers.BooleanField(
        required=False, default=False,
        help_text="Confirms an approval while inputs it binds to are not final yet (an OWASP checklist still being "
                  "answered, a validation run in progress): without it such an approval is refused with "
                  "`inputs_pending`, whose `details.pending` lists them. A sign-off that later stops counting is "
                  "marked voided and its signer notified.")


class TestAcceptanceSerializer(serializers.ModelSerializer):
    """A risk officer's acceptance of a failed or excepted test, bound to the report's digest."""

    __test__ = False

    accepted_by = _username("accepted_by")

    class Meta:
        model = TestAcceptance
        fields = ["id", "test", "kind", "rationale", "report_sha256", "accepted_by", "accepted_at"]
        read_only_fields = fields


class TestToAcceptSerializer(serializers.Serializer):
    """A failed or excepted test of the report in force and its acceptance, if any."""

    __test__ = False

    test = serializers.CharField()
    kind = serializers.ChoiceField(choices=TestAcceptance.Kind.choices)
    note = serializers.CharField(allow_blank=True, help_text="Why it failed, or the validator's justification.")
    acceptance = TestAcceptanceSerializer(allow_null=True)


class TestAcceptSerializer(serializers.Serializer):
    __test__ = False

    test = serializers.CharField(max_length=40, help_text="A failed or excepted test of the report in force.")
    rationale = serializers.CharField(min_length=20, max_length=5000, help_text="Why the risk is acceptable.")


# --------------------------------------------------------------------------- findings


class FindingRefSerializer(serializers.ModelSerializer):
    version = VersionRefSerializer(read_only=True)

    class Meta:
        model = Finding
        fields = ["id", "title", "severity", "due_date", "version"]
        read_only_fields = fields


class OverdueFindingSerializer(FindingRefSerializer):
    owner = _username("owner")

    class Meta(FindingRefSerializer.Meta):
        fields = [*FindingRefSerializer.Meta.fields, "owner"]
        read_only_fields = fields


class FindingSerializer(serializers.ModelSerializer):
    passport = serializers.CharField(source="version.passport.key", read_only=True, help_text="Passport key.")
    version = serializers.IntegerField(source="version.number", read_only=True, help_text="Version number.")
    owner = _username("owner")
    raised_by = _username("raised_by")
    accepted_by = _username("accepted_by", allow_null=True)
    from_signoff = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True,
                                                      help_text="The sign-off whose condition this finding is.")
    run = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True,
                                             help_text="The validation run whose failed test raised it.")
    overdue = serializers.SerializerMethodField(help_text="Open and past its due date.")

    class Meta:
        model = Finding
        fields = ["id", "passport", "version", "title", "description", "severity", "status", "owner", "due_date",
                  "raised_by", "raised_at", "from_signoff", "run", "test", "resolution", "accepted_by",
                  "resolved_at", "overdue"]
        read_only_fields = fields

    def get_overdue(self, finding: Finding) -> bool:
        return finding.status == FindingStatus.OPEN and finding.due_date < timezone.localdate()


class FindingCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    severity = serializers.ChoiceField(choices=FindingSeverity.choices,
                                       help_text="An open `high` finding blocks approval.")
    owner = _UsernameField(help_text="Username of the person who must remediate it.")
    due_date = serializers.DateField()
    run = serializers.IntegerField(required=False, allow_null=True,
                                   help_text="A validation run of this version the finding comes from.")
    test = serializers.CharField(required=False, allow_blank=True, max_length=60,
                                 help_text="The run's failed test the finding comes from (with `run`).")


# Labels of their own: the target statuses form a choice set apart from the finding's status (see module doc).
FINDING_STATUS_TARGETS = [
    (FindingStatus.OPEN, _("Reopen (reviewers)")),
    (FindingStatus.REMEDIATED, _("Mark remediated (its owner or a reviewer)")),
    (FindingStatus.RISK_ACCEPTED, _("Accept the risk (risk officers, with a note)")),
]


class FindingStatusChangeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=FINDING_STATUS_TARGETS)
    note = serializers.CharField(required=False, allow_blank=True, max_length=20000,
                                 help_text="What was done, or why the risk is accepted (required then).")


# --------------------------------------------------------------------------- OWASP checklist


class ChecklistItemSerializer(serializers.ModelSerializer):
    risk = serializers.SerializerMethodField(help_text="The OWASP ML Top-10 risk name.")
    questions = serializers.SerializerMethodField(help_text="The controls the answer addresses.")
    links = serializers.ListField(child=serializers.CharField(), read_only=True)
    auto_evidence = serializers.DictField(read_only=True, help_text="Evidence the platform filled in.")
    answered_by = _username("answered_by", allow_null=True)

    class Meta:
        model = ChecklistItem
        fields = ["code", "risk", "questions", "status", "evidence", "links", "attachment_sha256", "auto_evidence",
                  "answered_by", "answered_at"]
        read_only_fields = fields

    def get_risk(self, item: ChecklistItem) -> str:
        return str(CHECKLIST[item.code]["risk"]) if item.code in CHECKLIST else item.code

    def get_questions(self, item: ChecklistItem) -> str:
        return str(CHECKLIST[item.code]["questions"]) if item.code in CHECKLIST else ""


class ChecklistSerializer(serializers.Serializer):
    digest = serializers.CharField(allow_blank=True, read_only=True,
                                   help_text="sha256 over every answer; sign-offs bind to it (empty before submit).")
    items = ChecklistItemSerializer(many=True, read_only=True)


class ChecklistAnswerSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[c for c in ChecklistStatus.choices if c[0] != ChecklistStatus.UNANSWERED])
    evidence = serializers.CharField(required=False, allow_blank=True, max_length=20000,
                                     help_text="Required for `not_applicable` and `partially_mitigated`.")
    links = serializers.ListField(child=serializers.CharField(max_length=500), required=False, max_length=20,
                                  help_text="http(s) URLs of the evidence.")
    attachment = serializers.FileField(required=False, help_text="An evidence file (multipart requests only).")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=20000,
                                   help_text="Why; optional to retire.")


class RequiredReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=20000, help_text="Why; the author and the audit trail get it.")


# --------------------------------------------------------------------------- review


class PolicySnapshotSerializer(serializers.Serializer):
    """A tier policy as it stood when the version was submitted (``VersionReview.policy``)."""

    policy_id = serializers.IntegerField(read_only=True, allow_null=True)
    tier = serializers.IntegerField(read_only=True)
    required_roles = serializers.ListField(child=serializers.CharField(), read_only=True,
                                           help_text="Sign-off roles: validator, risk_officer, security, "
                                           "business_owner.")
    checklist_required = serializers.BooleanField(read_only=True)
    validation_depth = serializers.ChoiceField(choices=ValidationDepth.choices, read_only=True)
    approval_validity_months = serializers.IntegerField(read_only=True)
    policy_updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class ReviewSerializer(serializers.Serializer):
    """Where a version stands in its review, as the view assembled it from the workflow reads."""

    passport = serializers.CharField(read_only=True, help_text="Passport key.")
    number = serializers.IntegerField(read_only=True)
    state = serializers.ChoiceField(choices=VersionState.choices, read_only=True)
    approval_expires_at = serializers.DateTimeField(read_only=True, allow_null=True)
    policy = PolicySnapshotSerializer(read_only=True, allow_null=True,
                                      help_text="The policy in force (snapshot at submission); null for drafts.")
    required_roles = serializers.ListField(child=serializers.CharField(), read_only=True)
    missing_roles = serializers.ListField(child=serializers.CharField(), read_only=True,
                                          help_text="Required roles without a current approving sign-off.")
    current_signoffs = SignOffSerializer(many=True, read_only=True, help_text="One per role whose sign-off counts.")
    stale_signoffs = SignOffSerializer(many=True, read_only=True,
                                       help_text="Approvals bound to digests that changed since; they do not count.")
    blocking_findings = FindingSerializer(many=True, read_only=True, help_text="Open high-severity findings.")
    checklist_missing = serializers.ListField(child=serializers.CharField(), read_only=True,
                                              help_text="Checklist codes still unanswered or open, when the policy "
                                              "requires the checklist.")
    assignments = AssignmentSerializer(many=True, read_only=True)
    digests = DigestsSerializer(read_only=True, help_text="The current digests a sign-off now would bind to.")
    available_actions = serializers.ListField(child=serializers.CharField(), read_only=True,
                                              help_text="Workflow verbs the requesting user may use now.")
    signable_roles = serializers.ListField(child=serializers.CharField(), read_only=True,
                                           help_text="Roles the requesting user may sign in now.")


# --------------------------------------------------------------------------- policies


class PolicySerializer(serializers.ModelSerializer):
    required_roles = serializers.ListField(child=serializers.CharField(), read_only=True,
                                           help_text="Sign-off roles: validator, risk_officer, security, "
                                           "business_owner.")
    updated_by = _username("updated_by", allow_null=True)

    class Meta:
        model = RiskTierPolicy
        fields = ["tier", "required_roles", "checklist_required", "validation_depth", "approval_validity_months",
                  "updated_by", "updated_at"]
        read_only_fields = fields


class PolicyUpdateSerializer(serializers.Serializer):
    """Fields a PATCH may change (all optional, at least one)."""

    required_roles = serializers.ListField(child=serializers.CharField(max_length=20), max_length=10,
                                           help_text="Distinct sign-off roles; must include validator.")
    checklist_required = serializers.BooleanField()
    validation_depth = serializers.ChoiceField(choices=ValidationDepth.choices)
    approval_validity_months = serializers.IntegerField(help_text="1 to 120.")

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Give at least one field to change.")
        return attrs


# --------------------------------------------------------------------------- inbox and portfolio


class VoidedSignoffSerializer(serializers.ModelSerializer):
    version = VersionRefSerializer(read_only=True)

    class Meta:
        model = SignOff
        fields = ["id", "version", "role", "signed_at", "voided_at", "voided_reason"]
        read_only_fields = fields


class InboxSerializer(serializers.Serializer):
    assigned = VersionRefSerializer(many=True, read_only=True, help_text="Versions you are assigned to validate.")
    signoffs_due = VersionRefSerializer(many=True, read_only=True, help_text="Validated versions you may sign.")
    findings = FindingRefSerializer(many=True, read_only=True, help_text="Open findings you own.")
    expiring = VersionRefSerializer(many=True, read_only=True,
                                    help_text="Approvals of your models expiring within 30 days.")
    voided = VoidedSignoffSerializer(many=True, read_only=True,
                                     help_text="Your sign-offs that stopped counting, with why, not signed again.")


class StateTierCountSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=VersionState.choices, read_only=True)
    tier = serializers.IntegerField(read_only=True, help_text="Risk tier: 1 high .. 3 low.")
    count = serializers.IntegerField(read_only=True)


class SeverityCountSerializer(serializers.Serializer):
    high = serializers.IntegerField(read_only=True)
    medium = serializers.IntegerField(read_only=True)
    low = serializers.IntegerField(read_only=True)


class RatingCountSerializer(serializers.Serializer):
    fit = serializers.IntegerField(read_only=True)
    fit_with_conditions = serializers.IntegerField(read_only=True)
    not_fit = serializers.IntegerField(read_only=True)
    not_rated = serializers.IntegerField(read_only=True, help_text="Reports issued before ratings existed.")


class PortfolioSerializer(serializers.Serializer):
    by_state_tier = StateTierCountSerializer(many=True, read_only=True)
    overdue_findings = OverdueFindingSerializer(many=True, read_only=True, help_text="The first 100, oldest due first.")
    overdue_count = serializers.IntegerField(read_only=True)
    expiring = VersionRefSerializer(many=True, read_only=True, help_text="Approvals expiring within 30 days.")
    open_findings_by_severity = SeverityCountSerializer(read_only=True)
    ratings = RatingCountSerializer(read_only=True, help_text="Ratings of the reports in force of the versions under "
                                                               "review or approved.")
