"""The command-line client, run as a real process against a live server: a release from a dataset and an ONNX
file through submission, the wait for the decision (the people's steps done meanwhile) and deployment; and every
exit code: approved, rejected, timed out, refused, unreachable, not authenticated, not found, bad usage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from governance.accounts.services import token_create
from governance.workflow.services import transitions as workflow
from registry.models import ModelVersion
from serving.models import Deployment
from tests.api_helpers import ALL_SCOPES
from tests.factories import linear_onnx
from tests.governance.workflow_helpers import Cast, accept_all_tests, approve_validated, issue_report
from tests.serving.conftest import enrol, reference_csv

MG = str(Path(sys.executable).with_name("mg"))
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def run(live_server, token, *args, url=None, timeout=120):
    env = {"PATH": "/usr/bin:/bin", "MG_URL": url or live_server.url, **({"MG_TOKEN": token} if token else {})}
    return subprocess.run([MG, *args], capture_output=True, text=True, env=env, timeout=timeout)


def data(result) -> dict:
    return json.loads(result.stdout)


def decide(version, cast, owner, *, approve=True):
    """The people's part once a version is submitted: assignment, report, validation, checklist, sign-offs."""
    workflow.validator_assign(actor=cast.risk, version=version, validator=cast.validator)
    if not approve:
        return workflow.version_reject(actor=cast.risk, version=version, reason="Unstable on the holdout.")
    issue_report(version, cast.validator)
    workflow.version_mark_validated(actor=cast.validator, version=version)
    version.refresh_from_db()
    accept_all_tests(version, cast.risk)
    return approve_validated(version, cast, owner)


def test_a_release_from_files_to_serving_and_every_exit_code(live_server, passport, developer, owner, admin_user,
                                                             tmp_path):
    _token, secret = token_create(user=developer, name="ci", scopes=ALL_SCOPES)
    key = passport.key
    csv = tmp_path / "reference.csv"
    csv.write_text(reference_csv())
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(linear_onnx(seed=1))

    dataset = run(live_server, secret, "--json", "dataset", key, str(csv), "--kind", "reference")
    assert dataset.returncode == 0, dataset.stderr
    dataset_id = data(dataset)["id"]
    registered = run(live_server, secret, "--progress", "register", key, str(onnx), "--dataset", str(dataset_id),
                     "--feature", "x0", "--feature", "x1", "--feature", "x2", "--describe", "First release")
    assert registered.returncode == 0, registered.stderr
    assert f"{key} v1 registered (draft)" in registered.stdout and "100%" in registered.stderr
    version = ModelVersion.objects.get(passport=passport, number=1)
    assert version.training_dataset_id == dataset_id and version.change_description == "First release"

    assert run(live_server, secret, "submit", key, "1").returncode == 0
    waited = run(live_server, secret, "--json", "wait", key, "1", "--timeout", "0.5", "--interval", "0.1")
    assert waited.returncode == 4 and data(waited) == {"passport": key, "version": 1, "state": "submitted",
                                                       "timed_out": True}

    cast = Cast()
    decide(version, cast, owner)
    waited = run(live_server, secret, "--json", "wait", key, "1", "--timeout", "30", "--interval", "0.2")
    assert waited.returncode == 0 and data(waited)["state"] == "approved"

    enrol(admin_user, "gpu-a")
    enrol(admin_user, "gpu-b")
    deployed = run(live_server, secret, "--json", "deploy", key, "1", "--host", "gpu-a", "--host", "gpu-b")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert sorted(data(deployed)["hosts"]) == ["gpu-a", "gpu-b"]
    status = data(run(live_server, secret, "--json", "status", key))
    assert status["versions"] == [{"number": 1, "state": "approved", "sha256": version.sha256,
                                   "approval_expires_at": status["versions"][0]["approval_expires_at"]}]
    assert status["deployments"][0]["version"] == 1 and Deployment.objects.count() == 1

    # refused by a business rule: the message and its code, and nothing changes
    again = run(live_server, secret, "--json", "deploy", key, "1", "--host", "gpu-a", "--host", "gpu-b")
    assert again.returncode == 5 and data(again)["error"]["code"] == "deployment_exists"
    assert Deployment.objects.count() == 1
    refused = run(live_server, secret, "submit", key, "1")
    assert refused.returncode == 5 and refused.stderr.startswith("mg: ")

    # rejected
    onnx.write_bytes(linear_onnx(seed=2))
    assert run(live_server, secret, "register", key, str(onnx)).returncode == 0
    assert run(live_server, secret, "submit", key, "2").returncode == 0
    decide(ModelVersion.objects.get(passport=passport, number=2), cast, owner, approve=False)
    rejected = run(live_server, secret, "wait", key, "2", "--interval", "0.1")
    assert rejected.returncode == 3 and "rejected" in rejected.stdout

    # not found, not authenticated, unreachable, bad usage
    assert run(live_server, secret, "status", "no-such-passport").returncode == 8
    assert run(live_server, secret, "deploy", key, "1", "--host", "gpu-z").returncode == 8
    assert run(live_server, "mgt_wrong", "status", key).returncode == 7
    missing = run(live_server, None, "status", key)
    assert missing.returncode == 7 and "MG_TOKEN" in missing.stderr
    assert run(live_server, secret, "status", key, url="http://127.0.0.1:9").returncode == 6
    assert run(live_server, secret, "register", key, str(tmp_path / "absent.onnx")).returncode == 2
    assert run(live_server, secret, "wait", key).returncode == 2  # argparse: the version is missing
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    not_onnx = run(live_server, secret, "--json", "register", key, str(bad))
    assert not_onnx.returncode == 5 and data(not_onnx)["error"]["code"]
