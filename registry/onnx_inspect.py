"""Inspect an uploaded ONNX artifact before it enters the registry.

:func:`inspect_onnx` parses one file, refuses anything unsafe or malformed with
:class:`ArtifactRejected` (a :class:`~core.errors.DomainError` whose ``code`` names
the problem), and returns an :class:`OnnxInfo` summary. :func:`derive_feature_schema`
turns that summary into the registry's feature schema.

The module touches no database or settings: it only reads the file it is given, never follows a path
written inside the model (external data is refused, not loaded), and writes nothing.
Messages are aimed at the ML engineer who exported the model, in the active language (gettext).
"""

from __future__ import annotations

import io
import os
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import onnx
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError
from onnx import AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, helper

from core.errors import DomainError

__all__ = [
    "DEFAULT_ALLOWED_DOMAINS",
    "ArtifactRejected",
    "OnnxInfo",
    "derive_feature_schema",
    "inspect_onnx",
]

DEFAULT_ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})

# The default operator set has two spellings; both mean ai.onnx.
_DEFAULT_DOMAIN_ALIASES = frozenset({"", "ai.onnx"})

_FEATURE_TYPES = {
    "float": "float",
    "double": "float",
    "float16": "float",
    "bfloat16": "float",
    "int8": "int",
    "int16": "int",
    "int32": "int",
    "int64": "int",
    "uint8": "int",
    "uint16": "int",
    "uint32": "int",
    "uint64": "int",
    "string": "string",
    "bool": "bool",
}


class ArtifactRejected(DomainError):
    """An uploaded model artifact was refused; ``code`` says why.

    Codes: ``not_onnx``, ``truncated``, ``nesting_too_deep``, ``too_large``, ``external_data``,
    ``custom_operator_domain``, ``no_inputs``, ``invalid_model`` (from :func:`inspect_onnx`)
    and ``schema_mismatch`` (from :func:`derive_feature_schema`).
    """


@dataclass(frozen=True)
class OnnxInfo:
    """What the registry records about an accepted ONNX model."""

    ir_version: int
    opset: int  # opset of the default "" domain (ai.onnx); 0 if absent
    opset_imports: dict[str, int]  # domain -> version ("" for ai.onnx)
    producer_name: str
    producer_version: str
    operators: list[str]  # sorted unique op types, "domain:Op" outside the default domain
    inputs: list[dict]  # graph inputs minus initializers: {"name", "type", "shape"}
    outputs: list[dict]


# --------------------------------------------------------------------------- inspection


def inspect_onnx(
    path: str | os.PathLike,
    *,
    max_bytes: int,
    allowed_domains: frozenset[str] = DEFAULT_ALLOWED_DOMAINS,
) -> OnnxInfo:
    """Parse and check the ONNX file at ``path``; return its summary or raise ``ArtifactRejected``.

    Checks run in a fixed order (size, format, truncation, external data, operator domains,
    graph inputs, ONNX checker), so a file with several problems always reports the same one.
    The file is read once; external data is never loaded.
    """
    size = os.path.getsize(path)
    if size > max_bytes:
        raise _too_large(size, max_bytes)
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:  # the file grew after the size check
        raise _too_large(len(data), max_bytes)

    model = _parse_model(data)
    _check_opset(model)
    _check_no_external_data(model)
    _check_domains(model, allowed_domains)
    inputs = _graph_inputs(model.graph)
    if not inputs:
        raise ArtifactRejected(
            _("the model graph has no inputs (every declared input is an initializer, or none is declared); "
              "a deployable model must take its features as graph inputs"),
            code="no_inputs",
        )
    _run_checker(model)
    return _summarise(model, inputs)


def _too_large(size: int, max_bytes: int) -> ArtifactRejected:
    return ArtifactRejected(
        _("the file is %(size)s; the upload limit is %(limit)s") % {"size": _size_text(size),
                                                                      "limit": _size_text(max_bytes)},
        code="too_large",
        details={"size": size, "max_bytes": max_bytes},
    )


