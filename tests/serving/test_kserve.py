"""KServe at cluster scale: the rendered InferenceService validates against the kserve SDK's own models, its
bundle is a Triton model repository that ``model_signing verify`` (what sigstore's model-validation operator runs
in the pod) accepts and ONNX Runtime loads, and nothing is rendered or downloaded for a version that may not be
served."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace

import onnxruntime as ort
import pytest
import yaml
from django.urls import reverse

from core.signing import public_key_pem
from governance.workflow.services import transitions as workflow
from serving import kserve, services
from serving.models import Release
from tests.api_helpers import API, assert_error, bearer_client

pytestmark = pytest.mark.django_db
MODEL_SIGNING = str(Path(sys.executable).with_name("model_signing"))


@pytest.fixture
def deployed(serving):
    deployment = services.deployment_create(actor=serving.engineer, passport=serving.passport, version=1,
                                            hosts=[serving.host_a.pk, serving.host_b.pk])
    return SimpleNamespace(**vars(serving), deployment=deployment, api=bearer_client(serving.engineer))


def _render(w, **params):
    return w.api.get(f"{API}/serving/deployments/{w.deployment.pk}/kserve/", params)


def _bundle_path(storage_uri: str) -> str:
    return storage_uri.split("testserver", 1)[1]


def sdk_model(data, type_name: str):
    """``data`` built into the SDK's model classes (kserve's, and the kubernetes client's they refer to), field by
    field: an unknown field, a wrong type or a missing required field fails."""
    import re

    import kserve.models
    import kubernetes.client.models

    if (inner := re.fullmatch(r"[lL]ist\[(.+)\]", type_name)) is not None:
        assert isinstance(data, list), (type_name, data)
        return [sdk_model(item, inner.group(1)) for item in data]
    if (inner := re.fullmatch(r"dict\(str, (.+)\)|Dict\[str, (.+)\]", type_name)) is not None:
        assert isinstance(data, dict), (type_name, data)
        return {k: sdk_model(v, inner.group(1) or inner.group(2)) for k, v in data.items()}
    natives = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}
    if type_name in natives:
        assert isinstance(data, natives[type_name]), (type_name, data)
        return data
    cls = getattr(kserve.models, type_name, None) or getattr(kubernetes.client.models, type_name)
    by_json = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    unknown = set(data) - set(by_json)
    assert not unknown, f"{type_name} has no field {sorted(unknown)}"
    return cls(**{by_json[k]: sdk_model(v, cls.openapi_types[by_json[k]]) for k, v in data.items()})


def test_the_inference_service_validates_against_the_sdks_models(deployed):
    from kserve import V1beta1InferenceService
    from kserve.api_client import ApiClient

    w = deployed
    response = _render(w, namespace="models")
    assert response.status_code == 200, response.content
    body = response.json()
    config_map, validation, isvc = body["objects"]
    assert list(yaml.safe_load_all(body["yaml"])) == body["objects"]  # the YAML is the same three objects

    # Deserialised by the SDK's own client into its model (types and required fields checked), and back.
    model = sdk_model(isvc, "V1beta1InferenceService")
    assert isinstance(model, V1beta1InferenceService)
    assert ApiClient().sanitize_for_serialization(model) == isvc
    predictor = model.spec.predictor
    assert (model.api_version, model.kind) == ("serving.kserve.io/v1beta1", "InferenceService")
    assert model.metadata.name == body["name"] == f"{w.passport.key}-production"
    assert model.metadata.namespace == "models"
    assert predictor.model.model_format.name == "onnx"
    assert (predictor.model.runtime, predictor.model.protocol_version) == ("kserve-tritonserver", "v2")
    assert predictor.model.storage_uri == body["storage_uri"]
    assert predictor.min_replicas == 2  # tier 1 in production: two replicas, as on hosts
    assert model.metadata.annotations["model-governance/artifact-sha256"] == w.v1.sha256

    # sigstore's model-validation operator: the pod label names the ModelValidation, whose key is mounted.
    assert predictor.labels[kserve.VALIDATION_LABEL] == validation["metadata"]["name"]
    assert validation["apiVersion"] == "ml.sigstore.dev/v1alpha1"
    assert validation["spec"]["model"] == {"path": "/mnt/models", "signaturePath": "/mnt/models/model.sig"}
    key_path = validation["spec"]["config"]["publicKeyConfig"]["keyPath"]
    mount = predictor.model.volume_mounts[0]
    assert key_path == f"{mount.mount_path}/{kserve.KEY_FILE}"
    assert predictor.volumes[0].config_map.name == config_map["metadata"]["name"]
    assert config_map["data"][kserve.KEY_FILE] == public_key_pem()


def test_the_bundle_verifies_as_the_cluster_checks_it_and_loads(deployed, tmp_path, client):
    w = deployed
    body = _render(w).json()
    download = client.get(_bundle_path(body["storage_uri"]))  # no credentials: the link is the credential
    assert download.status_code == 200
    assert download["Content-Type"] == "application/gzip"
    data = b"".join(download.streaming_content)
    assert data == client.get(_bundle_path(body["storage_uri"])).getvalue()  # one archive, byte for byte

    # As KServe's storage initializer does: a .tar.gz is unpacked into /mnt/models with the "data" filter.
    models = tmp_path / "mnt-models"
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        archive.extractall(models, filter="data")
    name = body["model_name"]
    assert sorted(str(p.relative_to(models)) for p in models.rglob("*") if p.is_file()) == sorted([
        "model.sig", f"{name}/1/model.onnx", f"{name}/config.pbtxt", f"{name}/manifest.json"])
    config = (models / name / "config.pbtxt").read_text()
    assert f'name: "{name}"' in config and 'platform: "onnxruntime_onnx"' in config
    artifact = (models / name / "1" / "model.onnx").read_bytes()
    assert hashlib.sha256(artifact).hexdigest() == w.v1.sha256
    session = ort.InferenceSession(artifact, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [i["name"] for i in w.v1.inputs]

    # What the operator's init container runs, with the key from the ConfigMap.
    key = tmp_path / kserve.KEY_FILE
    key.write_text(body["objects"][0]["data"][kserve.KEY_FILE])

    def verify() -> subprocess.CompletedProcess:
        return subprocess.run([MODEL_SIGNING, "verify", "key", "--signature", str(models / "model.sig"),
                               "--public_key", str(key), str(models)], capture_output=True, text=True, timeout=120)

    checked = verify()
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (models / name / "config.pbtxt").write_text(config.replace("max_batch_size: 0", "max_batch_size: 64"))
    tampered = verify()
    assert tampered.returncode != 0 and "config.pbtxt" in tampered.stdout + tampered.stderr


def test_nothing_is_rendered_or_downloaded_once_the_version_may_not_be_served(deployed, client, settings):
    w = deployed
    link = _bundle_path(_render(w).json()["storage_uri"])
    workflow.version_revoke(actor=w.cast.risk, version=w.v1, reason="Incident INC-12")
    assert_error(_render(w), 409, "version_revoked")
    assert_error(client.get(link), 409, "version_revoked")  # a pod restarting after the revocation cannot start

    settings.MG_KSERVE_BUNDLE_TTL_HOURS = 0
    assert_error(client.get(link), 410, "link_expired")
    forged = link.replace("/kserve-bundles/", "/kserve-bundles/x")
    assert_error(client.get(forged), 404, "not_found")


def test_bad_input_and_the_wrong_people_change_nothing(deployed, outsider):
    w = deployed
    assert_error(_render(w, namespace="Not_A_Namespace"), 400)
    releases = Release.objects.count()
    assert_error(bearer_client(w.cast.validator).get(f"{API}/serving/deployments/{w.deployment.pk}/kserve/"),
                 403, "permission_denied")
    assert_error(bearer_client(outsider).get(f"{API}/serving/deployments/{w.deployment.pk}/kserve/"), 404)
    assert Release.objects.count() == releases
    assert not kserve.bundle_paths(w.v1.release)[1].exists()  # refused before anything was built


def test_a_model_triton_cannot_serve_is_refused_by_name(deployed):
    version = SimpleNamespace(number=7, inputs=deployed.v1.inputs, outputs=[
        {"name": "output_label", "type": "int64", "shape": [None]},
        {"name": "output_probability", "type": "seq(map(int64,float))", "shape": []}])
    with pytest.raises(kserve.DomainError) as caught:
        kserve.triton_config(version, "m")
    assert caught.value.code == "kserve_unsupported_type"
    assert "output_probability" in caught.value.message and "zipmap" in caught.value.message.lower()


def test_names_are_dns_labels():
    def name(key, environment="production"):
        return kserve.resource_name(SimpleNamespace(passport=SimpleNamespace(key=key), environment=environment))

    assert name("credit_scoring") == "credit-scoring-production"
    assert name("9lives") == "m-9lives-production"
    long = name("a" * 80)
    assert len(long) <= 45 and long[0].isalpha() and not long.endswith("-")
    assert long != name("a" * 81)  # distinct keys keep distinct names


def test_without_the_sdk_the_api_says_how_to_install_it_and_the_page_too(deployed, client, monkeypatch):
    w = deployed
    monkeypatch.setitem(sys.modules, "kserve", None)  # as if the optional extra were not installed
    error = assert_error(_render(w), 501, "kserve_not_installed")
    assert error["details"]["install"] == kserve.INSTALL_COMMAND
    client.force_login(w.engineer)
    page = client.get(reverse("serving:deployment_detail", args=[w.deployment.pk])).content.decode()
    assert 'id="kserve-missing"' in page and "model-governance[kserve]" in page


def test_the_deployment_page_offers_the_yaml_to_those_who_may_deploy(deployed, client):
    w = deployed
    client.force_login(w.engineer)
    page = client.get(reverse("serving:deployment_detail", args=[w.deployment.pk])).content.decode()
    assert 'id="kserve-download"' in page
    # what the cluster does not do is said beside what it does
    note = page[page.index('id="kserve-not-agent"'):]
    assert "not checked against the feature schema" in note and "stop-limit is not enforced" in note
    response = client.get(reverse("serving:deployment_kserve", args=[w.deployment.pk]), {"namespace": "ml"})
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('-inferenceservice.yaml"')
    kinds = [doc["kind"] for doc in yaml.safe_load_all(response.content)]
    assert kinds == ["ConfigMap", "ModelValidation", "InferenceService"]
    bad = client.get(reverse("serving:deployment_kserve", args=[w.deployment.pk]), {"namespace": "NO"})
    assert bad.status_code == 302
    client.force_login(w.cast.validator)
    page = client.get(reverse("serving:deployment_detail", args=[w.deployment.pk])).content.decode()
    assert 'id="kserve"' not in page
