"""shap's compiled TreeSHAP kernel, ``shap._cext.dense_tree_shap``: the code ``shap.TreeExplainer`` runs.

A private API (written against shap 0.46 to 0.51): its positional arguments are the tree arrays in shap's dense
layout. ``kernels.treeshap`` calls it as the reference (and fallback) for its own exact TreeSHAP.
"""

from __future__ import annotations

import numpy as np

FEATURE_DEPENDENCE = {"interventional": 0, "path_dependent": 1}
TRANSFORM = {"identity": 0, "logistic": 1}


def _kernel():
    # Imported on first use: shap takes about a second to import, which every web process would otherwise pay.
    from shap import _cext

    return _cext.dense_tree_shap


def dense_tree_shap(*, children_left: np.ndarray, children_right: np.ndarray, children_default: np.ndarray,
                    features: np.ndarray, thresholds: np.ndarray, values: np.ndarray, covers: np.ndarray,
                    max_depth: int, X: np.ndarray, R: np.ndarray | None, base_offset: np.ndarray, phi: np.ndarray,
                    algorithm: str, transform: str) -> np.ndarray:
    """Fill ``phi`` (rows, features + 1, outputs) with the SHAP values of ``X`` over the dense trees given; the last
    column of ``phi`` receives the expected value. ``R`` is the background for ``interventional``, None for
    ``path_dependent``. Every threshold is numerical. Returns ``phi``."""
    features = np.ascontiguousarray(features)
    _kernel()(
        np.ascontiguousarray(children_left), np.ascontiguousarray(children_right),
        np.ascontiguousarray(children_default), features, np.ascontiguousarray(thresholds),
        np.zeros_like(features),  # threshold types: all numerical
        np.ascontiguousarray(values), np.ascontiguousarray(covers), int(max_depth),
        X, np.isnan(X), None, R, None if R is None else np.isnan(R), int(children_left.shape[0]),
        np.asarray(base_offset, dtype=np.float64).copy(), phi,
        FEATURE_DEPENDENCE[algorithm], TRANSFORM[transform], False,
    )
    return phi
