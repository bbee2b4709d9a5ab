"""Import a version from MLflow: a registered model's version or alias (``models:/name/3``, ``models:/name@champion``)
or a run's model (``runs:/<run id>/<path>``), from a tracking server the operator allows.

An ``onnx`` flavour is taken as it is; a scikit-learn, XGBoost or LightGBM flavour (the scikit-learn interface:
``XGBClassifier``, ``LGBMRegressor``...) is converted to ONNX (skl2onnx, onnxmltools) and checked for **parity**:
the converted model's predictions against the original's on the model's input example, the largest absolute
difference recorded on the version and refused over the tolerance. The run's parameters, metrics, tags and source
commit come along, with links back to the run and the model version, and the datasets the run logged become the
passport's datasets where their files are reachable (``registry.mlflow_datasets``; the training one is the version's
training dataset, and the parity sample when the model has no input example); the ONNX bytes then go through the
same checks as an upload (``registry.services.version_register``). Importing the same MLflow model version
twice creates nothing new and says so.

Only tracking servers in ``MG_MLFLOW_TRACKING_URIS`` are read: a scikit-learn flavour is a pickle, which runs code
when it is loaded, so the platform loads models only from servers the operator trusts.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import DomainError
from registry import mlflow_datasets
from registry import permissions as perms
from registry.models import ModelPassport, ModelVersion

MODEL_URI = re.compile(r"^(?:models:/(?P<name>[^/@]+)(?:/(?P<number>\d+)|@(?P<alias>[\w.-]+))"
                       r"|runs:/(?P<run>[0-9a-f]{8,64})/(?P<path>[\w./-]+))$")
DEFAULT_TOLERANCE = 1e-4
CONVERTIBLE = ("sklearn", "xgboost", "lightgbm")  # converted to ONNX with a parity check (skl2onnx, onnxmltools)
SAMPLE_ROWS = 1000


class MlflowRefused(DomainError):
    pass


URI_HINT = gettext_lazy("Give a model URI such as models:/name/3, models:/name@champion or runs:/<run id>/model.")


@dataclass
class Source:
    tracking_uri: str
    model_uri: str  # the canonical URI of what is imported: models:/name/N, or runs:/id/path
    run_id: str
    registered: str = ""  # "name" and version for a registered model
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)
    run_url: str = ""
    datasets: list = field(default_factory=list)  # registry.mlflow_datasets.Logged, one per logged dataset input


def allowed(tracking_uri: str) -> bool:
    wanted = tracking_uri.rstrip("/")
    return any(wanted == uri.rstrip("/") for uri in settings.MG_MLFLOW_TRACKING_URIS if uri)


def client_for(tracking_uri: str):
    """An MLflow client of ``tracking_uri`` (a trusted server: the caller checks), quick to give up.

    A person waits on the answer: a few quick retries, not MLflow's default of minutes against a dead server."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(settings.MG_MLFLOW_HTTP_RETRIES))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(settings.MG_MLFLOW_HTTP_TIMEOUT_SECONDS))
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # nothing leaves for MLflow's own telemetry
    from mlflow import MlflowClient  # imported here: only imports pay for MLflow

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def refusal_for(exc: Exception, tracking_uri: str, model_uri: str) -> DomainError:
    """An MLflow client's exception as the refusal a person reads: no such model, or the server unreachable."""
    text = str(exc)
    if "RESOURCE_DOES_NOT_EXIST" in text or "not found" in text.lower() or "INVALID_PARAMETER_VALUE" in text:
        return MlflowRefused(_("MLflow has no %(uri)s at %(server)s.") % {"uri": model_uri, "server": tracking_uri},
                             code="mlflow_not_found", field="model_uri")
    first_line = text.splitlines()[0][:300] if text else type(exc).__name__
    return MlflowRefused(_("The MLflow server at %(server)s cannot be reached: %(error)s")
                         % {"server": tracking_uri, "error": first_line}, code="mlflow_unreachable",
                         field="tracking_uri")


