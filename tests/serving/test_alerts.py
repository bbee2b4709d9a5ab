"""Alerts, incidents and the serving policy: drift, latency and error windows, problems hosts report and hosts
that fall silent each open (or join) one incident with a timeline, notify, and roll back or stop by policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation

from core.errors import Conflict, DomainError, PermissionDenied
from governance.audit.models import AuditEvent
from serving import alerts, selectors, services
from serving.models import Alert, Host, Incident
from tests.api_helpers import API, assert_error, bearer_client
from tests.serving.test_agent_api import host_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def promoted(serving):
    """v1 deployed, then v2 promoted over it: a rollback has somewhere to go."""
    deployment = services.deployment_create(actor=serving.engineer, passport=serving.passport, version=1,
                                            hosts=[serving.host_a.pk, serving.host_b.pk])
    deployment = services.deployment_challenger_set(actor=serving.engineer, deployment=deployment, version=2,
                                                    strategy="canary", canary_percent=10)
    serving.deployment = services.deployment_promote(actor=serving.engineer, deployment=deployment)
    return serving


def window(w, seq, version=2, **kw):
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=30) + timedelta(minutes=seq)
    return {"deployment": w.deployment.pk, "version": version, "sequence": seq, "started_at": start.isoformat(),
            "ended_at": (start + timedelta(minutes=1)).isoformat(), "requests": 500, "predictions": 500,
            "errors": {}, "latency_p50_ms": 1.0, "latency_p95_ms": 2.0, "latency_p99_ms": 3.0,
            "psi": {"x0": 0.02, "x1": 0.01, "x2": 0.03}, "score_psi": 0.02} | kw


def post_windows(w, *windows, token=None):
    response = host_client(token or w.token_a).post(f"{API}/agent/windows/", {"windows": list(windows)},
                                                    format="json")
    assert response.status_code == 200, response.content
    return response.json()


def served_in_turn(w, first: int, then: int):
    """``first`` deployed to both hosts, ``then`` shadowed beside it and promoted: the deployment serving ``then``."""
    deployment = services.deployment_create(actor=w.engineer, passport=w.passport, version=first,
                                            hosts=[w.host_a.pk, w.host_b.pk])
    deployment = services.deployment_challenger_set(actor=w.engineer, deployment=deployment, version=then,
                                                    strategy="shadow")
    return services.deployment_promote(actor=w.engineer, deployment=deployment)


def served_versions(w):
    return [(r["role"], r["version"]) for r in selectors.desired_state(w.host_a)["deployments"][0]["releases"]]


def test_drift_raises_a_psi_alert_and_the_tier_1_default_rolls_back(promoted, django_capture_on_commit_callbacks):
    w = promoted
    assert served_versions(w) == [("champion", 2)]
    with django_capture_on_commit_callbacks(execute=True):
        post_windows(w, window(w, 1), window(w, 2, psi={"x0": 0.41, "x1": 0.02, "x2": 0.01}))
    [alert] = Alert.objects.all()
    assert (alert.kind, alert.subject, alert.value, alert.threshold) == ("feature_psi", "x0", 0.41, 0.2)
    incident = alert.incident
    assert [e.kind for e in incident.timeline.all()] == ["alert", "notification", "action"]
    assert "v1 answers" in incident.timeline.last().text
    assert served_versions(w) == [("champion", 1)]
    assert AuditEvent.objects.filter(action="alert.raised").count() == 1
    rolled = AuditEvent.objects.get(action="deployment.rolled_back")
    assert rolled.actor_repr == "serving policy" and f"INC-{incident.pk}" in rolled.data["reason"]
    assert any("PSI of 'x0'" in m.body for m in mail.outbox)
    # the same drift again (a late window of v2): one incident, counted, no second rollback
    post_windows(w, window(w, 3, psi={"x0": 0.45}))
    alert.refresh_from_db()
    assert alert.count == 2 and Incident.objects.count() == 1
    assert AuditEvent.objects.filter(action="deployment.rolled_back").count() == 1
    assert served_versions(w) == [("champion", 1)]


def test_what_the_platform_wrote_on_an_incident_reads_in_the_readers_language(promoted, client,
                                                                              django_capture_on_commit_callbacks):
    """Alerts and timeline entries are stored in English (the API, the e-mails, the evidence pack) with their
    message and values kept apart, so the incident page says them in Russian to a Russian reader; a person's own
    note stays as they wrote it."""
    w = promoted
    with django_capture_on_commit_callbacks(execute=True):
        post_windows(w, window(w, 1, psi={"x0": 0.41, "x1": 0.02, "x2": 0.01}))
    alert = Alert.objects.get()
    assert alert.message.endswith("PSI of 'x0' is 0.410, above 0.2.")
    assert alert.said["msgid"] == "%(label)s: PSI of '%(feature)s' is %(value)s, above %(limit)s."
    incident = alert.incident
    alerts.incident_acknowledge(actor=w.engineer, incident=incident, note="<b>Смотрю</b> feed")
    client.force_login(w.engineer)
    client.cookies["django_language"] = "ru"
    page = client.get(f"/serving/incidents/{incident.pk}/").content.decode()
    assert "PSI признака «x0» равен 0.410, выше 0.2." in page
    assert "Откат выполнен: отвечает v1." in page and "Письмо отправлено получателям" in page
    assert "&lt;b&gt;Смотрю&lt;/b&gt; feed" in page  # a person's words: as written, escaped
    assert "PSI of &#x27;x0&#x27;" not in page and "Rolled back" not in page
    client.cookies["django_language"] = "en"
    page = client.get(f"/serving/incidents/{incident.pk}/").content.decode()
    assert "PSI of &#x27;x0&#x27; is 0.410, above 0.2." in page and "Rolled back: v1 answers." in page
    assert incident.timeline.filter(data__said__msgid="Rolled back: v%(n)s answers.").exists()


def test_a_window_delivered_again_raises_nothing_again(promoted):
    w = promoted
    services.deployment_stop  # noqa: B018 (the policy below is notify: nothing moves)
    alerts.policy_set(actor=w.cast.risk, passport=w.passport, on_alert="notify")
    drift = window(w, 1, score_psi=0.5)
    post_windows(w, drift)
    assert post_windows(w, drift) == {"received": 1, "stored": 0, "duplicates": 1}
    assert Alert.objects.get().count == 1
    assert served_versions(w) == [("champion", 2)]
    assert [e.kind for e in Incident.objects.get().timeline.all()] == ["alert", "notification"]


def test_the_stop_policy_stops_serving(promoted):
    w = promoted
    alerts.policy_set(actor=w.engineer, passport=w.passport, on_alert="stop")
    post_windows(w, window(w, 1, errors={"inference_failed": 60}))
    assert Alert.objects.get().kind == "error_rate"
    assert selectors.desired_state(w.host_a)["deployments"] == []
    assert AuditEvent.objects.get(action="deployment.stopped").actor_repr == "serving policy"


def test_a_client_sending_bad_requests_cannot_roll_back_or_stop_the_version(promoted):
    """Under the stop policy, a window where 40% of the requests were refused as invalid (a sender's fault, or an
    upstream change of the data): an alert of its own that only notifies, no error-rate alert, nothing rolled back
    or stopped; the version's own failures among the rest still count, over the requests it was asked to score."""
    w = promoted
    alerts.policy_set(actor=w.engineer, passport=w.passport, on_alert="stop")
    post_windows(w, window(w, 1, errors={"invalid_request": 190, "explain_unavailable": 10}))
    alert = Alert.objects.get()
    assert (alert.kind, alert.value, alert.threshold) == ("input_refused", 0.4, 0.05)
    assert "40.0% of requests were refused as invalid input" in alert.message
    with translation.override("ru"):
        assert "40.0% запросов отклонены как неверные входные данные" in alert.display_message
        assert str(alert.get_kind_display()) == "Запросы отклонены: неверные входные данные"
    assert served_versions(w) == [("champion", 2)]
    assert [e.kind for e in alert.incident.timeline.all()] == ["alert", "notification"]
    # 300 requests scored, 20 of them failed: 6.7%, over 5%, although 20 of 500 requests is 4%
    post_windows(w, window(w, 2, errors={"invalid_request": 200, "inference_failed": 20}))
    error = Alert.objects.get(kind="error_rate")
    assert round(error.value, 4) == round(20 / 300, 4)
    assert selectors.desired_state(w.host_a)["deployments"] == []


