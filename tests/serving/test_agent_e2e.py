"""The host agent against a live control plane: enrolment, desired state, verified downloads, a rollback under
load with no failed request, monitoring windows delivered exactly once through an outage, refused releases
reported as alerts."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import urlsplit

import pytest
from django.utils import translation

from serving import services
from serving.models import Alert, Host, MonitoringWindow, PredictionLogDigest
from serving.releases import release_build, release_paths
from tests.agent.conftest import AgentProcess, call, clients_file, free_port  # noqa: F401
from tests.agent.proxy import Proxy

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def wait_for(check, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def start_agent(tmp_path, clients_file, serving):  # noqa: F811
    started: list[AgentProcess] = []

    def start(control_plane: str, name: str = "gpu-e2e", *extra) -> AgentProcess:
        _token, secret = services.enrolment_token_create(actor=serving.admin, name=f"for {name}")
        state = tmp_path / f"agent-{name}"
        port = free_port()
        agent = AgentProcess(port=port, state=state, args=[
            "--control-plane", control_plane, "--enrolment-token", secret, "--name", name, "--state-dir", str(state),
            "--clients-file", str(clients_file), "--port", str(port), "--poll-seconds", "0.3",
            "--window-seconds", "5", "--log-level", "WARNING", *extra])
        started.append(agent)
        return agent.start()

    yield start
    for agent in started:
        agent.stop()


def features(version) -> dict:
    return {f["name"]: 0.25 for f in version.feature_schema["features"]}


def served_version(agent, key: str) -> int | None:
    status, headers, _payload = call(f"{agent.url}/v1/models/{key}/predict", {"features": {"x0": 0.1, "x1": 0.2,
                                                                                           "x2": 0.3}})
    return int(headers["x-model-version"]) if status == 200 else None


def test_agent_serves_its_desired_state_and_rolls_back_under_load(serving, live_server, start_agent):
    agent = start_agent(live_server.url)
    host = wait_for(lambda: Host.objects.filter(name="gpu-e2e", last_heartbeat_at__isnull=False).first(),
                    what="the first heartbeat")
    assert host.provider == "CPUExecutionProvider" and host.agent_version
    status, _h, ready = call(f"{agent.url}/v2/health/ready")
    assert status == 503 and json.loads(ready) == {"ready": False, "reasons": ["no model is served yet"]}
    key = serving.passport.key
    deployment = services.deployment_create(actor=serving.engineer, passport=serving.passport, version=2,
                                            hosts=[host.pk, serving.host_a.pk])
    assert wait_for(lambda: served_version(agent, key) == 2, what="v2 served")
    assert json.loads(call(f"{agent.url}/v2/health/ready")[2]) == {"ready": True}

    answers: list[int] = []
    by_thread: dict[int, list[int]] = {}
    failures: list[tuple] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            status, headers, payload = call(f"{agent.url}/v1/models/{key}/predict",
                                            {"features": {"x0": 0.1, "x1": 0.2, "x2": 0.3}})
            if status == 200:
                answers.append(int(headers["x-model-version"]))
                by_thread.setdefault(threading.get_ident(), []).append(answers[-1])
            else:
                failures.append((status, payload))

    threads = [threading.Thread(target=load, daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    services.deployment_rollback(actor=serving.engineer, deployment=deployment, reason="drift on x1")
    wait_for(lambda: answers and answers[-1] == 1, what="v1 answering after the rollback")
    took = time.monotonic() - started
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert not failures, failures[:3]
    # Each client's requests are sequential: once one was answered by v1, none of its later ones is answered by
    # v2 (one switch, never back and forth). Across clients a request in flight on v2 may finish after another
    # client's first v1 answer: in-flight requests finish on the old session.
    for sequence in by_thread.values():
        switch = sequence.index(1) if 1 in sequence else len(sequence)
        assert set(sequence[:switch]) <= {2} and set(sequence[switch:]) <= {1}, sequence
    assert 1 in answers and 2 in answers
    assert took < 10, took

    wait_for(lambda: MonitoringWindow.objects.filter(host=host).exists(), timeout=30, what="a window delivered")
    agent.stop()  # the last windows and the log's digest go out on the way down
    windows = MonitoringWindow.objects.filter(host=host, deployment=deployment)
    assert sum(w.predictions for w in windows) >= len(answers)  # the waits' own calls come on top
    assert {w.version.number for w in windows} == {1, 2}
    assert PredictionLogDigest.objects.filter(host=host, deployment=deployment).exists()
    _an_auditor_checks_the_hosts_log_against_the_control_planes_digests(serving, live_server, agent, deployment)


def _an_auditor_checks_the_hosts_log_against_the_control_planes_digests(serving, live_server, agent, deployment):
    """On the host, ``serving.agent.logs verify`` fetches the digests over the API with a read-only token: the log
    checks out; a bit changed in one file afterwards fails the check and names the file."""
    import subprocess
    import sys

    from governance.accounts.services import token_create
    from serving.agent.predlog import ZST_SUFFIX

    _token, secret = token_create(user=serving.engineer, name="log check", scopes=["serving:read"])
    token_file = agent.state.parent / "api-token"
    token_file.write_text(secret)
    command = [sys.executable, "-m", "serving.agent.logs", "--state-dir", str(agent.state), "verify",
               "--control-plane", live_server.url, "--token-file", str(token_file), "--deployment", str(deployment.pk),
               "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    findings = json.loads(done.stdout)["findings"]
    assert findings and {f["status"] for f in findings} == {"ok"}
    assert len(findings) == PredictionLogDigest.objects.filter(deployment=deployment).count()
    sealed = next(p for p in (agent.state / "log" / str(deployment.pk)).iterdir() if p.name.endswith(ZST_SUFFIX))
    data = bytearray(sealed.read_bytes())
    data[-20] ^= 0x40
    sealed.write_bytes(bytes(data))
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert [f["name"] for f in json.loads(done.stdout)["findings"] if f["status"] == "altered"] == [sealed.name]


def test_an_agent_whose_enrolment_answer_is_lost_asks_again_and_serves(serving, live_server, start_agent):
    from governance.audit.models import AuditEvent

    proxy = Proxy(urlsplit(live_server.url).port, swallow=1).start()  # enrolled, but the answer never arrives
    try:
        agent = start_agent(proxy.url, "gpu-lost-answer")
        host = wait_for(lambda: Host.objects.filter(name="gpu-lost-answer", last_heartbeat_at__isnull=False).first())
        assert proxy.swallowed == 1
        assert AuditEvent.objects.filter(action="host.enrolment_repeated", object_id=str(host.pk)).count() == 1
        assert (agent.state / "host.json").exists() and not (agent.state / "enrol-request").exists()
        assert "enrolment refused" not in agent.log()
    finally:
        proxy.stop()


def test_windows_wait_out_a_control_plane_outage_and_arrive_exactly_once(serving, live_server, start_agent):
    proxy = Proxy(urlsplit(live_server.url).port).start()
    try:
        agent = start_agent(proxy.url, "gpu-outage")
        host = wait_for(lambda: Host.objects.filter(name="gpu-outage", last_heartbeat_at__isnull=False).first())
        deployment = services.deployment_create(actor=serving.engineer, passport=serving.passport, version=1,
                                                hosts=[host.pk, serving.host_a.pk])
        key = serving.passport.key
        wait_for(lambda: served_version(agent, key) == 1, what="v1 served")
        proxy.stop()
        sent = 0
        deadline = time.monotonic() + 12  # two windows and more with the control plane gone
        while time.monotonic() < deadline:
            assert served_version(agent, key) == 1  # serving goes on
            sent += 1
            time.sleep(0.02)
        outbox = agent.state / "outbox" / "windows"
        assert len(list(outbox.glob("*.json"))) >= 2
        proxy = Proxy(proxy.target_port, port=proxy.port).start()
        wait_for(lambda: not list(outbox.glob("*.json")), timeout=30, what="the outbox to drain")
        agent.stop()
        windows = list(MonitoringWindow.objects.filter(host=host, deployment=deployment).order_by("sequence"))
        sequences = [w.sequence for w in windows]
        assert len(sequences) == len(set(sequences))
        assert sum(w.predictions for w in windows) == sent + 1  # +1: the call that saw v1 first
    finally:
        proxy.stop()


def test_a_tampered_release_is_refused_and_raises_an_alert(serving, live_server, start_agent):
    release = release_build(serving.v1)
    folder, _signature = release_paths(release)
    data = bytearray((folder / "model.onnx").read_bytes())
    data[-5] ^= 0x01
    (folder / "model.onnx").write_bytes(bytes(data))
    agent = start_agent(live_server.url, "gpu-tamper")
    host = wait_for(lambda: Host.objects.filter(name="gpu-tamper", last_heartbeat_at__isnull=False).first())
    services.deployment_create(actor=serving.engineer, passport=serving.passport, version=1,
                               hosts=[host.pk, serving.host_a.pk])
    alert = wait_for(lambda: Alert.objects.filter(kind="digest_mismatch").first(), what="the alert")
    assert alert.message.startswith(f"gpu-tamper refused release {release.pk} (v1): its signature does not verify")
    with translation.override("ru"):
        assert "его подпись не проходит проверку" in alert.display_message
    status, _h, payload = call(f"{agent.url}/v1/models/{serving.passport.key}/predict",
                               {"features": {"x0": 0.1, "x1": 0.2, "x2": 0.3}})
    assert status == 503 and json.loads(payload)["error"]["code"] == "not_served"
    status, _h, ready = call(f"{agent.url}/v2/health/ready")
    nothing, refused = json.loads(ready)["reasons"]
    assert status == 503 and nothing == "no model is served yet"
    assert refused.startswith(f"model '{serving.passport.key}' is not served: ") and "signature" in refused
    assert not (agent.state / "log").exists()  # nothing was ever answered


def test_canary_splits_traffic_and_shadow_answers_with_the_champion_alone(serving, live_server, start_agent):
    from serving.agent.predlog import read_segments

    agent = start_agent(live_server.url, "gpu-canary")
    host = wait_for(lambda: Host.objects.filter(name="gpu-canary", last_heartbeat_at__isnull=False).first())
    deployment = services.deployment_create(actor=serving.engineer, passport=serving.passport, version=1,
                                            hosts=[host.pk, serving.host_a.pk], strategy="canary", challenger=2,
                                            canary_percent=50)
    key = serving.passport.key
    wait_for(lambda: call(f"{agent.url}/v2/models/{key}")[0] == 200 and len(json.loads(
        call(f"{agent.url}/v2/models/{key}")[2])["versions"]) == 2, what="champion and challenger loaded")
    versions = [served_version(agent, key) for _ in range(300)]
    assert set(versions) == {1, 2} and 90 <= versions.count(2) <= 210  # 50 % +- 7 sigma: never flaky, never 0

    services.deployment_challenger_set(actor=serving.engineer, deployment=deployment, version=2, strategy="shadow")
    wait_for(lambda: json.loads(call(f"{agent.url}/v2/models/{key}")[2])["parameters"]["strategy"] == "shadow",
             what="the shadow strategy")
    status, headers, _payload = call(f"{agent.url}/v1/models/{key}/predict",
                                     {"records": [{"x0": 0.1, "x1": 0.2, "x2": 0.3}] * 4},
                                     headers={"X-Request-Id": "shadowed-1"})
    assert status == 200 and headers["x-model-version"] == "1"
    assert {served_version(agent, key) for _ in range(50)} == {1}  # the challenger never answers
    agent.stop()
    entries = [e for e in read_segments(agent.state / "log" / str(deployment.pk)) if e["id"] == "shadowed-1"]
    assert sorted((e["v"], e.get("shadow", False)) for e in entries) == [(1, False), (2, True)]
    windows = MonitoringWindow.objects.filter(host=host, deployment=deployment, role="challenger",
                                              shadow_disagreement__isnull=False)
    assert windows.exists()


def versions(agent, key: str) -> list | None:
    """The versions the agent serves, asked of the model's metadata: no prediction, nothing in the windows."""
    status, _h, payload = call(f"{agent.url}/v2/models/{key}")
    return json.loads(payload)["versions"] if status == 200 else None