def resolve(tracking_uri: str, model_uri: str) -> Source:
    """What ``model_uri`` names on the server: the canonical URI, the run and its parameters, metrics and tags."""
    match = MODEL_URI.match(model_uri.strip())
    if match is None:
        raise MlflowRefused(URI_HINT, code="invalid", field="model_uri")
    client = client_for(tracking_uri)
    try:
        if match["name"]:
            if match["number"]:
                found = client.get_model_version(match["name"], match["number"])
            else:
                found = client.get_model_version_by_alias(match["name"], match["alias"])
            source = Source(tracking_uri, f"models:/{found.name}/{found.version}", found.run_id or "",
                            registered=f"{found.name} v{found.version}")
        else:
            source = Source(tracking_uri, f"runs:/{match['run']}/{match['path'].strip('/')}", match["run"])
        if source.run_id:
            run = client.get_run(source.run_id)
            source.params = dict(run.data.params)
            source.metrics = {k: float(v) for k, v in run.data.metrics.items()}
            source.tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.log-model")}
            source.run_url = f"{tracking_uri.rstrip('/')}/#/experiments/{run.info.experiment_id}/runs/{source.run_id}"
            source.datasets = mlflow_datasets.logged_inputs(run)
    except DomainError:
        raise
    except Exception as exc:  # MlflowException, requests' errors: a message for the person, never a 500
        raise refusal_for(exc, tracking_uri, model_uri) from None
    return source


@dataclass
class Converted:
    onnx: bytes
    flavor: str
    feature_names: list[str] | None
    parity: dict | None


def artifact_location(client, uri: str) -> str:
    """Where the files ``uri`` names are stored, asked of ``client``'s server: MLflow's own resolution of
    ``models:/`` and ``runs:/`` URIs reads the process-wide tracking and registry URIs, not the ones given."""
    match = MODEL_URI.match(uri)
    if match is not None and match["name"] and match["number"]:
        return client.get_model_version_download_uri(match["name"], match["number"])
    parts = re.match(r"^runs:/(?P<run>[0-9a-f]{8,64})/(?P<path>.+)$", uri)
    if parts is None:
        return uri
    run = client.get_run(parts["run"])
    path = parts["path"].strip("/")
    for output in getattr(getattr(run, "outputs", None), "model_outputs", None) or []:  # MLflow 3's logged models
        model = client.get_logged_model(output.model_id)
        if model.name == path.split("/")[0]:
            rest = path[len(model.name):].strip("/")
            return model.artifact_location.rstrip("/") + (f"/{rest}" if rest else "")
    return f"{run.info.artifact_uri.rstrip('/')}/{path}"  # a run's own artifact


def _download(source: Source, folder: Path) -> Path:
    import mlflow.artifacts

    try:
        uri = artifact_location(client_for(source.tracking_uri), source.model_uri)
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(folder),
                                                        tracking_uri=source.tracking_uri,
                                                        registry_uri=source.tracking_uri))
    except Exception as exc:
        raise refusal_for(exc, source.tracking_uri, source.model_uri) from None


def _example(model_dir: Path):
    from mlflow.models import Model

    try:
        example = Model.load(str(model_dir)).load_input_example(str(model_dir))
    except Exception:
        return None
    if example is None:
        return None
    import pandas as pd

    frame = example if isinstance(example, pd.DataFrame) else pd.DataFrame(np.asarray(example))
    return frame.head(SAMPLE_ROWS)


def _inside(model_dir: Path, name: str) -> Path:
    path = (model_dir / name).resolve()
    if not path.is_file() or not path.is_relative_to(model_dir.resolve()):
        raise MlflowRefused(_("The model names no data file inside the model."), code="not_a_model")
    return path


