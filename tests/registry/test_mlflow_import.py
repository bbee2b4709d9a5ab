"""Import from a real MLflow tracking server started here (``mlflow server``, SQLite backend, artifacts served by the
server from a local folder): a scikit-learn model converted to ONNX with its parity recorded, an ONNX model taken as
it is, by version, alias and run URI; a deliberately skewed model refused by the parity check; a second import of
the same MLflow version creates nothing; bad input and unreachable or unknown servers get clear errors."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from sklearn.linear_model import LogisticRegression

from core.errors import DomainError
from governance.audit.models import AuditEvent
from registry import mlflow_datasets, mlflow_import
from registry.models import Dataset, ModelVersion
from tests.api_helpers import assert_error, bearer_client
from tests.factories import linear_onnx
from tests.registry.mlflow_server import LIGHTGBM, ONNX, SERVER, SKLEARN, XGBOOST, tracking_server

pytestmark = [pytest.mark.skipif(not SERVER.exists(), reason="needs var/mlflow-server (scripts/bootstrap.sh test)")]


class Skewed(LogisticRegression):
    """A classifier whose own probabilities are pushed 0.05 off what its coefficients (and so its ONNX) give."""

    def predict_proba(self, X):
        p = super().predict_proba(X)
        p[:, 1] = np.clip(p[:, 1] + 0.05, 0, 1)
        p[:, 0] = 1 - p[:, 1]
        return p


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A tracking server with a scikit-learn model (v1, alias champion), an ONNX model and a skewed one. Made once a
    test worker: ``--dist load`` spreads this module's tests over the workers, between other modules' tests, and a
    module fixture would be made again each time a worker came back to the module (about 80 s each)."""
    import mlflow
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
    from skl2onnx.operator_converters.linear_classifier import convert_sklearn_linear_classifier

    update_registered_converter(Skewed, "TestsSkewedLogisticRegression", calculate_linear_classifier_output_shapes,
                                convert_sklearn_linear_classifier, options={"zipmap": [True, False, "columns"],
                                                                            "nocl": [True, False],
                                                                            "raw_scores": [True, False]})
    root = tmp_path_factory.mktemp("mlflow")
    with tracking_server(root) as url:
        mlflow.set_tracking_uri(url)
        rng = np.random.default_rng(0)
        X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["income", "debt", "age"]).astype("float32")
        y = (X["income"] - X["debt"] > 0).astype(int)
        client = mlflow.MlflowClient(url)
        with mlflow.start_run() as run:
            mlflow.log_params({"C": 1.0, "solver": "lbfgs"})
            mlflow.log_metric("auc", 0.91)
            mlflow.set_tag("mlflow.source.git.commit", "0123456789abcdef0123")
            mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", input_example=X.head(20),
                                     registered_model_name="credit", serialization_format="cloudpickle", **SKLEARN)
            sklearn_run = run.info.run_id
        client.set_registered_model_alias("credit", "champion", "1")
        with mlflow.start_run():
            import onnx

            mlflow.onnx.log_model(onnx.load_from_string(linear_onnx(seed=3)), name="model",
                                  registered_model_name="credit-onnx", **ONNX)
        with mlflow.start_run():
            mlflow.sklearn.log_model(Skewed().fit(X, y), name="model", input_example=X.head(20),
                                     registered_model_name="skewed", serialization_format="cloudpickle", **SKLEARN)
        import lightgbm
        import xgboost

        with mlflow.start_run():
            mlflow.xgboost.log_model(xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y), name="model",
                                     input_example=X.head(20), registered_model_name="credit-xgb", **XGBOOST)
        with mlflow.start_run():
            regressor = lightgbm.LGBMRegressor(n_estimators=20, num_leaves=8, verbose=-1).fit(X, X["age"])
            mlflow.lightgbm.log_model(regressor, name="model", input_example=X.head(20),
                                      registered_model_name="age-lgbm", serialization_format="cloudpickle", **LIGHTGBM)
        with mlflow.start_run():  # skops: loaded without unpickling; a class of its own is not trusted
            mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", input_example=X.head(20),
                                     registered_model_name="credit-skops", serialization_format="skops", **SKLEARN)
        with mlflow.start_run():
            mlflow.sklearn.log_model(Skewed().fit(X, y), name="model", input_example=X.head(20),
                                     registered_model_name="skewed-skops", serialization_format="skops", **SKLEARN,
                                     skops_trusted_types=[f"{Skewed.__module__}.Skewed"])  # the platform ignores it
        # A model logged without an input example, with its data logged as run inputs: the training sample as an
        # artifact of the run (named by its path on the training machine), the holdout on a shared folder, one
        # source behind a URL and one local file outside the shared folders (neither is read), and a symlink in the
        # shared folder that points out of it.
        shared, elsewhere = root / "shared", root / "elsewhere"
        shared.mkdir()
        elsewhere.mkdir()
        data = X.assign(y=y)
        train_file, holdout_file = elsewhere / "train.csv", shared / "holdout.csv"
        data.head(200).to_csv(train_file, index=False)
        data.tail(100).to_csv(holdout_file, index=False)
        (elsewhere / "secret.csv").write_text("token\nhunter2\n")
        (shared / "escape.csv").symlink_to(elsewhere / "secret.csv")
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(train_file), "data")
            for frame, source, name, context in (
                    (data.head(200), str(train_file), "train", "training"),
                    (data.tail(100), str(holdout_file), "holdout", "validation"),
                    (data.tail(50), "https://data.example.com/holdout-2025.csv", "remote", "test"),
                    (data.tail(10), str(elsewhere / "secret.csv"), "outside", "other"),
                    (data.tail(10), str(shared / "escape.csv"), "escape", "other")):
                mlflow.log_input(mlflow.data.from_pandas(frame, source=source, name=name, targets="y"),
                                 context=context)
            mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", registered_model_name="credit-data",
                                     serialization_format="cloudpickle", **SKLEARN)
            mlflow.sklearn.log_model(LogisticRegression(C=0.05).fit(X, y), name="strong-prior",
                                     serialization_format="cloudpickle", **SKLEARN)
            data_run = run.info.run_id
        with mlflow.start_run():  # its only data is behind a URL: no sample to check the conversion on
            mlflow.log_input(mlflow.data.from_pandas(data, source="https://data.example.com/all.csv", name="all"),
                             context="training")
            mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", **SKLEARN,
                                     registered_model_name="credit-remote", serialization_format="cloudpickle")
        mlflow.set_tracking_uri("")  # the platform never relies on the process-wide MLflow URIs
        yield {"url": url, "sklearn_run": sklearn_run, "data_run": data_run, "shared": shared,
               "train_file": train_file, "holdout_file": holdout_file}
        mlflow.set_tracking_uri("")


