"""The access matrix of the serving API (hosts, enrolment tokens, deployments) and of the agents' API.

People's rows run in order against one world: reads, then the writes of a deployment's life. Each denied user
gets their status in the one error shape and changes nothing; anonymous callers get 401. Agents' rows are called
with host tokens: anonymous and a person's API token get 401, another host gets its status.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from governance.audit.models import AuditEvent
from serving import alerts, services
from serving.models import MonitoringWindow
from tests.api_helpers import API, Endpoint, assert_error, bearer_client, call, check_endpoint
from tests.serving.conftest import enrol

pytestmark = pytest.mark.django_db
OUT = (("outsider", 404),)

ENDPOINTS = [
    Endpoint("GET", "/serving/hosts/", "eng", 200, (("outsider", 200),)),  # merely empty
    Endpoint("GET", "/serving/hosts/{w.host}/", "auditor", 200, OUT),
    Endpoint("PATCH", "/serving/hosts/{w.host}/", "admin", 200, (*OUT, ("eng", 403), ("risk", 403)),
             body=lambda w: {"cost_per_hour": "2.75", "currency": "EUR"}),
    Endpoint("POST", "/serving/hosts/{w.spare}/revoke/", "admin", 200, (*OUT, ("eng", 403)),
             body=lambda w: {"reason": "Decommissioned"}),
    Endpoint("GET", "/serving/enrolment-tokens/", "admin", 200, (("eng", 200), ("outsider", 200))),
    Endpoint("POST", "/serving/enrolment-tokens/", "admin", 201, (("eng", 403), ("outsider", 403)),
             body=lambda w: {"name": "rack 9"}),
    Endpoint("GET", "/serving/incidents/", "eng", 200, (("outsider", 200),)),
    Endpoint("GET", "/serving/incidents/{w.incident}/", "auditor", 200, OUT),
    Endpoint("POST", "/serving/incidents/{w.incident}/acknowledge/", "eng", 200, (*OUT, ("auditor", 403)),
             body=lambda w: {"note": "On it"}),
    Endpoint("POST", "/serving/incidents/{w.incident}/resolve/", "risk", 200, (*OUT, ("auditor", 403)),
             body=lambda w: {"resolution": "Host replaced"}),
    Endpoint("GET", "/serving/policies/{w.key}/", "auditor", 200, OUT),
    Endpoint("PUT", "/serving/policies/{w.key}/", "risk", 200, (*OUT, ("auditor", 403), ("val", 403)),
             body=lambda w: {"on_alert": "notify"}),
    Endpoint("GET", "/serving/deployments/", "eng", 200, (("outsider", 200),)),
    Endpoint("GET", "/serving/deployments/{w.deployment}/", "auditor", 200, OUT),
    Endpoint("GET", "/serving/deployments/{w.deployment}/log-digests/", "auditor", 200, OUT),
    Endpoint("GET", "/serving/deployments/{w.deployment}/kserve/", "eng", 200,
             (*OUT, ("auditor", 403), ("risk", 403), ("val", 403))),
    Endpoint("POST", "/serving/deployments/", "eng", 201, (*OUT, ("auditor", 403), ("risk", 403)),
             body=lambda w: {"passport": w.key, "version": 1, "hosts": [w.host], "environment": "staging"}),
    Endpoint("POST", "/serving/deployments/{w.deployment}/challenger/", "eng", 200,
             (*OUT, ("auditor", 403), ("risk", 403)),
             body=lambda w: {"version": 2, "strategy": "canary", "canary_percent": 10}),
    Endpoint("POST", "/serving/deployments/{w.deployment}/promote/", "developer", 200,
             (*OUT, ("auditor", 403), ("risk", 403))),
    Endpoint("POST", "/serving/deployments/{w.deployment}/rollback/", "risk", 200, (*OUT, ("auditor", 403)),
             body=lambda w: {"reason": "Score PSI 0.31 above 0.2"}),
    Endpoint("POST", "/serving/deployments/{w.deployment}/stop/", "eng", 200, (*OUT, ("auditor", 403)),
             body=lambda w: {"reason": "Product closed"}),
]

AGENT_ENDPOINTS = [
    Endpoint("GET", "/agent/state/", "host", 200, (("other", 200),)),  # its own, empty state
    Endpoint("GET", "/agent/releases/{w.release}/files/model.onnx", "host", 200, (("other", 404),)),
    Endpoint("GET", "/agent/releases/{w.release}/signature", "host", 200, (("other", 404),)),
    Endpoint("POST", "/agent/heartbeat/", "host", 200, body=lambda w: {"agent_version": "1.0"}),
    Endpoint("POST", "/agent/windows/", "host", 200, (("other", 400),), body=lambda w: {"windows": [w.window]}),
    Endpoint("POST", "/agent/log-digests/", "host", 200, (("other", 400),), body=lambda w: {"digests": [w.digest]}),
    Endpoint("POST", "/agent/token/rotate/", "host", 200),
]
ENROL = Endpoint("POST", "/agent/enrol/", "anyone", 201)
# The KServe bundle: the link is the credential (a cluster's storage initializer sends none); tested in
# tests/serving/test_kserve.py (forged 404, expired 410, revoked version 409).
BUNDLE = Endpoint("GET", "/serving/kserve-bundles/{w.token}/{w.name}", "anyone", 200)


def _users(w) -> dict:
    from tests.factories import UserFactory

    return {"developer": w.developer, "owner": w.owner, "outsider": UserFactory(username="outsider"),
            "auditor": UserFactory(username="auditor", roles=["auditor"]), "risk": w.cast.risk, "eng": w.engineer,
            "admin": w.admin, "val": w.cast.validator}


def test_the_serving_api_keeps_its_doors(serving):
    deployment = services.deployment_create(actor=serving.engineer, passport=serving.passport, version=1,
                                            hosts=[serving.host_a.pk, serving.host_b.pk])
    spare, _token = enrol(serving.admin, "spare")
    alert = alerts.raise_alert(kind="host_lost", deployment=deployment, subject="gpu-a", message="gpu-a is silent")
    world = SimpleNamespace(key=serving.passport.key, host=serving.host_a.pk, spare=spare.pk,
                            deployment=deployment.pk, incident=alert.incident_id)
    users = _users(serving)
    failures = {}
    for endpoint in ENDPOINTS:
        try:
            check_endpoint(endpoint, world, users)
        except AssertionError as exc:
            failures[str(endpoint)] = str(exc)[:300]
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())


def _host(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_the_agents_api_keeps_its_doors(serving):
    deployment = services.deployment_create(actor=serving.engineer, passport=serving.passport, version=1,
                                            hosts=[serving.host_a.pk, serving.host_b.pk])
    _other, other_token = enrol(serving.admin, "other")
    start = timezone.now() - timedelta(minutes=2)
    world = SimpleNamespace(
        release=deployment.version.release.pk,
        window={"deployment": deployment.pk, "version": 1, "sequence": 1, "started_at": start.isoformat(),
                "ended_at": (start + timedelta(minutes=1)).isoformat(), "requests": 10},
        digest={"deployment": deployment.pk, "name": "p-1.jsonl.gz", "sha256": "c" * 64, "records": 10,
                "first_at": start.isoformat(), "last_at": (start + timedelta(minutes=1)).isoformat()})
    clients = {"host": _host(serving.token_a), "other": _host(other_token)}
    person = bearer_client(serving.admin)
    failures = {}
    for endpoint in AGENT_ENDPOINTS:
        try:
            events, windows = AuditEvent.objects.count(), MonitoringWindow.objects.count()
            assert_error(call(APIClient(), endpoint, world), 401, "not_authenticated")
            assert_error(call(person, endpoint, world), 401)
            for name, status in endpoint.denied:
                response = call(clients[name], endpoint, world)
                if status >= 400:
                    assert_error(response, status)
                else:
                    assert response.status_code == status
            assert (AuditEvent.objects.count(), MonitoringWindow.objects.count()) == (events, windows)
            response = call(clients[endpoint.allowed], endpoint, world)
            assert response.status_code == endpoint.status, (response.status_code, getattr(response, "data", None))
        except AssertionError as exc:
            failures[str(endpoint)] = str(exc)[:300]
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_enrolment_needs_a_token_and_nothing_else(serving):
    _token, secret = services.enrolment_token_create(actor=serving.admin, name="for the matrix")
    assert_error(call(APIClient(), ENROL, SimpleNamespace()), 400)
    response = APIClient().post(API + ENROL.url, {"token": secret, "name": "matrix-host"}, format="json")
    assert response.status_code == ENROL.status


def test_the_bundle_link_is_the_only_credential(serving):
    from serving import kserve
    from serving.releases import release_build

    deployment = services.deployment_create(actor=serving.engineer, passport=serving.passport, version=1,
                                            hosts=[serving.host_a.pk, serving.host_b.pk])
    release = release_build(deployment.version)
    world = SimpleNamespace(token=kserve.bundle_token(release), name="model.tar.gz")
    assert call(APIClient(), BUNDLE, world).status_code == 200
    assert call(bearer_client(serving.admin), BUNDLE, world).status_code == 200  # a person's token adds nothing
    other = SimpleNamespace(token=kserve.bundle_token(release) + "x", name="model.tar.gz")
    assert_error(call(bearer_client(serving.admin), BUNDLE, other), 404, "not_found")
