"""Explaining single decisions: the API and the page give each row's SHAP values, with the algorithm and scale
asked for, an additivity check against ONNX Runtime and reason codes in the caller's language; bad requests get
a 400 naming the field, other people's passports a 404, a token without the registry scope a 403."""

from __future__ import annotations

import numpy as np
import pytest
import shap
from django.conf import settings
from django.urls import reverse

from tests.api_helpers import API, assert_error, bearer_client
from tests.factories import make_passport
from tests.validation.conftest import TIER_3, _dataset, _version

pytestmark = pytest.mark.django_db
URL = f"{API}/validation/explanations/"


@pytest.fixture
def explained(developer, owner, team, credit):
    passport = make_passport(actor=developer, key="credit-explain", team=team, business_owner=owner, **TIER_3)
    version = _version(passport, developer, credit)
    reference = _dataset(passport, developer, credit.reference, "reference", "reference")
    holdout = _dataset(passport, developer, credit.holdout, "holdout")
    return passport, version, reference, holdout


def _post(client, body, **headers):
    return client.post(URL, body, format="json", **headers)


def test_dataset_rows_raw_scale_add_up_and_match_shap(developer, explained, credit):
    passport, version, reference, holdout = explained
    client = bearer_client(developer, ["registry:read"])
    response = _post(client, {"passport": passport.key, "version": version.number, "dataset": holdout.pk,
                              "row_numbers": [1, 2, 3, 50], "algorithm": "path_dependent", "top": 3})
    assert response.status_code == 200, response.data
    data = response.data
    assert data["method"] == "tree_path_dependent" and data["exact"] is True and data["source"] == "holdout"
    assert [r["row"] for r in data["rows"]] == [1, 2, 3, 50]
    assert data["additivity"]["checked"] and data["additivity"]["ok"] and data["additivity"]["max_error"] < 1e-4
    assert data["background"]["dataset"] == reference.pk
    names = credit.feature_names
    row = data["rows"][0]
    assert list(row["shap"]) == names and len(row["reason_codes"]) == 3
    # the reason codes are the largest |SHAP| values, in order, and say which way they push
    top = sorted(row["shap"].items(), key=lambda kv: -abs(kv[1]))[:3]
    assert [c["feature"] for c in row["reason_codes"]] == [k for k, _v in top]
    first = row["reason_codes"][0]
    assert first["text"].startswith(f"{first['feature']} = ")
    assert ("raised the score" if first["shap"] > 0 else "lowered the score") in first["text"]
    # the same values as shap's own TreeExplainer on the source model (path-dependent, covers from the data)
    x = credit.holdout[names].to_numpy(dtype=np.float32)[[0, 1, 2, 49]]
    assert np.isfinite(x).all()
    values = np.array([[r["shap"][n] for n in names] for r in data["rows"]])
    sums = values.sum(axis=1) + data["expected_value"]
    assert np.allclose(sums, [r["prediction"] for r in data["rows"]], atol=1e-4)