@pytest.fixture
def allowed(settings, mlflow_server):
    settings.MG_MLFLOW_TRACKING_URIS = [mlflow_server["url"]]
    settings.MG_MLFLOW_TRACKING_URI = mlflow_server["url"]
    settings.MG_MLFLOW_DATASET_ROOTS = [str(mlflow_server["shared"])]
    return mlflow_server


@pytest.mark.django_db
def test_a_scikit_learn_model_is_converted_with_its_parity_and_its_run(allowed, passport, developer):
    version, created = mlflow_import.version_import(actor=developer, passport=passport, model_uri="models:/credit/1")
    assert created and version.number == 1 and version.state == "draft"
    assert version.mlflow_model_uri == "models:/credit/1" and version.mlflow_run_id == allowed["sklearn_run"]
    provenance = version.provenance
    assert provenance["flavor"] == "sklearn" and provenance["params"] == {"C": "1.0", "solver": "lbfgs"}
    assert provenance["commit"] == "0123456789abcdef0123" and provenance["registered_model"] == "credit v1"
    assert 0 <= provenance["parity"]["max_abs_diff"] < 1e-4 and provenance["parity"]["rows"] == 20
    assert version.metrics == {"auc": 0.91}
    assert [f["name"] for f in version.feature_schema["features"]] == ["income", "debt", "age"]
    artifact = version.artifact.open("rb").read()
    assert hashlib.sha256(artifact).hexdigest() == version.sha256
    session = ort.InferenceSession(artifact, providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1] == 3
    event = AuditEvent.objects.get(action="version.registered", object_id=str(version.pk))
    assert event.data["imported_from"]["model_uri"] == "models:/credit/1"

    again, created = mlflow_import.version_import(actor=developer, passport=passport,
                                                  model_uri="models:/credit@champion")
    assert not created and again.pk == version.pk  # the alias names the same MLflow version: nothing new
    assert passport.versions.count() == 1


