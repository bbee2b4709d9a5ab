"""What serving's audit events say, and how deployments, hosts, incidents and alerts are named and linked."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from governance.audit.describe import ObjectRef, action_text, ids_of, object_refs, system_actor, value_labels
from serving.choices import AlertKind, Environment, PolicyAction, Strategy
from serving.models import Alert, Deployment, EnrolmentToken, Host, Incident, ServingPolicy

system_actor("host", gettext_lazy("Host %(name)s"))
system_actor("serving monitor", gettext_lazy("The serving monitor"))
system_actor("serving policy", gettext_lazy("The serving policy"))
system_actor("serving usage", gettext_lazy("Serving usage booking"))

action_text("deployment.created", gettext_lazy("Deployed"),
            gettext_lazy("{actor} deployed version {version} of {passport} as {object} ({strategy})."))
action_text("deployment.challenger_set", gettext_lazy("Challenger set"),
            gettext_lazy("{actor} set version {challenger} as the challenger on {object} ({strategy})."))
action_text("deployment.promoted", gettext_lazy("Challenger promoted"),
            gettext_lazy("{actor} promoted version {version} to champion on {object}."))
action_text("deployment.rolled_back", gettext_lazy("Rolled back"),
            gettext_lazy("{actor} rolled {object} back to version {version}: {reason}"))
action_text("deployment.stopped", gettext_lazy("Deployment stopped"),
            gettext_lazy("{actor} stopped {object}: {reason}"))
action_text("host.enrolment_token_created", gettext_lazy("Host enrolment token created"),
            gettext_lazy("{actor} created the enrolment token {object}."))
action_text("host.enrolled", gettext_lazy("Host enrolled"),
            gettext_lazy("{object} enrolled as a serving host."))
action_text("host.enrolment_repeated", gettext_lazy("Host enrolment repeated"),
            gettext_lazy("{object} asked again with its enrolment request, its first answer lost, and got a new "
                         "token."))
action_text("host.token_rotated", gettext_lazy("Host token rotated"),
            gettext_lazy("{object} rotated its token."))
action_text("host.updated", gettext_lazy("Host changed"),
            gettext_lazy("{actor} changed the serving host {object}."))
action_text("host.revoked", gettext_lazy("Host revoked"),
            gettext_lazy("{actor} revoked the serving host {object}: {reason}"))
action_text("serving.policy_set", gettext_lazy("Monitoring policy set"),
            gettext_lazy("{actor} set what an alert on {passport} does: {to}."))
action_text("alert.raised", gettext_lazy("Alert raised"),
            gettext_lazy("{actor} raised an alert ({kind}) in {object}: {message}"))
action_text("incident.acknowledged", gettext_lazy("Incident acknowledged"),
            gettext_lazy("{actor} acknowledged {object}."))
action_text("incident.resolved", gettext_lazy("Incident resolved"),
            gettext_lazy("{actor} resolved {object}: {resolution}"))


@object_refs.provide
def serving_refs(events) -> dict:
    refs = {}
    for deployment in Deployment.objects.filter(pk__in=ids_of(events, "serving.deployment")).select_related(
            "passport"):
        refs["serving.deployment", str(deployment.pk)] = ObjectRef(
            label=_("deployment #%(pk)s (%(environment)s)") % {"pk": deployment.pk,
                                                             "environment": deployment.get_environment_display()},
            url=reverse("serving:deployment_detail", args=[deployment.pk]))
    overview = reverse("serving:overview")
    for host in Host.objects.filter(pk__in=ids_of(events, "serving.host")):
        refs["serving.host", str(host.pk)] = ObjectRef(label=_("host %(name)s") % {"name": host.name}, url=overview)
    for token in EnrolmentToken.objects.filter(pk__in=ids_of(events, "serving.enrolmenttoken")):
        refs["serving.enrolmenttoken", str(token.pk)] = ObjectRef(label=str(token), url=overview)
    incidents = set(ids_of(events, "serving.incident"))
    alerts = list(Alert.objects.filter(pk__in=ids_of(events, "serving.alert")).only("incident_id"))
    by_id = {i.pk: i for i in Incident.objects.filter(pk__in=incidents | {a.incident_id for a in alerts})
             .select_related("passport", "host")}
    for pk in incidents:
        if incident := by_id.get(pk):
            refs["serving.incident", str(pk)] = ObjectRef(
                label=f"INC-{pk}: {incident.headline()}", url=reverse("serving:incident_detail", args=[pk]))
    for alert in alerts:
        if incident := by_id.get(alert.incident_id):
            refs["serving.alert", str(alert.pk)] = ObjectRef(
                label=f"INC-{incident.pk}", url=reverse("serving:incident_detail", args=[incident.pk]))
    for policy in ServingPolicy.objects.filter(pk__in=ids_of(events, "serving.servingpolicy")).select_related(
            "passport"):
        refs["serving.servingpolicy", str(policy.pk)] = ObjectRef(
            label=_("the monitoring policy of %(key)s") % {"key": policy.passport.key},
            url=reverse("serving:passport_monitoring", args=[policy.passport.key]))
    return refs


@value_labels.provide
def serving_values() -> dict:
    actions = dict(PolicyAction.choices)
    return {"strategy": dict(Strategy.choices), "environment": dict(Environment.choices),
            "kind": dict(AlertKind.choices), "from": actions, "to": actions}