def test_a_spent_stop_limit_is_not_an_error_rate(promoted):
    """Once a stop-limit is reached every request is refused (429): the limit doing its work, alerted from the
    heartbeat. It must not read as the version failing, which would roll it back under the default policy."""
    w = promoted
    post_windows(w, window(w, 1, errors={"stop_limit_reached": 480}), window(w, 2, errors={"stop_limit_reached": 500}))
    assert not Alert.objects.exists()
    assert served_versions(w) == [("champion", 2)]
    # fewer scored requests than a window needs say nothing of the version's error rate
    post_windows(w, window(w, 3, errors={"stop_limit_reached": 470, "inference_failed": 10}))
    assert not Alert.objects.exists()


def test_latency_over_the_slo_alerts(promoted):
    w = promoted
    alerts.policy_set(actor=w.cast.risk, passport=w.passport, on_alert="notify")
    post_windows(w, window(w, 1, latency_p95_ms=450.0))
    alert = Alert.objects.get()
    assert alert.kind == "latency" and alert.threshold == 200.0


def test_few_requests_say_nothing_about_drift(promoted):
    w = promoted
    post_windows(w, window(w, 1, requests=10, predictions=10, psi={"x0": 2.0}, score_psi=1.5))
    assert not Alert.objects.exists()
    assert served_versions(w) == [("champion", 2)]


