"""What the approval workflow's audit events say, and how its objects are named and linked in the audit log.

Assignments, sign-offs, checklist items and test acceptances read as the version they belong to (the sentence
says what happened to it) and link to that version's panel.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from governance.accounts.choices import Role
from governance.audit.describe import ObjectRef, action_text, ids_of, object_refs, value_labels
from governance.workflow.choices import (
    ChecklistStatus,
    Decision,
    FindingSeverity,
    FindingStatus,
    SignoffRole,
    TestAcceptanceKind,
)
from governance.workflow.models import (
    ChecklistItem,
    Finding,
    RiskTierPolicy,
    SignOff,
    TestAcceptance,
    ValidatorAssignment,
)
from registry.audit_texts import version_ref

action_text("version.submitted", gettext_lazy("Submitted for validation"),
            gettext_lazy("{actor} submitted {object} for validation."))
action_text("validator.assigned", gettext_lazy("Validator assigned"),
            gettext_lazy("{actor} assigned {validator} to validate {object}."))
action_text("version.validation_started", gettext_lazy("Validation begun"),
            gettext_lazy("Validation of {object} began ({actor} assigned a validator)."))
action_text("version.validated", gettext_lazy("Validated"),
            gettext_lazy("{actor} marked {object} as validated."))
action_text("version.approved", gettext_lazy("Approved"),
            gettext_lazy("{object} was approved, after the last required step by {actor}."))
action_text("version.rejected", gettext_lazy("Rejected"),
            gettext_lazy("{actor} rejected {object}: {reason}"))
action_text("version.revoked", gettext_lazy("Approval revoked"),
            gettext_lazy("{actor} revoked the approval of {object}: {reason}"))
action_text("version.retired", gettext_lazy("Retired"),
            gettext_lazy("{actor} retired {object}: {reason}"))
action_text("version.revalidation_due", gettext_lazy("Revalidation due"),
            gettext_lazy("The approval of {object} expired: it must be validated again."))
action_text("signoff.recorded", gettext_lazy("Sign-off recorded"),
            gettext_lazy("{actor} signed {object} as {role}: {decision}."))
action_text("signoff.voided", gettext_lazy("Sign-off no longer counts"),
            gettext_lazy("The sign-off of {signer} as {role} on {object} no longer counts: {reason}"))
action_text("signoff.reauth_failed", gettext_lazy("Sign-off password refused"),
            gettext_lazy("{actor} gave a wrong password signing {object} as {role}."))
action_text("finding.raised", gettext_lazy("Finding raised"),
            gettext_lazy("{actor} raised the finding {object} ({severity})."))
action_text("finding.status_changed", gettext_lazy("Finding status changed"),
            gettext_lazy("{actor} set the finding {object} to {to}."))
action_text("checklist.answered", gettext_lazy("Checklist item answered"),
            gettext_lazy("{actor} answered OWASP item {code} on {object}: {status}."))
action_text("checklist.auto_evidence_filled", gettext_lazy("Checklist evidence filled"),
            gettext_lazy("{actor} filled the evidence of OWASP items {codes} on {object}."))
action_text("test.accepted", gettext_lazy("Test gap accepted"),
            gettext_lazy("{actor} accepted the gap in the test {test} on {object}: {rationale}"))
action_text("policy.changed", gettext_lazy("Approval policy changed"),
            gettext_lazy("{actor} changed {object}."))


def _version_anchor(version, anchor: str) -> ObjectRef:
    ref = version_ref(version)
    return ObjectRef(label=ref.label, url=f"{ref.url}#{anchor}")


@object_refs.provide
def workflow_refs(events) -> dict:
    refs = {}
    for model, anchor in ((ValidatorAssignment, "wf-review"), (SignOff, "wf-signoffs"), (ChecklistItem, "wf-checklist"),
                          (TestAcceptance, "wf-reports")):
        object_type = model._meta.label_lower
        for row in model.objects.filter(pk__in=ids_of(events, object_type)).select_related("version__passport"):
            refs[object_type, str(row.pk)] = _version_anchor(row.version, anchor)
    for finding in Finding.objects.filter(pk__in=ids_of(events, "governance.finding")).select_related(
            "version__passport"):
        refs["governance.finding", str(finding.pk)] = ObjectRef(
            label=f"«{finding.title}»", url=f"{version_ref(finding.version).url}#finding-{finding.pk}")
    for policy in RiskTierPolicy.objects.filter(pk__in=ids_of(events, "governance.risktierpolicy")):
        refs["governance.risktierpolicy", str(policy.pk)] = ObjectRef(
            label=_("the approval policy of tier %(tier)s") % {"tier": policy.tier})
    return refs


@value_labels.provide
def workflow_values() -> dict:
    finding = dict(FindingStatus.choices)
    return {"role": {**dict(Role.choices), **dict(SignoffRole.choices)}, "decision": dict(Decision.choices),
            "severity": dict(FindingSeverity.choices), "status": dict(ChecklistStatus.choices),
            "kind": dict(TestAcceptanceKind.choices), "from": finding, "to": finding,
            "roles": dict(Role.choices), "required_roles": {**dict(Role.choices), **dict(SignoffRole.choices)}}