@pytest.mark.django_db
def test_an_onnx_model_is_taken_as_it_is_and_a_run_uri_works_too(allowed, passport, developer):
    version, created = mlflow_import.version_import(actor=developer, passport=passport,
                                                    model_uri="models:/credit-onnx/1")
    assert created and version.sha256 == hashlib.sha256(linear_onnx(seed=3)).hexdigest()
    assert version.provenance["flavor"] == "onnx" and version.provenance["parity"] is None
    by_run, created = mlflow_import.version_import(actor=developer, passport=passport,
                                                   model_uri=f"runs:/{allowed['sklearn_run']}/model")
    assert created and by_run.provenance["flavor"] == "sklearn" and by_run.number == 2


@pytest.mark.django_db
def test_skops_models_load_without_unpickling_and_pickles_can_be_turned_off(allowed, passport, developer, settings):
    version, created = mlflow_import.version_import(actor=developer, passport=passport,
                                                    model_uri="models:/credit-skops/1")
    assert created and version.provenance["flavor"] == "sklearn"
    assert version.provenance["parity"]["max_abs_diff"] < 1e-4
    # a type skops does not trust by default is refused unless the operator lists it
    with pytest.raises(DomainError) as untrusted:
        mlflow_import.version_import(actor=developer, passport=passport, model_uri="models:/skewed-skops/1")
    assert untrusted.value.code == "untrusted_types"
    assert untrusted.value.details["types"] == [f"{Skewed.__module__}.Skewed"]
    settings.MG_MLFLOW_SKOPS_TRUSTED_TYPES = [f"{Skewed.__module__}.Skewed"]
    with pytest.raises(DomainError) as parity:  # trusted now: loaded, and then its skew is caught
        mlflow_import.version_import(actor=developer, passport=passport, model_uri="models:/skewed-skops/1")
    assert parity.value.code == "parity_failed"
    # an operator who loads no pickles: cloudpickle and pickle flavours are refused before anything is loaded
    settings.MG_MLFLOW_ALLOW_PICKLE = False
    with pytest.raises(DomainError) as pickled:
        mlflow_import.version_import(actor=developer, passport=passport, model_uri="models:/credit/1")
    assert pickled.value.code == "pickle_refused" and "skops" in pickled.value.message
    with pytest.raises(DomainError) as lgbm:
        mlflow_import.version_import(actor=developer, passport=passport, model_uri="models:/age-lgbm/1")
    assert lgbm.value.code == "pickle_refused"
    assert passport.versions.count() == 1