def _size_text(n: int) -> str:
    """``557 bytes`` or ``12.3 MiB (12,897,234 bytes)``."""
    value, unit = float(n), "bytes"
    for bigger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    exact = ngettext("%(n)s byte", "%(n)s bytes", n) % {"n": f"{n:,}" if unit != "bytes" else n}
    return exact if unit == "bytes" else f"{value:.1f} {unit} ({exact})"


def _parse_model(data: bytes) -> ModelProto:
    """Parse ``data`` as a ModelProto, telling a cut-short model from something that is not ONNX."""
    try:
        # BytesIO over the bytes already read: onnx.load reads it without another copy of the file,
        # and load_external_data=False guarantees no path named inside the model is opened.
        model = onnx.load(io.BytesIO(data), load_external_data=False)
    except (DecodeError, ValueError) as exc:
        if _looks_like_truncated_model(data):
            raise ArtifactRejected(
                _("the file starts like an ONNX model but ends early after %(size)s; the export or the upload was "
                  "cut short - export the model again and re-upload the whole file") % {"size": _size_text(len(data))},
                code="truncated",
                details={"size": len(data)},
            ) from exc
        depth = _subgraph_depth(data)
        if depth > NESTING_LIMIT:
            raise ArtifactRejected(
                _("subgraphs (If, Loop or Scan bodies) are nested %(depth)s deep, more than the %(limit)s levels the "
                  "ONNX parser reads: nesting too deep. Flatten the control flow before exporting")
                % {"depth": depth, "limit": NESTING_LIMIT},
                code="nesting_too_deep", details={"depth": depth, "limit": NESTING_LIMIT},
            ) from exc
        raise _not_onnx(_("it is not a serialized ONNX ModelProto")) from exc
    # Arbitrary bytes sometimes decode as protobuf; a real model has an IR version and a graph.
    if model.ir_version <= 0:
        raise _not_onnx(_("it has no ONNX IR version"))
    if not model.HasField("graph") or not (model.graph.node or model.graph.output):
        raise _not_onnx(_("it has no computation graph"))
    return model


@lru_cache(maxsize=1)
def supported_opset() -> int:
    """The newest ai.onnx opset the installed ONNX Runtime loads: the runtime that validates and serves the
    version. Asked of the runtime itself (a one-node model per opset, newest first), once per process."""
    import onnxruntime as ort  # imported here: the web process pays for it on its first upload only

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    for opset in range(max(onnx.defs.onnx_opset_version(), 30), 6, -1):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
        try:
            ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        except Exception:  # noqa: S112  ORT refuses an opset it does not implement with its own error types
            continue
        return opset
    return onnx.defs.onnx_opset_version()


def _check_opset(model: ModelProto) -> None:
    declared = max((int(imp.version) for imp in model.opset_import if _canonical_domain(imp.domain) == ""),
                   default=0)
    newest = supported_opset()
    if declared > newest:
        raise ArtifactRejected(
            _("the model declares ONNX opset %(declared)s, newer than the %(newest)s the runtime here supports "
              "(ONNX Runtime %(runtime)s); export it with opset %(newest)s or older")
            % {"declared": declared, "newest": newest, "runtime": _runtime_version()},
            code="unsupported_opset", details={"opset": declared, "supported": newest},
        )


def _runtime_version() -> str:
    from importlib.metadata import version

    return version("onnxruntime")


def _not_onnx(reason: str) -> ArtifactRejected:
    return ArtifactRejected(
        _("the file is not an ONNX model: %(reason)s. Upload the .onnx file produced by your exporter "
          "(for example skl2onnx, torch.onnx or tf2onnx)") % {"reason": reason},
        code="not_onnx",
    )


