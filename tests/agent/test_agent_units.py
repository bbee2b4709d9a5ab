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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bulk_binning_takes_missing_values_and_blocks_of_any_width(dtype):
    """NaN (a nullable feature's missing value) goes to the missing bin; a batch wider than the tiled edge planes
    is binned block by block, the last one cut short at a width that is not whole words; a block of 1,024 rows
    fills every byte lane of a word to 128 without carrying into the next."""
    rng = np.random.default_rng(5)
    manifest = _manifest(rng.normal(size=(2000, 7)))
    served = rng.normal(size=(2999, 7)).astype(dtype)
    served[rng.random(served.shape) < 0.05] = np.nan
    served[:1024, 3] = 50.0  # above every edge: the top bin of one block gets all 1,024
    window = Window(deployment=1, version=1, role="champion", manifest=manifest)
    window.observe_matrix(served, np.zeros(len(served)))
    window.observe_matrix(served[:5], np.zeros(5))
    window.fold()
    for i, feature in enumerate(manifest.features):
        histogram = manifest.histograms[feature.name]
        expected = mf.bin_counts(histogram, served[:, i].astype(np.float64))
        expected += mf.bin_counts(histogram, served[:5, i].astype(np.float64))
        assert window.counts[feature.name].tolist() == expected.tolist(), feature.name
        assert window.counts[feature.name][-1] == np.isnan(served[:, i]).sum() + np.isnan(served[:5, i]).sum()
    assert window.counts["x3"][-2] >= 1024


@pytest.mark.parametrize("width", [1, 15, 16, 17, 30, 33])
def test_bulk_binning_at_every_vector_padding(width):
    """Rows are padded to whole vectors of 16 lanes and a single column runs along itself: a width on either side
    of a multiple of 16, and one feature, count exactly as ``bin_counts`` (NaN and values on the edges too)."""
    rng = np.random.default_rng(width)
    manifest = _manifest(rng.normal(size=(1000, width)))
    served = rng.normal(size=(1500, width)).astype(np.float32)
    served[rng.random(served.shape) < 0.03] = np.nan
    for i, feature in enumerate(manifest.features):
        edges = np.asarray(manifest.histograms[feature.name].edges, dtype=np.float32)
        served[: len(edges), i] = edges
    window = Window(deployment=1, version=1, role="champion", manifest=manifest)
    window.observe_matrix(served, np.zeros(len(served)))
    window.fold()
    for i, feature in enumerate(manifest.features):
        expected = mf.bin_counts(manifest.histograms[feature.name], served[:, i].astype(np.float64))
        assert window.counts[feature.name].tolist() == expected.tolist(), feature.name
        assert window.counts[feature.name].sum() == len(served)


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_a_tensor_check_finds_the_first_bad_value_in_row_order(dtype):
    """The one-pass range check lets through exactly what the value-by-value rules let through: values on a bound
    pass; NaN, infinity and a value past a bound anywhere in the matrix are refused, named by feature and row."""
    from serving.agent.schema import RequestInvalid

    schema = _schema([mf.Feature(name="a", type="float", min=-2, max=2), mf.Feature(name="b", type="float"),
                      mf.Feature(name="c", type="float", min=0)], layout="tensor")
    good = np.array([[-2, 5, 0], [2, -7, 1e6], [1, 0, 3]] * 400, dtype=dtype)  # bounds included
    schema.matrix_check(good)
    schema.matrix_check(good[:0])
    cases = [((900, 0), 3, "above_max"), ((17, 2), -1, "below_min"), ((5, 0), -3, "below_min")]
    if dtype != np.int64:
        cases += [((1199, 1), np.nan, "not_finite"), ((3, 1), np.inf, "not_finite"), ((8, 2), -np.inf, "not_finite")]
    for (row, column), value, rule in cases:
        bad = good.copy()
        bad[row, column] = value
        bad[row + 1:, :] = good[row + 1:, :]
        with pytest.raises(RequestInvalid) as refused:
            schema.matrix_check(bad)
        assert (refused.value.feature, refused.value.rule, refused.value.record) == ("abc"[column], rule, row)
    twice = good.copy()
    twice[50, 2], twice[40, 0] = -5, 9  # the earlier row is named, whichever column
    with pytest.raises(RequestInvalid) as refused:
        schema.matrix_check(twice)
    assert (refused.value.feature, refused.value.record) == ("a", 40)


