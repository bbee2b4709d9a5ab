"""The agent's HTTP side: an RSGI application served by Granian (no Django).

Routes:

- ``POST /v1/models/{name}/predict``: the agent's JSON route, ``{"records": [{feature: value, ...}, ...]}`` (or
  ``{"features": {...}}`` for one record); answers ``{"request_id", "model", "version", "role", "predictions":
  [{"score", "label"}]}``.
- Open Inference Protocol v2: ``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``, ``/v2/models/{name}``,
  ``/v2/models/{name}/ready``, ``POST /v2/models/{name}/infer`` (also under ``/versions/{v}``), JSON tensors and
  the binary tensor data extension (the header's length in ``Inference-Header-Content-Length``, or as SageMaker
  sends it, ``Content-Type: application/vnd.sagemaker-triton.binary+json;json-header-size=N``).
- ``GET /metrics`` (Prometheus), ``GET /healthz``.

Inference needs a client token (``Authorization: Bearer``). Every answer carries ``X-Request-Id`` and, when a
model answered, ``X-Model-Version``. Errors are ``{"error": {"code", "message", "field", "details"}}`` on the JSON
route and ``{"error": message, "code", "field", "details"}`` on OIP v2 (whose clients read ``error`` as text); a
fault of the agent's own is a 500 ``internal_error`` in the same shape, its stack in the agent's log.

Each inference is checked against the release's schema, scored, written to the prediction log and counted in
the window before its answer is sent; a shadow challenger scores the same input after the answer has left.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import time

import msgspec
import numpy as np

from serving.agent import oip
from serving.agent.core import Loaded, Served
from serving.agent.predlog import LogUnavailable
from serving.agent.runtime import LoadFailed
from serving.agent.schema import RequestInvalid, too_deep

log = logging.getLogger("serving.agent.app")
_json = msgspec.json.encode
_NO_EXPLAINER = "Model '%s' has no reason codes: its release carries no tree-ensemble explainer."
_JSON = ("content-type", "application/json")


class PredictBody(msgspec.Struct):
    records: list | None = None
    features: dict | None = None
    explain: bool = False


_predict_body = msgspec.json.Decoder(PredictBody)
LOG_RETRY_SECONDS = 5  # Retry-After of a prediction refused because the log could not take it
BATCH_FROM = 4096  # JSON bodies of at least this many bytes try the schema's typed batch decoder first


class App:
    def __init__(self, agent):
        self.agent = agent
        self.max_body = agent.config.max_body_bytes
        self._ids = itertools.count(1)
        self._prefix = os.urandom(4).hex()

    def request_id(self, given: str | None) -> str:
        if given and len(given) <= 64 and given.replace("-", "").replace("_", "").replace(".", "").isalnum():
            return given
        return f"{self._prefix}-{next(self._ids):x}"

    async def __rsgi__(self, scope, proto):
        path, method = scope.path, scope.method
        headers = scope.headers
        rid = self.request_id(headers.get("x-request-id"))
        try:
            if path.startswith("/v1/models/") and path.endswith("/predict") and method == "POST":
                await self.predict(scope, proto, path[len("/v1/models/"):-len("/predict")], rid)
            elif path.startswith("/v2"):
                await self.v2(scope, proto, path, method, rid)
            elif path == "/metrics" and method == "GET":
                proto.response_bytes(200, [("content-type", "text/plain; version=0.0.4"), ("x-request-id", rid)],
                                    self.agent.metrics_text())
            elif path == "/healthz":
                self.send(proto, 200, {"status": "ok"}, rid)
            else:
                await self.drain(scope, proto)
                self.send(proto, 404, {"error": {"code": "not_found", "message": f"No route {method} {path}.",
                                                 "field": None, "details": None}}, rid)
        except RequestInvalid as exc:  # refusals raised before a model was chosen (body, token, route)
            body = exc.body() if not path.startswith("/v2") else _oip_error(exc)
            self.send(proto, exc.status, body, rid)
        except Exception:  # a fault of the agent's own: logged with its stack, answered in the route's error shape
            log.exception("request %s %s %s failed", rid, method, path)
            error = RequestInvalid("The agent failed to answer; the failure is in its log.", code="internal_error",
                                   status=500)
            with contextlib.suppress(Exception):  # unless the answer had already left
                self.send(proto, 500, error.body() if not path.startswith("/v2") else _oip_error(error), rid)

    @staticmethod
    def send(proto, status: int, body, rid: str, extra: list | None = None) -> None:
        proto.response_bytes(status, [_JSON, ("x-request-id", rid), *(extra or [])], _json(body))

    def refuse(self, proto, served: Served, loaded: Loaded, exc: Exception, rid: str, *, oip: bool) -> None:
        """A request refused once a model was chosen: counted in its window and metrics, answered in the route's
        error shape (a failed inference as a 500)."""
        self.agent.refused_request(served, loaded, exc)
        if isinstance(exc, LoadFailed):
            exc = RequestInvalid(str(exc), code="inference_failed", status=500)
        extra = [("retry-after", str(exc.retry_after))] if exc.retry_after is not None else []
        self.send(proto, exc.status, _oip_error(exc) if oip else exc.body(), rid,
                  [("x-model-version", str(loaded.version)), *extra])

    async def body(self, scope, proto) -> bytes:
        length = scope.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            raise RequestInvalid(f"The body is larger than {self.max_body} bytes.", code="too_large", status=413)
        data = await proto()
        if len(data) > self.max_body:
            raise RequestInvalid(f"The body is larger than {self.max_body} bytes.", code="too_large", status=413)
        return data

    async def admit(self, scope, proto, name: str):
        """The request's client (its token checked and rate-limited) and the model it names, or a refusal with the
        body drained."""
        try:
            return self.agent.clients.client(scope.headers.get("authorization")), self.served(name)
        except RequestInvalid:
            await self.drain(scope, proto)
            raise

    async def drain(self, scope, proto) -> None:
        """Read and drop the body of a request refused before its body was read (no token, no such model or
        route), so that the client's connection stays open for its next request: an HTTP server that answers
        with a body still unread closes the connection under the client. A body past the limit is left, and
        its connection closed."""
        length = scope.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return
        if length in (None, "0") and "chunked" not in scope.headers.get("transfer-encoding", "").lower():
            return
        seen = 0
        async for chunk in proto:
            seen += len(chunk)
            if seen > self.max_body:
                return

    def served(self, name: str) -> Served:
        served = self.agent.served.get(name)
        if served is None:
            refused = self.agent.refused.get(name)
            if refused:
                raise RequestInvalid(f"Model '{name}' is not served: {refused}", code="not_served", status=503)
            raise RequestInvalid(f"No model '{name}' on this host.", code="not_found", status=404)
        return served

    # ------------------------------------------------------------------ the JSON route

    async def predict(self, scope, proto, name: str, rid: str) -> None:
        start = time.perf_counter()
        client, served = await self.admit(scope, proto, name)
        data = await self.body(scope, proto)
        loaded = served.pick()
        try:
            batch = loaded.schema.batch(data) if len(data) >= BATCH_FROM else None
            if batch is not None:  # plain numbers, read into typed records and checked as a matrix
                rows, (matrix, explain) = None, batch
                body = PredictBody(explain=explain)
            else:
                body = _decode_predict(data)
            if body.explain and loaded.explainer is None:
                raise RequestInvalid(_NO_EXPLAINER % name, code="explain_unavailable", status=422)
            if batch is None:
                rows, matrix = _rows(loaded, body)
            if matrix is not None:
                feeds = loaded.model.feeds_matrix(matrix)
                observe = ("matrix", feeds[loaded.model.tensor_input])
            else:
                feeds, observe = loaded.model.feeds_rows(rows), None
            scored = self.agent.infer(served, loaded, feeds, len(rows) if matrix is None else len(matrix))
        except (RequestInvalid, LoadFailed) as exc:
            return self.refuse(proto, served, loaded, exc, rid, oip=False)
        scores = scored.scores.tolist()
        labels = scored.labels.tolist() if scored.labels is not None else None
        predictions = ([{"score": s, "label": lb} for s, lb in zip(scores, labels, strict=True)] if labels is not None
                       else [{"score": s} for s in scores])
        explained = None
        if body.explain:
            matrix = observe[1] if observe is not None else np.asarray(rows, dtype=np.float64)
            explained = loaded.explainer.explain(matrix)
            for prediction, described in zip(predictions, loaded.explainer.describe(matrix, explained), strict=True):
                prediction["explanation"] = described
        ms = (time.perf_counter() - start) * 1000
        try:
            self.agent.record(served, loaded, client, rid, ms, rows=rows, observe=observe, scored=scored,
                              explained=explained)
        except LogUnavailable as exc:
            return self.refuse(proto, served, loaded, _unlogged(exc), rid, oip=False)
        self.send(proto, 200, {"request_id": rid, "model": name, "version": loaded.version, "role": loaded.role,
                               "predictions": predictions}, rid, [("x-model-version", str(loaded.version))])
        if served.shadow is not None and loaded is served.champion:
            self.agent.shadow(served, feeds, rid, client, rows=rows, observe=observe, champion=scored)

    # ------------------------------------------------------------------ Open Inference Protocol v2

    async def v2(self, scope, proto, path: str, method: str, rid: str) -> None:
        parts = path.strip("/").split("/")
        if parts == ["v2"] and method == "GET":
            return self.send(proto, 200, {"name": "mg-agent", "version": self.agent.version,
                                          "extensions": ["binary_tensor_data"]}, rid)
        if parts[:2] == ["v2", "health"] and len(parts) == 3 and method == "GET":
            if parts[2] == "live":
                return self.send(proto, 200, {"live": True}, rid)
            if parts[2] == "ready":
                reasons = self.agent.unready_reasons()
                return self.send(proto, 503 if reasons else 200,
                                 {"ready": False, "reasons": reasons} if reasons else {"ready": True}, rid)
        if len(parts) >= 3 and parts[1] == "models":
            name, rest = parts[2], parts[3:]
            version = None
            if len(rest) >= 2 and rest[0] == "versions":
                version, rest = rest[1], rest[2:]
            if rest == [] and method == "GET":
                return self.metadata(proto, name, version, rid)
            if rest == ["ready"] and method == "GET":
                served = self.agent.served.get(name)
                ok = served is not None and (version is None or version == str(served.champion.version))
                return self.send(proto, 200 if ok else 503 if name in self.agent.refused else 404,
                                 {"name": name, "ready": ok}, rid)
            if rest in (["infer"], ["explain"]) and method == "POST":
                return await self.infer(scope, proto, name, version, rid, explain=rest == ["explain"])
        await self.drain(scope, proto)
        return self.send(proto, 404, {"error": f"No route {method} {path}.", "code": "not_found"}, rid)

    def metadata(self, proto, name: str, version: str | None, rid: str) -> None:
        served = self.served(name)
        model = served.champion.model
        if served.champion.schema.layout == "tensor":
            inputs = [{"name": model.tensor_input, "datatype": oip.ONNX_TYPES.get(model.inputs[0].type, "FP32"),
                       "shape": [-1, len(model.features)]}]
        else:
            inputs = [{"name": value.name, "datatype": oip.ONNX_TYPES.get(value.type, "FP32"),
                       "shape": [-1] + ([1] if len(value.shape or []) == 2 else [])} for value in model.inputs]
        outputs = [{"name": o_name, "datatype": "FP32" if o_type.startswith("seq(map(") else
                    oip.ONNX_TYPES.get(o_type, "FP32"), "shape": [-1] + [d if isinstance(d, int) else -1
                                                                         for d in (o_shape or [])[1:]]}
                   for o_name, o_type, o_shape in model.output_meta]
        self.send(proto, 200, {"name": name, "versions": [str(loaded.version) for loaded in served.all()],
                               "platform": "onnxruntime_onnx", "inputs": inputs, "outputs": outputs,
                               "parameters": {"deployment": served.deployment, "strategy": served.strategy,
                                              "provider": model.provider}}, rid)

    async def infer(self, scope, proto, name: str, version: str | None, rid: str, explain: bool = False) -> None:
        start = time.perf_counter()
        client, served = await self.admit(scope, proto, name)
        data = await self.body(scope, proto)
        loaded = served.pick()
        if version is not None and version != str(loaded.version):
            loaded = next((item for item in served.all() if str(item.version) == version), None)
            if loaded is None:
                raise RequestInvalid(f"Model '{name}' has no version {version} served here.", code="not_found",
                                     status=404)
        header = scope.headers.get("inference-header-content-length") or _header_size(
            scope.headers.get("content-type"))
        try:
            if header is not None and not header.isdigit():
                raise RequestInvalid("Inference-Header-Content-Length is not a number.", code="invalid_request",
                                     status=400)
            request, tensors = oip.decode(data, int(header) if header is not None else None)
            rid = self.request_id(request.id) if request.id else rid
            if explain and loaded.explainer is None:
                raise RequestInvalid(_NO_EXPLAINER % name, code="explain_unavailable", status=422)
            feeds, rows, observe = self.tensor_feeds(loaded, tensors)
            scored = self.agent.infer(served, loaded, feeds, rows)
            outputs, extra, explained = scored.outputs, None, None
            if explain:
                matrix = np.asarray(observe[1], dtype=np.float64) if observe[0] == "rows" else observe[1]
                explained = loaded.explainer.explain(matrix)
                outputs = {**outputs, "shap_values": explained[0]}
                extra = {"algorithm": loaded.explainer.algorithm, "scale": loaded.explainer.scale,
                         "expected_value": round(explained[1], 6), "feature_names": loaded.schema.names,
                         "reasons": [[r["feature"] for r in d["reasons"]]
                                     for d in loaded.explainer.describe(matrix, explained)]}
            body, header_length = oip.encode(model=name, version=loaded.version, request_id=rid, role=loaded.role,
                                             outputs=outputs, wanted=request.outputs, extra=extra,
                                             binary_all=bool(request.parameters.get("binary_data_output", False)))
        except (RequestInvalid, LoadFailed) as exc:
            return self.refuse(proto, served, loaded, exc, rid, oip=True)
        ms = (time.perf_counter() - start) * 1000
        seen = {"rows": observe[1]} if observe[0] == "rows" else {"observe": observe}
        try:
            self.agent.record(served, loaded, client, rid, ms, scored=scored, explained=explained, **seen)
        except LogUnavailable as exc:
            return self.refuse(proto, served, loaded, _unlogged(exc), rid, oip=True)
        headers = [_JSON, ("x-request-id", rid), ("x-model-version", str(loaded.version))]
        if header_length is not None:
            headers[0] = ("content-type", "application/octet-stream")
            headers.append(("inference-header-content-length", str(header_length)))
        proto.response_bytes(200, headers, body)
        if served.shadow is not None and loaded is served.champion:
            rows = observe[1] if observe[0] == "rows" else None
            self.agent.shadow(served, feeds, rid, client, rows=rows, observe=None if rows else observe,
                              champion=scored)

    @staticmethod
    def tensor_feeds(loaded: Loaded, tensors: dict) -> tuple[dict, int, tuple]:
        """Feeds for the model from decoded tensors, checked against the schema; ``observe`` is what the drift
        window and the log keep of them."""
        schema, model = loaded.schema, loaded.model
        if schema.layout == "tensor":
            if len(tensors) != 1:
                raise RequestInvalid(f"Send one input tensor '{model.tensor_input}' of shape [N, {schema.width}].",
                                     code="invalid_tensor", rule="wrong_shape")
            (tensor, matrix), = tensors.values()
            if tensor.name != model.tensor_input:
                raise RequestInvalid(f"Input '{tensor.name}' is not the model's input '{model.tensor_input}'.",
                                     code="invalid_tensor", feature=tensor.name, rule="unknown_feature")
            if isinstance(matrix, list):
                if tensor.datatype in ("BYTES", "BOOL"):
                    raise RequestInvalid(f"Input '{tensor.name}': expected numbers, got {tensor.datatype}.",
                                         code="invalid_tensor", feature=tensor.name, rule="wrong_type")
                width = schema.width
                if not (tensor.shape in ([width], [1, width]) or (len(tensor.shape) == 2 and tensor.shape[1] == width)):
                    raise RequestInvalid(f"Expected a tensor of shape [N, {width}], got {tensor.shape}.",
                                         code="invalid_tensor", rule="wrong_shape")
                count = len(matrix) // width
                if count <= 16:  # a few rows: checked and fed as lists, cheaper than numpy at this size
                    rows = [matrix[i * width:(i + 1) * width] for i in range(count)]
                    for number, row in enumerate(rows):
                        schema.row_check(row, number)
                    return model.feeds_rows(rows), count, ("rows", rows)
                matrix = np.array(matrix, dtype=oip.DTYPES[tensor.datatype]).reshape(count, width)
            if not isinstance(matrix, np.ndarray) or matrix.dtype.kind not in "fiu":
                raise RequestInvalid(f"Input '{tensor.name}': expected numbers, got {tensor.datatype}.",
                                     code="invalid_tensor", feature=tensor.name, rule="wrong_type")
            if matrix.ndim == 1 and matrix.shape[0] == schema.width:
                matrix = matrix.reshape(1, -1)
            schema.matrix_check(matrix)
            return model.feeds_matrix(matrix), len(matrix), ("matrix", matrix)
        for name in tensors:
            if name not in schema.index:
                raise RequestInvalid(f"Feature '{name}': not in the model's schema.", code="invalid_feature",
                                     feature=name, rule="unknown_feature")
        columns, length = [], None
        for feature in schema.features:
            if feature.name not in tensors:
                raise RequestInvalid(f"Feature '{feature.name}': missing from the request.", code="invalid_feature",
                                     feature=feature.name, rule="missing_feature")
            _tensor, values = tensors[feature.name]
            values = values.reshape(-1) if isinstance(values, np.ndarray) else values
            if length is not None and len(values) != length:
                raise RequestInvalid(f"Feature '{feature.name}': {len(values)} values, the others have {length}.",
                                     code="invalid_feature", feature=feature.name, rule="wrong_shape")
            length = len(values)
            columns.append(schema.column_check(feature, values))
        return model.feeds_columns(columns), length or 0, ("columns", columns)


def _rows(loaded: Loaded, body: PredictBody) -> tuple[list | None, np.ndarray | None]:
    """The checked rows (a few records, or any with nulls, strings or categories) or matrix of a decoded body."""
    if body.records is not None:
        if not body.records:
            raise RequestInvalid("'records' is empty.", code="invalid_request", status=400)
        return loaded.schema.rows_from_records(body.records)
    if body.features is not None:
        return [loaded.schema.record_row(body.features)], None
    raise RequestInvalid("Send 'records' (a list of objects) or 'features' (one object).", code="invalid_request",
                         status=400)


def _decode_predict(data: bytes) -> PredictBody:
    """The fast decoder first; what it refuses is read by the standard library, which takes numbers beyond float
    range as infinity, so they are refused by the schema check with the feature's name."""
    try:
        return _predict_body.decode(data)
    except RecursionError:
        raise too_deep() from None
    except msgspec.DecodeError as exc:
        try:
            return msgspec.convert(json.loads(data), PredictBody)
        except RecursionError:
            raise too_deep() from None
        except (ValueError, msgspec.ValidationError):
            raise RequestInvalid(f"Not a prediction request: {exc}.", code="invalid_request", status=400)


def _unlogged(exc: LogUnavailable) -> RequestInvalid:
    """A prediction scored but not logged: refused, never answered (the log holds every answer)."""
    return RequestInvalid(str(exc.strerror), code="log_unavailable", status=503, retry_after=LOG_RETRY_SECONDS)


def _header_size(content_type: str | None) -> str | None:
    """The JSON header's length given as a content-type parameter, as SageMaker's Triton endpoints take it:
    ``application/vnd.sagemaker-triton.binary+json;json-header-size=N``."""
    if not content_type or "json-header-size=" not in content_type:
        return None
    return content_type.split("json-header-size=", 1)[1].split(";", 1)[0].strip()


def _oip_error(exc: RequestInvalid) -> dict:
    body = exc.body()["error"]
    return {"error": body["message"], "code": body["code"], "field": body["field"], "details": body["details"]}

