"""The Open Inference Protocol v2 wire format, JSON and binary tensor data (no Django).

Decoding gives numpy arrays (binary data without a copy where it is aligned; large JSON requests through simdjson,
whose float tensors come out as arrays) and names the tensor and element of anything malformed; encoding writes
each output as JSON data or, when asked, in the binary section after the JSON header, whose length goes in the
``Inference-Header-Content-Length`` header (the extension Triton and its clients speak).
"""

from __future__ import annotations

import json
import math
import re
import struct

import msgspec
import numpy as np
import simdjson

from serving.agent.schema import RequestInvalid, too_deep

DTYPES = {"FP32": np.float32, "FP64": np.float64, "FP16": np.float16, "INT64": np.int64, "INT32": np.int32,
          "INT16": np.int16, "INT8": np.int8, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
          "UINT64": np.uint64, "BOOL": np.bool_, "BYTES": np.object_}
NAMES = {np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64", np.dtype(np.int64): "INT64",
         np.dtype(np.int32): "INT32", np.dtype(np.bool_): "BOOL", np.dtype(np.float16): "FP16"}
ONNX_TYPES = {"tensor(float)": "FP32", "tensor(double)": "FP64", "tensor(int64)": "INT64", "tensor(int32)": "INT32",
              "tensor(bool)": "BOOL", "tensor(string)": "BYTES"}


class Tensor(msgspec.Struct):
    name: str
    datatype: str
    shape: list[int]
    data: msgspec.Raw = msgspec.Raw(b"null")
    parameters: dict = {}


class Requested(msgspec.Struct):
    name: str
    parameters: dict = {}


class InferRequest(msgspec.Struct):
    inputs: list[Tensor]
    id: str | None = None
    parameters: dict = {}
    outputs: list[Requested] | None = None


FLOATS = ("FP32", "FP64", "FP16")
LARGE = 16384  # JSON requests of at least this many bytes are read by simdjson first

_request = msgspec.json.Decoder(InferRequest)
_numbers = msgspec.json.Decoder(list[float])
_integers = msgspec.json.Decoder(list[int])
_bools = msgspec.json.Decoder(list[bool])
_strings = msgspec.json.Decoder(list[str])
_AT = re.compile(r"\$\[(\d+)\]")


def _where(exc: Exception) -> int | None:
    found = _AT.search(str(exc))
    return int(found.group(1)) if found else None


def _flatten(value) -> list:
    out: list = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def _json_data(tensor: Tensor):
    """The tensor's JSON data as a flat list; ``(None, index)`` names the first element of the wrong type.

    The fast typed decoder takes the common case; anything it refuses (nested lists, numbers out of float range,
    NaN spelt out) is read again by the standard library, so a value that is merely not finite reaches the schema
    check and is refused there by feature name."""
    decoder = {"BOOL": _bools, "BYTES": _strings}.get(tensor.datatype)
    if decoder is None:
        decoder = _integers if tensor.datatype.startswith(("INT", "UINT")) else _numbers
    try:
        return decoder.decode(tensor.data), None
    except msgspec.DecodeError:
        pass
    except RecursionError:
        raise too_deep() from None
    try:
        values = json.loads(bytes(tensor.data))
    except RecursionError:
        raise too_deep() from None
    except ValueError:
        raise RequestInvalid(f"Input '{tensor.name}': data is not valid JSON.", code="invalid_tensor",
                             feature=tensor.name)
    flat = _flatten(values) if isinstance(values, list) else [values]
    wanted = {"BOOL": (bool,), "BYTES": (str,)}.get(tensor.datatype, (int, float))
    for index, value in enumerate(flat):
        if not isinstance(value, wanted) or (bool not in wanted and isinstance(value, bool)):
            return None, index
    return flat, None