def test_score_bins_count_exactly_like_bin_counts():
    rng = np.random.default_rng(6)
    manifest = _manifest(rng.normal(size=(500, 2)))
    manifest.histograms[mf.SCORE] = mf.histogram_of(rng.random(2000), categorical=False)
    window = Window(deployment=1, version=1, role="champion", manifest=manifest)
    first, second = rng.random(700), rng.random(900)
    first[:3] = manifest.histograms[mf.SCORE].edges[:3]  # on the edges
    second[0] = np.nan
    window.observe_matrix(rng.normal(size=(700, 2)), first)
    window.observe_matrix(rng.normal(size=(900, 2)), second)
    window.fold()
    expected = mf.bin_counts(manifest.histograms[mf.SCORE], np.concatenate([first, second]))
    assert window.score_counts.tolist() == expected.tolist() and expected[-1] == 1


def test_a_json_route_batch_is_read_into_typed_records_or_left_to_the_general_path():
    """A batch of plain numbers gives the matrix the general path gives; anything else (a string, a boolean, a
    null, a missing or unknown feature, a small batch, no records) is left to the general path, which names it;
    a value out of range is refused from the matrix by feature and record, as the general path refuses it."""
    import json

    from serving.agent.schema import RequestInvalid

    schema = _schema([mf.Feature(name="amount in $", type="float", min=0), mf.Feature(name="n", type="int"),
                      mf.Feature(name="x", type="float")], layout="tensor")
    records = [{"amount in $": 1.5 * i, "n": i, "x": -0.25} for i in range(40)]
    matrix, explain = schema.batch(json.dumps({"records": records, "explain": True}).encode())
    assert explain is True
    assert matrix.tolist() == schema.rows_from_records(records)[1].tolist()
    for change in ({"n": "3"}, {"n": True}, {"x": None}, {"extra": 1.0}):
        damaged = [dict(r) for r in records]
        damaged[7].update(change)
        assert schema.batch(json.dumps({"records": damaged}).encode()) is None
    missing = [dict(r) for r in records]
    del missing[3]["x"]
    assert schema.batch(json.dumps({"records": missing}).encode()) is None
    assert schema.batch(json.dumps({"records": records[:15]}).encode()) is None
    assert schema.batch(json.dumps({"features": records[0]}).encode()) is None
    assert schema.batch(b"{not json") is None
    for change, rule in (({"amount in $": -1.0}, "below_min"), ({"n": 2.5}, "wrong_type")):
        damaged = [dict(r) for r in records]
        damaged[9].update(change)
        with pytest.raises(RequestInvalid) as fast:
            schema.batch(json.dumps({"records": damaged}).encode())
        with pytest.raises(RequestInvalid) as general:
            schema.rows_from_records(damaged)
        assert (fast.value.feature, fast.value.rule, fast.value.record) == (
            general.value.feature, general.value.rule, general.value.record) == (next(iter(change)), rule, 9)


def test_a_stop_limit_split_over_hosts_adds_up_and_an_unreadable_share_is_none():
    from serving.agent.core import stop_limit_share

    for limit in (0, 1, 7, 100, 10_001):
        for hosts in range(1, 9):
            shares = [stop_limit_share(limit, hosts, i) for i in range(hosts)]
            assert sum(shares) == limit and max(shares) - min(shares) <= 1
    assert stop_limit_share(5, 1, 0) == 5
    for hosts, index in ((0, 0), (2, 2), (2, -1), (2.0, 0), (3, None), ("3", 0)):
        assert stop_limit_share(100, hosts, index) == 0  # a desired state that does not add up allows nothing