def _model_wire_types() -> dict[int, int]:
    """Field number -> protobuf wire type for the top-level fields of ModelProto."""
    wire = {}
    for field in ModelProto.DESCRIPTOR.fields:
        if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FIXED64):
            wire[field.number] = 1
        elif field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_FIXED32):
            wire[field.number] = 5
        elif field.type in (
            FieldDescriptor.TYPE_STRING,
            FieldDescriptor.TYPE_BYTES,
            FieldDescriptor.TYPE_MESSAGE,
        ):
            wire[field.number] = 2
        else:
            wire[field.number] = 0
    return wire


_MODEL_WIRE_TYPES = _model_wire_types()


def _read_varint(data: bytes, pos: int) -> tuple[int | None, int]:
    """Decode a protobuf varint at ``pos``; ``(None, pos)`` when the data ends inside it."""
    result, shift = 0, 0
    while pos < len(data) and shift < 70:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    return None, pos


# Protobuf's parser refuses messages nested deeper than 100 levels; each subgraph costs three
# (graph -> node -> attribute), and the model and its top graph two more.
NESTING_LIMIT = (100 - 2) // 3

# Where subgraphs live: message -> {field number: message it holds}. Only these fields are followed.
_SUBGRAPH_PATH = {
    "model": {7: "graph", 25: "function"},
    "function": {7: "node"},
    "graph": {1: "node"},
    "node": {5: "attribute"},
    "attribute": {6: "graph", 11: "graph"},
}


def _subgraph_depth(data: bytes) -> int:
    """How many subgraphs deep the model nests, read from the wire format along the fields that hold
    subgraphs (0 when it cannot tell). Iterative, so a hostile depth costs no recursion."""
    deepest = 0
    stack = [(0, len(data), "model", 0)]
    while stack:
        pos, end, kind, depth = stack.pop()
        deepest = max(deepest, depth)
        follow = _SUBGRAPH_PATH[kind]
        while pos < end:
            tag, pos = _read_varint(data, pos)
            if tag is None:
                break
            number, wire_type = tag >> 3, tag & 7
            if wire_type == 0:
                _, pos = _read_varint(data, pos)
            elif wire_type == 2:
                length, pos = _read_varint(data, pos)
                if length is None or pos + length > end:
                    break
                inner = follow.get(number)
                if inner is not None:
                    stack.append((pos, pos + length, inner, depth + (inner == "graph" and kind == "attribute")))
                pos += length
            elif wire_type in (1, 5):
                pos += 8 if wire_type == 1 else 4
            else:
                break
            if pos is None:
                break
    return deepest


def _looks_like_truncated_model(data: bytes) -> bool:
    """True when the top-level fields are valid ModelProto fields until the data runs out mid-field.

    A cut-short export keeps a well-formed prefix whose last field claims more bytes than remain;
    text, images and archives fail on their first tag instead.
    """
    pos, fields = 0, 0
    while pos < len(data):
        tag, pos = _read_varint(data, pos)
        if tag is None:
            return fields > 0
        number, wire_type = tag >> 3, tag & 7
        if _MODEL_WIRE_TYPES.get(number) != wire_type:
            return False
        if wire_type == 0:
            value, pos = _read_varint(data, pos)
            if value is None:
                return True
        elif wire_type == 2:
            length, pos = _read_varint(data, pos)
            if length is None or pos + length > len(data):
                return True
            pos += length
        else:
            pos += 8 if wire_type == 1 else 4
            if pos > len(data):
                return True
        fields += 1
    return False  # the envelope is complete: the damage is inside, not a cut


# --------------------------------------------------------------------------- walking the model


def _node_subgraphs(node: NodeProto) -> Iterator[GraphProto]:
    for attr in node.attribute:
        if attr.HasField("g"):
            yield attr.g
        yield from attr.graphs


def _graphs_in(graph: GraphProto) -> Iterator[GraphProto]:
    """``graph`` and every subgraph nested in its nodes' attributes (If/Loop/Scan bodies)."""
    yield graph
    for node in graph.node:
        for sub in _node_subgraphs(node):
            yield from _graphs_in(sub)


