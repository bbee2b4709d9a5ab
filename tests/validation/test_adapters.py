"""Contract tests of the private APIs validation reaches through ``validation.adapters``.

Each fails loudly, naming the package and its installed version, on a release that moved or changed the API.
"""

from __future__ import annotations

from importlib.metadata import version

import numpy as np
import pandas as pd
import pytest

from kernels import shap_kernel
from validation.adapters import evidently_drift


def _stump(**overrides):
    """One tree, one split on feature 0 at 0.5: the left leaf predicts 0, the right leaf 1 (covers 50 / 50)."""
    arrays = {
        "children_left": np.array([[1, -1, -1]], dtype=np.int32),
        "children_right": np.array([[2, -1, -1]], dtype=np.int32),
        "children_default": np.array([[1, -1, -1]], dtype=np.int32),
        "features": np.array([[0, -1, -1]], dtype=np.int32),
        "thresholds": np.array([[0.5, 0.0, 0.0]]),
        "values": np.array([[[0.5], [0.0], [1.0]]]),
        "covers": np.array([[2.0, 1.0, 1.0]]),
        "max_depth": 2,
    }
    return {**arrays, **overrides}


def test_shap_dense_tree_shap_keeps_its_contract():
    X = np.array([[1.0, 7.0], [0.0, -3.0]])
    try:
        interventional = shap_kernel.dense_tree_shap(
            **_stump(), X=X, R=np.array([[0.0, 0.0]]), base_offset=np.zeros(1), phi=np.zeros((2, 3, 1)),
            algorithm="interventional", transform="identity")
        path = shap_kernel.dense_tree_shap(
            **_stump(), X=X, R=None, base_offset=np.zeros(1), phi=np.zeros((2, 3, 1)),
            algorithm="path_dependent", transform="identity")
    except Exception as exc:  # a moved module or a changed signature
        pytest.fail(f"shap {version('shap')}: shap._cext.dense_tree_shap no longer accepts the call "
                    f"kernels/shap_kernel.py makes: {exc!r}")
    message = f"shap {version('shap')}: dense_tree_shap answers differently"
    # Against a background row of zeros, x = 1 moves the prediction from 0 to 1, all of it by feature 0.
    assert interventional[:, :, 0].tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], message
    # Path-dependent: the expected value is 0.5 and feature 0 moves it by +-0.5; feature 1 is never used.
    assert np.allclose(path[:, :, 0], [[0.5, 0.0, 0.5], [-0.5, 0.0, 0.5]]), message


def test_evidently_column_drift_keeps_its_contract():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"age": rng.normal(40, 5, 600), "region": rng.choice(["n", "s"], 600)})
    current = pd.DataFrame({"age": rng.normal(55, 5, 600), "region": rng.choice(["n", "s"], 600)})
    try:
        drift = evidently_drift.column_drift(reference, current, numerical=["age"], categorical=["region"],
                                             drift_share=0.5)
    except Exception as exc:
        pytest.fail(f"evidently {version('evidently')}: get_drift_for_columns no longer accepts the call "
                    f"validation/adapters/evidently_drift.py makes: {exc!r}")
    message = f"evidently {version('evidently')}: the drift engine answers differently"
    assert set(drift.columns) == {"age", "region"}, message
    assert drift.columns["age"].drifted and not drift.columns["region"].drifted, message
    assert drift.drifted_count == 1 and drift.drifted_share == pytest.approx(0.5), message
    assert all(isinstance(c.method, str) and c.method for c in drift.columns.values()), message