@pytest.mark.django_db
def test_the_datasets_the_run_logged_become_the_passports_where_their_files_are_reachable(allowed, passport,
                                                                                       developer, client):
    version, created = mlflow_import.version_import(actor=developer, passport=passport,
                                                    model_uri="models:/credit-data/1")
    assert created
    records = {d["name"]: d for d in version.provenance["datasets"]}
    assert list(records) == ["train", "holdout", "remote", "outside", "escape"]
    train = Dataset.objects.get(pk=records["train"]["dataset"])
    holdout = Dataset.objects.get(pk=records["holdout"]["dataset"])
    # the training sample, found among the run's artifacts by its file name, and the holdout on the shared folder
    assert records["train"]["via"] == "artifact" and records["holdout"]["via"] == "shared folder"
    assert train.kind == "reference" and holdout.kind == "validation" and train.passport == passport
    assert train.sha256 == hashlib.sha256(allowed["train_file"].read_bytes()).hexdigest() and train.row_count == 200
    assert holdout.sha256 == hashlib.sha256(allowed["holdout_file"].read_bytes()).hexdigest()
    assert holdout.row_count == 100 and "MLflow run" in holdout.name
    assert version.training_dataset == train and version.training_data_digest == train.sha256
    # nothing the run merely points at is read: a URL, a file outside the shared folders, a symlink out of them
    assert {records[n]["skipped"] for n in ("remote", "outside", "escape")} == {mlflow_datasets.NOT_REACHABLE}
    assert Dataset.objects.filter(passport=passport).count() == 2
    assert not Dataset.objects.filter(name__contains="secret").exists()
    # no input example: parity was checked on the training sample's rows, in the model's own columns
    parity = version.provenance["parity"]
    assert parity["sample"] == "dataset" and parity["dataset"] == "train" and parity["rows"] == 200
    assert parity["max_abs_diff"] < 1e-4
    assert [f["name"] for f in version.feature_schema["features"]] == ["income", "debt", "age"]

    # the version page says what became of each, in the reader's language
    client.force_login(developer)
    page = client.get(f"/passports/{passport.key}/versions/{version.number}/").content.decode()
    assert "rows of the logged dataset train" in page and "stored from an artifact of the run" in page
    assert "left behind: its file is neither an artifact of the run nor under MG_MLFLOW_DATASET_ROOTS" in page
    client.cookies["django_language"] = "ru"
    page = client.get(f"/passports/{passport.key}/versions/{version.number}/").content.decode()
    del client.cookies["django_language"]
    assert "left behind" not in page and "не взят: его файл не артефакт прогона" in page

    # the same files again (another model of the same run) are taken as the passport holds them
    by_run, created = mlflow_import.version_import(actor=developer, passport=passport,
                                                   model_uri=f"runs:/{allowed['data_run']}/strong-prior")
    assert created and by_run.training_dataset == train
    assert all(d["reused"] for d in by_run.provenance["datasets"] if d["dataset"])
    assert Dataset.objects.filter(passport=passport).count() == 2


@pytest.mark.django_db
def test_a_model_without_an_input_example_or_reachable_data_is_refused_for_parity(allowed, passport, developer):
    with pytest.raises(DomainError) as refused:
        mlflow_import.version_import(actor=developer, passport=passport, model_uri="models:/credit-remote/1")
    assert refused.value.code == "no_parity_sample" and "mlflow.log_input" in refused.value.message
    assert not passport.versions.exists() and not Dataset.objects.filter(passport=passport).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("uri", "flavor", "compared"), [("models:/credit-xgb/1", "xgboost", "probabilities"),
                                                          ("models:/age-lgbm/1", "lightgbm", "predictions")])
def test_xgboost_and_lightgbm_flavours_are_converted_with_their_parity(allowed, passport, developer, uri, flavor,
                                                                       compared):
    version, created = mlflow_import.version_import(actor=developer, passport=passport, model_uri=uri)
    parity = version.provenance["parity"]
    assert created and version.provenance["flavor"] == flavor and parity["compared"] == compared
    assert 0 <= parity["max_abs_diff"] < 1e-4 and parity["rows"] == 20
    assert len(version.feature_schema["features"]) == 3


@pytest.mark.django_db
def test_the_parity_check_refuses_a_model_its_onnx_does_not_reproduce(allowed, passport, developer):
    events = AuditEvent.objects.count()
    with pytest.raises(DomainError) as caught:
        mlflow_import.version_import(actor=developer, passport=passport, model_uri="models:/skewed/1")
    assert caught.value.code == "parity_failed" and caught.value.details["max_abs_diff"] > 0.04
    assert ModelVersion.objects.count() == 0 and AuditEvent.objects.count() == events
    version, _ = mlflow_import.version_import(actor=developer, passport=passport, model_uri="models:/skewed/1",
                                              tolerance=0.1)  # the importer may allow more
    assert version.provenance["parity"]["tolerance"] == 0.1