def _all_graphs(model: ModelProto) -> Iterator[GraphProto]:
    yield from _graphs_in(model.graph)
    for info in model.training_info:
        yield from _graphs_in(info.initialization)
        yield from _graphs_in(info.algorithm)
    for function in model.functions:
        for node in function.node:
            for sub in _node_subgraphs(node):
                yield from _graphs_in(sub)


def _all_nodes(model: ModelProto) -> Iterator[NodeProto]:
    for graph in _all_graphs(model):
        yield from graph.node
    for function in model.functions:
        yield from function.node


def _attribute_tensors(attrs: Iterable[AttributeProto], owner: str) -> Iterator[tuple[str, TensorProto]]:
    for attr in attrs:
        where = f"attribute '{attr.name}' of {owner}"
        if attr.HasField("t"):
            yield where, attr.t
        for tensor in attr.tensors:
            yield where, tensor
        sparse = list(attr.sparse_tensors)
        if attr.HasField("sparse_tensor"):
            sparse.append(attr.sparse_tensor)
        for tensor in sparse:
            yield where, tensor.values
            yield where, tensor.indices


def _all_tensors(model: ModelProto) -> Iterator[tuple[str, TensorProto]]:
    """Every tensor stored in the model, with a description of where it sits."""
    for graph in _all_graphs(model):
        for tensor in graph.initializer:
            yield "initializer", tensor
        for sparse in graph.sparse_initializer:
            yield "sparse initializer", sparse.values
            yield "sparse initializer", sparse.indices
    for node in _all_nodes(model):
        owner = f"node '{node.name}' ({node.op_type})" if node.name else f"a {node.op_type} node"
        yield from _attribute_tensors(node.attribute, owner)
    for function in model.functions:
        yield from _attribute_tensors(function.attribute_proto, f"function '{function.name}'")


# --------------------------------------------------------------------------- checks


def _check_no_external_data(model: ModelProto) -> None:
    for where, tensor in _all_tensors(model):
        if tensor.data_location != TensorProto.EXTERNAL and not tensor.external_data:
            continue
        entries = {entry.key: entry.value for entry in tensor.external_data}
        location = entries.get("location", "")
        name = tensor.name or "(unnamed)"
        escapes = _path_escapes(location)
        if not location:
            problem = _("tensor '%(name)s' (%(where)s) keeps its data in an external file (no location given)")
        elif escapes:
            problem = _("tensor '%(name)s' (%(where)s) keeps its data in an external file %(location)s that points "
                        "outside the artifact")
        else:
            problem = _("tensor '%(name)s' (%(where)s) keeps its data in an external file %(location)s")
        fix = _("an uploaded artifact must be a single self-contained .onnx file - re-export with the weights "
                "embedded (%(call)s)") % {"call": "onnx.save_model(model, path, save_as_external_data=False)"}
        raise ArtifactRejected(
            problem % {"name": name, "where": where, "location": repr(location)} + "; " + fix,
            code="external_data",
            details={"tensor": name, "location": location, "escapes_artifact": escapes},
        )


def _path_escapes(location: str) -> bool:
    """True for absolute paths or paths that climb out of the model's directory."""
    if not location:
        return False
    normalised = location.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        return True
    return posixpath.normpath(normalised).split("/")[0] == ".."


def _canonical_domain(domain: str) -> str:
    return "" if domain in _DEFAULT_DOMAIN_ALIASES else domain


