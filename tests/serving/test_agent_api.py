"""The agents' API over HTTP: enrolment with one-time tokens, host tokens (hashed, rotatable, revocable) scoped to
their host, desired state with ETag, release downloads, heartbeats, idempotent monitoring windows, log digests;
and bad input answered in the one error shape, changing nothing."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from core.signing import public_key_pem
from serving import services
from serving.agent import manifest as mf
from serving.agent.verify import release_verify
from serving.models import EnrolmentToken, Host, MonitoringWindow, PredictionLogDigest
from tests.api_helpers import API, assert_error, bearer_client

pytestmark = pytest.mark.django_db


def host_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def deployed(serving):
    deployment = services.deployment_create(actor=serving.engineer, passport=serving.passport, version=1,
                                            hosts=[serving.host_a.pk, serving.host_b.pk])
    serving.deployment = deployment
    return serving


def window(served, seq, **kw):
    deployment, sequence = served, seq
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=10) + timedelta(minutes=sequence)
    return {"deployment": deployment.pk, "version": deployment.version.number, "sequence": sequence,
            "started_at": start.isoformat(), "ended_at": (start + timedelta(seconds=60)).isoformat(),
            "requests": 120, "predictions": 120, "errors": {"invalid_request": 3}, "latency_p50_ms": 1.2,
            "latency_p95_ms": 3.4, "latency_p99_ms": 7.9, "psi": {"x0": 0.01, "x1": 0.3}, "score_psi": 0.05} | kw


def test_enrolment_is_one_time_and_returns_the_host_token_once(serving):
    _token, secret = services.enrolment_token_create(actor=serving.admin, name="rack 7")
    stored = EnrolmentToken.objects.get(prefix=secret.split("_")[1])
    assert secret not in str(vars(stored)) and stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    client = APIClient()
    body = {"token": secret, "name": "gpu-7", "gpu_model": "L4", "gpu_memory_mb": 24576,
            "provider": "CUDAExecutionProvider", "agent_version": "1.0", "labels": {"zone": "eu-1"}}
    response = client.post(f"{API}/agent/enrol/", body, format="json")
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["public_key_pem"] == public_key_pem() and answer["host_token"].startswith("mgh_")
    host = Host.objects.get(name="gpu-7")
    assert host.gpu_model == "L4" and host.labels == {"zone": "eu-1"} and answer["host_token"] not in str(vars(host))
    assert host.health() == "pending"
    again = client.post(f"{API}/agent/enrol/", {**body, "name": "gpu-8"}, format="json")
    assert_error(again, 409, "enrolment_token_used")
    assert_error(client.post(f"{API}/agent/enrol/", {**body, "token": "mge_nope_nope"}, format="json"), 400,
                 "invalid_enrolment_token")
    assert not Host.objects.filter(name="gpu-8").exists()


def test_an_agent_whose_enrolment_answer_was_lost_asks_again_with_its_request_id(serving):
    from governance.audit.models import AuditEvent

    token, secret = services.enrolment_token_create(actor=serving.admin, name="rack 9")
    client, url = APIClient(), f"{API}/agent/enrol/"
    body = {"token": secret, "name": "gpu-9", "request_id": "a" * 32}
    first = client.post(url, body, format="json")
    assert first.status_code == 201, first.content
    lost = first.json()["host_token"]  # the answer that never reached the agent
    token.refresh_from_db()
    assert token.request_hash == hashlib.sha256(b"a" * 32).hexdigest()  # the id itself is not stored

    # Another agent, another request or another name with the same token: still refused, nothing changed.
    for other in ({**body, "request_id": "b" * 32}, {k: v for k, v in body.items() if k != "request_id"},
                  {**body, "name": "gpu-10"}):
        assert_error(client.post(url, other, format="json"), 409, "enrolment_token_used")
    assert host_client(lost).get(f"{API}/agent/state/").status_code == 200

    again = client.post(url, body, format="json")
    assert again.status_code == 201, again.content
    fresh = again.json()["host_token"]
    assert fresh != lost and again.json()["host"] == first.json()["host"] and Host.objects.count() == 3
    assert host_client(lost).get(f"{API}/agent/state/").status_code == 401  # the lost token stops working
    assert host_client(fresh).get(f"{API}/agent/state/").status_code == 200
    assert AuditEvent.objects.filter(action="host.enrolment_repeated", object_id=str(first.json()["host"])).count() == 1

    # Once the host has been heard from, its token reached it: the same request is refused from then on.
    assert host_client(fresh).post(f"{API}/agent/heartbeat/", {}, format="json").status_code == 200
    assert_error(client.post(url, body, format="json"), 409, "enrolment_token_used")
    assert host_client(fresh).get(f"{API}/agent/state/").status_code == 200

    # Nor past the window, even never heard from.
    late, late_secret = services.enrolment_token_create(actor=serving.admin, name="rack 10")
    late_body = {"token": late_secret, "name": "gpu-11", "request_id": "c" * 32}
    assert client.post(url, late_body, format="json").status_code == 201
    EnrolmentToken.objects.filter(pk=late.pk).update(
        used_at=timezone.now() - services.ENROL_REPEAT_WINDOW - timedelta(seconds=1))
    assert_error(client.post(url, late_body, format="json"), 409, "enrolment_token_used")
    # A request id too short to be a secret is bad input.
    assert_error(client.post(url, {**late_body, "request_id": "short"}, format="json"), 400, "invalid")


def test_an_expired_enrolment_token_is_refused(serving):
    token, secret = services.enrolment_token_create(actor=serving.admin, name="late")
    EnrolmentToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(services.Conflict) as caught:
        services.host_enrol(enrolment_token=secret, name="late-host", facts={})
    assert caught.value.code == "enrolment_token_expired"


def test_only_administrators_create_enrolment_tokens(serving):
    for user in (serving.engineer, serving.developer, serving.cast.risk):
        response = bearer_client(user).post(f"{API}/serving/enrolment-tokens/", {"name": "x"}, format="json")
        assert_error(response, 403)
    response = bearer_client(serving.admin).post(f"{API}/serving/enrolment-tokens/", {"name": "x", "ttl_hours": 2},
                                                 format="json")
    assert response.status_code == 201 and response.json()["token"].startswith("mge_")
    listed = bearer_client(serving.admin).get(f"{API}/serving/enrolment-tokens/").json()["results"]
    assert all("token" not in row for row in listed)


def test_a_host_sees_only_its_own_state_and_releases(deployed, admin_user):
    from tests.serving.conftest import enrol

    state = host_client(deployed.token_a).get(f"{API}/agent/state/")
    assert state.status_code == 200
    [entry] = state.json()["deployments"]
    release = entry["releases"][0]
    other, other_token = enrol(admin_user, "gpu-other")
    other_client = host_client(other_token)
    assert other_client.get(f"{API}/agent/state/").json()["deployments"] == []
    assert_error(other_client.get(API + release["signature_url"][len(API):]), 404)
    for file in release["files"]:
        assert_error(other_client.get(API + file["url"][len(API):]), 404)
    # a person's API token is no host token, and a host token opens no person's endpoint
    assert_error(bearer_client(deployed.admin).get(f"{API}/agent/state/"), 401)
    assert_error(host_client(deployed.token_a).get(f"{API}/passports/"), 401)


def test_a_host_downloads_and_verifies_its_release(deployed, tmp_path):
    client = host_client(deployed.token_a)
    state = client.get(f"{API}/agent/state/")
    release = state.json()["deployments"][0]["releases"][0]
    folder = tmp_path / "release"
    folder.mkdir()
    for file in release["files"]:
        response = client.get(file["url"])
        data = b"".join(response.streaming_content)
        assert hashlib.sha256(data).hexdigest() == file["sha256"]
        (folder / file["name"]).write_bytes(data)
    signature = tmp_path / "release.sig"
    signature.write_bytes(b"".join(client.get(release["signature_url"]).streaming_content))
    release_verify(folder, signature, state.json()["public_key_pem"])
    assert mf.manifest_decode((folder / mf.MANIFEST_FILE).read_bytes()).artifact_sha256 == release["artifact_sha256"]
    assert_error(client.get(f"{API}/agent/releases/{release['release']}/files/secrets.txt"), 404)
    # unchanged state: 304 on the etag
    etag = state["ETag"]
    assert client.get(f"{API}/agent/state/", HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_a_window_delivered_twice_is_stored_once(deployed):
    client = host_client(deployed.token_a)
    batch = [window(deployed.deployment, 1), window(deployed.deployment, 2)]
    first = client.post(f"{API}/agent/windows/", {"windows": batch}, format="json")
    assert first.json() == {"received": 2, "stored": 2, "duplicates": 0}
    again = client.post(f"{API}/agent/windows/", {"windows": [*batch, window(deployed.deployment, 3)]},
                        format="json")
    assert again.json() == {"received": 3, "stored": 1, "duplicates": 2}
    assert MonitoringWindow.objects.count() == 3
    row = MonitoringWindow.objects.get(sequence=1)
    assert row.max_feature_psi == 0.3 and row.error_count == 3 and row.passport_id == deployed.passport.pk
    # the same sequence from the other host is that host's window
    other = host_client(deployed.token_b).post(f"{API}/agent/windows/", {"windows": batch}, format="json")
    assert other.json()["stored"] == 2


@pytest.mark.parametrize("bad", [
    {"sequence": -1}, {"requests": "many"}, {"started_at": "yesterday"}, {"psi": {"x0": "high"}},
    {"ended_at": "2020-01-01T00:00:00+00:00"}, {"deployment": 999_999}, {"version": 99},
    {"latency_p95_ms": "NaN-literal"}, {"requests": 2**40},
    {"requests": 0, "predictions": 0, "errors": {"invalid_request": 5}},  # more refusals than requests
    {"requests": 10, "predictions": 0, "errors": {"invalid_request": 6, "inference_failed": 5}},
])
def test_bad_windows_are_refused_and_store_nothing(deployed, bad):
    client = host_client(deployed.token_a)
    body = {"windows": [window(deployed.deployment, 1), window(deployed.deployment, 2, **bad)]}
    raw = json.dumps(body).replace('"NaN-literal"', "NaN")
    response = client.post(f"{API}/agent/windows/", raw, content_type="application/json")
    assert_error(response, 400)
    assert MonitoringWindow.objects.count() == 0


def test_log_digests_are_stored_once_and_cannot_be_rewritten(deployed):
    client = host_client(deployed.token_a)
    now = timezone.now()
    digest = {"deployment": deployed.deployment.pk, "name": "predictions-000001.jsonl.gz", "sha256": "a" * 64,
              "records": 1200, "first_at": (now - timedelta(minutes=5)).isoformat(), "last_at": now.isoformat()}
    assert client.post(f"{API}/agent/log-digests/", {"digests": [digest]}, format="json").json() == {
        "stored": 1, "duplicates": 0}
    assert client.post(f"{API}/agent/log-digests/", {"digests": [digest]}, format="json").json() == {
        "stored": 0, "duplicates": 1}
    rewritten = client.post(f"{API}/agent/log-digests/", {"digests": [{**digest, "sha256": "b" * 64}]},
                            format="json")
    assert assert_error(rewritten, 409, "digest_changed")["details"]["index"] == 0
    # The file changed on the host after its report: an alert in the deployment's incident, once however often
    # the host sends it again, in English and Russian.
    from serving.models import Alert

    alert = Alert.objects.get(kind="log_altered")
    assert alert.deployment == deployed.deployment and alert.subject == f"gpu-a/{digest['name']}"
    assert "bbbbbbbbbbbbbbbb" in alert.message and "aaaaaaaaaaaaaaaa" in alert.message
    assert client.post(f"{API}/agent/log-digests/", {"digests": [digest, {**digest, "sha256": "b" * 64}]},
                       format="json").json()["error"]["details"]["index"] == 1
    assert Alert.objects.filter(kind="log_altered").count() == 1 and Alert.objects.get(pk=alert.pk).count == 2
    from django.utils import translation

    from core.text import say

    with translation.override("ru"):
        assert "файл изменился после отчёта" in say(alert.said, alert.message)
    assert_error(client.post(f"{API}/agent/log-digests/", {"digests": [{**digest, "name": "../../etc/passwd"}]},
                             format="json"), 400)
    assert PredictionLogDigest.objects.get().sha256 == "a" * 64
    host_client(deployed.token_b).post(f"{API}/agent/log-digests/", {"digests": [
        {**digest, "name": "b-000001.plog.zst", "sha256": "c" * 64, "first_at": (now - timedelta(hours=1)).isoformat()}
    ]}, format="json")

    # What the hosts reported, as people with sight of the deployment read it (and check a host's log against it).
    url = f"{API}/serving/deployments/{deployed.deployment.pk}/log-digests/"
    page = bearer_client(deployed.engineer, ["serving:read"]).get(url).json()
    assert [(d["host"], d["name"], d["sha256"]) for d in page["results"]] == [
        ("gpu-b", "b-000001.plog.zst", "c" * 64), ("gpu-a", digest["name"], "a" * 64)]  # oldest first
    assert page["results"][1] | {"received_at": None} == {
        "deployment": deployed.deployment.pk, "host": "gpu-a", "name": digest["name"], "sha256": "a" * 64,
        "records": 1200, "first_at": page["results"][1]["first_at"], "last_at": page["results"][1]["last_at"],
        "received_at": None}
    only_a = bearer_client(deployed.engineer, ["serving:read"]).get(url, {"host": "gpu-a"}).json()["results"]
    assert [d["host"] for d in only_a] == ["gpu-a"]
    assert_error(bearer_client(deployed.engineer, ["registry:read"]).get(url), 403)


def test_heartbeat_records_facts_and_problems(deployed):
    client = host_client(deployed.token_a)
    response = client.post(f"{API}/agent/heartbeat/", {
        "provider": "CPUExecutionProvider", "agent_version": "1.1",
        "serving": [{"deployment": deployed.deployment.pk, "version": 1, "role": "champion", "state": "serving"}],
        "problems": []}, format="json")
    assert response.status_code == 200 and response.json()["etag"]
    host = Host.objects.get(pk=deployed.host_a.pk)
    assert host.health() == "healthy" and host.agent_version == "1.1"
    client.post(f"{API}/agent/heartbeat/", {"problems": [{"kind": "digest_mismatch", "message": "model.onnx"}]},
                format="json")
    host.refresh_from_db()
    assert host.health() == "degraded"
    Host.objects.filter(pk=host.pk).update(last_heartbeat_at=timezone.now() - timedelta(hours=1))
    host.refresh_from_db()
    assert host.health() == "lost"


def test_a_rotated_token_replaces_the_old_one_and_a_revoked_host_is_shut_out(deployed):
    old = host_client(deployed.token_a)
    new_token = old.post(f"{API}/agent/token/rotate/").json()["host_token"]
    assert_error(old.get(f"{API}/agent/state/"), 401)
    new = host_client(new_token)
    assert new.get(f"{API}/agent/state/").status_code == 200
    services.host_revoke(actor=deployed.admin, host=deployed.host_a, reason="Stolen disk")
    assert_error(new.get(f"{API}/agent/state/"), 401)


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer mgh_x", "Basic abc", "Bearer mgt_abc_def"])
def test_malformed_host_credentials_are_401(deployed, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(client.get(f"{API}/agent/state/"), 401)


def test_the_hourly_sums_match_the_windows_and_a_repeat_adds_nothing(deployed):
    from serving.models import MonitoringHour
    from serving.selectors import monitoring_series

    client = host_client(deployed.token_a)
    batch = [window(deployed.deployment, i, requests=100 + i, errors={"inference_failed": i % 2},
                    psi={"x0": 0.01 * i}) for i in range(1, 9)]
    client.post(f"{API}/agent/windows/", {"windows": batch}, format="json")
    client.post(f"{API}/agent/windows/", {"windows": batch[2:5]}, format="json")  # a retry
    hours = MonitoringHour.objects.filter(host=deployed.host_a)
    assert sum(h.windows for h in hours) == 8
    assert sum(h.requests for h in hours) == sum(100 + i for i in range(1, 9))
    assert sum(h.error_count for h in hours) == 4
    assert max(h.psi["x0"] for h in hours) == pytest.approx(0.08)
    by_minute = monitoring_series(deployment=deployed.deployment, days=1)
    by_hour = monitoring_series(deployment=deployed.deployment, days=30)
    assert by_minute["summary"] == by_hour["summary"]
    assert by_hour["bucket"] == "hour" and by_minute["bucket"] == "minute"


def test_the_monitoring_lines_break_where_no_windows_came_and_nowhere_else(deployed):
    """An agent down for four minutes leaves no windows: the charts end their lines there rather than drawing a
    slope across minutes nobody measured. Windows that follow one another draw one unbroken line."""
    from serving.selectors import monitoring_series
    from serving.views import monitoring_charts

    client = host_client(deployed.token_a)
    delivered = [1, 2, 3, 8, 9]  # minutes 4 to 7 had no windows
    response = client.post(f"{API}/agent/windows/", {"windows": [window(deployed.deployment, i) for i in delivered]},
                           format="json")
    assert response.status_code == 200, response.content
    series = monitoring_series(deployment=deployed.deployment, days=1)
    assert len(series["x"]) == 5 and len(series["gaps"]) == 1
    assert series["x"][2] < series["gaps"][0] < series["x"][3]
    charts = monitoring_charts(series)
    for name in ("traffic", "latency", "psi", "features"):
        for trace in charts[name]["data"]:
            assert [v is None for v in trace["y"]] == [False, False, False, True, False, False], (name, trace)
            assert trace["x"][3] == series["gaps"][0]
    assert charts["traffic"]["data"][0]["y"] == [120, 120, 120, None, 120, 120]

    whole = [window(deployed.deployment, i) for i in (4, 5, 6, 7)]
    assert client.post(f"{API}/agent/windows/", {"windows": whole}, format="json").status_code == 200
    series = monitoring_series(deployment=deployed.deployment, days=1)
    assert len(series["x"]) == 9 and series["gaps"] == []
    assert all(None not in trace["y"] for trace in monitoring_charts(series)["traffic"]["data"])
    assert monitoring_series(deployment=deployed.deployment, days=30)["gaps"] == []


def test_a_lone_window_between_gaps_is_drawn_as_a_dot():
    from serving.views import _broken

    x = ["2026-12-03T10:00:00+00:00", "2026-12-03T10:10:00+00:00", "2026-12-03T10:11:00+00:00"]
    gaps = ["2026-12-03T10:01:00+00:00"]
    drawn = _broken(x, [0.1, 0.2, 0.3], gaps)
    assert drawn["y"] == [0.1, None, 0.2, 0.3] and drawn["x"][1] == gaps[0]
    assert drawn["mode"] == "lines+markers" and drawn["marker"]["size"] == [6, 0, 0, 0]
    assert "marker" not in _broken(x, [0.1, 0.2, 0.3], [])  # one line, no dots
    assert "marker" not in _broken(x, [None, 0.2, 0.3], gaps)  # a missing value is no dot


def test_psi_of_a_window_with_too_few_requests_is_left_out_as_the_alerts_leave_it(deployed):
    """A window of ten requests (an agent just started) reports a PSI of 0.9: noise. The alerts ignore windows
    under the release's ``min_window_requests``; the charts, the summary and the hourly sums must too, or the page
    would show drift that raised no alert. Its requests and errors still count."""
    from serving.models import Alert, MonitoringHour, Release
    from serving.selectors import monitoring_series

    client = host_client(deployed.token_a)
    small = window(deployed.deployment, 1, requests=10, predictions=10, psi={"x0": 0.9, "x1": 0.9}, score_psi=0.9)
    steady = [window(deployed.deployment, i, psi={"x0": 0.05, "x1": 0.02}, score_psi=0.03) for i in (2, 3)]
    assert client.post(f"{API}/agent/windows/", {"windows": [small, *steady]}, format="json").status_code == 200
    assert not Alert.objects.filter(deployment=deployed.deployment).exists()
    for days in (1, 30):  # by minute, from the windows; by hour, from the hourly sums
        series = monitoring_series(deployment=deployed.deployment, days=days)
        assert series["summary"]["psi"] == pytest.approx(0.05) and series["summary"]["score_psi"] == pytest.approx(0.03)
        assert max(max(points.values()) for points in series["per_feature"].values()) == pytest.approx(0.05)
        assert series["summary"]["requests"] == 250 and series["summary"]["errors"] == 9
        assert series["drift_minimum"] == 50
    hours = MonitoringHour.objects.filter(host=deployed.host_a)  # two when the windows straddle the hour
    assert max(h.max_feature_psi for h in hours if h.max_feature_psi is not None) == pytest.approx(0.05)

    # A release that trusts windows of five requests counts the small window's PSI, and alerts on it.
    release = Release.objects.get(version=deployed.deployment.version)
    release.manifest["thresholds"]["min_window_requests"] = 5
    release.save(update_fields=["manifest"])
    again = window(deployed.deployment, 4, requests=10, predictions=10, psi={"x0": 0.9}, score_psi=0.9)
    assert client.post(f"{API}/agent/windows/", {"windows": [again]}, format="json").status_code == 200
    assert Alert.objects.filter(deployment=deployed.deployment).exists()
    series = monitoring_series(deployment=deployed.deployment, days=1)
    assert series["summary"]["psi"] == pytest.approx(0.9) and series["drift_minimum"] == 5


def test_the_alerts_and_the_charts_read_every_version_thresholds_in_one_query(deployed, django_assert_num_queries):
    """A delivery of windows of several versions reads their releases' thresholds once, not once a window; a
    version without a release (never signed) gets the defaults."""
    from serving.selectors import DRIFT_MINIMUM, drift_minimums, release_thresholds

    version = deployed.deployment.version
    unsigned = version.passport.versions.exclude(pk=version.pk).values_list("pk", flat=True).first() or 10**9
    with django_assert_num_queries(1):
        found = release_thresholds([version.pk, unsigned, version.pk])
    assert set(found) == {version.pk, unsigned} and found[unsigned] == {}
    assert found[version.pk]["min_window_requests"] == DRIFT_MINIMUM
    with django_assert_num_queries(1):
        assert drift_minimums({unsigned}) == {unsigned: DRIFT_MINIMUM}


def test_the_pages_error_rate_is_the_versions_own_as_the_alert_reads_it(deployed, client):
    """500 requests: 100 refused as invalid, 20 stop-limited, 19 failed in the model. The page's error rate is 19 of
    the 380 the version was asked to score (5.0%), not 139 of 500 (27.8%), and it says what it left out; by minute
    and by hour alike."""
    from serving.selectors import monitoring_series

    batch = [window(deployed.deployment, 1, requests=500, predictions=361,
                    errors={"invalid_request": 100, "stop_limit_reached": 20, "inference_failed": 19})]
    assert host_client(deployed.token_a).post(f"{API}/agent/windows/", {"windows": batch},
                                              format="json").status_code == 200
    for days in (1, 30):
        summary = monitoring_series(deployment=deployed.deployment, days=days)["summary"]
        assert (summary["errors"], summary["refused"], summary["version_errors"]) == (139, 120, 19)
        assert summary["error_rate"] == pytest.approx(19 / 380)
    client.force_login(deployed.admin)
    page = client.get(reverse("serving:deployment_detail", args=[deployed.deployment.pk])).content.decode()
    kpi = page[page.index('id="kpi-errors"'):]
    assert kpi.startswith('id="kpi-errors">5.00 %') and "19 errors" in kpi[:400]
    assert "120 refused, not counted" in kpi[:600]
