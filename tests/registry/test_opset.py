"""An ONNX file declaring an opset newer than the runtime that validates and serves it is refused at upload."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from registry.onnx_inspect import supported_opset
from tests.api_helpers import API, assert_error, bearer_client, media_files

pytestmark = pytest.mark.django_db


def _model(opset: int) -> bytes:
    x = helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])
    graph = helper.make_graph([helper.make_node("Identity", ["float_input"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def test_the_supported_opset_comes_from_the_runtime():
    assert 17 <= supported_opset() <= max(onnx.defs.onnx_opset_version(), 30)


@pytest.mark.parametrize("opset", [9999, supported_opset() + 1])
def test_an_opset_newer_than_the_runtime_is_refused_and_nothing_is_stored(developer, passport, opset):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = bearer_client(developer).post(
        f"{API}/passports/{passport.key}/versions/", {"artifact": SimpleUploadedFile("m.onnx", _model(opset))},
        format="multipart")
    error = assert_error(response, 400, "unsupported_opset")
    assert str(opset) in error["message"] and str(supported_opset()) in error["message"]
    assert error["details"] == {"opset": opset, "supported": supported_opset()}
    assert media_files() == [] and not passport.versions.exists()


def test_the_newest_supported_opset_is_accepted(developer, passport):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = bearer_client(developer).post(
        f"{API}/passports/{passport.key}/versions/",
        {"artifact": SimpleUploadedFile("m.onnx", _model(min(supported_opset(), onnx.defs.onnx_opset_version())))},
        format="multipart")
    assert response.status_code == 201, response.content[:300]
