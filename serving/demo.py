"""Serving's part of the demo (``make run``): a local host agent, an approved demand forecast deployed on it.

``prepare`` runs before the processes start: an enrolment token for the local agent (only while it is not
enrolled) and a client token for the demo traffic (its sha256 in the agent's clients file; the token itself in a
0600 file beside it, so ``make run`` can print it again). ``deploy`` runs once the agent has enrolled: the demand
forecast's v1 goes through the review as the demo accounts would take it (submitted, validator assigned, an
uploaded report, validated, tests accepted, OWASP checklist answered, each required sign-off with the demo
password), then is deployed on the local host. Every step goes through the rooms' services, so the audit chain
records it like any other review. Both are idempotent.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from registry.choices import VersionState
from registry.models import ModelPassport, ModelVersion
from serving import services
from serving.choices import DeploymentStatus
from serving.models import Deployment, Host

DEMO_HOST = "local-agent"
DEMO_PASSPORT = "demand-forecast"
_SIGNERS = {"validator": "validator", "risk_officer": "risk", "security": "security", "business_owner": "owner"}


def _users() -> dict:
    from governance.demo.seed import ensure_accounts

    return ensure_accounts()


def prepare(state_dir: Path) -> dict:
    """The enrolment token (None once enrolled) and the demo client token; writes the agent's clients file."""
    state_dir.mkdir(parents=True, exist_ok=True)
    token_file, clients_file = state_dir / "demo-client-token", state_dir / "clients.json"
    if not token_file.exists() or not clients_file.exists():
        token = f"mgc_{secrets.token_urlsafe(24)}"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token)
        clients_file.write_text(json.dumps({"clients": [{"name": "demo", "sha256": hashlib.sha256(
            token.encode()).hexdigest()}], "rate_per_second": 2000, "burst": 4000}, indent=2))
    enrolment = None
    if not (state_dir / "host.json").exists():
        host = Host.objects.filter(name=DEMO_HOST).first()
        if host is not None:  # enrolled once with a state folder since deleted: start again under the same name
            host.delete()
        _token, enrolment = services.enrolment_token_create(actor=_users()["admin"], name="make run: local agent",
                                                            ttl_hours=1)
    return {"enrolment_token": enrolment, "client_token": token_file.read_text(), "clients_file": str(clients_file)}


def approve(version: ModelVersion, users: dict) -> ModelVersion:
    """Take ``version`` through the review as the demo accounts would (no-op once approved)."""
    from governance.demo.seed import DEMO_PASSWORD
    from governance.workflow.choices import ChecklistStatus
    from governance.workflow.models import ChecklistItem
    from governance.workflow.services import findings, signoffs
    from governance.workflow.services import transitions as workflow
    from validation import services as validation_services

    if version.state == VersionState.DRAFT:
        workflow.version_submit(actor=users["developer"], version=version)
        version.refresh_from_db()
    if version.state == VersionState.SUBMITTED:
        workflow.validator_assign(actor=users["risk"], version=version, validator=users["validator"])
        version.refresh_from_db()
    if version.state == VersionState.IN_VALIDATION:
        report = SimpleUploadedFile("demand-forecast-validation.md", (
            b"# Demand forecast v1: independent validation\n\nBacktest over 26 weeks, MAPE 11.8% against 14.2% "
            b"for the seasonal naive benchmark; no leakage found; planners keep the override.\n"))
        validation_services.report_issue_uploaded(actor=users["validator"], version=version, upload=report,
                                                  conclusion="Fit for purpose with planner review.", rating="fit")
        workflow.version_mark_validated(actor=users["validator"], version=version)
        version.refresh_from_db()
    if version.state != VersionState.VALIDATED:
        return version
    for gap in signoffs.signoff_status(version).tests_unaccepted:
        signoffs.test_accept(actor=users["risk"], version=version, test=gap["test"],
                             rationale="Uploaded backtest reviewed; residual risk within appetite.")
    for item in ChecklistItem.objects.filter(version=version, status=ChecklistStatus.UNANSWERED):
        findings.checklist_answer(actor=users["security"], item=item, status="mitigated",
                                  evidence="Reviewed for the demo deployment.")
    for role in signoffs.signoff_status(version).missing:
        version.refresh_from_db()
        if version.state != VersionState.VALIDATED:
            break
        signoffs.signoff_record(actor=users[_SIGNERS[role]], version=version, role=role, decision="approve",
                                password=DEMO_PASSWORD, comment="Demo approval.")
    version.refresh_from_db()
    return version


def deploy() -> Deployment | None:
    """The demand forecast's approved v1 on the local host (None while the agent has not enrolled)."""
    host = Host.objects.filter(name=DEMO_HOST, revoked_at__isnull=True).first()
    passport = ModelPassport.objects.filter(key=DEMO_PASSPORT).first()
    if host is None or passport is None:
        return None
    active = Deployment.objects.filter(passport=passport, status=DeploymentStatus.ACTIVE).first()
    if active is not None:
        return active
    users = _users()
    version = approve(passport.versions.get(number=1), users)
    if version.state != VersionState.APPROVED:
        raise RuntimeError(f"the demo version did not reach approval (state {version.state})")
    return services.deployment_create(actor=users["engineer"], passport=passport, version=1, hosts=[host.pk],
                                      environment="production")


def traffic_records(deployment: Deployment, path: Path, rows: int = 1000) -> int:
    """Records for the demo traffic, drawn from the version's own reference data (so the drift windows stay calm);
    written as JSON to ``path``. Returns how many."""
    from serving.releases import reference_frame

    frame, _dataset = reference_frame(deployment.version)
    if frame is None:
        return 0
    names = [f["name"] for f in deployment.version.feature_schema.get("features", [])]
    sample = frame[names].sample(n=min(rows, len(frame)), random_state=1)
    records = json.loads(sample.to_json(orient="records"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records))
    return len(records)
