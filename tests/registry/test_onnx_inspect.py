"""Tests for registry.onnx_inspect: real skl2onnx exports are accepted, bad artifacts refused by code."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from core.errors import DomainError
from registry.onnx_inspect import (
    DEFAULT_ALLOWED_DOMAINS,
    ArtifactRejected,
    OnnxInfo,
    derive_feature_schema,
    inspect_onnx,
)

LIMIT = 50 * 1024 * 1024
OPSET = 17


# --------------------------------------------------------------------------- helpers


def _training_data():
    rng = np.random.RandomState(0)
    features = rng.rand(60, 4).astype(np.float32)
    labels = (features[:, 0] + features[:, 1] > 1.0).astype(np.int64)
    return features, labels


def _write(tmp_path, name: str, payload: bytes | onnx.ModelProto):
    path = tmp_path / name
    path.write_bytes(payload if isinstance(payload, bytes) else payload.SerializeToString())
    return path


def _make_model(nodes, inputs, outputs, initializers=(), opsets=(("", OPSET),)):
    graph = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), initializer=list(initializers))
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(domain, version) for domain, version in opsets],
        producer_name="unit-test",
    )


def _float_input(name="X", shape=(None, 2)):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def _external(tensor: TensorProto, location: str, *, set_location_flag: bool = True) -> TensorProto:
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    if set_location_flag:
        tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "8")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _add_model_with_initializer(weight: TensorProto):
    node = helper.make_node("Add", ["X", "W"], ["Y"])
    return _make_model([node], [_float_input()], [_float_input("Y")], initializers=[weight])


def _default_opset(model_bytes: bytes) -> int:
    model = onnx.load_model_from_string(model_bytes)
    return next(imp.version for imp in model.opset_import if imp.domain == "")


def _rejected(path, code: str, **kwargs) -> ArtifactRejected:
    with pytest.raises(ArtifactRejected) as excinfo:
        inspect_onnx(path, max_bytes=kwargs.pop("max_bytes", LIMIT), **kwargs)
    assert excinfo.value.code == code, excinfo.value.message
    return excinfo.value


@pytest.fixture(scope="module")
def logreg_bytes() -> bytes:
    features, labels = _training_data()
    model = convert_sklearn(
        LogisticRegression().fit(features, labels),
        initial_types=[("X", FloatTensorType([None, 4]))],
        target_opset={"": OPSET, "ai.onnx.ml": 3},
    )
    return model.SerializeToString()


@pytest.fixture(scope="module")
def gbc_bytes() -> bytes:
    features, labels = _training_data()
    model = convert_sklearn(
        GradientBoostingClassifier(n_estimators=5, random_state=0).fit(features, labels),
        initial_types=[("features", FloatTensorType([None, 4]))],
        target_opset={"": OPSET, "ai.onnx.ml": 3},
    )
    return model.SerializeToString()


# --------------------------------------------------------------------------- accepted models


def test_logistic_regression_from_skl2onnx_is_accepted(tmp_path, logreg_bytes):
    info = inspect_onnx(_write(tmp_path, "logreg.onnx", logreg_bytes), max_bytes=LIMIT)

    assert isinstance(info, OnnxInfo)
    expected = onnx.load_model_from_string(logreg_bytes)
    assert info.ir_version == expected.ir_version > 0
    # skl2onnx emits the lowest opset that expresses the model, up to target_opset.
    assert info.opset == next(imp.version for imp in expected.opset_import if imp.domain == "")
    assert 0 < info.opset <= OPSET
    assert info.opset_imports == {"": info.opset, "ai.onnx.ml": 1}
    assert info.producer_name == "skl2onnx"
    assert info.producer_version
    assert "ai.onnx.ml:LinearClassifier" in info.operators
    assert "ai.onnx.ml:ZipMap" in info.operators
    assert info.operators == sorted(set(info.operators))
    assert info.inputs == [{"name": "X", "type": "float", "shape": [None, 4]}]
    assert info.outputs == [
        {"name": "output_label", "type": "int64", "shape": [None]},
        {"name": "output_probability", "type": "seq(map(int64,float))", "shape": []},
    ]


def test_gradient_boosting_classifier_is_accepted(tmp_path, gbc_bytes):
    info = inspect_onnx(_write(tmp_path, "gbc.onnx", gbc_bytes), max_bytes=LIMIT)

    assert info.opset == _default_opset(gbc_bytes)
    assert info.opset_imports["ai.onnx.ml"] >= 1
    assert info.producer_name == "skl2onnx"
    assert "ai.onnx.ml:TreeEnsembleClassifier" in info.operators
    assert all(op.startswith("ai.onnx.ml:") or ":" not in op for op in info.operators)
    assert info.inputs == [{"name": "features", "type": "float", "shape": [None, 4]}]
    assert [output["name"] for output in info.outputs] == ["output_label", "output_probability"]


def test_gradient_boosting_regressor_is_accepted(tmp_path):
    features, _ = _training_data()
    target = features @ np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32)
    model = convert_sklearn(
        GradientBoostingRegressor(n_estimators=5, random_state=0).fit(features, target),
        initial_types=[("X", FloatTensorType([None, 4]))],
        target_opset={"": OPSET, "ai.onnx.ml": 3},
    )

    info = inspect_onnx(_write(tmp_path, "gbr.onnx", model), max_bytes=LIMIT)

    assert info.producer_name == "skl2onnx"
    assert info.opset == _default_opset(model.SerializeToString())
    assert "ai.onnx.ml:TreeEnsembleRegressor" in info.operators
    assert info.inputs == [{"name": "X", "type": "float", "shape": [None, 4]}]
    assert info.outputs == [{"name": "variable", "type": "float", "shape": [None, 1]}]


def test_opset_is_zero_without_default_domain_import(tmp_path):
    node = helper.make_node("Normalizer", ["X"], ["Y"], domain="ai.onnx.ml", norm="L2")
    model = _make_model([node], [_float_input()], [_float_input("Y")], opsets=[("ai.onnx.ml", 1)])

    info = inspect_onnx(_write(tmp_path, "ml_only.onnx", model), max_bytes=LIMIT)

    assert info.opset == 0
    assert info.opset_imports == {"ai.onnx.ml": 1}
    assert info.operators == ["ai.onnx.ml:Normalizer"]


def test_symbolic_dimensions_are_reported_by_name(tmp_path):
    node = helper.make_node("Relu", ["X"], ["Y"])
    model = _make_model([node], [_float_input(shape=("batch", 3))], [_float_input("Y", shape=("batch", 3))])

    info = inspect_onnx(_write(tmp_path, "sym.onnx", model), max_bytes=LIMIT)

    assert info.inputs == [{"name": "X", "type": "float", "shape": ["batch", 3]}]


def test_initializers_listed_as_inputs_are_not_model_inputs(tmp_path):
    weight = helper.make_tensor("W", TensorProto.FLOAT, [2], [1.0, 2.0])
    node = helper.make_node("Add", ["X", "W"], ["Y"])
    model = _make_model(
        [node], [_float_input(), _float_input("W", shape=(2,))], [_float_input("Y")], initializers=[weight]
    )

    info = inspect_onnx(_write(tmp_path, "init_input.onnx", model), max_bytes=LIMIT)

    assert [value["name"] for value in info.inputs] == ["X"]


def test_allow_list_can_admit_an_extra_domain(tmp_path):
    node = helper.make_node("Scale", ["X"], ["Y"], domain="com.acme")
    model = _make_model([node], [_float_input()], [_float_input("Y")], opsets=[("", OPSET), ("com.acme", 1)])

    info = inspect_onnx(
        _write(tmp_path, "acme.onnx", model),
        max_bytes=LIMIT,
        allowed_domains=DEFAULT_ALLOWED_DOMAINS | {"com.acme"},
    )

    assert info.operators == ["com.acme:Scale"]


# --------------------------------------------------------------------------- rejections: size and format


def test_artifact_rejected_is_the_domain_error():
    assert issubclass(ArtifactRejected, DomainError)


def test_file_over_the_limit_is_too_large(tmp_path, logreg_bytes):
    path = _write(tmp_path, "big.onnx", logreg_bytes)

    error = _rejected(path, "too_large", max_bytes=len(logreg_bytes) - 1)

    assert error.message == f"the file is {len(logreg_bytes)} bytes; the upload limit is {len(logreg_bytes) - 1} bytes"
    assert error.details == {"size": len(logreg_bytes), "max_bytes": len(logreg_bytes) - 1}


def test_size_is_checked_before_parsing(tmp_path):
    path = _write(tmp_path, "junk.bin", b"not a model at all" * 10)

    _rejected(path, "too_large", max_bytes=10)


def test_file_exactly_at_the_limit_is_accepted(tmp_path, logreg_bytes):
    path = _write(tmp_path, "exact.onnx", logreg_bytes)

    assert inspect_onnx(path, max_bytes=len(logreg_bytes)).producer_name == "skl2onnx"


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.onnx", b"placeholder")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"feature_a,feature_b\n1.0,2.0\n", id="csv-text"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(64), id="png"),
        pytest.param(_zip_bytes(), id="zip"),
        pytest.param(b'{"model": "logreg"}', id="json"),
        pytest.param(b"", id="empty"),
    ],
)
def test_files_that_are_not_onnx_are_refused(tmp_path, payload):
    error = _rejected(_write(tmp_path, "upload.onnx", payload), "not_onnx")

    assert "not an ONNX model" in error.message


def test_protobuf_that_parses_but_is_not_a_model_is_refused(tmp_path):
    # Valid protobuf wire format (ir_version=7, model_version=1) that decodes as a ModelProto without a graph.
    payload = b"\x08\x07\x28\x01"

    error = _rejected(_write(tmp_path, "tensor.pb", payload), "not_onnx")

    assert "no computation graph" in error.message


@pytest.mark.parametrize("payload", [b"\x28\x05", b"\x10\x01"], ids=["model-version-only", "random-varint"])
def test_bytes_that_decode_without_an_ir_version_are_not_onnx(tmp_path, payload):
    error = _rejected(_write(tmp_path, "no_ir.onnx", payload), "not_onnx")

    assert "IR version" in error.message


def test_model_without_ir_version_is_not_onnx(tmp_path):
    model = _make_model([helper.make_node("Relu", ["X"], ["Y"])], [_float_input()], [_float_input("Y")])
    model.ir_version = 0

    error = _rejected(_write(tmp_path, "no_ir.onnx", model), "not_onnx")

    assert "IR version" in error.message


def test_model_cut_at_sixty_percent_is_truncated(tmp_path, gbc_bytes):
    path = _write(tmp_path, "cut.onnx", gbc_bytes[: int(len(gbc_bytes) * 0.6)])

    error = _rejected(path, "truncated")

    assert "ends early" in error.message
    assert "cut short" in error.message


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.3, 0.9])
def test_model_cut_anywhere_inside_the_graph_is_truncated(tmp_path, logreg_bytes, fraction):
    path = _write(tmp_path, "cut.onnx", logreg_bytes[: int(len(logreg_bytes) * fraction)])

    _rejected(path, "truncated")


# --------------------------------------------------------------------------- rejections: external data


@pytest.mark.parametrize("location", ["../../etc/passwd", "/etc/passwd", "C:\\Windows\\win.ini"])
def test_external_data_outside_the_artifact_is_refused(tmp_path, location):
    weight = _external(helper.make_tensor("W", TensorProto.FLOAT, [2], [1.0, 2.0]), location)

    error = _rejected(_write(tmp_path, "ext.onnx", _add_model_with_initializer(weight)), "external_data")

    assert "tensor 'W'" in error.message
    assert repr(location) in error.message
    assert "outside the artifact" in error.message
    assert error.details["location"] == location
    assert error.details["escapes_artifact"] is True


def test_external_data_next_to_the_model_is_refused_too(tmp_path):
    weight = _external(helper.make_tensor("W", TensorProto.FLOAT, [2], [1.0, 2.0]), "weights.bin")
    (tmp_path / "weights.bin").write_bytes(np.array([1.0, 2.0], dtype=np.float32).tobytes())

    error = _rejected(_write(tmp_path, "ext.onnx", _add_model_with_initializer(weight)), "external_data")

    assert "'weights.bin'" in error.message
    assert "single self-contained" in error.message
    assert error.details["escapes_artifact"] is False


def test_external_data_entries_without_the_location_flag_are_refused(tmp_path):
    weight = _external(
        helper.make_tensor("W", TensorProto.FLOAT, [2], [1.0, 2.0]), "../secret.bin", set_location_flag=False
    )

    error = _rejected(_write(tmp_path, "ext.onnx", _add_model_with_initializer(weight)), "external_data")

    assert "'../secret.bin'" in error.message


def test_external_data_in_a_subgraph_constant_is_refused(tmp_path):
    hidden = _external(helper.make_tensor("hidden", TensorProto.FLOAT, [1], [1.0]), "../../etc/shadow")
    then_branch = helper.make_graph(
        [helper.make_node("Constant", [], ["then_out"], value=hidden)],
        "then",
        [],
        [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, [1])],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Constant", [], ["else_out"], value=helper.make_tensor("c", TensorProto.FLOAT, [1], [0.0]))],
        "else",
        [],
        [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, [1])],
    )
    node = helper.make_node("If", ["cond"], ["Y"], then_branch=then_branch, else_branch=else_branch)
    model = _make_model(
        [node],
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1])],
    )

    error = _rejected(_write(tmp_path, "nested.onnx", model), "external_data")

    assert "tensor 'hidden'" in error.message
    assert "attribute 'value'" in error.message
    assert "'../../etc/shadow'" in error.message


# --------------------------------------------------------------------------- rejections: operator domains


def test_custom_operator_domain_is_refused(tmp_path):
    node = helper.make_node("Backdoor", ["X"], ["Y"], domain="com.evil")
    model = _make_model([node], [_float_input()], [_float_input("Y")], opsets=[("", OPSET), ("com.evil", 1)])

    error = _rejected(_write(tmp_path, "evil.onnx", model), "custom_operator_domain")

    assert error.message.startswith(
        "operator domain 'com.evil' (op 'Backdoor') is not on the allow-list: ai.onnx, ai.onnx.ml"
    )
    assert error.details == {"domain": "com.evil", "op_type": "Backdoor"}


def test_custom_opset_import_without_nodes_is_refused(tmp_path):
    node = helper.make_node("Relu", ["X"], ["Y"])
    model = _make_model([node], [_float_input()], [_float_input("Y")], opsets=[("", OPSET), ("com.microsoft", 1)])

    error = _rejected(_write(tmp_path, "ms.onnx", model), "custom_operator_domain")

    assert "opset import of operator domain 'com.microsoft' (version 1)" in error.message


def test_custom_operator_inside_a_loop_body_is_refused(tmp_path):
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Exfiltrate", ["x_in"], ["x_out"], domain="com.evil"),
        ],
        "body",
        [
            helper.make_tensor_value_info("iter", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            _float_input("x_in"),
        ],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), _float_input("x_out")],
    )
    node = helper.make_node("Loop", ["", "", "X"], ["Y"], body=body)
    model = _make_model([node], [_float_input()], [_float_input("Y")], opsets=[("", OPSET), ("com.evil", 1)])

    error = _rejected(_write(tmp_path, "loop.onnx", model), "custom_operator_domain")

    assert "(op 'Exfiltrate')" in error.message


def test_external_data_is_reported_before_custom_domains(tmp_path):
    weight = _external(helper.make_tensor("W", TensorProto.FLOAT, [2], [1.0, 2.0]), "../w.bin")
    node = helper.make_node("Backdoor", ["X", "W"], ["Y"], domain="com.evil")
    model = _make_model(
        [node], [_float_input()], [_float_input("Y")], initializers=[weight], opsets=[("", OPSET), ("com.evil", 1)]
    )

    _rejected(_write(tmp_path, "both.onnx", model), "external_data")


# --------------------------------------------------------------------------- rejections: graph and checker


def test_graph_without_inputs_is_refused(tmp_path):
    constant = helper.make_tensor("c", TensorProto.FLOAT, [1], [1.0])
    node = helper.make_node("Constant", [], ["Y"], value=constant)
    model = _make_model([node], [], [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1])])

    error = _rejected(_write(tmp_path, "const.onnx", model), "no_inputs")

    assert "no inputs" in error.message


def test_graph_whose_only_input_is_an_initializer_is_refused(tmp_path):
    weight = helper.make_tensor("W", TensorProto.FLOAT, [2], [1.0, 2.0])
    node = helper.make_node("Relu", ["W"], ["Y"])
    model = _make_model([node], [_float_input("W", shape=(2,))], [_float_input("Y", shape=(2,))], initializers=[weight])

    error = _rejected(_write(tmp_path, "init_only.onnx", model), "no_inputs")

    assert "initializer" in error.message


def test_node_reading_an_undefined_tensor_is_invalid(tmp_path):
    node = helper.make_node("Add", ["X", "missing"], ["Y"])
    model = _make_model([node], [_float_input()], [_float_input("Y")])

    error = _rejected(_write(tmp_path, "dangling.onnx", model), "invalid_model")

    assert error.message.startswith("the ONNX checker rejected the model:")
    assert "missing" in error.message


def test_wrong_operator_arity_is_invalid(tmp_path):
    node = helper.make_node("Add", ["X"], ["Y"])
    model = _make_model([node], [_float_input()], [_float_input("Y")])

    error = _rejected(_write(tmp_path, "arity.onnx", model), "invalid_model")

    assert "ONNX checker" in error.message
    assert "Add" in error.message or "input size" in error.message


@pytest.mark.parametrize(
    ("declared", "fragment"),
    [
        (helper.make_tensor_value_info("Y", TensorProto.STRING, [None, 2]), "elem type"),
        (_float_input("Y", shape=(None, 3)), "dimension 1"),
    ],
    ids=["element-type", "shape"],
)
def test_declared_output_contradicting_inference_is_invalid(tmp_path, declared, fragment):
    # The plain checker accepts these; the strict shape inference of full_check refuses them.
    node = helper.make_node("Relu", ["X"], ["Y"])
    model = _make_model([node], [_float_input()], [declared])

    error = _rejected(_write(tmp_path, "types.onnx", model), "invalid_model")

    assert error.message.startswith("the ONNX checker rejected the model:")
    assert fragment in error.message
    assert "\n" not in error.message


# --------------------------------------------------------------------------- feature schema


def test_schema_for_a_single_tensor_input(tmp_path, logreg_bytes):
    info = inspect_onnx(_write(tmp_path, "logreg.onnx", logreg_bytes), max_bytes=LIMIT)

    schema = derive_feature_schema(info)

    assert schema["input"] == "X"
    assert schema["layout"] == "tensor"
    assert [feature["name"] for feature in schema["features"]] == ["x0", "x1", "x2", "x3"]
    assert schema["features"][0] == {
        "name": "x0",
        "type": "float",
        "min": None,
        "max": None,
        "categories": None,
        "nullable": False,
    }


def test_schema_uses_given_feature_names(tmp_path, gbc_bytes):
    info = inspect_onnx(_write(tmp_path, "gbc.onnx", gbc_bytes), max_bytes=LIMIT)

    schema = derive_feature_schema(info, ["age", "income", "tenure", "score"])

    assert schema["input"] == "features"
    assert [feature["name"] for feature in schema["features"]] == ["age", "income", "tenure", "score"]
    assert {feature["type"] for feature in schema["features"]} == {"float"}


@pytest.mark.parametrize("names", [["age", "income", "tenure"], ["a", "b", "c", "d", "e"]])
def test_feature_name_count_mismatch_is_refused(tmp_path, logreg_bytes, names):
    info = inspect_onnx(_write(tmp_path, "logreg.onnx", logreg_bytes), max_bytes=LIMIT)

    with pytest.raises(ArtifactRejected) as excinfo:
        derive_feature_schema(info, names)

    assert excinfo.value.code == "schema_mismatch"
    assert excinfo.value.field == "feature_names"
    assert f"{len(names)} feature names were given but input 'X' has 4 features" in excinfo.value.message


def test_duplicate_feature_names_are_refused(tmp_path, logreg_bytes):
    info = inspect_onnx(_write(tmp_path, "logreg.onnx", logreg_bytes), max_bytes=LIMIT)

    with pytest.raises(ArtifactRejected) as excinfo:
        derive_feature_schema(info, ["a", "b", "a", "c"])

    assert excinfo.value.code == "schema_mismatch"
    assert "repeated: a" in excinfo.value.message


def test_schema_for_one_input_per_column_from_skl2onnx(tmp_path):
    data = pd.DataFrame({"age": [25.0, 40.0, 31.0, 58.0], "city": ["Oslo", "Rome", "Oslo", "Lima"]})
    pipeline = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("num", StandardScaler(), ["age"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])]
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    ).fit(data, [0, 1, 0, 1])
    model = convert_sklearn(
        pipeline,
        initial_types=[("age", FloatTensorType([None, 1])), ("city", StringTensorType([None, 1]))],
        target_opset={"": OPSET, "ai.onnx.ml": 3},
    )
    info = inspect_onnx(_write(tmp_path, "columns.onnx", model), max_bytes=LIMIT)

    schema = derive_feature_schema(info)

    assert info.inputs == [
        {"name": "age", "type": "float", "shape": [None, 1]},
        {"name": "city", "type": "string", "shape": [None, 1]},
    ]
    assert schema["input"] == "age"
    assert schema["layout"] == "columns"
    assert [(f["name"], f["type"]) for f in schema["features"]] == [("age", "float"), ("city", "string")]


def _info(inputs: list[dict]) -> OnnxInfo:
    return OnnxInfo(
        ir_version=10,
        opset=OPSET,
        opset_imports={"": OPSET},
        producer_name="unit-test",
        producer_version="1",
        operators=["Identity"],
        inputs=inputs,
        outputs=[{"name": "y", "type": "float", "shape": [None]}],
    )


def test_schema_columns_map_element_types():
    info = _info(
        [
            {"name": "amount", "type": "double", "shape": [None]},
            {"name": "count", "type": "int64", "shape": [None, 1]},
            {"name": "small", "type": "int32", "shape": ["N"]},
            {"name": "flag", "type": "bool", "shape": [None, 1]},
            {"name": "segment", "type": "string", "shape": [None]},
        ]
    )

    schema = derive_feature_schema(info)

    assert schema["layout"] == "columns"
    assert [(f["name"], f["type"]) for f in schema["features"]] == [
        ("amount", "float"),
        ("count", "int"),
        ("small", "int"),
        ("flag", "bool"),
        ("segment", "string"),
    ]


def test_schema_columns_refuse_names_that_differ_from_inputs():
    info = _info([{"name": "a", "type": "float", "shape": [None, 1]}, {"name": "b", "type": "float", "shape": [None]}])

    with pytest.raises(ArtifactRejected) as excinfo:
        derive_feature_schema(info, ["a", "c"])

    assert excinfo.value.code == "schema_mismatch"
    assert "do not match the model's input columns" in excinfo.value.message


def test_schema_with_unknown_width_needs_feature_names():
    info = _info([{"name": "X", "type": "float", "shape": [None, None]}])

    with pytest.raises(ArtifactRejected) as excinfo:
        derive_feature_schema(info)
    assert excinfo.value.code == "schema_mismatch"
    assert "supply the feature names" in excinfo.value.message

    schema = derive_feature_schema(info, ["p", "q"])
    assert [f["name"] for f in schema["features"]] == ["p", "q"]


def test_schema_refuses_inputs_that_fit_no_layout():
    info = _info([{"name": "image", "type": "float", "shape": [None, 3, 224, 224]}])

    with pytest.raises(ArtifactRejected) as excinfo:
        derive_feature_schema(info)

    assert excinfo.value.code == "schema_mismatch"
    assert "'image' [?, 3, 224, 224]" in excinfo.value.message


def test_schema_refuses_element_types_without_a_feature_type():
    info = _info([{"name": "z", "type": "complex64", "shape": [None, 2]}])

    with pytest.raises(ArtifactRejected) as excinfo:
        derive_feature_schema(info)

    assert excinfo.value.code == "schema_mismatch"
    assert "'complex64'" in excinfo.value.message


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field, written by hand (the protobuf library refuses to build it)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _nested_if_model(depth: int) -> bytes:
    """A model whose If nodes nest ``depth`` then-branches, serialised by concatenating wire fields."""
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    leaf = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "leaf", [], [y])
    graph = leaf.SerializeToString()
    for level in range(depth):
        attribute = helper.make_attribute("then_branch", leaf)
        attribute.ClearField("g")
        attribute_bytes = attribute.SerializeToString() + _field(6, graph)
        node_bytes = helper.make_node("If", ["c"], ["y"]).SerializeToString() + _field(5, attribute_bytes)
        graph = helper.make_graph([], f"g{level}", [], [y]).SerializeToString() + _field(1, node_bytes)
    shell = helper.make_model(helper.make_graph([], "shell", [], []), opset_imports=[helper.make_opsetid("", OPSET)])
    shell.ClearField("graph")
    return shell.SerializeToString() + _field(7, graph)


def test_nested_if_too_deep_says_nesting_too_deep(tmp_path):
    """Protobuf stops at 100 levels; a model past it is called too deeply nested, not 'not an ONNX model'."""
    assert onnx.load_from_string(_nested_if_model(20)).graph.node[0].op_type == "If"  # the builder is sound
    error = _rejected(_write(tmp_path, "deep.onnx", _nested_if_model(40)), "nesting_too_deep")
    assert "nesting too deep" in error.message
    assert error.details["depth"] == 40
    # random bytes are still 'not an ONNX model'
    _rejected(_write(tmp_path, "noise.onnx", bytes(range(256)) * 8), "not_onnx")
