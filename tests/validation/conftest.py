"""Fixtures shared by the validation tests: a demo model with its data, and Celery tasks run eagerly."""

import pytest

from governance.demo.onnx_models import build_demo_model

TIER_3 = {"materiality": "low", "decision_type": "human_in_the_loop", "processes_personal_data": False,
          "regulatory_exposure": "none"}


@pytest.fixture(scope="module")
def credit():
    return build_demo_model("credit-scoring", n_rows=1200)


@pytest.fixture
def eager():
    from governance.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def cast(db):
    from tests.governance.workflow_helpers import Cast

    return Cast()