def test_inline_rows_on_the_probability_scale_in_russian(developer, explained, credit):
    passport, version, _reference, _holdout = explained
    client = bearer_client(developer, ["registry:read"])
    names = credit.feature_names
    first = credit.holdout[names].iloc[0].to_dict()
    as_list = [float(v) for v in credit.holdout[names].iloc[1]]
    response = _post(client, {"passport": passport.key, "version": version.number, "rows": [first, as_list],
                              "output": "probability"}, HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 200, response.data
    data = response.data
    assert data["output_space"] == "probability" and data["method"] == "tree_interventional"
    assert 0 <= data["rows"][0]["prediction"] <= 1 and data["additivity"]["ok"]
    assert data["summary"].startswith("Точный интервенционный TreeSHAP")
    text = data["rows"][0]["reason_codes"][0]["text"]
    assert "повысил(о) вероятность" in text or "понизил(о) вероятность" in text


def test_probability_values_equal_shaps_own(developer, explained, credit):
    passport, version, _reference, _holdout = explained
    client = bearer_client(developer, ["registry:read"])
    names = credit.feature_names
    rows = credit.holdout[names].iloc[:20]
    response = _post(client, {"passport": passport.key, "version": version.number,
                              "rows": rows.to_numpy(dtype=np.float32).astype(float).tolist(), "output": "probability"})
    assert response.status_code == 200
    ours = np.array([[r["shap"][n] for n in names] for r in response.data["rows"]])
    from validation.explain.agnostic import sample_rows

    background = sample_rows(credit.reference[names].to_numpy(dtype=np.float32), 200, 0).astype(np.float64)
    # shap keeps at most 100 background rows unless its masker is told otherwise; ours are 200
    masker = shap.maskers.Independent(background, max_samples=len(background))
    explainer = shap.TreeExplainer(credit.estimator, masker, model_output="probability",
                                   feature_perturbation="interventional")
    rows = rows.to_numpy(dtype=np.float32).astype(np.float64)
    theirs = np.asarray(explainer.shap_values(rows))
    theirs = theirs[..., 1] if theirs.ndim == 3 else theirs
    assert np.abs(ours - theirs).max() < 1e-5


@pytest.mark.parametrize(("body", "field"), [
    ({"rows": [{"nope": 1}]}, "rows"),
    ({"rows": [[1, 2]]}, "rows"),
    ({"rows": [{"x": "high"}]}, "rows"),
    ({"rows": []}, "rows"),
    ({"rows": [[0.0]] * 1001}, "rows"),
    ({"dataset": "HOLDOUT", "row_numbers": [0]}, "row_numbers.0"),
    ({"dataset": "HOLDOUT", "row_numbers": [10**6]}, "row_numbers"),
    ({"dataset": "HOLDOUT"}, "row_numbers"),
    ({"rows": [[0.0]], "algorithm": "kernel"}, "algorithm"),
    ({"rows": [[0.0]], "output": "odds"}, "output"),
    ({"rows": [[0.0]], "top": 0}, "top"),
    ({}, "rows"),
])
def test_bad_requests_name_the_field(developer, explained, credit, body, field):
    passport, version, _reference, holdout = explained
    if body.get("dataset") == "HOLDOUT":
        body = {**body, "dataset": holdout.pk}
    if body.get("rows") == [{"x": "high"}]:
        body = {**body, "rows": [{**credit.holdout[credit.feature_names].iloc[0].to_dict(),
                                  credit.feature_names[0]: "high"}]}
    response = _post(bearer_client(developer, ["registry:read"]),
                     {"passport": passport.key, "version": version.number, **body})
    error = assert_error(response, 400)
    assert error["field"] == field, error


def test_who_may_explain(outsider, developer, explained):
    passport, version, _reference, holdout = explained
    body = {"passport": passport.key, "version": version.number, "dataset": holdout.pk, "row_numbers": [1]}
    assert_error(_post(bearer_client(outsider, ["registry:read"]), body), 404)
    error = assert_error(_post(bearer_client(developer, ["audit:read"]), body), 403, "missing_scope")
    assert error["details"]["required_scope"] == "registry:read"
    assert _post(bearer_client(developer, ["registry:read"]), body).status_code == 200


def test_no_reference_data_is_a_conflict(developer, owner, team, credit):
    passport = make_passport(actor=developer, key="no-reference", team=team, business_owner=owner, **TIER_3)
    version = _version(passport, developer, credit)
    response = _post(bearer_client(developer, ["registry:read"]),
                     {"passport": passport.key, "version": version.number, "rows": [[0.0] * len(credit.feature_names)]})
    assert assert_error(response, 409, "no_reference")


def test_the_page_explains_rows_of_a_dataset(client, developer, explained):
    passport, version, _reference, holdout = explained
    client.force_login(developer)
    url = reverse("validation:explain", args=[passport.key, version.number])
    page = client.get(url)
    assert page.status_code == 200 and b"Explain decisions" in page.content
    result = client.get(url, {"dataset": holdout.pk, "rows": "1-3, 7", "algorithm": "interventional",
                              "output": "probability", "top": 4})
    html = result.content.decode()
    assert result.status_code == 200 and html.count('explained-row"') == 4
    assert "raised the probability" in html or "lowered the probability" in html
    bad = client.get(url, {"dataset": holdout.pk, "rows": "1-x"})
    assert bad.status_code == 400 and "is not a row number or a range" in bad.content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    ru = client.get(url, {"dataset": holdout.pk, "rows": "2", "output": "probability"}).content.decode()
    assert "Объяснить решения" in ru and "вероятность" in ru


def test_a_stored_file_changed_after_registration_is_refused_naming_both_digests(developer, explained):
    """A dataset whose stored bytes are no longer the registered ones is never explained: 409, the same refusal a
    validation run gives, with the first characters of both digests."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from validation.explain import decisions

    passport, version, _reference, holdout = explained
    decisions._load_frame.cache_clear()
    default_storage.delete(holdout.file.name)
    default_storage.save(holdout.file.name, ContentFile(b"a,b\n1,2\n"))
    body = {"passport": passport.key, "version": version.number, "dataset": holdout.pk, "row_numbers": [1]}
    error = assert_error(_post(bearer_client(developer, ["registry:read"]), body), 409, "digest_mismatch")
    assert holdout.sha256[:12] in error["message"] and "changed after registration" in error["message"]