@pytest.mark.django_db
def test_bad_input_and_unknown_or_unreachable_servers_are_clear_4xx(allowed, passport, developer, outsider,
                                                                    settings):
    api = bearer_client(developer)
    url = f"/api/v1/passports/{passport.key}/versions/import-mlflow/"
    cases = [({"model_uri": "credit"}, "invalid"),
             ({"model_uri": "models:/nope/1"}, "mlflow_not_found"),
             ({"model_uri": "models:/credit@nope"}, "mlflow_not_found"),
             ({"model_uri": "models:/credit/1", "tracking_uri": "http://10.0.0.1:5000"}, "tracking_uri_not_allowed"),
             ({"model_uri": "models:/credit/1", "tolerance": 2}, None)]
    for body, code in cases:
        assert_error(api.post(url, body, format="json"), 400, code)
    settings.MG_MLFLOW_TRACKING_URIS = [allowed["url"], "http://127.0.0.1:9"]
    assert_error(api.post(url, {"model_uri": "models:/credit/1", "tracking_uri": "http://127.0.0.1:9"},
                          format="json"), 400, "mlflow_unreachable")
    assert_error(bearer_client(outsider).post(url, {"model_uri": "models:/credit/1"}, format="json"), 404)
    assert ModelVersion.objects.count() == 0

    created = api.post(url, {"model_uri": "models:/credit/1"}, format="json")
    assert created.status_code == 201 and created.json()["already_imported"] is False
    again = api.post(url, {"model_uri": "models:/credit/1"}, format="json")
    assert again.status_code == 200 and again.json()["already_imported"] is True
    assert again.json()["version"]["provenance"]["parity"]["max_abs_diff"] < 1e-4


@pytest.mark.django_db
def test_the_passport_page_imports_in_the_background_and_refuses_what_it_can_at_once(
        allowed, passport, developer, outsider, client, eager, django_capture_on_commit_callbacks):
    from governance.jobs.models import Job

    url = f"/passports/{passport.key}/versions/import-mlflow/"
    client.force_login(developer)
    form = {"tracking_uri": allowed["url"], "tolerance": "0.0001"}
    bad = client.post(url, {**form, "model_uri": "s3://bucket/model"})
    assert bad.status_code == 400 and "models:/name@champion" in bad.content.decode()
    assert not Job.objects.exists()  # refused at once: nothing started
    with django_capture_on_commit_callbacks(execute=True):
        skewed = client.post(url, {**form, "model_uri": "models:/skewed/1"})
    job = Job.objects.get()
    assert skewed["Location"] == f"/jobs/{job.pk}/"
    assert job.state == "failed" and job.error_code == "parity_failed" and "tolerance" in job.error
    assert not passport.versions.exists()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(url, {**form, "model_uri": "models:/credit@champion"})
    job = Job.objects.get(pk=int(done["Location"].strip("/").split("/")[-1]))
    version = passport.versions.get()
    assert job.state == "succeeded" and job.result_url == f"/passports/{passport.key}/versions/{version.number}/"
    assert job.title == f"Import of models:/credit@champion into {passport.key}"
    page = client.get(done["Location"]).content.decode()
    assert "imported from models:/credit/1 as a draft" in page
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(url, {**form, "model_uri": "models:/credit/1"})
    job = Job.objects.get(pk=int(again["Location"].strip("/").split("/")[-1]))
    assert job.state == "succeeded" and "nothing new" in job.result_label and passport.versions.count() == 1
    client.force_login(outsider)  # who may not import sees no form and starts nothing
    assert client.post(url, {**form, "model_uri": "models:/credit/1"}).status_code in (403, 404)
    assert Job.objects.count() == 3