class _Simd:
    """One simdjson parser, reused (a fresh one costs as much as the parse): a document's proxies never outlive
    the call that made them, and a parser found still in use is replaced."""

    parser = simdjson.Parser()

    @classmethod
    def parse(cls, text: bytes):
        try:
            return cls.parser.parse(text)
        except RuntimeError as exc:
            if "re-use a parser" not in str(exc):
                raise
            cls.parser = simdjson.Parser()
            return cls.parser.parse(text)


def _plain(value):
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    if isinstance(value, simdjson.Array):
        return value.as_list()
    return value


def _decode_large(header: bytes) -> tuple[InferRequest, dict[int, np.ndarray]] | None:
    """A large JSON request read by simdjson (a parse of every number at some GB/s): the request and, per input,
    its float tensor's numbers as float64, exported in one copy. None when it is anything but float tensors of
    numbers (or not JSON at all): the general decoder then reads it and names what is wrong. simdjson and the
    general decoder read every number to the same double (both round correctly; tested bit for bit)."""
    try:
        doc = _Simd.parse(header)
    except (ValueError, RuntimeError):  # malformed, a number out of range, an integer past 64 bits
        return None
    try:
        return _from_document(doc)
    finally:
        del doc


def _from_document(doc) -> tuple[InferRequest, dict[int, np.ndarray]] | None:
    if not isinstance(doc, simdjson.Object) or not isinstance(doc.get("inputs"), simdjson.Array):
        return None
    inputs, arrays = [], {}
    for index, item in enumerate(doc["inputs"]):
        if not isinstance(item, simdjson.Object) or item.get("datatype") not in FLOATS:
            return None
        data = item.get("data")
        if not isinstance(data, simdjson.Array):
            return None
        try:
            arrays[index] = np.frombuffer(data.as_buffer(of_type="d"), dtype=np.float64)
        except (TypeError, ValueError):  # a string, a boolean or null among the numbers
            return None
        inputs.append({key: _plain(item[key]) for key in item if key != "data"})
    rest = {key: _plain(doc[key]) for key in doc if key != "inputs"}
    try:
        return msgspec.convert({**rest, "inputs": inputs}, InferRequest), arrays
    except msgspec.ValidationError:
        return None


def decode(body: bytes, header_length: int | None) -> tuple[InferRequest, dict[str, tuple[Tensor, object]]]:
    """The request and, per input name, the tensor with its data: a numpy array (binary data, in its shape) or a
    flat list (JSON data; for BYTES a list of str)."""
    if header_length is not None:
        if header_length < 0 or header_length > len(body):
            raise RequestInvalid("Inference-Header-Content-Length is larger than the body.", code="invalid_request",
                                 status=400)
        header, binary = body[:header_length], memoryview(body)[header_length:]
    else:
        header, binary = body, memoryview(b"")
    large = _decode_large(header) if header_length is None and len(header) >= LARGE else None
    if large is not None:
        request, arrays = large
    else:
        arrays = {}
        try:
            request = _request.decode(header)
        except RecursionError:
            raise too_deep() from None
        except msgspec.DecodeError as exc:
            raise RequestInvalid(f"Not an inference request: {exc}.", code="invalid_request", status=400)
    offset, tensors = 0, {}
    for index, tensor in enumerate(request.inputs):
        if tensor.datatype not in DTYPES:
            raise RequestInvalid(f"Input '{tensor.name}': datatype {tensor.datatype!r} is not supported.",
                                 code="invalid_tensor", feature=tensor.name, rule="wrong_type")
        if any(d < 0 for d in tensor.shape) or len(tensor.shape) > 4:
            raise RequestInvalid(f"Input '{tensor.name}': shape {tensor.shape} is not valid.", code="invalid_tensor",
                                 feature=tensor.name, rule="wrong_shape")
        count = math.prod(tensor.shape)
        size = tensor.parameters.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise RequestInvalid(f"Input '{tensor.name}': binary_data_size runs past the body.",
                                     code="invalid_tensor", feature=tensor.name)
            chunk = binary[offset:offset + size]
            offset += size
            values = _binary(tensor, chunk, count)
        elif index in arrays:
            values = arrays[index].astype(DTYPES[tensor.datatype], copy=False)
        else:
            values, bad = _json_data(tensor)  # a flat list: small requests are checked without numpy
            if values is None:
                raise _bad_element(tensor, bad)
        if len(values) != count:
            raise RequestInvalid(f"Input '{tensor.name}': {len(values)} values for shape {tensor.shape}.",
                                 code="invalid_tensor", feature=tensor.name, rule="wrong_shape")
        if isinstance(values, np.ndarray):
            values = values.reshape(tensor.shape)
        tensors[tensor.name] = (tensor, values)
    return request, tensors