def _load_skops(model_dir: Path, conf: dict):
    """A scikit-learn model saved with skops: loaded without unpickling, trusting the types skops trusts and those
    the operator lists (``MG_MLFLOW_SKOPS_TRUSTED_TYPES``), never the ones the model file asks to be trusted."""
    import skops.io as sio

    path = _inside(model_dir, conf.get("pickled_model") or "model.skops")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise MlflowRefused(_("The skops file cannot be read: %(error)s") % {"error": str(exc)[:300]},
                            code="model_load_failed") from None
    allowed = set(settings.MG_MLFLOW_SKOPS_TRUSTED_TYPES)
    refused = sorted(t for t in untrusted if t not in allowed)
    if refused:
        raise MlflowRefused(_("The skops model holds types the platform does not trust: %(types)s. An operator who "
                              "trusts them lists them in MG_MLFLOW_SKOPS_TRUSTED_TYPES.")
                            % {"types": ", ".join(refused)}, code="untrusted_types", details={"types": refused})
    try:
        return sio.load(path, trusted=list(untrusted))
    except Exception as exc:
        raise MlflowRefused(_("The skops model cannot be loaded here: %(error)s") % {"error": str(exc)[:300]},
                            code="model_load_failed") from None


def _pickled(flavor: str, conf: dict) -> bool:
    """Whether loading the flavour unpickles (runs code the model's author chose)."""
    if flavor == "sklearn":
        return conf.get("serialization_format", "cloudpickle") != "skops"
    return str(conf.get("data", "")).endswith((".pkl", ".pickle"))  # LightGBM's scikit-learn models; XGBoost's are not


def _load(flavor: str, model_dir: Path, conf: dict | None = None):
    """The original model: a skops file through skops' own safe loader, the rest through MLflow's loader for the
    flavour (refused when it would unpickle and the operator has turned pickles off)."""
    import importlib

    conf = conf or {}
    if flavor == "sklearn" and conf.get("serialization_format") == "skops":
        return _load_skops(model_dir, conf)
    if _pickled(flavor, conf) and not settings.MG_MLFLOW_ALLOW_PICKLE:
        raise MlflowRefused(_("The %(flavor)s model is a pickle, and this platform loads no pickles "
                              "(MG_MLFLOW_ALLOW_PICKLE is off); log it with serialization_format=\"skops\" or as ONNX.")
                            % {"flavor": flavor}, code="pickle_refused")
    try:
        return importlib.import_module(f"mlflow.{flavor}").load_model(str(model_dir))
    except Exception as exc:  # a package this installation lacks (xgboost, lightgbm), a foreign class...
        raise MlflowRefused(_("The %(flavor)s model cannot be loaded here: %(error)s")
                            % {"flavor": flavor, "error": str(exc)[:300]}, code="model_load_failed") from None


def _to_onnx(flavor: str, model, sample: np.ndarray):
    opset = settings.MG_MLFLOW_TARGET_OPSET
    classifier = hasattr(model, "predict_proba")
    if flavor == "sklearn":
        from skl2onnx import to_onnx

        return to_onnx(model, sample[:1], options={id(model): {"zipmap": False}} if classifier else None,
                       target_opset=opset)
    if not hasattr(model, "predict"):
        raise MlflowRefused(_("Only models logged through the scikit-learn interface (XGBClassifier, LGBMRegressor, "
                              "...) can be converted; this one is a bare %(type)s.") % {"type": type(model).__name__},
                            code="unsupported_flavor")
    from onnxmltools import convert_lightgbm, convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    initial = [("input", FloatTensorType([None, sample.shape[1]]))]
    if flavor == "xgboost":  # onnxmltools picks the highest opset its converters support (below skl2onnx's)
        import copy

        unnamed = copy.deepcopy(model)  # the converter reads features as f0, f1...: a copy without the names
        unnamed.get_booster().feature_names = None
        return convert_xgboost(unnamed, initial_types=initial)
    return convert_lightgbm(model, initial_types=initial, **({"zipmap": False} if classifier else {}))


def _columns(model, model_dir: Path) -> list[str] | None:
    """The model's input columns: its MLflow signature's names, else the names it was fitted with."""
    from mlflow.models import Model

    try:
        signature = Model.load(str(model_dir)).signature
        names = signature.inputs.input_names() if signature is not None and signature.inputs is not None else []
    except Exception:
        names = []
    if names and all(isinstance(n, str) for n in names):
        return list(names)
    fitted = getattr(model, "feature_names_in_", None)
    return [str(n) for n in fitted] if fitted is not None else None