def test_a_drifting_canary_is_withdrawn_not_the_champion(serving):
    w = serving
    deployment = services.deployment_create(actor=w.engineer, passport=w.passport, version=1,
                                            hosts=[w.host_a.pk, w.host_b.pk], strategy="canary", challenger=2,
                                            canary_percent=10)
    w.deployment = deployment
    post_windows(w, window(w, 1, version=2, role="challenger", psi={"x1": 0.9}))
    assert served_versions(w) == [("champion", 1)]
    assert AuditEvent.objects.get(action="deployment.rolled_back").data["withdrawn_challenger"] == 2
    action = Incident.objects.get().timeline.get(kind="action")
    assert action.text == "Challenger v2 withdrawn: v1 answers."
    with translation.override("ru"):
        assert action.display_text == "Претендент v2 снят: отвечает v1."


def test_under_the_stop_policy_a_misbehaving_canary_is_withdrawn_and_the_champion_answers_on(serving):
    w = serving
    w.deployment = services.deployment_create(actor=w.engineer, passport=w.passport, version=1,
                                              hosts=[w.host_a.pk, w.host_b.pk], strategy="canary", challenger=2,
                                              canary_percent=10)
    alerts.policy_set(actor=w.engineer, passport=w.passport, on_alert="stop")
    post_windows(w, window(w, 1, version=2, role="challenger", errors={"inference_failed": 100}))
    assert served_versions(w) == [("champion", 1)]
    assert not AuditEvent.objects.filter(action="deployment.stopped").exists()


def test_a_champion_with_nowhere_to_go_back_loses_its_canary_and_the_timeline_says_both(
        serving, django_capture_on_commit_callbacks):
    """v1 (nothing earlier) with v2 as its canary; v1 fails. The canary is withdrawn, the champion's rollback cannot
    be: the timeline says both, and the people are told the action failed."""
    w = serving
    w.deployment = services.deployment_create(actor=w.engineer, passport=w.passport, version=1,
                                              hosts=[w.host_a.pk, w.host_b.pk], strategy="canary", challenger=2,
                                              canary_percent=10)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        post_windows(w, window(w, 1, version=1, errors={"inference_failed": 100}))
    assert served_versions(w) == [("champion", 1)]
    action = Incident.objects.get().timeline.get(kind="action")
    assert action.text.startswith("Challenger v2 withdrawn; the champion's rollback not applied: There is no "
                                  "earlier approved")
    with translation.override("ru"):
        assert action.display_text.startswith("Претендент v2 снят; откат чемпиона не выполнен: ")
    assert any("Action failed" in m.subject and "Challenger v2 withdrawn" in m.body for m in mail.outbox)


