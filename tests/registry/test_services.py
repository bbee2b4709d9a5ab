"""Registry services against a real database: passports, versions, schemas, datasets, aliases."""

from pathlib import Path

import pytest
from django.conf import settings

from core.errors import Conflict, DomainError, PermissionDenied
from governance.audit.models import AuditEvent
from registry import services
from registry.models import Alias, Dataset, ModelPassport, ModelVersion
from registry.onnx_inspect import ArtifactRejected
from tests.factories import BusinessUnitFactory, TeamFactory, csv_upload, linear_onnx, make_passport, onnx_upload

pytestmark = pytest.mark.django_db


def stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize(
    ("answers", "tier"),
    [
        (("high", "automated", True, "high"), 1),
        (("high", "automated", False, "none"), 1),  # high materiality of an automated decision
        (("medium", "human_in_the_loop", True, "moderate"), 2),
        (("low", "automated", True, "none"), 2),
        (("low", "human_in_the_loop", False, "moderate"), 3),
        (("low", "human_in_the_loop", False, "none"), 3),
    ],
)
def test_tier_from_questionnaire(answers, tier):
    materiality, decision, personal, regulatory = answers
    assert services.tier_from_answers(materiality=materiality, decision_type=decision,
                                      processes_personal_data=personal, regulatory_exposure=regulatory) == tier


def test_passport_create_derives_tier_and_audits(developer):
    passport = make_passport(actor=developer, key="demand", materiality="low", decision_type="human_in_the_loop",
                             processes_personal_data=False, regulatory_exposure="none")
    assert passport.risk_tier == 3
    event = AuditEvent.objects.get(action="passport.created", object_id=str(passport.pk))
    assert event.actor == developer and event.passport_key == "demand"
    assert event.data["risk_tier"] == 3


def test_passport_create_refused_without_role(outsider):
    with pytest.raises(DomainError, match="may not create"):
        make_passport(actor=outsider, key="nope")
    assert not ModelPassport.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="passport.").exists()


def test_passport_key_must_be_unique_and_valid(developer, passport):
    with pytest.raises(Conflict):
        make_passport(actor=developer, key="credit-score")
    with pytest.raises(DomainError, match="Lowercase"):
        make_passport(actor=developer, key="Bad Key!")


def test_passport_update_records_changes_but_refuses_retiering(passport, owner, developer):
    services.passport_update(actor=owner, passport=passport, name="Renamed")
    passport.refresh_from_db()
    assert passport.name == "Renamed"
    event = AuditEvent.objects.filter(action="passport.changed").get()
    assert event.data["changes"]["name"] == {"old": "Credit score", "new": "Renamed"}
    with pytest.raises(DomainError) as refused:
        services.passport_update(actor=owner, passport=passport, materiality="low", name="Again")
    assert refused.value.code == "retier_required"
    passport.refresh_from_db()
    assert (passport.risk_tier, passport.name) == (1, "Renamed")


def test_passport_update_refused_for_team_member_who_is_not_owner(passport, team):
    member = TeamFactory(name=team.name).members.create(username="member2")
    with pytest.raises(PermissionDenied):
        services.passport_update(actor=member, passport=passport, name="x")


def test_version_register_stores_metadata_digest_and_audit(passport, developer):
    data = linear_onnx(4)
    version = services.version_register(actor=developer, passport=passport, upload=onnx_upload(data),
                                        feature_names=["age", "income", "debt", "tenure"], metrics={"auc": 0.81})
    assert version.number == 1 and version.state == "draft" and version.size == len(data)
    assert version.opset == 17 and version.producer_name == "tests"
    assert version.operators == ["Add", "MatMul", "Sigmoid"]
    assert [f["name"] for f in version.feature_schema["features"]] == ["age", "income", "debt", "tenure"]
    import hashlib

    assert version.sha256 == hashlib.sha256(data).hexdigest()
    assert version.artifact.read() == data
    event = AuditEvent.objects.get(action="version.registered")
    assert event.digests["artifact_sha256"] == version.sha256


def test_second_version_numbers_up_and_duplicate_artifact_refused(passport, developer):
    services.version_register(actor=developer, passport=passport, upload=onnx_upload(linear_onnx(seed=1)))
    v2 = services.version_register(actor=developer, passport=passport, upload=onnx_upload(linear_onnx(seed=2)))
    assert v2.number == 2
    with pytest.raises(Conflict, match="identical to version 1"):
        services.version_register(actor=developer, passport=passport, upload=onnx_upload(linear_onnx(seed=1)))
    assert ModelVersion.objects.count() == 2


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"this is not an onnx file at all", "not_onnx"),
        (linear_onnx()[: len(linear_onnx()) // 2], "truncated"),
    ],
)
def test_bad_artifacts_leave_nothing_stored(passport, developer, payload, code):
    before = AuditEvent.objects.count()
    with pytest.raises(ArtifactRejected) as excinfo:
        services.version_register(actor=developer, passport=passport, upload=onnx_upload(payload))
    assert excinfo.value.code == code
    assert not ModelVersion.objects.exists()
    assert AuditEvent.objects.count() == before
    assert stored_files() == []


