"""factory_boy factories shared by the whole suite."""

from __future__ import annotations

import io

import factory
import numpy as np
import onnx
from django.contrib.auth.models import Group
from onnx import TensorProto, helper

from governance.accounts.models import BusinessUnit, Team, User
from registry import services as registry_services
from registry.models import ModelPassport


def linear_onnx(n_features: int = 3, *, seed: int = 0, opset: int = 17) -> bytes:
    """A tiny, valid ONNX model: y = sigmoid(x @ w + b), input float_input [N, n_features]."""
    rng = np.random.default_rng(seed)
    weights = helper.make_tensor("w", TensorProto.FLOAT, [n_features, 1], rng.normal(size=n_features).tolist())
    bias = helper.make_tensor("b", TensorProto.FLOAT, [1], [float(rng.normal())])
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["float_input", "w"], ["z0"]),
            helper.make_node("Add", ["z0", "b"], ["z"]),
            helper.make_node("Sigmoid", ["z"], ["probability"]),
        ],
        "linear",
        [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, n_features])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [None, 1])],
        initializer=[weights, bias],
    )
    model = helper.make_model(graph, producer_name="tests", opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def onnx_upload(data: bytes | None = None, name: str = "model.onnx"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data if data is not None else linear_onnx(), "application/octet-stream")


def csv_upload(text: str, name: str = "data.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, text.encode(), "text/csv")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw-Secret-123")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for role in extracted or []:
            self.groups.add(Group.objects.get(name=role))


class BusinessUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessUnit
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"bu-{n}")
    name = factory.Sequence(lambda n: f"Business unit {n}")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        for user in extracted or []:
            self.members.add(user)


def make_passport(*, actor: User, key: str = "credit-score", team: Team | None = None, **overrides) -> ModelPassport:
    """Create a passport through the service (so its audit event exists), with sensible defaults."""
    fields = {
        "name": "Credit score",
        "purpose": "Score retail credit applications.",
        "business_owner": overrides.pop("business_owner", actor),
        "technical_owner": overrides.pop("technical_owner", actor),
        "development_team": team or TeamFactory(members=[actor]),
        "business_unit": overrides.pop("business_unit", None) or BusinessUnitFactory(),
        "materiality": "high",
        "decision_type": "automated",
        "processes_personal_data": True,
        "regulatory_exposure": "high",
    }
    fields.update(overrides)
    return registry_services.passport_create(actor=actor, key=key, **fields)


def bytes_io(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)