@pytest.mark.django_db
def test_the_management_command(allowed, passport, developer, capsys):
    call_command("mlflow_import", passport.key, "models:/credit-onnx/1", "--as", developer.username)
    assert "imported from models:/credit-onnx/1" in capsys.readouterr().out
    call_command("mlflow_import", passport.key, "models:/credit-onnx/1", "--as", developer.username)
    assert "was imported before" in capsys.readouterr().out
    with pytest.raises(CommandError, match="mlflow_not_found"):
        call_command("mlflow_import", passport.key, "models:/absent/9", "--as", developer.username)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_developer_imports_from_the_passport_page_in_the_browser(allowed, live_server, passport, developer,
                                                                   job_worker):
    from tests.ui.test_browser_signoff import CHROMIUM, open_as, shoot_pages

    if not Path(CHROMIUM).exists():
        pytest.skip("needs chromium")
    from playwright.sync_api import sync_playwright

    from tests.ui.test_browser_signoff import CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = open_as(browser, live_server, developer.username, f"/passports/{passport.key}/")
            page.click("#mlflow-import-link")
            page.fill("#id_model_uri", "models:/credit@champion")
            page.click("#mlflow-import-form button[type=submit]")
            page.wait_for_url("**/jobs/*/")  # downloaded, converted and checked by a worker; its page follows it
            page.locator("#job-open").wait_for(timeout=120_000)
            assert "Version 1 imported from models:/credit/1 as a draft." in page.locator("#job-result").inner_text()
            page.click("#job-open")
            page.wait_for_url(f"{live_server.url}/passports/{passport.key}/versions/1/")
            provenance = page.locator("#mlflow-provenance").inner_text()
            assert "models:/credit/1" in provenance and "converted to ONNX" in provenance
            assert "0123456789ab" in provenance  # the source commit
            from registry.models import MlflowFollow

            MlflowFollow.objects.create(  # one follow with a problem, one stopped: the table at both widths
                passport=passport, tracking_uri=allowed["url"], registered_model="credit-scoring-gradient-boosting",
                created_by=developer, last_version=7, imported=3, last_error_code="parity_failed",
                last_error="models:/credit-scoring-gradient-boosting/7 was not imported: the converted ONNX model "
                           "differs from the original by up to 0.05 on 20 rows of its input example.")
            MlflowFollow.objects.create(passport=passport, tracking_uri=allowed["url"], registered_model="credit",
                                        created_by=developer, active=False, last_version=1)
            shoot_pages(page, live_server, {"import": f"/passports/{passport.key}/versions/import-mlflow/",
                                            "version": f"/passports/{passport.key}/versions/1/"}, "mlflow")
            assert page.console_errors == []
        finally:
            browser.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_command_line_client_imports_and_says_when_it_was_imported_before(allowed, live_server, passport,
                                                                              developer):
    import json
    import sys

    from governance.accounts.services import token_create
    from tests.api_helpers import ALL_SCOPES

    _token, secret = token_create(user=developer, name="ci", scopes=ALL_SCOPES)
    mg = str(Path(sys.executable).with_name("mg"))
    env = {"PATH": "/usr/bin:/bin", "MG_URL": live_server.url, "MG_TOKEN": secret}

    def run(*args):
        return subprocess.run([mg, *args], capture_output=True, text=True, env=env, timeout=120)

    first = run("--json", "import", passport.key, "models:/credit@champion")
    assert first.returncode == 0, first.stdout + first.stderr
    assert json.loads(first.stdout)["already_imported"] is False and json.loads(first.stdout)["number"] == 1
    again = run("import", passport.key, "models:/credit/1")
    assert again.returncode == 0 and "was imported before as" in again.stdout
    skewed = run("--json", "import", passport.key, "models:/skewed/1")
    assert skewed.returncode == 5 and json.loads(skewed.stdout)["error"]["code"] == "parity_failed"
    followed = run("follow", passport.key, "credit")
    assert followed.returncode == 0 and "versions after 1 are imported as drafts" in followed.stdout
    again = run("--json", "follow", passport.key, "credit")
    assert again.returncode == 5 and json.loads(again.stdout)["error"]["code"] == "already_followed"