def test_a_late_window_of_a_version_no_longer_served_rolls_back_or_stops_nothing(promoted):
    """v1's windows held by a host through an outage arrive after v2 was promoted: their drift is recorded and
    alerted, but the policy does not act on v2 for what v1 did (under either policy)."""
    w = promoted
    alerts.policy_set(actor=w.engineer, passport=w.passport, on_alert="stop")
    post_windows(w, window(w, 1, version=1, psi={"x0": 0.9}))
    assert Alert.objects.get().version.number == 1
    assert served_versions(w) == [("champion", 2)]
    assert not Incident.objects.get().timeline.filter(kind="action").exists()
    alerts.policy_set(actor=w.engineer, passport=w.passport, on_alert="rollback")
    post_windows(w, window(w, 2, version=1, errors={"inference_failed": 100}))
    assert served_versions(w) == [("champion", 2)]
    # v2's own failure, in the same open incident, is still acted on
    post_windows(w, window(w, 3, version=2, errors={"inference_failed": 100}))
    assert served_versions(w) == [("champion", 1)]


def test_a_misbehaving_champion_beside_a_canary_is_the_one_rolled_back(serving):
    """v2 champion with v3 as its canary: v2 fails. Withdrawing v3 alone (what a rollback with a challenger does)
    would keep the failing v2 answering; the policy withdraws v3 and rolls v2 back to v1."""
    from tests.serving.conftest import approve

    w = serving
    approve(w.v3, w.developer, w.cast, w.owner)
    w.deployment = services.deployment_challenger_set(actor=w.engineer, deployment=served_in_turn(w, 1, 2),
                                                      version=3, strategy="canary", canary_percent=10)
    post_windows(w, window(w, 1, version=2, errors={"inference_failed": 100}))
    assert served_versions(w) == [("champion", 1)]
    assert Incident.objects.get().timeline.get(kind="action").text == "Rolled back: v1 answers."


def test_a_refused_release_reported_by_a_host_alerts_without_rolling_back(promoted):
    w = promoted
    response = host_client(w.token_b).post(f"{API}/agent/heartbeat/", {"problems": [
        {"kind": "digest_mismatch", "message": "model.onnx sha256 differs from the manifest",
         "deployment": w.deployment.pk, "release": 2}]}, format="json")
    assert response.status_code == 200
    alert = Alert.objects.get()
    assert alert.kind == "digest_mismatch" and "gpu-b" in alert.message
    assert served_versions(w) == [("champion", 2)]
    assert Host.objects.get(pk=w.host_b.pk).health() == "degraded"


def test_a_host_whose_log_will_not_be_written_alerts_but_the_version_is_not_blamed(promoted):
    """A host's disk refuses its prediction log: its refusals (``log_unavailable``) fill its windows' errors, and
    its heartbeats report the problem. That is one alert of its own, counted on repeats, and no rollback or stop:
    the error-rate policy leaves the host's own refusals out (another version would not mend a full disk)."""
    w = promoted
    alerts.policy_set(actor=w.engineer, passport=w.passport, on_alert="stop")
    post_windows(w, window(w, 1, errors={"log_unavailable": 480}))
    assert not Alert.objects.exists()
    problem = {"kind": "log_unavailable", "deployment": w.deployment.pk,
               "message": "the prediction log cannot be written (No space left on device): 480 predictions refused"}
    for _ in range(3):
        response = host_client(w.token_b).post(f"{API}/agent/heartbeat/", {"problems": [problem]}, format="json")
        assert response.status_code == 200
    alert = Alert.objects.get()
    assert alert.kind == "log_unavailable" and alert.count == 3 and "gpu-b" in alert.message
    assert served_versions(w) == [("champion", 2)]
    assert Host.objects.get(pk=w.host_b.pk).health() == "degraded"
    with translation.override("ru"):
        assert str(alert.get_kind_display()) == "Журнал предсказаний не записывается"
    post_windows(w, window(w, 2, errors={"log_unavailable": 400, "inference_failed": 60}))  # the version's own errors
    assert Alert.objects.filter(kind="error_rate").exists()
    assert selectors.desired_state(w.host_a)["deployments"] == []