def test_drifting_inputs_raise_a_psi_alert_and_the_policy_rolls_back(serving, live_server, start_agent):
    import numpy as np

    from serving.models import Deployment, Incident

    agent = start_agent(live_server.url, "gpu-drift")
    host = wait_for(lambda: Host.objects.filter(name="gpu-drift", last_heartbeat_at__isnull=False).first())
    deployment = services.deployment_create(actor=serving.engineer, passport=serving.passport, version=2,
                                            hosts=[host.pk, serving.host_a.pk])  # tier 1: the policy rolls back
    key = serving.passport.key
    wait_for(lambda: served_version(agent, key) == 2, what="v2 served")
    rng = np.random.default_rng(5)
    for _chunk in range(80):  # inputs three standard deviations away from the reference data
        rows = rng.normal(loc=3.0, size=(5, 3))
        status, _h, _p = call(f"{agent.url}/v1/models/{key}/predict",
                              {"records": [{"x0": a, "x1": b, "x2": c} for a, b, c in rows.tolist()]})
        assert status == 200
    alert = wait_for(lambda: Alert.objects.filter(kind__in=["feature_psi", "score_psi"]).first(), timeout=60,
                     what="a drift alert")
    assert alert.value > 0.2 and alert.version.number == 2
    wait_for(lambda: served_version(agent, key) == 1, timeout=30, what="v1 answering after the policy's rollback")
    deployment.refresh_from_db()
    assert deployment.version.number == 1
    incident = Incident.objects.get(alerts=alert)
    assert incident.timeline.filter(kind="action", text__contains="Rolled back").exists()
    assert Deployment.objects.filter(pk=deployment.pk, status="active").exists()


