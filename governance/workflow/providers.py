"""What the workflow answers for the rooms below it (their hooks and signals); connected at start-up
(``governance.apps.GovernanceConfig.ready``)."""

from __future__ import annotations

from django.dispatch import receiver
from django.urls import reverse
from django.utils.translation import gettext as _

from governance.workflow import guards, panel
from governance.workflow.models import Finding, VersionReview
from governance.workflow.services.checklist_evidence import checklist_fill_from_run
from governance.workflow.services.signoffs import condition_finding, signoffs_void
from governance.workflow.services.transitions import policy_for_tier
from registry import hooks as registry_hooks
from validation import hooks as validation_hooks
from validation import signals as validation_signals


@validation_hooks.review_policy.provide
def review_policy(version) -> dict:
    """The policy snapshot taken when ``version`` was submitted, else its tier's current policy."""
    review = VersionReview.objects.filter(version=version).first()
    return review.policy if review else policy_for_tier(version.passport.risk_tier).snapshot()


@validation_hooks.version_findings.provide
def version_findings(version) -> list:
    return list(Finding.objects.filter(version=version).select_related("owner", "raised_by")
                .order_by("status", "severity", "due_date", "pk"))


@validation_hooks.test_findings.provide
def test_findings(run) -> dict:
    found: dict[str, list] = {}
    for finding in Finding.objects.filter(run=run).exclude(test="").order_by("pk"):
        found.setdefault(finding.test, []).append(finding)
    return found


@validation_hooks.finding_raise_url.provide
def finding_raise_url(user, run) -> str | None:
    version = run.version
    if not guards.raise_finding(user, version):
        return None
    page = reverse("registry:version_detail", kwargs={"key": version.passport.key, "number": version.number})
    return f"{page}?finding_run={run.pk}&finding_test="


@registry_hooks.version_page.provide
def workflow_panel(request, version, *, workflow_forms=None, workflow_error=None, **_state) -> dict:
    return {"wf": panel.build(request, version, forms=workflow_forms, error=workflow_error)}


@receiver(validation_signals.report_issued, dispatch_uid="workflow.signoffs_void_on_report")
def void_signoffs_on_report(sender, report, actor, **kwargs) -> None:
    """Sign-offs bound to the report in force before this one stop counting; their signers are told why. The
    conditions of a report rated fit with conditions become dated findings, in the same transaction."""
    signoffs_void(actor=actor, version=report.version,
                  reason=_("a new validation report was issued by %(who)s on %(when)s")
                  % {"who": actor.get_username(), "when": report.issued_at.strftime("%Y-%m-%d %H:%M UTC")})
    for cond in report.conditions or []:
        condition_finding(actor, report.version, cond, report=report)


@receiver(validation_signals.run_succeeded, dispatch_uid="workflow.checklist_fill_from_run")
def fill_checklist_evidence(sender, run, **kwargs) -> None:
    """ML01 / ML04 auto evidence from a run that just succeeded, in the transaction that stores its results."""
    checklist_fill_from_run(run=run)
