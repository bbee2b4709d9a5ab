"""Serving's part of ``make run``: the local agent's tokens, and the demand forecast taken through the review by
the demo accounts and deployed on the local host, every step through the services (and so audited)."""

from __future__ import annotations

import hashlib
import json
import stat
from io import StringIO

import pytest
from django.core.management import call_command

from governance.audit.services import audit_verify
from governance.demo import seed as demo_seed
from serving import demo, services
from serving.models import Deployment, Host
from tests.test_demo_seed import demo_models, seeded  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_prepare_gives_an_enrolment_token_until_the_agent_enrolled(tmp_path, seeded):  # noqa: F811
    first = demo.prepare(tmp_path)
    assert first["enrolment_token"].startswith("mge_")
    clients = json.loads((tmp_path / "clients.json").read_text())
    assert clients["clients"][0]["sha256"] == hashlib.sha256(first["client_token"].encode()).hexdigest()
    assert stat.S_IMODE((tmp_path / "demo-client-token").stat().st_mode) == 0o600
    services.host_enrol(enrolment_token=first["enrolment_token"], name=demo.DEMO_HOST, facts={})
    (tmp_path / "host.json").write_text("{}")  # what the agent writes once enrolled
    again = demo.prepare(tmp_path)
    assert again["enrolment_token"] is None and again["client_token"] == first["client_token"]


def test_deploy_takes_the_demo_model_through_the_review_onto_the_local_host(seeded, tmp_path):  # noqa: F811
    assert demo.deploy() is None  # no agent enrolled yet
    _token, secret = services.enrolment_token_create(actor=demo_seed.ensure_accounts()["admin"], name="local")
    services.host_enrol(enrolment_token=secret, name=demo.DEMO_HOST, facts={})
    out = StringIO()
    call_command("serving_demo", deploy=True, wait=5, state_dir=tmp_path / "agent", stdout=out)
    answer = json.loads(out.getvalue())
    deployment = Deployment.objects.get(pk=answer["deployment"])
    records = json.loads((tmp_path / "agent" / "demo-records.json").read_text())
    names = [f["name"] for f in deployment.version.feature_schema["features"]]
    assert answer["traffic_records"] == len(records) > 0 and set(records[0]) == set(names)
    assert deployment.passport.key == demo.DEMO_PASSPORT and deployment.version.state == "approved"
    assert list(deployment.hosts.all()) == [Host.objects.get(name=demo.DEMO_HOST)]
    assert demo.deploy() == deployment  # idempotent
    assert audit_verify().ok
