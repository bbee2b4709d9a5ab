"""The agent's pieces on their own: drift bins counted in bulk agree exactly with the manifest's own binning."""

from __future__ import annotations

import numpy as np
import pytest

from serving.agent import manifest as mf
from serving.agent.windows import Window


def _manifest(reference: np.ndarray, *, categorical: int | None = None) -> mf.Manifest:
    names = [f"x{i}" for i in range(reference.shape[1])]
    histograms = {n: mf.histogram_of(reference[:, i].tolist() if i == categorical else reference[:, i],
                                     categorical=i == categorical) for i, n in enumerate(names)}
    return mf.Manifest(
        format=mf.FORMAT, passport="p", passport_name="P", version=1, risk_tier=2, artifact=mf.ARTIFACT_FILE,
        artifact_sha256="0" * 64, artifact_size=0, input="X", layout="tensor",
        features=[mf.Feature(name=n, type="float") for n in names], outputs=[], task="classification",
        histograms=histograms, reference_rows=len(reference), reference_dataset_sha256="0" * 64,
        thresholds=mf.Thresholds(), stop_limits=mf.StopLimits(), personal_data_columns=[], approved_until="",
        created_at="")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bulk_binning_counts_exactly_like_bin_counts(dtype):
    rng = np.random.default_rng(3)
    manifest = _manifest(rng.normal(size=(2000, 12)))
    served = (rng.normal(size=(3000, 12)) * 1.5).astype(dtype)
    for i, feature in enumerate(manifest.features):  # values on and beside every edge, where rounding bites
        edges = np.asarray(manifest.histograms[feature.name].edges)
        served[: len(edges), i] = edges.astype(dtype)
        served[len(edges): 2 * len(edges), i] = np.nextafter(edges.astype(dtype), dtype(np.inf))
        served[2 * len(edges): 3 * len(edges), i] = np.nextafter(edges.astype(dtype), dtype(-np.inf))
    window = Window(deployment=1, version=1, role="champion", manifest=manifest)
    for start in range(0, 3000, 700):
        window.observe_matrix(served[start:start + 700], np.zeros(len(served[start:start + 700])))
    window.observe_rows(served[:50].astype(np.float64).tolist(), np.zeros(50))
    window.fold()
    for i, feature in enumerate(manifest.features):
        expected = mf.bin_counts(manifest.histograms[feature.name], served[:, i].astype(np.float64))
        expected += mf.bin_counts(manifest.histograms[feature.name], served[:50, i].astype(np.float64))
        assert window.counts[feature.name].tolist() == expected.tolist(), feature.name


def test_a_categorical_histogram_takes_the_general_path():
    rng = np.random.default_rng(4)
    reference = rng.integers(0, 4, size=(500, 3)).astype(np.float64)
    manifest = _manifest(reference, categorical=1)
    window = Window(deployment=1, version=1, role="champion", manifest=manifest)
    window.observe_rows(reference[:100].tolist(), np.zeros(100))
    closed = window.close(1)
    assert set(closed["psi"]) == {"x0", "x1", "x2"} and all(v < 0.2 for v in closed["psi"].values())


def _schema(features: list[mf.Feature], layout: str = "columns"):
    from serving.agent.schema import Schema

    manifest = _manifest(np.zeros((10, 1)))
    manifest.features, manifest.layout = features, layout
    return Schema(manifest)


MIXED = [mf.Feature(name="amount", type="float", min=0, max=1e6), mf.Feature(name="count", type="int", min=0),
         mf.Feature(name="channel", type="string", categories=["web", "shop"]),
         mf.Feature(name="flag", type="bool"), mf.Feature(name="note", type="string", nullable=True)]
GOOD = {"amount": 12.5, "count": 3, "channel": "web", "flag": False, "note": None}


@pytest.mark.parametrize(("change", "feature", "rule"), [
    ({"channel": "phone"}, "channel", "unknown_category"),
    ({"channel": 1}, "channel", "wrong_type"),
    ({"count": 2.5}, "count", "wrong_type"),
    ({"count": -1}, "count", "below_min"),
    ({"flag": 1}, "flag", "wrong_type"),
    ({"flag": None}, "flag", "missing_value"),
    ({"amount": float("nan")}, "amount", "not_finite"),
    ({"amount": "12"}, "amount", "wrong_type"),
    ({"note": 5}, "note", "wrong_type"),
])
def test_every_rule_of_a_mixed_schema_names_its_feature(change, feature, rule):
    from serving.agent.schema import RequestInvalid

    schema = _schema(MIXED)
    assert schema.record_row(GOOD) == [12.5, 3, "web", False, None]
    with pytest.raises(RequestInvalid) as refused:
        schema.record_row({**GOOD, **change}, 4)
    assert (refused.value.feature, refused.value.rule, refused.value.record) == (feature, rule, 4)
    assert refused.value.status == 422 and feature in refused.value.message


def test_columns_are_checked_value_by_value_or_vectorised_alike():
    from serving.agent.schema import RequestInvalid

    schema = _schema(MIXED)
    amount, channel = schema.features[0], schema.features[2]
    assert list(schema.column_check(amount, np.array([1.0, 2.0]))) == [1.0, 2.0]
    assert schema.column_check(channel, [b"web", "shop"]) == ["web", "shop"]  # BYTES arrive as bytes
    for values, rule, row in ((np.array([1.0, np.inf]), "not_finite", 1), (np.array([3.0, -2.0]), "below_min", 1),
                              (np.array([True, False]), "wrong_type", 0)):
        with pytest.raises(RequestInvalid) as refused:
            schema.column_check(amount, values)
        assert (refused.value.rule, refused.value.record) == (rule, row)
    with pytest.raises(RequestInvalid) as refused:
        schema.column_check(channel, ["web", "fax"])
    assert (refused.value.rule, refused.value.record) == ("unknown_category", 1)


def test_a_numeric_category_in_a_tensor_is_checked_against_its_categories():
    from serving.agent.schema import RequestInvalid

    schema = _schema([mf.Feature(name="grade", type="int", categories=["1", "2", "3"]),
                      mf.Feature(name="x", type="float")], layout="tensor")
    schema.matrix_check(np.array([[1, 0.5], [3, 1.5]]))
    with pytest.raises(RequestInvalid) as refused:
        schema.matrix_check(np.array([[1, 0.5], [7, 1.5]]))
    assert (refused.value.feature, refused.value.rule, refused.value.record) == ("grade", "unknown_category", 1)
    with pytest.raises(RequestInvalid) as refused:
        schema.matrix_check(np.array([[1.5, 0.5]]))
    assert (refused.value.feature, refused.value.rule) == ("grade", "wrong_type")
