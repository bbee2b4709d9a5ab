"""A verified release in an ONNX Runtime session (no Django: this runs on the serving hosts).

The execution provider is chosen once per host: CUDA where ONNX Runtime has it and a GPU answers, the CPU
otherwise (``MG_AGENT_PROVIDER`` or ``--provider`` forces one). The provider a session really got is what the
agent reports to the control plane. A session is warmed up with a request shaped like the schema before it takes
traffic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from serving.agent.manifest import Manifest

_DTYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
    "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(string)": np.object_,
}
_FLOATS = ("tensor(float)", "tensor(double)")
CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


class LoadFailed(Exception):
    """ONNX Runtime could not load or run the release; ``str()`` says why."""


# A graph that copies one float (y = Identity(x); ONNX IR 8, opset 13), made with ``onnx.helper``: the probe below
# runs it to learn whether a GPU answers, without the ``onnx`` package on the host.
_PROBE = (b"\x08\x08:7\n\x10\n\x01x\x12\x01y\"\x08Identity\x12\x01pZ\x0f\n\x01x\x12\n\n\x08\x08\x01\x12\x04"
          b"\n\x02\x08\x01b\x0f\n\x01y\x12\n\n\x08\x08\x01\x12\x04\n\x02\x08\x01B\x04\n\x00\x10\r")


def probe(providers: list[str]) -> tuple[str, str]:
    """The provider a session asked for ``providers`` really gets, and why not the first one asked for ('' when it
    got it). A one-float session is created and run: ONNX Runtime lists CUDA wherever onnxruntime-gpu is installed,
    driver or no driver, and without a GPU it quietly runs the session on the CPU."""
    import warnings

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # the fallback is reported here, not as ONNX Runtime's error line
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            session = ort.InferenceSession(_PROBE, options, providers=providers)
        session.run(None, {"x": np.ones(1, dtype=np.float32)})
    except Exception as exc:  # ORT raises its own exception types
        return CPU, f"a session on {providers[0]} failed: {str(exc)[:200]}"
    got = session.get_providers()[0]
    return got, "" if got == providers[0] else "no GPU answered (ONNX Runtime fell back to the CPU)"


def providers_for(choice: str = "auto") -> list[str]:
    """The providers to ask for: ``cuda`` (refused where no GPU answers), ``cpu``, or ``auto`` (CUDA where ONNX
    Runtime has it and a GPU answers, the CPU otherwise)."""
    import onnxruntime as ort

    if choice == "cpu":
        return [CPU]
    available = ort.get_available_providers()
    if CUDA in available:
        got, why = probe([CUDA, CPU])
        if got == CUDA:
            return [CUDA, CPU]
    else:
        why = f"ONNX Runtime has {', '.join(available)}; install onnxruntime-gpu"
    if choice == "cuda":
        raise LoadFailed(f"the CUDA execution provider is not available: {why}")
    return [CPU]


def _rank(shape) -> int:
    return len(shape) if isinstance(shape, list | tuple) else 0


@dataclass
class Scored:
    """What one run gave: ``scores`` (positive-class probability or the value), ``labels`` when the model has a
    label output, and every output as a tensor for the Open Inference Protocol."""

    scores: np.ndarray
    labels: np.ndarray | None
    outputs: dict[str, np.ndarray]


class Model:
    """One release's model: session, inputs built from the schema, outputs read back as scores and labels."""

    def __init__(self, artifact: bytes, manifest: Manifest, *, providers: list[str], threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(artifact, options, providers=providers)
        except Exception as exc:  # ORT raises its own exception types
            raise LoadFailed(f"ONNX Runtime cannot load the artifact: {str(exc)[:300]}") from exc
        self.manifest = manifest
        self.provider = self.session.get_providers()[0]
        self.inputs = self.session.get_inputs()
        self.layout = manifest.layout
        self.features = [f.name for f in manifest.features]
        if self.layout == "tensor":
            first = self.inputs[0]
            self.tensor_input, self.tensor_dtype = first.name, _DTYPES.get(first.type, np.float32)
        else:
            self.column_inputs = [(value.name, _DTYPES.get(value.type, np.float32), _rank(value.shape) == 2)
                                  for value in self.inputs]
        self.output_meta = [(o.name, o.type, o.shape) for o in self.session.get_outputs()]
        self._pick_outputs(self.session.get_outputs())
        self.run_options = ort.RunOptions()

    def _pick_outputs(self, outputs) -> None:
        self.proba = self.label = self.value = None
        for out in outputs:
            rank = _rank(out.shape)
            if out.type.startswith("seq(map(") or (out.type in _FLOATS and rank == 2 and out.shape[1] != 1):
                self.proba = self.proba or out.name
            elif out.type in ("tensor(int64)", "tensor(string)", "tensor(int32)") and rank in (1, 2):
                self.label = self.label or out.name
            elif out.type in _FLOATS:
                self.value = self.value or out.name
        if self.proba is None and self.value is None:
            raise LoadFailed("the artifact has no float output (probabilities or values) to serve")
        self.output_names = [o.name for o in outputs]

    # ------------------------------------------------------------------ feeds

    def feeds_rows(self, rows: list[list]) -> dict[str, np.ndarray]:
        """Inputs from checked rows in schema order."""
        if self.layout == "tensor":
            return {self.tensor_input: np.array(rows, dtype=self.tensor_dtype).reshape(len(rows), len(self.features))}
        feeds = {}
        for column, (name, dtype, two_d) in enumerate(self.column_inputs):
            values = np.array([row[column] for row in rows], dtype=dtype)
            feeds[name] = values.reshape(-1, 1) if two_d else values
        return feeds

    def feeds_matrix(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        return {self.tensor_input: matrix if matrix.dtype == self.tensor_dtype else matrix.astype(self.tensor_dtype)}

    def feeds_columns(self, columns: list) -> dict[str, np.ndarray]:
        feeds = {}
        for values, (name, dtype, two_d) in zip(columns, self.column_inputs, strict=True):
            array = values if isinstance(values, np.ndarray) and values.dtype == dtype else np.array(values,
                                                                                                      dtype=dtype)
            feeds[name] = array.reshape(-1, 1) if two_d else array.reshape(-1)
        return feeds

    # ------------------------------------------------------------------ run

    def run(self, feeds: dict[str, np.ndarray]) -> Scored:
        try:
            results = self.session.run(self.output_names, feeds, self.run_options)
        except Exception as exc:
            raise LoadFailed(f"ONNX Runtime failed: {str(exc)[:300]}") from exc
        outputs = dict(zip(self.output_names, results, strict=True))
        labels = None
        if self.label is not None:
            labels = np.ravel(outputs[self.label])
        if self.proba is not None:
            raw = outputs[self.proba]
            if isinstance(raw, list):  # a ZipMap output: one {class: probability} per row
                classes = sorted(raw[0]) if raw else []
                raw = np.array([[row[c] for c in classes] for row in raw], dtype=np.float32)
                outputs[self.proba] = raw
            scores = raw[:, 1] if raw.shape[1] == 2 else raw.max(axis=1)
        else:
            scores = np.ravel(outputs[self.value])
        return Scored(scores=np.asarray(scores, dtype=np.float64), labels=labels, outputs=outputs)

    def warm_up(self, rounds: int = 20) -> float:
        """Run a request shaped like the schema ``rounds`` times; returns the last run's milliseconds."""
        row = [_typical(f) for f in self.manifest.features]
        feeds = self.feeds_rows([row])
        took = 0.0
        for _ in range(rounds):
            start = time.perf_counter()
            self.run(feeds)
            took = (time.perf_counter() - start) * 1000
        return took


def _typical(feature) -> object:
    if feature.categories:
        value = feature.categories[0]
        return value if feature.type == "string" else float(value)
    if feature.type == "string":
        return ""
    if feature.type == "bool":
        return False
    lo = 0.0 if feature.min is None else feature.min
    hi = lo if feature.max is None else feature.max
    value = (lo + hi) / 2 if feature.min is not None and feature.max is not None else lo
    return int(value) if feature.type == "int" else float(value)