def test_a_client_sending_bad_requests_does_not_roll_the_version_back(serving, live_server, start_agent):
    """Tier 1 rolls back on an error-rate alert. A client whose requests a real agent refuses (a missing feature,
    NaN, an unknown feature) fills the windows with refusals: an ``input_refused`` alert that only notifies, and
    v2 goes on answering."""
    agent = start_agent(live_server.url, "gpu-bad-client")
    host = wait_for(lambda: Host.objects.filter(name="gpu-bad-client", last_heartbeat_at__isnull=False).first())
    deployment = services.deployment_create(actor=serving.engineer, passport=serving.passport, version=2,
                                            hosts=[host.pk, serving.host_a.pk])
    key = serving.passport.key
    wait_for(lambda: versions(agent, key) == ["2"], what="v2 served")
    bad = [{"x0": 0.1, "x1": 0.2}, {"x0": 0.1, "x1": 0.2, "x2": "NaN"}, {"x0": 0.1, "x1": 0.2, "x2": 0.3, "x9": 1}]
    for i in range(150):  # (split over two windows, one still holds the 50 a rate needs; only refusals:
        # answered inputs all alike would read as drift, rightly)
        status, _h, _p = call(f"{agent.url}/v1/models/{key}/predict", {"features": bad[i % 3]})
        assert status in (400, 422)
    alert = wait_for(lambda: Alert.objects.filter(kind="input_refused").first(), timeout=60,
                     what="the refused-input alert")
    assert alert.version.number == 2 and alert.value >= 0.4
    time.sleep(1.0)  # the policy acts within the request that stored the window: nothing came of it
    assert not Alert.objects.filter(kind="error_rate").exists()
    deployment.refresh_from_db()
    assert deployment.version.number == 2 and deployment.status == "active"
    assert list(Alert.objects.values_list("kind", flat=True)) == ["input_refused"]
    assert versions(agent, key) == ["2"] and served_version(agent, key) == 2
    assert not alert.incident.timeline.filter(kind="action").exists()