def _check_domains(model: ModelProto, allowed_domains: frozenset[str]) -> None:
    allowed = {_canonical_domain(d) for d in allowed_domains}
    shown = ", ".join(sorted({d or "ai.onnx" for d in allowed})) or "(empty)"
    for node in _all_nodes(model):
        if _canonical_domain(node.domain) not in allowed:
            raise ArtifactRejected(
                _("operator domain '%(domain)s' (op '%(op)s') is not on the allow-list: %(allowed)s; custom operators "
                  "cannot be validated or served - export the model with standard ONNX operators")
                % {"domain": node.domain, "op": node.op_type, "allowed": shown},
                code="custom_operator_domain",
                details={"domain": node.domain, "op_type": node.op_type},
            )
    imports = [(imp.domain, imp.version) for imp in model.opset_import]
    for function in model.functions:
        imports += [(imp.domain, imp.version) for imp in function.opset_import]
    for domain, version in imports:
        if _canonical_domain(domain) not in allowed:
            raise ArtifactRejected(
                _("opset import of operator domain '%(domain)s' (version %(version)s) is not on the allow-list: "
                  "%(allowed)s; remove the custom domain from the export")
                % {"domain": domain, "version": version, "allowed": shown},
                code="custom_operator_domain",
                details={"domain": domain, "version": version},
            )


def _graph_inputs(graph: GraphProto) -> list:
    initializers = {t.name for t in graph.initializer} | {s.values.name for s in graph.sparse_initializer}
    return [value for value in graph.input if value.name not in initializers]


def _run_checker(model: ModelProto) -> None:
    try:
        # full_check adds strict shape inference: type and shape contradictions are refused too.
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        detail = str(exc).strip()
        raise ArtifactRejected(
            _("the ONNX checker rejected the model: %(detail)s") % {"detail": " ".join(detail.split())},
            code="invalid_model",
            details={"checker": detail},
        ) from exc


# --------------------------------------------------------------------------- summary


def _summarise(model: ModelProto, inputs: list) -> OnnxInfo:
    opset_imports = {_canonical_domain(imp.domain): int(imp.version) for imp in model.opset_import}
    operators = {
        node.op_type if _canonical_domain(node.domain) == "" else f"{node.domain}:{node.op_type}"
        for node in _all_nodes(model)
    }
    return OnnxInfo(
        ir_version=int(model.ir_version),
        opset=opset_imports.get("", 0),
        opset_imports=opset_imports,
        producer_name=model.producer_name,
        producer_version=model.producer_version,
        operators=sorted(operators),
        inputs=[_describe_value(value) for value in inputs],
        outputs=[_describe_value(value) for value in model.graph.output],
    )


def _elem_type_name(elem_type: int) -> str:
    try:
        return TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return f"unknown({elem_type})"


def _type_name(type_proto) -> str:
    """Readable type: ``float`` for a tensor, ``seq(map(int64,float))`` for ZipMap's output."""
    kind = type_proto.WhichOneof("value")
    if kind == "tensor_type":
        return _elem_type_name(type_proto.tensor_type.elem_type)
    if kind == "sparse_tensor_type":
        return f"sparse({_elem_type_name(type_proto.sparse_tensor_type.elem_type)})"
    if kind == "sequence_type":
        return f"seq({_type_name(type_proto.sequence_type.elem_type)})"
    if kind == "map_type":
        key = _elem_type_name(type_proto.map_type.key_type)
        return f"map({key},{_type_name(type_proto.map_type.value_type)})"
    if kind == "optional_type":
        return f"optional({_type_name(type_proto.optional_type.elem_type)})"
    return "unknown"


def _describe_value(value) -> dict:
    """``{"name", "type", "shape"}``; shape dims are int, symbolic name (str) or None (unknown).

    Non-tensor values (sequences, maps) and tensors of unknown rank get ``shape == []``.
    """
    shape = []
    kind = value.type.WhichOneof("value")
    if kind in ("tensor_type", "sparse_tensor_type"):
        tensor_type = getattr(value.type, kind)
        if tensor_type.HasField("shape"):
            shape = [_dim(dim) for dim in tensor_type.shape.dim]
    return {"name": value.name, "type": _type_name(value.type), "shape": shape}


def _dim(dim) -> int | str | None:
    if dim.HasField("dim_value"):
        return int(dim.dim_value)
    if dim.HasField("dim_param"):
        return dim.dim_param
    return None


# --------------------------------------------------------------------------- feature schema