def test_a_host_problem_is_said_in_the_readers_language_from_its_values(promoted, client):
    """A heartbeat's problem carries the values its English sentence is made of: the alert, its timeline and the
    serving overview say it again from them in the reader's language. An older agent's problem (no values) or one
    whose values do not fit its sentence is said as the host wrote it; hostile values stay text."""
    w = promoted
    low = {"kind": "log_disk_low", "message": "120 MB free for the prediction log in /var/lib/mg, under the floor of "
           "256 MB", "args": {"free_mb": 120, "floor_mb": 256, "path": "/var/lib/mg"}}
    refused = {"kind": "digest_mismatch", "deployment": w.deployment.pk, "release": 2,
               "message": "release 2 (v2) refused: artifact sha256 0a1b… is not the approved",
               "args": {"version": 2, "detail": "artifact sha256 0a1b… <script>alert(1)</script> %(host)s"}}
    old = {"kind": "log_unavailable", "deployment": w.deployment.pk, "message": "disk <b>full</b>"}
    unfit = {"kind": "stop_limit_reached", "deployment": w.deployment.pk, "message": "credit: 100 decisions",
             "args": {"model": "credit"}}
    response = host_client(w.token_b).post(f"{API}/agent/heartbeat/", {"problems": [low, refused, old, unfit]},
                                           format="json")
    assert response.status_code == 200, response.content
    by_kind = {a.kind: a for a in Alert.objects.all()}
    assert by_kind["log_disk_low"].message == ("gpu-b: 120 MB free for the prediction log in /var/lib/mg, under the "
                                               "floor of 256 MB.")
    assert by_kind["digest_mismatch"].message.startswith("gpu-b refused release 2 (v2): its artifact is not the ")
    assert "%(host)s" in by_kind["digest_mismatch"].message  # a value is never read as a placeholder
    assert by_kind["log_unavailable"].message == "gpu-b: disk <b>full</b>"
    assert by_kind["stop_limit"].message == "gpu-b: credit: 100 decisions"
    with translation.override("ru"):
        assert by_kind["log_disk_low"].display_message == (
            "gpu-b: для журнала предсказаний в /var/lib/mg свободно 120 МБ, меньше порога в 256 МБ.")
        assert by_kind["digest_mismatch"].display_message.startswith(
            "gpu-b отказался от выпуска 2 (v2): его артефакт не тот, что был одобрен")
        timeline = by_kind["log_disk_low"].incident.timeline.first()
        assert "свободно 120 МБ" in timeline.display_text
    client.force_login(w.admin)
    page = client.get(reverse("serving:overview"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "для журнала предсказаний в /var/lib/mg свободно 120 МБ" in page
    assert "&lt;b&gt;full&lt;/b&gt;" in page and "<b>full</b>" not in page
    assert "<script>alert(1)" not in page
    english = client.get(reverse("serving:overview"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "gpu-b: 120 MB free for the prediction log in /var/lib/mg" in english


def test_a_problem_with_too_many_values_is_refused_whole(promoted):
    w = promoted
    problem = {"kind": "log_disk_low", "message": "low", "args": {f"k{i}": i for i in range(11)}}
    response = host_client(w.token_b).post(f"{API}/agent/heartbeat/", {"problems": [problem]}, format="json")
    assert_error(response, 400, "invalid")
    assert not Alert.objects.exists()
    nested = {"kind": "log_disk_low", "message": "low", "args": {"free_mb": {"a": 1}}}
    response = host_client(w.token_b).post(f"{API}/agent/heartbeat/", {"problems": [nested]}, format="json")
    assert_error(response, 400, "invalid")


def test_a_lost_host_alerts_once_per_silence(promoted):
    w = promoted
    long_ago = timezone.now() - timedelta(minutes=10)
    Host.objects.filter(pk=w.host_a.pk).update(last_heartbeat_at=long_ago)
    Host.objects.filter(pk=w.host_b.pk).update(last_heartbeat_at=timezone.now())
    assert len(alerts.hosts_check_lost()) == 1
    assert alerts.hosts_check_lost() == []  # the same silence
    alert = Alert.objects.get()
    assert alert.kind == "host_lost" and alert.subject == "gpu-a"
    assert served_versions(w) == [("champion", 2)]  # the other replica serves; no policy action
    services.host_heartbeat(host=w.host_a, facts={}, status={})  # back...
    assert alerts.hosts_check_lost() == []
    alerts.hosts_check_lost(now=timezone.now() + timedelta(minutes=5))  # ...and silent again
    alert.refresh_from_db()
    assert alert.count == 2  # a new silence, counted on the open incident


def test_incidents_are_acknowledged_and_resolved_by_the_right_people(promoted, outsider):
    w = promoted
    alerts.policy_set(actor=w.cast.risk, passport=w.passport, on_alert="notify")
    post_windows(w, window(w, 1, score_psi=0.7))
    incident = Incident.objects.get()
    with pytest.raises(PermissionDenied):
        alerts.incident_acknowledge(actor=outsider, incident=incident)
    alerts.incident_acknowledge(actor=w.engineer, incident=incident, note="Looking at the feed")
    with pytest.raises(Conflict):
        alerts.incident_acknowledge(actor=w.engineer, incident=incident)
    with pytest.raises(DomainError):
        alerts.incident_resolve(actor=w.cast.risk, incident=incident, resolution="  ")
    alerts.incident_resolve(actor=w.cast.risk, incident=incident, resolution="Upstream feed fixed; PSI back to 0.02")
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.resolved_by == w.cast.risk
    assert [e.kind for e in incident.timeline.all()] == ["alert", "notification", "acknowledged", "resolved"]
    # after resolution, the next alert opens a new incident
    post_windows(w, window(w, 2, score_psi=0.7))
    assert Incident.objects.count() == 2


def test_incident_and_policy_api(promoted, outsider):
    w = promoted
    post_windows(w, window(w, 1, psi={"x2": 0.5}))
    incident = Incident.objects.get()
    client = bearer_client(w.engineer)
    listed = client.get(f"{API}/serving/incidents/?status=open").json()["results"]
    assert [i["id"] for i in listed] == [incident.pk]
    detail = client.get(f"{API}/serving/incidents/{incident.pk}/").json()
    assert detail["alerts"][0]["subject"] == "x2" and detail["timeline"][-1]["kind"] == "action"
    assert_error(bearer_client(outsider).get(f"{API}/serving/incidents/{incident.pk}/"), 404)
    assert bearer_client(outsider).get(f"{API}/serving/incidents/").json()["results"] == []
    assert_error(client.get(f"{API}/serving/incidents/?status=burning"), 400)
    policy = client.get(f"{API}/serving/policies/{w.passport.key}/").json()
    assert policy == {"passport": w.passport.key, "on_alert": "rollback", "default": True}
    assert_error(client.put(f"{API}/serving/policies/{w.passport.key}/", {"on_alert": "explode"}, format="json"),
                 400)
    assert_error(bearer_client(outsider).put(f"{API}/serving/policies/{w.passport.key}/", {"on_alert": "stop"},
                                             format="json"), 404)
    assert_error(bearer_client(w.cast.validator).put(f"{API}/serving/policies/{w.passport.key}/",
                                                     {"on_alert": "stop"}, format="json"), 403)
    changed = client.put(f"{API}/serving/policies/{w.passport.key}/", {"on_alert": "notify"}, format="json").json()
    assert changed["on_alert"] == "notify" and changed["default"] is False
    assert AuditEvent.objects.get(action="serving.policy_set").data == {"from": "rollback", "to": "notify"}


def test_several_drifting_features_in_one_batch_roll_back_once(serving):
    """v1, v2 and v3 approved and served in turn: a batch with three drifting features of v3 goes back to v2 only."""
    from tests.serving.conftest import approve

    w = serving
    approve(w.v3, w.developer, w.cast, w.owner)
    w.deployment = served_in_turn(w, 2, 3)
    post_windows(w, window(w, 1, version=3, psi={"x0": 0.5, "x1": 0.6, "x2": 0.7}, score_psi=0.9))
    assert served_versions(w) == [("champion", 2)]
    assert AuditEvent.objects.filter(action="deployment.rolled_back").count() == 1
    assert Alert.objects.count() == 4 and Incident.objects.count() == 1


def test_serving_fills_owasp_evidence_and_a_policy_change_refreshes_it(serving):
    from core.signing import key_id
    from governance.workflow.models import ChecklistItem
    from governance.workflow.services import transitions as workflow

    w = serving
    workflow.version_submit(actor=w.developer, version=w.v3)
    items = {i.code: i.auto_evidence for i in ChecklistItem.objects.filter(version=w.v3)}
    assert items["ML08"]["on_alert"] == "rollback" and items["ML08"]["psi_alert_threshold"] == 0.2
    assert items["ML09"]["signing_key_id"] == key_id()
    assert items["ML10"]["digest_verified_at_load"] is True and items["ML10"]["artifact_sha256"] == w.v3.sha256
    assert "per-host token" in items["ML05"]["serving_release_access"]
    alerts.policy_set(actor=w.cast.risk, passport=w.passport, on_alert="stop")
    assert ChecklistItem.objects.get(version=w.v3, code="ML08").auto_evidence["on_alert"] == "stop"
    event = AuditEvent.objects.filter(action="checklist.auto_evidence_filled").order_by("-seq").first()
    assert event.data["codes"] == ["ML08"] and "serving policy" in event.data["reason"]
    # the approved versions' checklists, which their sign-offs are bound to, are left as they were
    assert ChecklistItem.objects.get(version=w.v1, code="ML08").auto_evidence.get("on_alert") == "rollback"


def test_the_dossier_and_the_evidence_pack_carry_deployments_and_incidents(promoted):
    import json
    import zipfile

    from governance.audit.services import audit_verify
    from governance.dossier.records import dossier_records
    from governance.dossier.services import evidence_pack_export

    w = promoted
    post_windows(w, window(w, 1, score_psi=0.8))
    records = dossier_records(w.passport, verification=audit_verify())
    serving = records["serving"]
    assert serving["policy"] == "rollback"
    assert [c["reason"] for c in serving["deployments"][0]["champions"]] == ["created", "promoted", "rolled_back"]
    [incident] = serving["incidents"]
    assert incident["alerts"][0]["kind"] == "score_psi" and incident["alerts"][0]["value"] == 0.8
    assert [e["kind"] for e in incident["timeline"]] == ["alert", "notification", "action"]
    pack = evidence_pack_export(actor=w.cast.risk, passport=w.passport)
    with zipfile.ZipFile(pack.file) as z:
        name = next(n for n in z.namelist() if n.endswith("records.json"))
        packed = json.loads(z.read(name))
    assert packed["serving"]["incidents"][0]["id"] == incident["id"]



def test_a_sentence_the_platform_wrote_is_said_in_the_readers_language_or_as_stored():
    from django.utils.translation import override

    from core.text import said, say

    rule = "There is no earlier approved, unexpired version to roll back to: stop the deployment instead."
    text, record = said("Rollback not applied: %(reason)s", reason=rule, translated=("reason",))
    assert text == f"Rollback not applied: {rule}"
    with override("ru"):
        assert say(record, text).startswith("Откат не выполнен: Нет более ранней утверждённой версии")
        # values that do not fit the message, or no record at all: the stored English, never an error
        assert say({**record, "args": {"other": "x"}}, text) == text
        assert say(None, text) == text
        text, record = said("%(label)s: PSI of the score is %(value)s, above %(limit)s.", label="a <b>",
                            value="0.5", limit="0.2")
        assert say(record, text) == "a <b>: PSI оценки равен 0.5, выше 0.2."  # data is never translated


def test_a_host_reporting_its_disk_nearly_full_gets_a_host_alert(promoted):
    w = promoted
    problem = {"kind": "log_disk_low", "message": "120 MB free for the prediction log in /var/lib/mg-agent, under "
                                                  "the floor of 256 MB"}
    for _ in range(2):
        assert host_client(w.token_a).post(f"{API}/agent/heartbeat/", {"problems": [problem]},
                                           format="json").status_code == 200
    alert = Alert.objects.get()
    assert alert.kind == "log_disk_low" and alert.count == 2 and alert.message.startswith("gpu-a: 120 MB free")
    assert served_versions(w) == [("champion", 2)]
    with translation.override("ru"):
        assert str(alert.get_kind_display()) == "Диск журнала предсказаний почти заполнен"
