"""What validation's audit events say, and how runs and reports are named and linked in the audit log."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from governance.audit.describe import ObjectRef, action_text, ids_of, object_refs, value_labels
from validation.choices import Outcome, Rating, RunState
from validation.models import ValidationReport, ValidationRun

action_text("validation_run.queued", gettext_lazy("Validation run started"),
            gettext_lazy("{actor} started {object}."))
action_text("validation_run.started", gettext_lazy("Validation run picked up"),
            gettext_lazy("{actor} picked up {object} (attempt {attempt})."))
action_text("validation_run.succeeded", gettext_lazy("Validation run finished"),
            gettext_lazy("{object} finished: {outcome}."))
action_text("validation_run.failed", gettext_lazy("Validation run failed"),
            gettext_lazy("{object} failed: {reason}"))
action_text("validation_run.cancelled", gettext_lazy("Validation run cancelled"),
            gettext_lazy("{actor} cancelled {object}."))
action_text("validation_run.worker_lost", gettext_lazy("Validation worker lost"),
            gettext_lazy("The worker of {object} stopped answering (attempt {attempt}): {reason}"))
action_text("report.issued", gettext_lazy("Validation report issued"),
            gettext_lazy("{actor} issued {object}, rating the model: {rating}."))


@object_refs.provide
def validation_refs(events) -> dict:
    refs = {}
    for run in ValidationRun.objects.filter(pk__in=ids_of(events, "validation.validationrun")).select_related(
            "version__passport").only("version__number", "version__passport__key"):
        refs["validation.validationrun", str(run.pk)] = ObjectRef(
            label=_("validation run #%(pk)s of version %(n)s of %(key)s")
            % {"pk": run.pk, "n": run.version.number, "key": run.version.passport.key},
            url=reverse("validation:run_detail", args=[run.pk]))
    for report in ValidationReport.objects.filter(pk__in=ids_of(events, "validation.validationreport")).select_related(
            "version__passport").only("version__number", "version__passport__key"):
        refs["validation.validationreport", str(report.pk)] = ObjectRef(
            label=_("the validation report on version %(n)s of %(key)s")
            % {"n": report.version.number, "key": report.version.passport.key},
            url=reverse("validation:report_html", args=[report.pk]))
    return refs


@value_labels.provide
def validation_values() -> dict:
    states = dict(RunState.choices)
    return {"from": states, "to": states, "rating": dict(Rating.choices), "outcome": dict(Outcome.choices)}