def derive_feature_schema(info: OnnxInfo, feature_names: list[str] | None = None) -> dict:
    """Derive the registry feature schema from the model's inputs.

    One 2-D input ``[N, k]`` gives ``k`` features (``layout="tensor"``), named by ``feature_names``
    or ``x0..x{k-1}``; several inputs of shape ``[N]`` or ``[N, 1]`` give one feature per input
    (``layout="columns"``). Bounds and categories start empty for the engineer to fill in.
    Raises ``ArtifactRejected(code="schema_mismatch")`` when the names do not fit the inputs or the
    inputs fit neither layout.
    """
    if not info.inputs:
        raise ArtifactRejected(_("the model has no inputs to derive a feature schema from"), code="no_inputs")
    first = info.inputs[0]
    if len(info.inputs) == 1 and len(first["shape"]) == 2:
        names = _tensor_feature_names(first, feature_names)
        features = [_feature(name, first) for name in names]
        return {"input": first["name"], "layout": "tensor", "features": features}
    if all(_is_column(value) for value in info.inputs):
        input_names = [value["name"] for value in info.inputs]
        if feature_names is not None and sorted(feature_names) != sorted(input_names):
            raise ArtifactRejected(
                _("feature names %(names)s do not match the model's input columns %(columns)s")
                % {"names": list(feature_names), "columns": input_names},
                code="schema_mismatch",
                field="feature_names",
            )
        features = [_feature(value["name"], value) for value in info.inputs]
        return {"input": first["name"], "layout": "columns", "features": features}
    shapes = ", ".join(f"'{v['name']}' {_shape_text(v['shape'])}" for v in info.inputs)
    raise ArtifactRejected(
        _("cannot derive a feature schema from the inputs %(inputs)s: expected one 2-D input [N, k] "
          "or one input per feature shaped [N] or [N, 1]") % {"inputs": shapes},
        code="schema_mismatch",
    )


def _tensor_feature_names(value: dict, feature_names: list[str] | None) -> list[str]:
    width = value["shape"][1]
    known = isinstance(width, int)
    if feature_names is None:
        if not known:
            raise ArtifactRejected(
                _("input '%(input)s' has shape %(shape)s, so the number of features is not fixed; supply the feature "
                  "names") % {"input": value["name"], "shape": _shape_text(value["shape"])},
                code="schema_mismatch",
                field="feature_names",
            )
        return [f"x{i}" for i in range(width)]
    if known and len(feature_names) != width:
        raise ArtifactRejected(
            ngettext("%(given)s feature names were given but input '%(input)s' has %(n)s feature (shape %(shape)s)",
                     "%(given)s feature names were given but input '%(input)s' has %(n)s features (shape %(shape)s)",
                     width)
            % {"given": len(feature_names), "input": value["name"], "n": width, "shape": _shape_text(value["shape"])},
            code="schema_mismatch",
            field="feature_names",
        )
    duplicates = sorted({name for name in feature_names if list(feature_names).count(name) > 1})
    if duplicates:
        raise ArtifactRejected(
            _("feature names must be unique; repeated: %(names)s") % {"names": ", ".join(duplicates)},
            code="schema_mismatch",
            field="feature_names",
        )
    return list(feature_names)


def _is_column(value: dict) -> bool:
    shape = value["shape"]
    return len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)


def _feature(name: str, value: dict) -> dict:
    feature_type = _FEATURE_TYPES.get(value["type"])
    if feature_type is None:
        raise ArtifactRejected(
            _("input '%(input)s' has element type '%(type)s', which maps to no feature type "
              "(supported: float, double, integer, string, bool)") % {"input": value["name"], "type": value["type"]},
            code="schema_mismatch",
        )
    return {"name": name, "type": feature_type, "min": None, "max": None, "categories": None, "nullable": False}


def _shape_text(shape: list) -> str:
    return "[" + ", ".join("?" if dim is None else str(dim) for dim in shape) + "]"
