"""A tree ensemble's release carries its node covers, counted on the reference dataset, so the hosts explain each
served decision exactly like shap's path-dependent TreeExplainer; other models carry none."""

from __future__ import annotations

import numpy as np
import pytest

from kernels import treeshap
from kernels.onnx_trees import parse_tree_ensemble
from registry import services as registry_services
from serving.agent import devrelease
from serving.agent import manifest as mf
from serving.agent.explain import Explainer
from serving.releases import release_build, release_paths
from tests.factories import csv_upload, onnx_upload
from tests.serving.conftest import approve

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_tree_release_carries_covers_that_explain_exactly(serving):
    x, y = devrelease.data(rows=500, seed=11)
    artifact = devrelease.train("gbdt", x, y)
    names = [f"x{i}" for i in range(x.shape[1])]
    csv = ",".join(names) + ",y\n" + "\n".join(",".join(f"{v:.6f}" for v in row) + f",{t}" for row, t in zip(x, y,
                                                                                                          strict=True))
    dataset = registry_services.dataset_register(actor=serving.developer, passport=serving.passport,
                                                 upload=csv_upload(csv + "\n"), name="trees", kind="reference")
    version = registry_services.version_register(actor=serving.developer, passport=serving.passport,
                                                 upload=onnx_upload(artifact), training_dataset=dataset,
                                                 feature_names=names)
    approve(version, serving.developer, serving.cast, serving.owner)
    release = release_build(version)
    folder, _signature = release_paths(release)
    manifest = mf.manifest_decode((folder / mf.MANIFEST_FILE).read_bytes())
    assert manifest.explainer is not None and manifest.explainer.algorithm == "tree_path_dependent"
    assert manifest.explainer.reference_rows == 500 and len(manifest.explainer.covers) == 100
    ens = parse_tree_ensemble(artifact)
    reference = treeshap.cext_reference(ens, ens.prepare(x[:5]), ens.prepare(x.astype(np.float64)),
                                        "path_dependent")
    values, expected = Explainer(artifact, manifest).explain(x[:5])
    assert values == pytest.approx(reference.values[:, :, -1], abs=1e-9)
    assert expected == pytest.approx(float(reference.expected_value[-1]), abs=1e-9)


def test_a_model_without_trees_gets_no_explainer(serving):
    release = release_build(serving.v1)
    folder, _signature = release_paths(release)
    assert mf.manifest_decode((folder / mf.MANIFEST_FILE).read_bytes()).explainer is None