def test_size_limit_refuses_while_streaming(passport, developer, settings):
    settings.MG_MAX_ARTIFACT_BYTES = 100
    with pytest.raises(DomainError) as excinfo:
        services.version_register(actor=developer, passport=passport, upload=onnx_upload(linear_onnx()))
    assert excinfo.value.code == "too_large" and "100 bytes" in excinfo.value.message
    assert not ModelVersion.objects.exists() and stored_files() == []


def test_outsider_cannot_register_versions(passport, outsider):
    with pytest.raises(PermissionDenied):
        services.version_register(actor=outsider, passport=passport, upload=onnx_upload())


def test_refine_schema_validates_and_audits(passport, developer):
    version = services.version_register(actor=developer, passport=passport, upload=onnx_upload(linear_onnx(2)))
    schema = {"features": [{"name": "age", "type": "float", "min": 18, "max": 100},
                           {"name": "segment", "type": "float", "categories": [1, 2, 3]}]}
    services.version_refine_schema(actor=developer, version=version, feature_schema=schema)
    version.refresh_from_db()
    assert version.feature_schema["features"][0]["min"] == 18
    assert version.feature_schema["input"] == "float_input"
    assert AuditEvent.objects.filter(action="version.schema_refined").count() == 1


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"features": [{"name": "a"}]}, "has 2 features"),
        ({"features": [{"name": "a", "min": 5, "max": 1}, {"name": "b"}]}, "greater than max"),
        ({"features": [{"name": "a"}, {"name": "a"}]}, "unique"),
        ({"features": [{"name": "a", "type": "tensor"}, {"name": "b"}]}, "type must be"),
        ({"features": [{"name": "a", "min": float("nan")}, {"name": "b"}]}, "finite"),
        ({"features": [{"name": "a", "evil": 1}, {"name": "b"}]}, "unknown keys"),
        ("not an object", "JSON object"),
    ],
)
def test_refine_schema_rejects_bad_schemas(passport, developer, schema, message):
    version = services.version_register(actor=developer, passport=passport, upload=onnx_upload(linear_onnx(2)))
    original = dict(version.feature_schema)
    with pytest.raises(DomainError, match=message):
        services.version_refine_schema(actor=developer, version=version, feature_schema=schema)
    version.refresh_from_db()
    assert version.feature_schema == original


def test_dataset_register_infers_schema(passport, developer):
    text = "age,income,segment,default\n30,1000.5,a,0\n45,,b,1\n51,3000,a,0\n"
    dataset = services.dataset_register(actor=developer, passport=passport, upload=csv_upload(text),
                                        name="train", kind="reference")
    assert dataset.row_count == 3 and dataset.format == "csv"
    columns = {c["name"]: c for c in dataset.schema}
    assert columns["age"]["type"] == "int" and columns["age"]["min"] == 30
    assert columns["income"]["nulls"] == 1 and columns["segment"]["categories"] == ["a", "b"]
    assert AuditEvent.objects.get(action="dataset.registered").digests["dataset_sha256"] == dataset.sha256


@pytest.mark.parametrize("text", ["", "a,a\n1,2\n", "only_header\n"])
def test_bad_dataset_refused_and_nothing_stored(passport, developer, text):
    with pytest.raises(DomainError):
        services.dataset_register(actor=developer, passport=passport, upload=csv_upload(text), name="x",
                                  kind="reference")
    assert not Dataset.objects.exists() and stored_files() == []


def test_parquet_dataset(passport, developer, tmp_path):
    import pandas as pd
    from django.core.files.uploadedfile import SimpleUploadedFile

    path = tmp_path / "d.parquet"
    pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}).to_parquet(path)
    upload = SimpleUploadedFile("d.parquet", path.read_bytes())
    dataset = services.dataset_register(actor=developer, passport=passport, upload=upload, name="p", kind="validation")
    assert dataset.format == "parquet" and dataset.row_count == 2


def test_alias_moves_and_production_alias_requires_approval(passport, developer):
    v1 = services.version_register(actor=developer, passport=passport, upload=onnx_upload(linear_onnx(seed=1)))
    v2 = services.version_register(actor=developer, passport=passport, upload=onnx_upload(linear_onnx(seed=2)))
    services.alias_set(actor=developer, passport=passport, name="challenger", version=v1)
    alias = services.alias_set(actor=developer, passport=passport, name="challenger", version=v2)
    assert alias.version == v2 and Alias.objects.count() == 1
    moves = AuditEvent.objects.filter(action="alias.moved").order_by("seq")
    assert [e.data["to_version"] for e in moves] == [1, 2] and moves.last().data["from_version"] == 1
    with pytest.raises(DomainError, match="approved") as excinfo:
        services.alias_set(actor=developer, passport=passport, name="champion", version=v2)
    assert excinfo.value.code == "alias_requires_approval"
    ModelVersion.objects.filter(pk=v2.pk).update(state="approved")  # stands in for the governance workflow
    assert services.alias_set(actor=developer, passport=passport, name="champion", version=v2).version == v2


def test_alias_refuses_version_of_another_passport(passport, developer):
    other = make_passport(actor=developer, key="other-model", team=TeamFactory(members=[developer]),
                          business_unit=BusinessUnitFactory())
    v = services.version_register(actor=developer, passport=other, upload=onnx_upload())
    with pytest.raises(DomainError, match="another passport"):
        services.alias_set(actor=developer, passport=passport, name="challenger", version=v)