def _convert(flavor: str, model_dir: Path, tolerance: float, logged: list | None = None,
             conf: dict | None = None) -> Converted:
    model = _load(flavor, model_dir, conf)
    example, sample_from, dataset_name = _example(model_dir), "input example", ""
    if example is None or example.empty:
        from registry import mlflow_datasets

        found = mlflow_datasets.sample_frame(logged or [], _columns(model, model_dir), SAMPLE_ROWS)
        if found is None:
            raise MlflowRefused(_("The model has no input example and the run logged no reachable dataset with its "
                                  "columns, so the converted ONNX model cannot be checked against the original; log "
                                  "the model with input_example=... or log its training data with "
                                  "mlflow.log_input."), code="no_parity_sample")
        example, dataset_name = found
        example, sample_from = example.dropna(), "dataset"
        if example.empty:
            raise MlflowRefused(_("The logged dataset's rows all have missing values; nothing to check parity on."),
                                code="no_parity_sample")
    try:
        sample = example.to_numpy(dtype=np.float32)
    except (TypeError, ValueError):
        raise MlflowRefused(_("The parity sample has columns that are not numbers; only numeric inputs can be "
                              "converted."), code="conversion_failed") from None
    try:
        data = _to_onnx(flavor, model, sample).SerializeToString()
    except DomainError:
        raise
    except Exception as exc:
        raise MlflowRefused(_("The %(flavor)s model cannot be converted to ONNX: %(error)s")
                            % {"flavor": flavor, "error": str(exc)[:300]}, code="conversion_failed") from None
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: sample})
    if hasattr(model, "predict_proba"):
        expected, what = model.predict_proba(example), "probabilities"
        converted = next(np.asarray(g) for g in got[1:] + got[:1] if np.asarray(g).ndim == 2)
    else:
        expected, converted, what = model.predict(example), np.asarray(got[0]), "predictions"
    difference = float(np.max(np.abs(np.asarray(expected, dtype=np.float64).reshape(converted.shape)
                                     - converted.astype(np.float64))))
    parity = {"max_abs_diff": difference, "tolerance": tolerance, "rows": len(sample), "compared": what,
              "sample": sample_from, "dataset": dataset_name}
    if not np.isfinite(difference) or difference > tolerance:
        where = (_("rows of the logged dataset %(name)s") % {"name": dataset_name} if dataset_name
                 else _("rows of its input example"))
        raise MlflowRefused(_("The converted ONNX model differs from the original by up to %(diff).3g on %(rows)s "
                              "%(where)s, above the tolerance %(tol).3g; nothing was imported.")
                            % {"diff": difference, "rows": len(sample), "tol": tolerance, "where": where},
                            code="parity_failed", details=parity)
    names = [str(c) for c in example.columns] if not all(isinstance(c, int) for c in example.columns) else None
    return Converted(data, flavor, names, parity)


def convert(source: Source, folder: Path, tolerance: float, logged: list | None = None) -> Converted:
    import yaml

    (folder / "model").mkdir(parents=True, exist_ok=True)
    model_dir = _download(source, folder / "model")
    try:
        flavors = yaml.safe_load((model_dir / "MLmodel").read_text()).get("flavors") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        raise MlflowRefused(_("%(uri)s is not an MLflow model (no readable MLmodel file).")
                            % {"uri": source.model_uri}, code="not_a_model") from None
    if "onnx" in flavors:
        data_file = model_dir / flavors["onnx"].get("data", "model.onnx")
        if not data_file.is_file() or not data_file.resolve().is_relative_to(model_dir.resolve()):
            raise MlflowRefused(_("The ONNX flavour names no model file inside the model."), code="not_a_model")
        return Converted(data_file.read_bytes(), "onnx", None, None)
    for flavor in CONVERTIBLE:
        if flavor in flavors:
            return _convert(flavor, model_dir, tolerance, logged, flavors[flavor] or {})
    raise MlflowRefused(_("The model's flavours (%(flavors)s) include none of onnx, sklearn, xgboost, lightgbm.")
                        % {"flavors": ", ".join(sorted(flavors)) or "-"}, code="unsupported_flavor",
                        details={"flavors": sorted(flavors)})


