"""Deployments: only approved, unexpired, unrevoked versions; tier-1 production on two hosts; canary, shadow,
promote, roll back and stop, each with its audit event; the signed release behind each."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import Conflict, DomainError, PermissionDenied
from core.signing import public_key_pem
from governance.audit.models import AuditEvent
from governance.workflow.services import transitions as workflow
from registry.models import ModelVersion
from serving import selectors, services
from serving.agent import manifest as mf
from serving.agent.verify import ReleaseRejected, release_verify
from serving.models import Deployment, DeploymentRevision, Release
from serving.releases import release_build, release_paths

pytestmark = pytest.mark.django_db


def deploy(w, version=None, hosts=None, **kw):
    return services.deployment_create(actor=kw.pop("actor", w.engineer), passport=w.passport,
                                      version=(version or w.v1).number,
                                      hosts=hosts if hosts is not None else [w.host_a.pk, w.host_b.pk], **kw)


def refused(exc_type, code, func, *args, **kwargs):
    before = (Deployment.objects.count(), AuditEvent.objects.count(), Release.objects.count())
    with pytest.raises(exc_type) as caught:
        func(*args, **kwargs)
    assert caught.value.code == code, caught.value.as_dict()
    assert (Deployment.objects.count(), AuditEvent.objects.count(), Release.objects.count()) == before
    return caught.value


def test_a_draft_version_cannot_be_deployed_and_the_refusal_says_so(serving):
    error = refused(Conflict, "version_not_approved", deploy, serving, serving.v3)
    assert "v3" in error.message and "draft" in error.message


def test_a_revoked_version_cannot_be_deployed(serving):
    workflow.version_revoke(actor=serving.cast.risk, version=serving.v1, reason="Incident INC-7")
    error = refused(Conflict, "version_revoked", deploy, serving, serving.v1)
    assert "revoked" in error.message


def test_an_expired_approval_cannot_be_deployed(serving):
    ModelVersion.objects.filter(pk=serving.v1.pk).update(approval_expires_at=timezone.now() - timedelta(days=1))
    error = refused(Conflict, "approval_expired", deploy, serving, serving.v1)
    assert "expired" in error.message


def test_tier_1_production_needs_two_hosts_staging_does_not(serving):
    assert serving.passport.risk_tier == 1
    refused(DomainError, "too_few_hosts", deploy, serving, hosts=[serving.host_a.pk])
    staging = deploy(serving, hosts=[serving.host_a.pk], environment="staging")
    assert staging.environment == "staging" and list(staging.hosts.all()) == [serving.host_a]


def test_people_outside_the_passport_cannot_deploy(serving, outsider, validator):
    for user in (outsider, validator, serving.cast.risk, serving.owner):
        refused(PermissionDenied, "permission_denied", deploy, serving, actor=user)
    assert deploy(serving, actor=serving.developer).created_by == serving.developer  # the team may


def test_revoked_hosts_and_unknown_hosts_are_refused(serving):
    services.host_revoke(actor=serving.admin, host=serving.host_b, reason="Decommissioned")
    refused(DomainError, "host_revoked", deploy, serving)
    refused(DomainError, "not_found", deploy, serving, hosts=[serving.host_a.pk, 999_999])
    refused(DomainError, "required", deploy, serving, hosts=[])


def test_strategy_rules(serving):
    refused(DomainError, "required", deploy, serving, strategy="canary", canary_percent=10)
    refused(DomainError, "invalid", deploy, serving, strategy="canary", challenger=2, canary_percent=0)
    refused(DomainError, "invalid", deploy, serving, strategy="full", challenger=2)
    refused(DomainError, "invalid", deploy, serving, strategy="shadow", challenger=1)  # itself
    refused(Conflict, "version_not_approved", deploy, serving, strategy="shadow", challenger=3)
    refused(DomainError, "invalid", deploy, serving, personal_data_columns=["x0", "ssn"])


def test_the_release_is_signed_and_carries_the_manifest(serving):
    deployment = deploy(serving, personal_data_columns=["x1"])
    release = Release.objects.get(version=serving.v1)
    folder, signature = release_paths(release)
    release_verify(folder, signature, public_key_pem())  # any OpenSSF verifier with the public key accepts it
    manifest = mf.manifest_decode((folder / mf.MANIFEST_FILE).read_bytes())
    assert manifest.passport == serving.passport.key and manifest.version == 1
    assert manifest.artifact_sha256 == serving.v1.sha256 == release.artifact_sha256
    assert [f.name for f in manifest.features] == ["x0", "x1", "x2"]
    assert set(manifest.histograms) == {"x0", "x1", "x2", mf.SCORE}
    assert manifest.reference_rows == 400 and manifest.reference_dataset_sha256 == serving.dataset.sha256
    for histogram in manifest.histograms.values():
        assert abs(sum(histogram.reference) - 1) < 1e-6 and len(histogram.edges) >= 5
    assert manifest.personal_data_columns == ["x1"]
    assert manifest.approved_until.startswith(f"{serving.v1.approval_expires_at:%Y-%m-%d}")
    assert manifest.thresholds.psi == 0.2
    event = AuditEvent.objects.get(action="deployment.created")
    assert event.digests["artifact_sha256"] == serving.v1.sha256
    assert event.data["hosts"] == ["gpu-a", "gpu-b"] and event.passport_key == serving.passport.key
    assert deployment.revisions.count() == 1


def test_a_release_altered_in_storage_is_refused_by_the_verifier(serving):
    deploy(serving)
    folder, signature = release_paths(Release.objects.get(version=serving.v1))
    data = bytearray((folder / mf.ARTIFACT_FILE).read_bytes())
    data[-1] ^= 0xFF
    (folder / mf.ARTIFACT_FILE).write_bytes(bytes(data))
    with pytest.raises(ReleaseRejected, match="signature check failed"):
        release_verify(folder, signature, public_key_pem())


def test_an_artifact_altered_after_approval_is_never_released(serving):
    path = serving.v2.artifact.path
    with open(path, "r+b") as handle:
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 0xFF]))
    error = refused(DomainError, "digest_mismatch", deploy, serving, serving.v2)
    assert "altered" in error.message


def test_desired_state_follows_approval_and_is_scoped_to_the_host(serving, admin_user):
    from tests.serving.conftest import enrol

    deployment = deploy(serving)
    state = selectors.desired_state(serving.host_a)
    [entry] = state["deployments"]
    assert entry["deployment"] == deployment.pk and entry["strategy"] == "full"
    assert [(r["role"], r["version"]) for r in entry["releases"]] == [("champion", 1)]
    lonely, _token = enrol(admin_user, "gpu-c")
    assert selectors.desired_state(lonely)["deployments"] == []
    assert selectors.release_for_host(lonely, entry["releases"][0]["release"]) is None
    workflow.version_revoke(actor=serving.cast.risk, version=serving.v1, reason="Incident INC-9")
    after = selectors.desired_state(serving.host_a)
    assert after["etag"] != state["etag"]
    assert after["deployments"][0]["releases"] == []
    assert after["deployments"][0]["withdrawn"] == [{"role": "champion", "version": 1, "reason": "version_revoked"}]
    ModelVersion.objects.filter(pk=serving.v1.pk).update(state="approved",
                                                          approval_expires_at=timezone.now() - timedelta(seconds=1))
    expired = selectors.desired_state(serving.host_a)["deployments"][0]["withdrawn"]
    assert expired[0]["reason"] == "approval_expired"


def test_the_hosts_of_a_deployment_split_its_stop_limit(serving, admin_user):
    """A passport's daily stop-limit is the deployment's, not each host's: every host is told how many hosts share
    it and its place among them, and the shares it makes of the signed limit add up to the limit exactly."""
    from serving.agent.core import stop_limit_share
    from tests.serving.conftest import enrol

    third, _token = enrol(admin_user, "gpu-c")
    deploy(serving, hosts=[serving.host_b.pk, third.pk, serving.host_a.pk])
    places = {}
    for host in (serving.host_a, serving.host_b, third):
        [entry] = selectors.desired_state(host)["deployments"]
        assert entry["stop_limit_hosts"] == 3
        places[host.pk] = entry["stop_limit_index"]
    assert sorted(places.values()) == [0, 1, 2]
    assert [places[pk] for pk in sorted(places)] == [0, 1, 2]  # by host, whatever order the hosts were given in
    for limit in (1, 2, 5, 1000, 1001):
        assert sum(stop_limit_share(limit, 3, i) for i in range(3)) == limit
    assert [stop_limit_share(5, 3, i) for i in range(3)] == [2, 2, 1]
    alone = deploy(serving, hosts=[serving.host_a.pk], environment="staging")
    [mine] = [e for e in selectors.desired_state(serving.host_a)["deployments"] if e["deployment"] == alone.pk]
    assert (mine["stop_limit_hosts"], mine["stop_limit_index"]) == (1, 0)


@pytest.mark.parametrize("stored", [-1000, "1000 a day", 12.5])
def test_a_stop_limit_serving_cannot_read_refuses_the_release(serving, stored):
    """A passport row from before its limits were checked, holding a limit no host could enforce: the release is not
    built and nothing deploys (read as 0, the limit would have been none)."""
    from registry.models import ModelPassport

    ModelPassport.objects.filter(pk=serving.passport.pk).update(stop_limits={"max_decisions_per_day": stored})
    serving.passport.refresh_from_db()
    refused(DomainError, "invalid_stop_limit", deploy, serving)


def test_canary_promote_rollback_stop(serving):
    deployment = deploy(serving)
    deployment = services.deployment_challenger_set(actor=serving.engineer, deployment=deployment, version=2,
                                                    strategy="canary", canary_percent=10)
    entry = selectors.desired_state(serving.host_b)["deployments"][0]
    assert entry["strategy"] == "canary" and entry["canary_percent"] == 10
    assert [(r["role"], r["version"]) for r in entry["releases"]] == [("champion", 1), ("challenger", 2)]
    deployment = services.deployment_promote(actor=serving.engineer, deployment=deployment)
    assert (deployment.version.number, deployment.challenger, deployment.strategy) == (2, None, "full")
    # a risk officer may pull the brake, not the throttle
    with pytest.raises(PermissionDenied):
        services.deployment_promote(actor=serving.cast.risk, deployment=deployment)
    deployment = services.deployment_rollback(actor=serving.cast.risk, deployment=deployment,
                                              reason="PSI of x0 above 0.2")
    assert deployment.version.number == 1
    assert [r.reason for r in DeploymentRevision.objects.filter(deployment=deployment)] == [
        "created", "promoted", "rolled_back"]
    with pytest.raises(Conflict) as caught:
        services.deployment_rollback(actor=serving.engineer, deployment=deployment, reason="again")
    assert caught.value.code == "no_rollback_target"  # v1 has nothing approved before it
    deployment = services.deployment_stop(actor=serving.engineer, deployment=deployment, reason="Retired product")
    assert selectors.desired_state(serving.host_a)["deployments"] == []
    events = AuditEvent.objects.filter(object_type="serving.deployment").order_by("seq")
    actions = list(events.values_list("action", flat=True))
    assert actions == ["deployment.created", "deployment.challenger_set", "deployment.promoted",
                       "deployment.rolled_back", "deployment.stopped"]
    assert deployment.generation == 5
    with pytest.raises(Conflict) as caught:
        services.deployment_stop(actor=serving.engineer, deployment=deployment, reason="twice")
    assert caught.value.code == "deployment_stopped"


def test_rollback_with_a_challenger_withdraws_it(serving):
    deployment = deploy(serving, version=serving.v1, strategy="shadow", challenger=2)
    deployment = services.deployment_rollback(actor=serving.engineer, deployment=deployment, reason="Shadow diverges")
    assert (deployment.version.number, deployment.challenger, deployment.strategy) == (1, None, "full")
    assert AuditEvent.objects.filter(action="deployment.rolled_back").get().data["withdrawn_challenger"] == 2


def test_one_active_deployment_per_passport_and_environment(serving):
    deploy(serving)
    refused(Conflict, "deployment_exists", deploy, serving, serving.v2)


def test_a_revoked_challenger_leaves_the_champion_serving(serving):
    deploy(serving, strategy="canary", challenger=2, canary_percent=20)
    workflow.version_revoke(actor=serving.cast.risk, version=serving.v2, reason="Bias found")
    entry = selectors.desired_state(serving.host_a)["deployments"][0]
    assert entry["strategy"] == "full" and entry["canary_percent"] == 0
    assert [r["version"] for r in entry["releases"]] == [1]


def test_the_release_is_built_once(serving):
    first = release_build(serving.v1)
    assert release_build(serving.v1).pk == first.pk
    assert json.dumps(first.manifest)  # stored as JSON