def _log_version(url: str, name: str, model) -> None:
    import mlflow

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["income", "debt", "age"]).astype("float32")
    y = (X["income"] > X["debt"]).astype(int)
    mlflow.set_tracking_uri(url)
    try:
        with mlflow.start_run():
            mlflow.sklearn.log_model(model.fit(X, y), name="model", input_example=X.head(20),
                                     registered_model_name=name, serialization_format="cloudpickle", **SKLEARN)
    finally:
        mlflow.set_tracking_uri("")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # as beat runs it: no transaction around
def test_a_followed_model_has_each_new_version_imported_once_and_refusals_recorded(allowed, passport, developer,
                                                                                   settings):
    from governance.audit.models import AuditEvent
    from registry.mlflow_follow import follow_start, follow_stop, follows_poll
    from registry.models import MlflowFollow

    url = allowed["url"]
    _log_version(url, "followed", LogisticRegression())  # there before the follow: not imported by it
    follow = follow_start(actor=developer, passport=passport, registered_model="followed", tracking_uri=url)
    assert follow.last_version == 1 and follow.active
    with pytest.raises(DomainError) as twice:
        follow_start(actor=developer, passport=passport, registered_model="followed", tracking_uri=url)
    assert twice.value.code == "already_followed"
    with pytest.raises(DomainError) as absent:
        follow_start(actor=developer, passport=passport, registered_model="no-such-model", tracking_uri=url)
    assert absent.value.code == "mlflow_not_found"
    assert follows_poll()["imported"] == 0  # nothing new yet

    _log_version(url, "followed", LogisticRegression(C=0.3))  # v2: imported
    _log_version(url, "followed", Skewed())  # v3: refused by the parity check, recorded, passed over
    _log_version(url, "followed", LogisticRegression(C=3.0))  # v4: imported
    got = follows_poll()
    follow.refresh_from_db()
    assert got == {"follows": 1, "imported": 2, "refused": 1, "busy": 0}, (follow.last_error, follow.last_version)
    follow.refresh_from_db()
    assert follow.last_version == 4 and follow.imported == 2 and follow.last_checked_at
    assert [v.mlflow_model_uri for v in passport.versions.order_by("number")] == ["models:/followed/2",
                                                                                 "models:/followed/4"]
    assert all(v.state == "draft" and v.author == developer for v in passport.versions.all())
    refused = AuditEvent.objects.get(action="mlflow.follow_refused")
    assert refused.data["model_uri"] == "models:/followed/3" and refused.data["code"] == "parity_failed"
    assert refused.actor_repr == "mlflow follower"
    assert follows_poll()["imported"] == 0 and passport.versions.count() == 2  # polled again: nothing twice

    # the server goes away: the follow waits and tries the same versions again later
    settings.MG_MLFLOW_TRACKING_URIS = [url, "http://127.0.0.1:9"]
    MlflowFollow.objects.create(passport=passport, tracking_uri="http://127.0.0.1:9", registered_model="gone",
                                last_version=0, created_by=developer)
    follows_poll()
    gone = MlflowFollow.objects.get(registered_model="gone")
    assert gone.last_error_code == "mlflow_unreachable" and gone.last_version == 0 and gone.active

    # stopped: no more imports
    follow_stop(actor=developer, follow=follow)
    _log_version(url, "followed", LogisticRegression(C=10.0))
    follows_poll()
    assert passport.versions.count() == 2
    assert AuditEvent.objects.filter(action="mlflow.follow_started").count() == 1
    assert AuditEvent.objects.filter(action="mlflow.follow_stopped").count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # as beat runs it: no transaction around
def test_a_follow_ends_when_the_person_who_set_it_up_may_no_longer_import(allowed, passport, developer):
    from registry.mlflow_follow import follow_start, follows_poll

    _log_version(allowed["url"], "followed-owner", LogisticRegression())
    follow = follow_start(actor=developer, passport=passport, registered_model="followed-owner",
                          tracking_uri=allowed["url"])
    _log_version(allowed["url"], "followed-owner", LogisticRegression(C=0.2))
    passport.development_team.members.remove(developer)  # moved to another team, and no longer its technical owner
    type(passport).objects.filter(pk=passport.pk).update(technical_owner=passport.business_owner)
    follows_poll()
    follow.refresh_from_db()
    assert not follow.active and follow.last_error_code and not passport.versions.exists()


