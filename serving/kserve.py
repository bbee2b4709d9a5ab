"""KServe at cluster scale: an ``InferenceService`` for a deployment's signed release, built with the ``kserve``
SDK's own models.

What is rendered (``render(actor=..., deployment=..., bundle_url=...)``), three objects in one YAML stream:

- a ``ConfigMap`` holding the control plane's release-signing public key;
- a ``ModelValidation`` (sigstore's model-validation operator, ``ml.sigstore.dev/v1alpha1``) that checks the
  model folder ``/mnt/models`` against ``/mnt/models/model.sig`` with that key;
- the ``InferenceService``: ONNX served by the Triton runtime over the Open Inference Protocol v2, its storage URI
  the signed bundle, its predictor pods labelled ``validation.ml.sigstore.dev/ml`` so that the operator injects
  its verifying init container, the key mounted where that container looks for it. Tier-1 production gets at least
  2 replicas.

The bundle is the release laid out as a Triton model repository (``<model>/config.pbtxt``,
``<model>/1/model.onnx``, ``<model>/manifest.json``), signed in the OpenSSF Model Signing format with the release
key (``model.sig`` inside, left out of what it signs, as ``model_signing sign`` does), packed into a deterministic
``.tar.gz`` that KServe's storage initializer unpacks. Its URL carries an expiring token and stops working when the
version stops being deployable (revoked, expired), so a pod that restarts after a revocation does not start.

Rendering is refused for a version that may not be deployed, with the deployment guard's reason, and for a model
Triton's ONNX Runtime backend cannot serve (a ZipMap output). The SDK is an optional extra
(``pip install 'model-governance[kserve]'``): without it ``KServeMissing`` says how to install it.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

from django.conf import settings
from django.core import signing as django_signing
from django.urls import reverse
from django.utils.translation import gettext as _

from core import signing
from core.errors import DomainError
from serving import guards
from serving.agent import manifest as mf
from serving.models import Deployment, Release
from serving.releases import release_build, release_paths, release_sign
from serving.services import needs_two_hosts

INSTALL_COMMAND = "pip install 'model-governance[kserve]'"
MODEL_ROOT = "/mnt/models"
SIGNATURE_NAME = "model.sig"
KEY_MOUNT = "/etc/model-governance"
KEY_FILE = "release-signing-key.pub"
VALIDATION_LABEL = "validation.ml.sigstore.dev/ml"
RUNTIME = "kserve-tritonserver"
BUNDLE_SUFFIX = "-kserve"
LINK_SALT = "serving.kserve.bundle"

# ONNX tensor element types (registry.onnx_inspect names) -> Triton data types
TRITON_TYPES = {
    "float": "TYPE_FP32", "double": "TYPE_FP64", "float16": "TYPE_FP16", "bfloat16": "TYPE_BF16",
    "int64": "TYPE_INT64", "int32": "TYPE_INT32", "int16": "TYPE_INT16", "int8": "TYPE_INT8",
    "uint64": "TYPE_UINT64", "uint32": "TYPE_UINT32", "uint16": "TYPE_UINT16", "uint8": "TYPE_UINT8",
    "bool": "TYPE_BOOL", "string": "TYPE_STRING",
}


class KServeMissing(DomainError):
    """The optional ``kserve`` SDK is not installed here."""

    status_code = 501

    def __init__(self):
        super().__init__(_("Rendering for KServe needs the kserve SDK, an optional extra: %(command)s")
                         % {"command": INSTALL_COMMAND}, code="kserve_not_installed",
                         details={"install": INSTALL_COMMAND})


class BundleUnavailable(DomainError):
    """A bundle link that grants nothing (404) or no longer (410)."""

    def __init__(self, message: str, *, code: str, status: int):
        super().__init__(message, code=code)
        self.status_code = status


def sdk():
    """The ``kserve`` package (imported on first use: it brings a web stack of its own)."""
    try:
        import kserve
    except ImportError as exc:
        raise KServeMissing() from exc
    return kserve


def available() -> bool:
    try:
        sdk()
    except KServeMissing:
        return False
    return True


# --------------------------------------------------------------------------- names


def resource_name(deployment: Deployment) -> str:
    """A DNS-1035 label (lower case, starts with a letter, at most 45 characters so that KServe's derived names
    fit in 63), stable for the passport and environment."""
    base = re.sub(r"[^a-z0-9-]+", "-", f"{deployment.passport.key}-{deployment.environment}".lower()).strip("-")
    base = re.sub(r"-{2,}", "-", base) or "model"
    if not base[0].isalpha():
        base = f"m-{base}"
    if len(base) > 45:
        digest = hashlib.sha256(base.encode()).hexdigest()[:6]
        base = f"{base[:38].rstrip('-')}-{digest}"
    return base


def model_name(passport_key: str) -> str:
    """The Triton model name (the model's folder in the repository): what clients put in ``/v2/models/{name}``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", passport_key) or "model"


# --------------------------------------------------------------------------- the Triton model repository


def _dims(shape: list) -> str:
    dims = [d if isinstance(d, int) and d > 0 else -1 for d in shape]
    return f"[ {', '.join(str(d) for d in dims)} ]"


def _tensor_block(kind: str, values: list[dict], version) -> str:
    blocks = []
    for value in values:
        triton_type = TRITON_TYPES.get(value.get("type", ""))
        if triton_type is None:
            raise DomainError(
                _("v%(n)s cannot be served by Triton's ONNX Runtime backend: %(name)s is of type %(type)s, and "
                  "Triton serves tensors only. Export the model without a ZipMap (skl2onnx: "
                  "options={'zipmap': False}).")
                % {"n": version.number, "name": value.get("name"), "type": value.get("type")},
                code="kserve_unsupported_type", details={"name": value.get("name"), "type": value.get("type")})
        if not value.get("shape"):
            raise DomainError(_("v%(n)s cannot be served by Triton: the rank of %(name)s is unknown.")
                              % {"n": version.number, "name": value.get("name")},
                              code="kserve_unsupported_type", details={"name": value.get("name")})
        blocks.append(f'  {{\n    name: "{value["name"]}"\n    data_type: {triton_type}\n'
                      f'    dims: {_dims(value["shape"])}\n  }}')
    return f"{kind} [\n" + ",\n".join(blocks) + "\n]\n"


def triton_config(version, name: str) -> str:
    """``config.pbtxt`` for the version's ONNX graph: inputs and outputs as the registry recorded them, shapes as
    they are (``max_batch_size: 0``, unknown dimensions -1)."""
    return (f'name: "{name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 0\n'
            + _tensor_block("input", version.inputs, version) + _tensor_block("output", version.outputs, version)
            + 'version_policy: { specific: { versions: [ 1 ] } }\n')


def bundle_paths(release: Release) -> tuple[Path, Path]:
    """The bundle's folder and its archive, beside the release."""
    folder, _signature = release_paths(release)
    bundle = folder.with_name(f"{folder.name}{BUNDLE_SUFFIX}")
    return bundle, bundle.with_name(f"{bundle.name}.tar.gz")


def _tar_gz(folder: Path) -> bytes:
    """A deterministic archive of ``folder``'s content: sorted names, no owners, times at zero."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(folder.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(folder)))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o755 if path.is_dir() else 0o644
            if path.is_dir():
                tar.addfile(info)
            else:
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def bundle_build(release: Release) -> Path:
    """The release as a signed Triton model repository, packed; built once per release (builders take turns)."""
    folder, archive = bundle_paths(release)
    if archive.is_file():
        return archive
    source, _signature = release_paths(release)
    with open(folder.with_name(f".{folder.name}.lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if archive.is_file():
            return archive
        version = release.version
        name = model_name(version.passport.key)
        config = triton_config(version, name)
        work = Path(tempfile.mkdtemp(prefix=".kserve-", dir=folder.parent))
        try:
            tree = work / "repository"
            (tree / name / "1").mkdir(parents=True)
            (tree / name / "config.pbtxt").write_text(config, encoding="utf-8")
            shutil.copyfile(source / mf.ARTIFACT_FILE, tree / name / "1" / mf.ARTIFACT_FILE)
            shutil.copyfile(source / mf.MANIFEST_FILE, tree / name / mf.MANIFEST_FILE)
            _check_artifact(tree / name / "1" / mf.ARTIFACT_FILE, release)
            release_sign(tree, signature=tree / SIGNATURE_NAME)
            packed = work / archive.name
            packed.write_bytes(_tar_gz(tree))
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tree, folder)
            os.replace(packed, archive)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return archive


def _check_artifact(path: Path, release: Release) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != release.artifact_sha256:
        raise DomainError(_("The release's artifact no longer matches the approved sha256; it is not packed."),
                          code="digest_mismatch", details={"expected": release.artifact_sha256, "found": digest})


# --------------------------------------------------------------------------- the bundle's capability URL


def bundle_token(release: Release) -> str:
    return django_signing.dumps({"release": release.pk, "key": signing.key_id()}, salt=LINK_SALT, compress=True)


def bundle_for_token(token: str) -> Path:
    """The archive a token grants, while it is fresh and its version may still be served; else a clear refusal."""
    try:
        grant = django_signing.loads(token, salt=LINK_SALT, max_age=settings.MG_KSERVE_BUNDLE_TTL_HOURS * 3600)
    except django_signing.SignatureExpired:
        raise BundleUnavailable(_("This bundle link has expired; render the InferenceService again."),
                                code="link_expired", status=410) from None
    except django_signing.BadSignature:
        raise BundleUnavailable(_("No such bundle."), code="not_found", status=404) from None
    release = Release.objects.select_related("version__passport").filter(pk=grant.get("release")).first()
    if release is None or grant.get("key") != signing.key_id():
        raise BundleUnavailable(_("No such bundle."), code="not_found", status=404)
    guards.deployable(release.version).enforce()
    return bundle_build(release)


# --------------------------------------------------------------------------- rendering


def bundle_release(*, actor, deployment: Deployment) -> Release:
    """The champion's release with its KServe bundle built, once the actor may deploy the passport, the version
    may be served, Triton can serve the model and the SDK is here (refused in that order)."""
    guards.deploy(actor, deployment.passport).enforce()
    version = deployment.version
    guards.deployable(version).enforce()
    triton_config(version, model_name(deployment.passport.key))
    sdk()
    release = release_build(version)
    bundle_build(release)
    return release


def render(*, actor, deployment: Deployment, bundle_url: str | None = None, namespace: str = "",
           release: Release | None = None) -> dict:
    """The three objects for ``deployment``'s champion, as plain dictionaries and as one YAML stream.

    ``bundle_url`` is where the cluster downloads the bundle (the control plane's capability URL by default);
    ``MG_KSERVE_STORAGE_URI`` overrides it for teams that copy bundles into their own object store.
    """
    release = release or bundle_release(actor=actor, deployment=deployment)  # checked and built once
    version = deployment.version
    kserve = sdk()
    from kubernetes.client import (
        V1ConfigMapVolumeSource,
        V1ObjectMeta,
        V1Volume,
        V1VolumeMount,
    )

    name = resource_name(deployment)
    storage_uri = _storage_uri(release, bundle_url)
    passport = deployment.passport
    governance = {
        "model-governance/passport": passport.key,
        "model-governance/version": str(version.number),
        "model-governance/deployment": str(deployment.pk),
    }
    annotations = {
        "model-governance/artifact-sha256": version.sha256,
        "model-governance/manifest-sha256": release.manifest_sha256,
        "model-governance/signing-key-id": release.key_id,
        "model-governance/approval-expires": version.approval_expires_at.isoformat(),
        "model-governance/model-name": model_name(passport.key),
    }
    meta = {"name": name, "labels": governance, **({"namespace": namespace} if namespace else {})}
    key_volume = f"{name}-release-key"[:63]
    replicas = 2 if needs_two_hosts(deployment.passport, deployment.environment) else 1
    isvc = kserve.V1beta1InferenceService(
        api_version=f"{kserve.constants.KSERVE_GROUP}/v1beta1",
        kind=kserve.constants.KSERVE_KIND_INFERENCESERVICE,
        metadata=V1ObjectMeta(**meta, annotations=annotations),
        spec=kserve.V1beta1InferenceServiceSpec(predictor=kserve.V1beta1PredictorSpec(
            min_replicas=replicas,
            labels={VALIDATION_LABEL: name, **governance},
            model=kserve.V1beta1ModelSpec(
                model_format=kserve.V1beta1ModelFormat(name="onnx"),
                runtime=RUNTIME,
                protocol_version="v2",
                storage_uri=storage_uri,
                volume_mounts=[V1VolumeMount(name="release-signing-key", mount_path=KEY_MOUNT, read_only=True)],
            ),
            volumes=[V1Volume(name="release-signing-key",
                              config_map=V1ConfigMapVolumeSource(name=key_volume))],
        )),
    )
    client = kserve.api_client.ApiClient()
    objects = [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {**meta, "name": key_volume},
         "data": {KEY_FILE: signing.public_key_pem()}},
        {"apiVersion": "ml.sigstore.dev/v1alpha1", "kind": "ModelValidation", "metadata": dict(meta),
         "spec": {"config": {"publicKeyConfig": {"keyPath": f"{KEY_MOUNT}/{KEY_FILE}"}},
                  "model": {"path": MODEL_ROOT, "signaturePath": f"{MODEL_ROOT}/{SIGNATURE_NAME}"}}},
        client.sanitize_for_serialization(isvc),
    ]
    import yaml

    header = (f"# {passport.key} v{version.number} ({deployment.get_environment_display()}): "
              f"artifact sha256 {version.sha256}\n# Signed with key {release.key_id}; approval until "
              f"{version.approval_expires_at:%Y-%m-%d}.\n")
    text = header + yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)
    return {"name": name, "model_name": model_name(passport.key), "storage_uri": storage_uri,
            "objects": objects, "yaml": text}


def render_for(request, deployment: Deployment, namespace: str = "") -> dict:
    """``render`` for a web or API request: the bundle's link made absolute for the cluster."""
    release = bundle_release(actor=request.user, deployment=deployment)
    url = request.build_absolute_uri(reverse("serving-kserve-bundle", kwargs={
        "token": bundle_token(release), "name": f"{model_name(deployment.passport.key)}.tar.gz"}))
    return render(actor=request.user, deployment=deployment, bundle_url=url, namespace=namespace, release=release)


def _storage_uri(release: Release, bundle_url: str | None) -> str:
    template = settings.MG_KSERVE_STORAGE_URI
    if template:
        version = release.version
        return template.format(passport=version.passport.key, version=version.number,
                               sha256=version.sha256, release=release.pk)
    if not bundle_url:
        raise DomainError(_("Set MG_KSERVE_STORAGE_URI or render through the web or the API."),
                          code="no_storage_uri")
    return bundle_url
