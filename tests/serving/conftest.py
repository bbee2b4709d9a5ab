"""Fixtures of the serving tests: a tier-1 passport with two approved versions trained on a reference dataset,
an engineer, and enrolled hosts."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from guardian.shortcuts import assign_perm

from registry import services as registry_services
from serving import services
from tests.factories import UserFactory, csv_upload, linear_onnx, onnx_upload
from tests.governance.workflow_helpers import Cast, approve_validated, to_validated


def reference_csv(rows: int = 400, seed: int = 0, shift: float = 0.0) -> str:
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(rows, 3)) + shift
    return "x0,x1,x2,y\n" + "\n".join(f"{a:.5f},{b:.5f},{c:.5f},{int(a + b > 0)}" for a, b, c in data) + "\n"


def approve(version, developer, cast, owner):
    to_validated(version, developer, cast)
    return approve_validated(version, cast, owner)


def enrol(admin, name: str, **facts):
    _token, secret = services.enrolment_token_create(actor=admin, name=f"for {name}")
    return services.host_enrol(enrolment_token=secret, name=name, facts=facts)


@pytest.fixture
def serving(passport, developer, owner, admin_user):
    """``passport`` (tier 1) with v1 and v2 approved, v3 a draft; an engineer; hosts a and b enrolled."""
    cast = Cast()
    dataset = registry_services.dataset_register(actor=developer, passport=passport,
                                                 upload=csv_upload(reference_csv()), name="train", kind="reference")
    versions = []
    for seed in (1, 2, 3):
        versions.append(registry_services.version_register(
            actor=developer, passport=passport, upload=onnx_upload(linear_onnx(seed=seed)), training_dataset=dataset,
            feature_names=["x0", "x1", "x2"]))
    approve(versions[0], developer, cast, owner)
    approve(versions[1], developer, cast, owner)
    host_a, token_a = enrol(admin_user, "gpu-a", provider="CPUExecutionProvider", gpu_model="none")
    host_b, token_b = enrol(admin_user, "gpu-b", provider="CUDAExecutionProvider", gpu_model="H100",
                            gpu_memory_mb=81920)
    engineer = UserFactory(username="eng", roles=["engineer"])  # operates serving, outside the team:
    assign_perm("registry.view_modelpassport", engineer, passport)  # granted sight of this passport
    return SimpleNamespace(passport=passport, v1=versions[0], v2=versions[1], v3=versions[2], cast=cast,
                           developer=developer, owner=owner, admin=admin_user, engineer=engineer, dataset=dataset,
                           host_a=host_a, token_a=token_a, host_b=host_b, token_b=token_b)