@pytest.mark.django_db
def test_the_import_page_starts_and_stops_a_follow(allowed, passport, developer, outsider, client):
    from registry.models import MlflowFollow

    _log_version(allowed["url"], "followed-page", LogisticRegression())
    url = f"/passports/{passport.key}/versions/import-mlflow/"
    client.force_login(developer)
    form = {"follow-tracking_uri": allowed["url"], "follow-tolerance": "0.0001"}
    bad = client.post(url, {**form, "follow-registered_model": "followed-page/1"})
    assert bad.status_code == 400 and not MlflowFollow.objects.exists()
    started = client.post(url, {**form, "follow-registered_model": "followed-page"})
    assert started.status_code == 302 and started["Location"].endswith("#mlflow-follows")
    follow = MlflowFollow.objects.get()
    page = client.get(url).content.decode()
    assert 'data-follow="followed-page"' in page and "Stop following" in page
    stop = f"/passports/{passport.key}/mlflow-follows/{follow.pk}/stop/"
    client.force_login(outsider)
    assert client.post(stop).status_code in (403, 404)
    follow.refresh_from_db()
    assert follow.active
    client.force_login(developer)
    assert client.post(stop).status_code == 302
    follow.refresh_from_db()
    assert not follow.active


@pytest.mark.django_db
def test_the_api_starts_lists_and_stops_a_follow(allowed, passport, developer, outsider, owner):
    _log_version(allowed["url"], "followed-api", LogisticRegression())
    api = bearer_client(developer)
    url = f"/api/v1/passports/{passport.key}/mlflow-follows/"
    assert_error(api.post(url, {"registered_model": "followed-api/1"}, format="json"), 400, "invalid")
    assert_error(api.post(url, {"registered_model": "followed-api", "tracking_uri": "http://10.0.0.1:5000"},
                          format="json"), 400, "tracking_uri_not_allowed")
    assert_error(api.post(url, {"registered_model": "nothing-here"}, format="json"), 400, "mlflow_not_found")
    assert_error(api.post(url, {"registered_model": "followed-api", "tolerance": 7}, format="json"), 400)
    created = api.post(url, {"registered_model": "followed-api"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["active"] and body["last_version"] == 1 and body["created_by"] == developer.username
    assert_error(api.post(url, {"registered_model": "followed-api"}, format="json"), 409, "already_followed")
    assert [f["registered_model"] for f in api.get(url).json()["results"]] == ["followed-api"]
    # the owner sees it but may not stop it; an outsider does not see the passport at all
    assert_error(bearer_client(owner).post(f"{url}{body['id']}/stop/"), 403)
    assert_error(bearer_client(outsider).get(url), 404)
    assert_error(bearer_client(outsider).post(f"{url}{body['id']}/stop/"), 404)
    stopped = api.post(f"{url}{body['id']}/stop/")
    assert stopped.status_code == 200 and stopped.json()["active"] is False


@pytest.mark.django_db
def test_a_follow_records_what_it_refused_in_the_language_it_was_set_up_in(allowed, passport, developer):
    from django.utils.translation import override

    from registry.mlflow_follow import follow_start, follows_poll

    _log_version(allowed["url"], "followed-ru", LogisticRegression())
    with override("ru"):
        follow = follow_start(actor=developer, passport=passport, registered_model="followed-ru",
                              tracking_uri=allowed["url"])
    assert follow.language == "ru"
    _log_version(allowed["url"], "followed-ru", Skewed())
    follows_poll()  # a worker, in no particular language
    follow.refresh_from_db()
    assert follow.last_error_code == "parity_failed" and follow.last_version == 2
    assert follow.last_error.startswith("models:/followed-ru/2 не импортирована: Преобразованная ONNX-модель")