def test_hosts_share_the_stop_limit_and_a_spent_share_is_refused_and_reported(serving, live_server, start_agent):
    """A passport allowed 5 decisions a day, deployed to two hosts: they are not allowed 5 each. The real agent,
    second of the two, may make 2 (the other host 3); the third decision is refused with a 429 that says so, its
    metrics show its share, and its heartbeat raises a stop-limit alert that names the share, in both languages."""
    serving.passport.stop_limits = {"max_decisions_per_day": 5}
    serving.passport.save(update_fields=["stop_limits"])
    agent = start_agent(live_server.url, "gpu-share")
    host = wait_for(lambda: Host.objects.filter(name="gpu-share", last_heartbeat_at__isnull=False).first())
    assert host.pk > serving.host_a.pk
    services.deployment_create(actor=serving.engineer, passport=serving.passport, version=1,
                               hosts=[host.pk, serving.host_a.pk])
    key = serving.passport.key
    wait_for(lambda: versions(agent, key) == ["1"], what="v1 served")
    answers = [call(f"{agent.url}/v1/models/{key}/predict", {"features": {"x0": 0.1 * i, "x1": 0.2, "x2": 0.3}})
               for i in range(4)]
    assert [status for status, _h, _p in answers] == [200, 200, 429, 429]
    refusal = json.loads(answers[2][2])["error"]
    assert refusal["code"] == "stop_limit_reached"
    assert "this host's share of its stop-limit today (UTC): 2 of 5 decisions, split over 2 hosts" in refusal["message"]
    metrics = call(f"{agent.url}/metrics")[2].decode()
    assert f'mg_agent_stop_limit_allowed{{model="{key}"}} 2' in metrics
    assert f'mg_agent_stop_limit_decisions_today{{model="{key}"}} 2' in metrics
    alert = wait_for(lambda: Alert.objects.filter(kind="stop_limit").first(), what="the stop-limit alert")
    assert alert.message.startswith(f"gpu-share: {key} reached this host's share of its stop-limit on ")
    assert "2 of 5 decisions split over 2 hosts" in alert.message
    with translation.override("ru"):
        assert "исчерпала долю этого хоста в стоп-лимите" in alert.display_message


def test_a_revoked_version_stops_serving_within_a_poll(serving, live_server, start_agent):
    from governance.workflow.services import transitions as workflow

    agent = start_agent(live_server.url, "gpu-revoke")
    host = wait_for(lambda: Host.objects.filter(name="gpu-revoke", last_heartbeat_at__isnull=False).first())
    services.deployment_create(actor=serving.engineer, passport=serving.passport, version=1,
                               hosts=[host.pk, serving.host_a.pk])
    key = serving.passport.key
    wait_for(lambda: served_version(agent, key) == 1, what="v1 served")
    workflow.version_revoke(actor=serving.cast.risk, version=serving.v1, reason="Incident INC-9: leakage found")
    began = time.monotonic()
    wait_for(lambda: served_version(agent, key) is None, timeout=10, what="v1 withdrawn")
    assert time.monotonic() - began < 3  # the agent polls every 0.3 s here; the default is 2 s
    status, _h, payload = call(f"{agent.url}/v1/models/{key}/predict", {"features": {"x0": 0.1, "x1": 0.2,
                                                                                      "x2": 0.3}})
    assert status == 503 and "version_revoked" in json.loads(payload)["error"]["message"]