def _bad_element(tensor: Tensor, index: int | None) -> RequestInvalid:
    where = "" if index is None else f" (element {index})"
    return RequestInvalid(f"Input '{tensor.name}'{where}: a value is not of datatype {tensor.datatype}.",
                          code="invalid_tensor", feature=tensor.name, rule="wrong_type", record=index)


def _binary(tensor: Tensor, chunk: memoryview, count: int):
    if tensor.datatype == "BYTES":
        values, at = [], 0
        while at < len(chunk):
            if at + 4 > len(chunk):
                raise RequestInvalid(f"Input '{tensor.name}': a BYTES element is cut short.", code="invalid_tensor",
                                     feature=tensor.name)
            (length,) = struct.unpack_from("<I", chunk, at)
            at += 4
            if at + length > len(chunk):
                raise RequestInvalid(f"Input '{tensor.name}': a BYTES element is cut short.", code="invalid_tensor",
                                     feature=tensor.name)
            values.append(bytes(chunk[at:at + length]).decode("utf-8", "replace"))
            at += length
        return values
    dtype = np.dtype(DTYPES[tensor.datatype])
    if len(chunk) != count * dtype.itemsize:
        raise RequestInvalid(f"Input '{tensor.name}': {len(chunk)} bytes for shape {tensor.shape} of "
                             f"{tensor.datatype}.", code="invalid_tensor", feature=tensor.name, rule="wrong_shape")
    values = np.frombuffer(chunk, dtype=dtype)
    # The tensor starts wherever the JSON header ended: copied when that is not on its element's boundary, which
    # costs less than ONNX Runtime and numpy lose to unaligned reads (a 123 kB copy: 3 us; ORT: 20 us slower).
    return values if values.flags.aligned else values.copy()


def encode(*, model: str, version: int, request_id: str, role: str, outputs: dict[str, np.ndarray],
           wanted: list[Requested] | None, binary_all: bool, extra: dict | None = None) -> tuple[bytes, int | None]:
    """The response body and, when any output is binary, the JSON header's length."""
    names = [w.name for w in wanted] if wanted else list(outputs)
    binary_of = {w.name: bool(w.parameters.get("binary_data", binary_all)) for w in wanted or []}
    described, chunks = [], []
    for name in names:
        if name not in outputs:
            raise RequestInvalid(f"The model has no output '{name}' (it has {sorted(outputs)}).",
                                 code="invalid_request", status=400, feature=name)
        array = np.asarray(outputs[name])
        datatype = "BYTES" if array.dtype.kind in "OUS" else NAMES.get(array.dtype, "FP32")
        if datatype == "FP32" and array.dtype not in NAMES:
            array = array.astype(np.float32)
        entry = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary_of.get(name, binary_all):
            if datatype == "BYTES":
                data = b"".join(struct.pack("<I", len(b)) + b for b in
                                (str(v).encode() for v in array.reshape(-1).tolist()))
            else:
                data = np.ascontiguousarray(array).tobytes()
            entry["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            entry["data"] = [str(v) for v in array.reshape(-1).tolist()] if datatype == "BYTES" else \
                array.reshape(-1).tolist()
        described.append(entry)
    body = {"model_name": model, "model_version": str(version), "id": request_id,
            "parameters": {"role": role, **(extra or {})}, "outputs": described}
    header = msgspec.json.encode(body)
    if not chunks:
        return header, None
    return header + b"".join(chunks), len(header)
