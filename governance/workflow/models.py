"""Approval workflow: tier policies, the review record of a version, assignments, sign-offs, findings and
the OWASP ML Top-10 checklist. Every row here changes only through ``governance.workflow.services.transitions``."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.text import LONG_TEXT, limited
from governance.workflow.choices import (
    ChecklistStatus,
    Decision,
    FindingSeverity,
    FindingStatus,
    TestAcceptanceKind,
)
from validation.choices import ValidationDepth


class RiskTierPolicy(models.Model):
    """What an approval of a version of this risk tier needs. A change applies to versions submitted after it:
    each submission snapshots the policy into its VersionReview."""

    tier = models.PositiveSmallIntegerField(_("risk tier"), unique=True,
                                            validators=[MinValueValidator(1), MaxValueValidator(3)])
    required_roles = models.JSONField(_("required sign-off roles"), default=list)
    checklist_required = models.BooleanField(_("OWASP checklist required"), default=True)
    validation_depth = models.CharField(_("validation depth"), max_length=20, choices=ValidationDepth.choices)
    approval_validity_months = models.PositiveSmallIntegerField(
        _("approval validity (months)"), validators=[MinValueValidator(1), MaxValueValidator(120)]
    )
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        ordering = ["tier"]
        verbose_name = _("risk-tier policy")
        verbose_name_plural = _("risk-tier policies")

    def __str__(self) -> str:
        return f"Tier {self.tier} policy"

    def snapshot(self) -> dict:
        return {
            "policy_id": self.pk, "tier": self.tier, "required_roles": list(self.required_roles),
            "checklist_required": self.checklist_required, "validation_depth": self.validation_depth,
            "approval_validity_months": self.approval_validity_months,
            "policy_updated_at": self.updated_at.isoformat(),
        }


class VersionReview(models.Model):
    """The governance record of one submitted version: the policy in force at submission and milestones."""

    version = models.OneToOneField("registry.ModelVersion", on_delete=models.PROTECT, related_name="review")
    policy = models.JSONField(_("policy in force"))
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(_("submitted"), default=timezone.now)
    validated_at = models.DateTimeField(_("validated"), null=True, blank=True)
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    closed_reason = models.TextField(_("rejection / revocation reason"), blank=True, **limited(LONG_TEXT))
    expiry_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("version review")
        verbose_name_plural = _("version reviews")
        permissions = [
            ("assign_validator", "Can assign validators to versions"),
            ("revoke_approval", "Can revoke or retire approved versions and reject submissions"),
            ("raise_finding", "Can raise findings on versions under review"),
            ("accept_risk", "Can accept the risk of a finding"),
            ("answer_checklist", "Can answer OWASP ML Top-10 checklist items"),
        ]

    def __str__(self) -> str:
        return f"review of {self.version}"

    @property
    def required_roles(self) -> list[str]:
        return list(self.policy.get("required_roles", []))


class ValidatorAssignment(models.Model):
    """A validator assigned to a version by a risk officer; only assigned validators may sign as validator."""

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="assignments")
    validator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["assigned_at"]
        constraints = [models.UniqueConstraint(fields=["version", "validator"], name="unique_assignment")]

    def __str__(self) -> str:
        return f"{self.validator} on {self.version}"


class SignOff(models.Model):
    """A re-authenticated electronic signature bound to the digests the signer saw.

    It counts only while the artifact, the validation report and the checklist still have those digests; the
    change that makes it stop counting is recorded on it (``voided_at``, ``voided_reason``).
    """

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="signoffs")
    role = models.CharField(_("role"), max_length=20)
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signoffs")
    decision = models.CharField(_("decision"), max_length=30, choices=Decision.choices)
    comment = models.TextField(_("comment"), blank=True, **limited(LONG_TEXT))
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    artifact_sha256 = models.CharField(max_length=64)
    report_sha256 = models.CharField(max_length=64, blank=True)
    checklist_sha256 = models.CharField(max_length=64, blank=True)
    signed_at = models.DateTimeField(_("signed"), default=timezone.now)
    # set when a change to what it was bound to (checklist, report) makes it stop counting; its signer is told
    voided_at = models.DateTimeField(_("stopped counting"), null=True, blank=True)
    voided_reason = models.CharField(_("why it stopped counting"), max_length=500, blank=True)

    class Meta:
        ordering = ["signed_at"]
        verbose_name = _("sign-off")
        verbose_name_plural = _("sign-offs")

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.signer} as {self.role}"


class Finding(models.Model):
    """An issue found in review: an open high-severity finding blocks approval."""

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="findings")
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True, **limited(LONG_TEXT))
    severity = models.CharField(_("severity"), max_length=10, choices=FindingSeverity.choices)
    status = models.CharField(_("status"), max_length=20, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_findings")
    due_date = models.DateField(_("due date"))
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField(default=timezone.now)
    from_signoff = models.ForeignKey(SignOff, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="condition_findings")
    from_report = models.ForeignKey("validation.ValidationReport", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="condition_findings", verbose_name=_("condition of the report"))
    # A finding raised from a test that failed: the run and the test (its name in the run's results)
    run = models.ForeignKey("validation.ValidationRun", on_delete=models.PROTECT, null=True, blank=True,
                            related_name="+", verbose_name=_("validation run"))
    test = models.CharField(_("failed test"), max_length=60, blank=True)
    resolution = models.TextField(_("resolution"), blank=True, **limited(LONG_TEXT))
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["status", "due_date"]
        verbose_name = _("finding")
        verbose_name_plural = _("findings")
        indexes = [models.Index(fields=["status", "severity"])]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.title}"

    @property
    def test_label(self) -> str:
        """The failed test's name as the run page shows it (in the reader's language)."""
        from validation.run_display import check_label

        return check_label(self.test) if self.test else ""


class ChecklistItem(models.Model):
    """One OWASP ML Top-10 item (ML01..ML10) of a version: a status, evidence and who answered."""

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="checklist")
    code = models.CharField(_("code"), max_length=4)
    status = models.CharField(_("status"), max_length=20, choices=ChecklistStatus.choices,
                              default=ChecklistStatus.UNANSWERED)
    evidence = models.TextField(_("evidence"), blank=True, **limited(LONG_TEXT))
    links = models.JSONField(_("links"), default=list, blank=True)
    attachment = models.FileField(_("attachment"), upload_to="checklist/", blank=True, max_length=300)
    attachment_name = models.CharField(_("attachment file name"), max_length=200, blank=True,
                                       help_text=_("As the uploader named it; stored under its digest."))
    attachment_sha256 = models.CharField(max_length=64, blank=True)
    auto_evidence = models.JSONField(_("evidence filled by the platform"), default=dict, blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["version", "code"], name="unique_checklist_item")]

    def __str__(self) -> str:
        return f"{self.code} {self.get_status_display()}"


class TestAcceptance(models.Model):
    """A risk officer's explicit acceptance of one failed or excepted test of a validation report, with the
    rationale: approval waits until every such test of the report in force is accepted. Bound to the report, so
    a new report asks again."""

    Kind = TestAcceptanceKind
    __test__ = False  # not a pytest test class, whatever its name

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="test_acceptances")
    report = models.ForeignKey("validation.ValidationReport", on_delete=models.PROTECT, related_name="+")
    report_sha256 = models.CharField(max_length=64)
    test = models.CharField(_("test"), max_length=40)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    rationale = models.TextField(_("rationale"))
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    accepted_at = models.DateTimeField(_("accepted"), default=timezone.now)

    class Meta:
        ordering = ["accepted_at"]
        verbose_name = _("test acceptance")
        verbose_name_plural = _("test acceptances")
        constraints = [models.UniqueConstraint(fields=["report", "test"], name="one_acceptance_per_report_test")]

    def __str__(self) -> str:
        return f"{self.test} ({self.kind}) accepted by {self.accepted_by}"
