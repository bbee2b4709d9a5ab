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
