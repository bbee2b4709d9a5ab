"""The release manifest: what the control plane signs beside the ONNX artifact and what a host reads before serving.

One definition for both sides (no Django here: this module runs on the serving hosts too). The control plane
builds a :class:`Manifest` from the approved version and writes it as ``manifest.json`` in the release folder; the
host decodes it with :func:`manifest_decode`, which refuses anything that is not exactly this shape.

Drift is measured as on the control plane's validation: the population stability index over the bins the
manifest carries. A numeric feature's bins are cut at ``edges`` (value ``v`` falls in bin
``searchsorted(edges, v, side="left")``), a categorical feature's bins are its ``categories`` (anything else
counts as ``(other)``), and the last bin of both holds missing values. ``reference`` gives each bin's share in
the reference data.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

FORMAT = "mg-release/1"
MANIFEST_FILE = "manifest.json"
ARTIFACT_FILE = "model.onnx"
EPSILON = 1e-4


class Histogram(msgspec.Struct, forbid_unknown_fields=True):
    """Reference shares per bin: numeric (``edges``) or categorical (``categories`` + other), then missing."""

    kind: str  # "numeric" | "categorical"
    reference: list[float]
    edges: list[float] = []
    categories: list[str] = []


class Feature(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    type: str  # "float" | "int" | "bool" | "string"
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    nullable: bool = False


class Thresholds(msgspec.Struct, forbid_unknown_fields=True):
    """When monitoring raises an alert: PSI of any feature or of the score, latency p95 SLO, error rate."""

    psi: float = 0.2
    score_psi: float = 0.2
    latency_p95_ms: float = 200.0
    error_rate: float = 0.05
    min_window_requests: int = 50  # fewer requests in a window say nothing about drift


class StopLimits(msgspec.Struct, forbid_unknown_fields=True):
    """Hard limits the host enforces by itself: decisions per UTC day (0: no limit)."""

    max_decisions_per_day: int = 0


class Explainer(msgspec.Struct, forbid_unknown_fields=True):
    """What a host needs to explain a served decision of a tree ensemble exactly: path-dependent TreeSHAP, whose
    only data-dependent input is how many reference rows reach each node (``covers``, per tree, per node, in the
    order ``kernels.onnx_trees`` parses the artifact), counted by the control plane on the reference dataset."""

    algorithm: str  # "tree_path_dependent"
    scale: str  # "log-odds" (a logistic output explained before the logistic) or "raw"
    output: int  # the ensemble's output column explained (the positive class of a binary classifier)
    reference_rows: int
    covers: list[list[float]]


class Manifest(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    passport: str
    passport_name: str
    version: int
    risk_tier: int
    artifact: str  # file name in the release folder
    artifact_sha256: str
    artifact_size: int
    input: str | None
    layout: str  # "tensor" | "columns"
    features: list[Feature]
    outputs: list[dict]
    task: str  # "classification" | "regression"
    histograms: dict[str, Histogram]  # per feature name, and "__score__" for the model's score
    reference_rows: int
    reference_dataset_sha256: str
    thresholds: Thresholds
    stop_limits: StopLimits
    personal_data_columns: list[str]
    approved_until: str  # ISO 8601: the host stops serving after it even without the control plane
    created_at: str
    explainer: Explainer | None = None  # tree ensembles only


SCORE = "__score__"
_decoder = msgspec.json.Decoder(Manifest)


class ManifestInvalid(ValueError):
    """The manifest is not one this host can serve; ``str()`` says why."""


def manifest_encode(manifest: Manifest) -> bytes:
    return msgspec.json.format(msgspec.json.encode(manifest), indent=2)


def manifest_decode(data: bytes) -> Manifest:
    try:
        manifest = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ManifestInvalid(f"manifest: {exc}") from exc
    if manifest.format != FORMAT:
        raise ManifestInvalid(f"manifest: format {manifest.format!r} is not {FORMAT!r}")
    names = [f.name for f in manifest.features]
    unknown = sorted(set(manifest.personal_data_columns) - set(names))
    if unknown:
        raise ManifestInvalid(f"manifest: personal-data columns {unknown} are not features")
    return manifest


# --------------------------------------------------------------------------- bins and PSI


def numeric_edges(values: np.ndarray, bins: int = 10) -> list[float]:
    """Interior cut points at the values' quantiles (duplicates merged: discrete data gives fewer bins)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if not len(finite):
        return []
    return [float(e) for e in np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1]))]


def bin_counts(histogram: Histogram, values) -> np.ndarray:
    """Counts of ``values`` in the bins of ``histogram`` (same length as ``histogram.reference``)."""
    slots = len(histogram.reference)
    if histogram.kind == "numeric":
        array = np.asarray(values, dtype=np.float64)
        index = np.searchsorted(np.asarray(histogram.edges, dtype=np.float64), array, side="left")
        index[np.isnan(array)] = slots - 1
        return np.bincount(index, minlength=slots)[:slots]
    lookup = {c: i for i, c in enumerate(histogram.categories)}
    other, missing = len(histogram.categories), slots - 1
    counts = np.zeros(slots, dtype=np.int64)
    for value in values:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            counts[missing] += 1
        else:
            counts[lookup.get(str(value), other)] += 1
    return counts


def histogram_of(values, *, categorical: bool, bins: int = 10) -> Histogram:
    """The reference histogram of ``values`` (the control plane builds it from the reference dataset)."""
    if categorical:
        present = [v for v in values if not (v is None or (isinstance(v, float) and math.isnan(v)))]
        categories = sorted({str(v) for v in present})[:200]
        histogram = Histogram(kind="categorical", categories=categories, reference=[0.0] * (len(categories) + 2))
    else:
        edges = numeric_edges(np.asarray(values, dtype=np.float64), bins)
        histogram = Histogram(kind="numeric", edges=edges, reference=[0.0] * (len(edges) + 2))
    counts = bin_counts(histogram, values)
    total = max(int(counts.sum()), 1)
    histogram.reference = [round(float(c) / total, 8) for c in counts]
    return histogram


def psi(reference_shares, counts) -> float | None:
    """PSI of observed ``counts`` against the reference shares (shares floored at EPSILON); None without data."""
    actual = np.asarray(counts, dtype=np.float64)
    if actual.sum() <= 0:
        return None
    expected = np.maximum(np.asarray(reference_shares, dtype=np.float64), EPSILON)
    expected = expected / expected.sum()
    shares = np.maximum(actual / actual.sum(), EPSILON)
    return float(np.sum((shares - expected) * np.log(shares / expected)))
