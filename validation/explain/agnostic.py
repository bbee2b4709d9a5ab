"""Model-agnostic SHAP for ONNX graphs that hold no tree ensemble we can read.

shap's ``PermutationExplainer`` over a batched ONNX Runtime predict function, with
the background bounded to a seeded sample.  Permutation SHAP is additive by
construction (values sum to ``f(x) - mean f(background)``) but is an estimate:
it samples feature orderings (antithetic pairs), ``max_evals`` model calls per
row, each on the whole background sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ORT_BATCH_ROWS = 65_536


@dataclass
class OnnxPredictor:
    """Batched ONNX Runtime calls returning a 2-D float array (rows, outputs)."""

    session: object
    input_name: str
    input_dtype: type
    output_index: int
    columns: list | None  # ZipMap keys in order, or None for a tensor output
    select: int | None  # keep one column (binary classifiers: the positive class)
    output_kind: str  # "probability" or "score"
    output_names: list

    def __call__(self, X: np.ndarray) -> np.ndarray:
        out = self.all_columns(X)
        if self.select is not None:
            out = out[:, [self.select]]
        return out

    def all_columns(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=self.input_dtype)
        parts = []
        for start in range(0, X.shape[0], ORT_BATCH_ROWS):
            res = self.session.run(None, {self.input_name: X[start : start + ORT_BATCH_ROWS]})[self.output_index]
            if self.columns is not None:  # ZipMap: list of {label: probability}
                res = np.array([[row[c] for c in self.columns] for row in res], dtype=np.float64)
            res = np.asarray(res, dtype=np.float64)
            if res.ndim == 1:
                res = res[:, None]
            parts.append(res.reshape(res.shape[0], -1))
        return np.concatenate(parts) if parts else np.zeros((0, max(len(self.output_names), 1)))


def ort_session(model_bytes: bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model_bytes, sess_options=opts, providers=["CPUExecutionProvider"])


def make_predictor(model_bytes: bytes, session=None, n_features: int | None = None) -> OnnxPredictor:
    """Pick the graph output to explain: class probabilities when there are any, else the first float tensor."""
    sess = session or ort_session(model_bytes)
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        raise ValueError(f"the ONNX graph has {len(inputs)} inputs; only single-matrix inputs can be explained")
    inp = inputs[0]
    dtype = {"tensor(float)": np.float32, "tensor(double)": np.float64}.get(inp.type)
    if dtype is None:
        raise ValueError(f"the ONNX graph input is {inp.type}; a float matrix is needed")
    outs = sess.get_outputs()
    chosen = None
    for i, o in enumerate(outs):
        if o.type.startswith("seq(map("):
            chosen = (i, "zipmap")
            break
    if chosen is None:
        floats = [(i, o) for i, o in enumerate(outs) if o.type in ("tensor(float)", "tensor(double)")]
        if not floats:
            raise ValueError("the ONNX graph has no float output to explain")
        prob = [(i, o) for i, o in floats if "prob" in o.name.lower()]
        i, o = (prob or floats)[0]
        chosen = (i, "probability" if prob else "score")
    idx, kind = chosen
    width = _width(inp, n_features)
    columns = None
    if kind == "zipmap":
        probe = sess.run(None, {inp.name: np.zeros((1, width), dtype=dtype)})[idx]
        columns = list(probe[0].keys())
        kind = "probability"
    predictor = OnnxPredictor(sess, inp.name, dtype, idx, columns, None, kind, [])
    n_cols = predictor(np.zeros((1, width), dtype=dtype)).shape[1]
    labels = columns or list(range(n_cols))
    if kind == "probability" and n_cols == 2:
        predictor.select = 1
        predictor.output_names = [f"P(class {labels[1]})"]
    elif kind == "probability":
        predictor.output_names = [f"P(class {c})" for c in labels]
    else:
        predictor.output_names = [f"output {j}" for j in range(n_cols)]
    return predictor


def _width(inp, n_features: int | None) -> int:
    shape = inp.shape
    if len(shape) != 2:
        raise ValueError("the ONNX graph input must be a (rows, features) matrix")
    if isinstance(shape[1], int) and shape[1] > 0:
        if n_features is not None and n_features != shape[1]:
            raise ValueError(f"the model reads {shape[1]} features, X has {n_features}")
        return int(shape[1])
    if n_features is None:
        raise ValueError("the ONNX graph input leaves the feature count open; pass rows to explain")
    return int(n_features)


def sample_rows(data: np.ndarray, n: int, seed: int) -> np.ndarray:
    if data.shape[0] <= n:
        return data
    rng = np.random.default_rng(seed)
    return data[np.sort(rng.choice(data.shape[0], size=n, replace=False))]


@dataclass
class AgnosticResult:
    values: np.ndarray  # (rows, features, outputs)
    expected_value: np.ndarray  # (outputs,)
    output_names: list
    output_kind: str
    max_evals: int
    background_rows: int


def permutation_shap(
    model_bytes: bytes,
    X: np.ndarray,
    background: np.ndarray,
    *,
    max_background: int = 100,
    seed: int = 0,
    max_evals: int | None = None,
    predictor: OnnxPredictor | None = None,
) -> AgnosticResult:
    """shap's PermutationExplainer over batched ONNX Runtime calls, background bounded to ``max_background`` rows."""
    import shap

    predictor = predictor or make_predictor(model_bytes, n_features=np.shape(X)[1])
    bg = sample_rows(np.asarray(background, dtype=np.float64), max_background, seed)
    X = np.asarray(X, dtype=np.float64)
    n_features = X.shape[1]
    evals = max(int(max_evals or 500), 2 * n_features + 1)
    masker = shap.maskers.Independent(bg, max_samples=bg.shape[0])
    explainer = shap.PermutationExplainer(predictor, masker, seed=seed)
    exp = explainer(X, max_evals=evals, silent=True)
    values = np.asarray(exp.values, dtype=np.float64)
    if values.ndim == 2:
        values = values[:, :, None]
    base = np.asarray(exp.base_values, dtype=np.float64).reshape(X.shape[0], -1)
    expected = base[0] if X.shape[0] else predictor(bg).mean(0)
    return AgnosticResult(
        values=values,
        expected_value=np.asarray(expected, dtype=np.float64),
        output_names=predictor.output_names,
        output_kind=predictor.output_kind,
        max_evals=evals,
        background_rows=int(bg.shape[0]),
    )