def _quiet(step: str, percent: int) -> None:
    return None


def version_import(*, actor, passport: ModelPassport, model_uri: str, tracking_uri: str = "",
                   tolerance: float = DEFAULT_TOLERANCE, progress=_quiet) -> tuple[ModelVersion, bool]:
    """The version imported from MLflow, and whether it is new (False: that MLflow version was imported before).
    ``progress(step, percent)`` hears how far it is (a background job shows it)."""
    from registry.services import version_register

    check(actor=actor, passport=passport, tracking_uri=tracking_uri, tolerance=tolerance)
    tracking_uri = (tracking_uri or settings.MG_MLFLOW_TRACKING_URI).strip()
    progress(_("Asking MLflow for %(uri)s") % {"uri": model_uri}, 5)
    source = resolve(tracking_uri, model_uri)
    existing = passport.versions.filter(mlflow_model_uri=source.model_uri).order_by("number").first()
    if existing is not None:
        return existing, False
    with tempfile.TemporaryDirectory(prefix="mlflow-import-") as folder:
        if source.datasets:
            progress(_("Fetching the datasets the run logged"), 15)
            mlflow_datasets.locate(source.datasets, client=client_for(tracking_uri), run_id=source.run_id,
                                   tracking_uri=tracking_uri, folder=Path(folder) / "datasets")
        progress(_("Downloading and converting the model, checking parity"), 35)
        converted = convert(source, Path(folder), tolerance, source.datasets)
        if any(item.path is not None for item in source.datasets):
            progress(_("Storing the datasets"), 65)
            mlflow_datasets.register(source.datasets, actor=actor, passport=passport, run_id=source.run_id)
    progress(_("Checking and registering the ONNX model"), 80)
    metrics = {k: v for k, v in source.metrics.items() if np.isfinite(v)}
    commit = source.tags.get("mlflow.source.git.commit", "")
    description = _("Imported from MLflow %(uri)s (run %(run)s%(commit)s).") % {
        "uri": source.model_uri, "run": source.run_id or "-", "commit": f", commit {commit[:12]}" if commit else ""}
    upload = SimpleUploadedFile("model.onnx", converted.onnx, content_type="application/octet-stream")
    provenance = {"source": "mlflow", "tracking_uri": tracking_uri, "model_uri": source.model_uri,
                  "requested_uri": model_uri, "registered_model": source.registered, "run_id": source.run_id,
                  "run_url": source.run_url, "flavor": converted.flavor, "params": source.params,
                  "tags": source.tags, "commit": commit, "parity": converted.parity,
                  "datasets": [item.record() for item in source.datasets]}
    version = version_register(actor=actor, passport=passport, upload=upload, feature_names=converted.feature_names,
                               training_dataset=mlflow_datasets.training(source.datasets), metrics=metrics,
                               change_description=description, mlflow_run_id=source.run_id,
                               mlflow_model_uri=source.model_uri, provenance=provenance)
    return version, True


def check(*, actor, passport: ModelPassport, tracking_uri: str = "", tolerance: float = DEFAULT_TOLERANCE,
          model_uri: str | None = None) -> None:
    """What can be refused before MLflow is asked anything: the person, the server, the tolerance, the URI's form."""
    perms.require(actor, perms.UPLOAD, passport, _("import versions"))
    tracking_uri = (tracking_uri or settings.MG_MLFLOW_TRACKING_URI).strip()
    if not tracking_uri or not allowed(tracking_uri):
        raise MlflowRefused(_("Versions are imported only from the MLflow servers the operator allows "
                              "(MG_MLFLOW_TRACKING_URIS); %(uri)s is not one of them.") % {"uri": tracking_uri or "-"},
                            code="tracking_uri_not_allowed", field="tracking_uri")
    if not isinstance(tolerance, int | float) or not 0 <= tolerance <= 1:
        raise MlflowRefused(_("The tolerance is a number between 0 and 1."), code="invalid", field="tolerance")
    if model_uri is not None and MODEL_URI.match(model_uri.strip()) is None:
        raise MlflowRefused(URI_HINT, code="invalid", field="model_uri")
