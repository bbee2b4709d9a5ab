"""Reason codes for served decisions: exact path-dependent TreeSHAP of tree ensembles (no Django).

The release's manifest carries the ensemble's node covers, counted by the control plane on the reference dataset;
with them the host computes the same SHAP values ``shap.TreeExplainer(feature_perturbation="tree_path_dependent")``
would, from ``kernels.treeshap``'s tables, built once when the release is loaded. Values are on the ensemble's
raw output scale (log-odds for a logistic output): they add up, with the expected value, to the raw score.
"""

from __future__ import annotations

import numpy as np

from kernels.onnx_trees import UnsupportedTreeModel, parse_tree_ensemble
from kernels.treeshap import ZERO_COVER, node_covers, path_dependent_prepare
from serving.agent.manifest import Explainer as ExplainerSpec
from serving.agent.manifest import Manifest

TOP_REASONS = 3


def explainer_spec(artifact: bytes, reference: np.ndarray) -> ExplainerSpec | None:
    """What a release's manifest carries to explain a tree ensemble: its node covers counted on the ``reference``
    rows (in schema order); None for a model that is not a tree ensemble."""
    try:
        ens = parse_tree_ensemble(artifact)
        covers = node_covers(ens, ens.prepare(reference))
    except (UnsupportedTreeModel, ValueError):
        return None
    per_tree = [[float(c) for c in row[: int(n)]] for row, n in zip(covers, ens.node_count, strict=True)]
    return ExplainerSpec(algorithm="tree_path_dependent",
                         scale="log-odds" if ens.post_transform.upper() == "LOGISTIC" else "raw",
                         output=ens.n_outputs - 1, reference_rows=len(reference), covers=per_tree)


class Explainer:
    def __init__(self, artifact: bytes, manifest: Manifest):
        spec = manifest.explainer
        self.ens = parse_tree_ensemble(artifact)
        covers = np.zeros(self.ens.thresholds.shape, dtype=np.float64)
        if len(spec.covers) != covers.shape[0]:
            raise ValueError(f"the manifest's covers name {len(spec.covers)} trees, the artifact has {covers.shape[0]}")
        for tree, row in enumerate(spec.covers):
            covers[tree, : len(row)] = row
        covers[(self.ens.depth >= 0) & (covers == 0)] = ZERO_COVER
        self.prepared = path_dependent_prepare(self.ens, covers)
        self.names = [f.name for f in manifest.features]
        self.output = spec.output
        self.algorithm, self.scale = spec.algorithm, spec.scale
        self.explain(np.zeros((1, len(self.names)), dtype=np.float32))  # compiles the kernel before traffic

    def explain(self, matrix: np.ndarray) -> tuple[np.ndarray, float]:
        """SHAP values (rows, features) of the explained output and its expected value."""
        result = self.prepared.explain(self.ens.prepare(matrix))
        return result.values[:, :, self.output], float(result.expected_value[self.output])

    def describe(self, matrix: np.ndarray, explained: tuple | None = None) -> list[dict]:
        """Per row: the SHAP value of every feature and the top reason codes (largest absolute contribution)."""
        values, expected = explained if explained is not None else self.explain(matrix)
        out = []
        for row, phi in zip(matrix, values, strict=True):
            order = np.argsort(-np.abs(phi))[:TOP_REASONS]
            out.append({
                "algorithm": self.algorithm, "scale": self.scale, "expected_value": round(expected, 6),
                "shap": {name: round(float(v), 6) for name, v in zip(self.names, phi, strict=True)},
                "reasons": [{"feature": self.names[i], "value": float(row[i]), "shap": round(float(phi[i]), 6)}
                            for i in order],
            })
        return out
