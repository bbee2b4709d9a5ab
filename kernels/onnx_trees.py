"""Read tree ensembles out of an ONNX graph into flat arrays.

Handles the legacy ``ai.onnx.ml`` operators ``TreeEnsembleClassifier`` and
``TreeEnsembleRegressor`` (``nodes_*`` with ``class_*`` / ``target_*`` leaf
votes) and the newer ``TreeEnsemble`` operator (``ai.onnx.ml`` opset 5, with
separate leaf arrays, ``nodes_splits`` and ``BRANCH_MEMBER`` sets), as emitted
by skl2onnx (scikit-learn) and onnxmltools (XGBoost, LightGBM).

The trees are rewritten into the convention shap's C++ TreeSHAP uses: node 0
is the root, ``x <= threshold`` goes to ``children_left``, a missing value goes
to ``children_default``, ``-1`` marks a leaf.  Every ONNX comparison mode is
mapped onto that exactly for the graph's input precision (a double threshold
against float32 inputs becomes the float32 value that splits the same way):

* ``BRANCH_LEQ``  x <= t: left = true branch, threshold t;
* ``BRANCH_LT``   x <  t  ==  x <= u, u the largest input-precision float below t;
* ``BRANCH_GTE``  x >= t  ==  not (x <= u): left = false branch;
* ``BRANCH_GT``   x >  t  ==  not (x <= t): left = false branch;
* ``BRANCH_EQ`` / ``BRANCH_NEQ`` / ``BRANCH_MEMBER`` are rewritten into pairs
  of splits (``x == t`` is ``not x < t and x <= t``), the
  subtree reached from two places being copied so that every tree stays a tree.

Missing values follow ONNX Runtime: NaN fails every comparison except
``!=``, and goes to the true branch where ``nodes_missing_value_tracks_true``
is set.

Leaf votes are summed per output column; ``AVERAGE`` aggregation is folded
into the leaf values (divided by the number of trees), base values go to
``base_offset``.  Classifier outputs:

* binary classifiers whose votes all land in one class column (gradient
  boosting, XGBoost, LightGBM) keep a single output: the positive class's score
  (ONNX Runtime treats that single score as the score of ``classlabels[1]``),
  with ``base_values[1]`` (or ``base_values[0]`` when only one is given);
* otherwise one output per class (random forests vote into both columns).

``raw`` output is the summed score before ``post_transform`` (the margin /
log-odds for boosted classifiers, the averaged class probability for random
forests); :meth:`ParsedTreeEnsemble.transform` applies ``post_transform``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

TREE_OPS = ("TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble")

# Internal mode codes (also the ai.onnx.ml opset 5 codes for the branch modes).
LEQ, LT, GTE, GT, EQ, NEQ, MEMBER, LEAF = range(8)
_LEGACY_MODES = {
    b"BRANCH_LEQ": LEQ,
    b"BRANCH_LT": LT,
    b"BRANCH_GTE": GTE,
    b"BRANCH_GT": GT,
    b"BRANCH_EQ": EQ,
    b"BRANCH_NEQ": NEQ,
    b"LEAF": LEAF,
}
_POST_TRANSFORMS_V5 = {0: "NONE", 1: "SOFTMAX", 2: "LOGISTIC", 3: "SOFTMAX_ZERO", 4: "PROBIT"}
_AGGREGATES_V5 = {0: "AVERAGE", 1: "SUM", 2: "MIN", 3: "MAX"}


class UnsupportedTreeModel(ValueError):
    """The graph holds no tree ensemble we can explain exactly (the caller falls back)."""


@dataclass
class ParsedTreeEnsemble:
    """Dense arrays, one row per tree, padded with -1 / 0 to the largest tree."""

    children_left: np.ndarray  # (n_trees, max_nodes) int32
    children_right: np.ndarray
    children_default: np.ndarray
    features: np.ndarray  # int32, -1 at leaves
    thresholds: np.ndarray  # float64
    values: np.ndarray  # (n_trees, max_nodes, n_outputs) float64; leaf values, internal nodes filled later
    depth: np.ndarray  # (n_trees, max_nodes) int32, depth of each node (root 0), -1 where unused
    node_count: np.ndarray  # (n_trees,)
    max_depth: int
    base_offset: np.ndarray  # (n_outputs,)
    n_features: int
    op_type: str
    post_transform: str
    aggregate_function: str
    is_classifier: bool
    class_labels: list = field(default_factory=list)
    binary_single_score: bool = False
    output_names: list = field(default_factory=list)  # one name per output column
    tree_input: str = ""
    tree_output: str = ""  # the operator's score output
    input_dtype: Any = np.float32
    expanded_nodes: int = 0  # EQ / NEQ / MEMBER splits rewritten into <= pairs
    width_declared: bool = True  # the graph input declares its feature count

    @property
    def n_trees(self) -> int:
        return int(self.children_left.shape[0])

    @property
    def n_outputs(self) -> int:
        return int(self.values.shape[2])

    @property
    def n_nodes(self) -> int:
        return int(self.node_count.sum())

    # -- evaluation -----------------------------------------------------------------------------------------

    def prepare(self, X: np.ndarray) -> np.ndarray:
        """Cast rows the way ONNX Runtime sees them (the graph's input type), then to float64."""
        X = np.asarray(X)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected rows with {self.n_features} features, got shape {X.shape}")
        return np.ascontiguousarray(X.astype(self.input_dtype).astype(np.float64))

    def leaf_indices(self, X: np.ndarray) -> np.ndarray:
        """Leaf reached by each row in each tree: (n_trees, n_rows). ``X`` already prepared."""
        from kernels.treeshap import leaf_indices  # compiled when numba is available

        return leaf_indices(self, X)

    def leaf_indices_numpy(self, X: np.ndarray) -> np.ndarray:
        n_rows = X.shape[0]
        trees = np.arange(self.n_trees)[:, None]
        node = np.zeros((self.n_trees, n_rows), dtype=np.int64)
        missing = np.isnan(X)
        rows = np.arange(n_rows)[None, :]
        for _ in range(self.max_depth):
            feat = self.features[trees, node]
            active = feat >= 0
            if not active.any():
                break
            f = np.where(active, feat, 0)
            xv = X[rows, f]
            go_left = xv <= self.thresholds[trees, node]
            nxt = np.where(go_left, self.children_left[trees, node], self.children_right[trees, node])
            nxt = np.where(missing[rows, f], self.children_default[trees, node], nxt)
            node = np.where(active, nxt, node)
        return node

    def predict_raw(self, X: np.ndarray) -> np.ndarray:
        """Raw scores (n_rows, n_outputs) for prepared rows."""
        leaves = self.leaf_indices(X)
        trees = np.arange(self.n_trees)[:, None]
        return self.values[trees, leaves].sum(axis=0) + self.base_offset

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Apply ``post_transform`` to raw scores (n_rows, n_outputs)."""
        pt = self.post_transform
        if pt == "NONE":
            return raw
        if pt == "LOGISTIC":
            return 1.0 / (1.0 + np.exp(-raw))
        if pt in ("SOFTMAX", "SOFTMAX_ZERO"):
            z = raw - raw.max(axis=1, keepdims=True)
            e = np.exp(z)
            if pt == "SOFTMAX_ZERO":
                e = np.where(raw == 0, 0.0, e)
            return e / e.sum(axis=1, keepdims=True)
        if pt == "PROBIT":
            from scipy.special import ndtri

            return ndtri(np.clip(raw, 1e-300, 1 - 1e-16))
        raise UnsupportedTreeModel(f"unknown post_transform {pt!r}")

    def ort_probabilities(self, raw: np.ndarray) -> np.ndarray:
        """What ONNX Runtime reports as scores / probabilities for these raw scores (for checks)."""
        out = self.transform(raw)
        if self.binary_single_score:
            s = out[:, 0]
            if self.post_transform in ("LOGISTIC", "PROBIT") or np.all(self.values[self.values != 0] >= 0):
                return np.stack([1.0 - s, s], axis=1)
            return np.stack([-s, s], axis=1)
        return out

    def describe(self) -> str:
        return (
            f"{self.op_type} with {self.n_trees} trees ({self.n_nodes} nodes, depth up to {self.max_depth}), "
            f"{self.n_outputs} output(s), post_transform {self.post_transform}"
        )


# -- loading ------------------------------------------------------------------------------------------------


def load_model(onnx_path_or_bytes: Any):
    import onnx

    if isinstance(onnx_path_or_bytes, onnx.ModelProto):
        return onnx_path_or_bytes
    if isinstance(onnx_path_or_bytes, (bytes, bytearray, memoryview)):
        return onnx.load_model_from_string(bytes(onnx_path_or_bytes))
    if hasattr(onnx_path_or_bytes, "read"):
        return onnx.load_model(io.BytesIO(onnx_path_or_bytes.read()))
    return onnx.load_model(str(Path(onnx_path_or_bytes)))


def model_bytes(onnx_path_or_bytes: Any) -> bytes:
    import onnx

    if isinstance(onnx_path_or_bytes, onnx.ModelProto):
        return onnx_path_or_bytes.SerializeToString()
    if isinstance(onnx_path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(onnx_path_or_bytes)
    if hasattr(onnx_path_or_bytes, "read"):
        return onnx_path_or_bytes.read()
    return Path(onnx_path_or_bytes).read_bytes()


def _attrs(node) -> dict[str, Any]:
    from onnx import helper, numpy_helper

    out: dict[str, Any] = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if hasattr(v, "dims") and hasattr(v, "data_type"):  # TensorProto
            v = numpy_helper.to_array(v)
        out[a.name] = v
    return out


def _pick(attrs: dict[str, Any], name: str, dtype, default=None) -> np.ndarray | None:
    """``name`` or ``name_as_tensor`` as an array."""
    for key in (name, f"{name}_as_tensor"):
        if key in attrs and attrs[key] is not None:
            v = attrs[key]
            if isinstance(v, (list, tuple)) and len(v) == 0:
                continue
            return np.asarray(v, dtype=dtype).ravel()
    return default


def _text(v: Any, default: str) -> str:
    if v is None:
        return default
    if isinstance(v, bytes):
        return v.decode()
    return str(v)


def find_tree_node(model) -> Any:
    """The single tree-ensemble node of the graph, or raise UnsupportedTreeModel."""
    nodes = [n for n in model.graph.node if n.op_type in TREE_OPS and n.domain == "ai.onnx.ml"]
    if not nodes:
        raise UnsupportedTreeModel("the graph holds no ai.onnx.ml tree-ensemble operator")
    if len(nodes) > 1:
        raise UnsupportedTreeModel(f"the graph holds {len(nodes)} tree-ensemble operators; only one is supported")
    return nodes[0]


def _graph_input_of(model, tensor_name: str) -> tuple[str, Any]:
    """Walk back from ``tensor_name`` through Identity / Cast to a graph input; return (name, numpy dtype)."""
    from onnx import helper

    producers = {o: n for n in model.graph.node for o in n.output}
    inits = {i.name for i in model.graph.initializer}
    inputs = {i.name: i for i in model.graph.input if i.name not in inits}
    name = tensor_name
    for _ in range(8):
        if name in inputs:
            elem = inputs[name].type.tensor_type.elem_type
            np_dtype = helper.tensor_dtype_to_np_dtype(elem)
            return name, np_dtype
        node = producers.get(name)
        if node is None or node.op_type not in ("Identity", "Cast"):
            break
        name = node.input[0]
    raise UnsupportedTreeModel(
        "the tree ensemble does not read a graph input directly (preprocessing inside the graph)"
    )


def _graph_n_features(model, input_name: str) -> int | None:
    for i in model.graph.input:
        if i.name == input_name:
            dims = i.type.tensor_type.shape.dim
            if len(dims) == 2 and dims[1].HasField("dim_value") and dims[1].dim_value > 0:
                return int(dims[1].dim_value)
    return None


@dataclass
class _Graph:
    """Global node arrays before unfolding (one index space for all trees)."""

    true_id: np.ndarray  # int64, -1 at leaves
    false_id: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray  # float64
    mode: np.ndarray  # int8
    nan_true: np.ndarray  # bool: NaN goes to the true branch
    values: np.ndarray  # (n, n_cols) float64
    roots: np.ndarray  # (n_trees,)
    member_sets: dict[int, np.ndarray]


def _parse_legacy(attrs: dict[str, Any], is_classifier: bool) -> tuple[_Graph, dict[str, Any]]:
    tree_ids = _pick(attrs, "nodes_treeids", np.int64)
    node_ids = _pick(attrs, "nodes_nodeids", np.int64)
    if tree_ids is None or node_ids is None or tree_ids.size == 0:
        raise UnsupportedTreeModel("tree ensemble without nodes")
    n = tree_ids.size
    feature = _pick(attrs, "nodes_featureids", np.int64)
    threshold = _pick(attrs, "nodes_values", np.float64, np.zeros(n))
    true_ids = _pick(attrs, "nodes_truenodeids", np.int64)
    false_ids = _pick(attrs, "nodes_falsenodeids", np.int64)
    modes_raw = attrs.get("nodes_modes")
    try:
        mode = np.fromiter((_LEGACY_MODES[m] for m in modes_raw), dtype=np.int8, count=n)
    except KeyError as exc:
        raise UnsupportedTreeModel(f"unsupported node mode {exc.args[0]!r}")
    tracks = _pick(attrs, "nodes_missing_value_tracks_true", np.int64, np.zeros(n, dtype=np.int64)).astype(bool)
    if tracks.size != n:
        tracks = np.zeros(n, dtype=bool)

    # global index = rank of (tree id, node id)
    span = int(node_ids.max()) + 1
    key = tree_ids * span + node_ids
    order = np.argsort(key, kind="stable")
    skey = key[order]
    if np.any(skey[1:] == skey[:-1]):
        raise UnsupportedTreeModel("duplicate (tree id, node id) pairs")
    inv = np.empty(n, dtype=np.int64)
    inv[order] = np.arange(n)

    def lookup(tids: np.ndarray, nids: np.ndarray) -> np.ndarray:
        k = tids * span + nids
        pos = np.searchsorted(skey, k)
        pos = np.clip(pos, 0, n - 1)
        if np.any(skey[pos] != k):
            raise UnsupportedTreeModel("a node refers to a node id that does not exist")
        return pos

    is_leaf = mode[order] == LEAF
    g_tree = tree_ids[order]
    g_true = np.full(n, -1, dtype=np.int64)
    g_false = np.full(n, -1, dtype=np.int64)
    internal = ~is_leaf
    g_true[internal] = lookup(g_tree[internal], true_ids[order][internal])
    g_false[internal] = lookup(g_tree[internal], false_ids[order][internal])

    # roots: the node of each tree that no other node points to
    referenced = np.zeros(n, dtype=bool)
    referenced[g_true[internal]] = True
    referenced[g_false[internal]] = True
    root_cand = np.flatnonzero(~referenced)
    uniq_trees = np.unique(g_tree)
    if root_cand.size != uniq_trees.size or np.any(np.unique(g_tree[root_cand]) != uniq_trees):
        raise UnsupportedTreeModel("could not find exactly one root per tree")
    roots = root_cand[np.argsort(g_tree[root_cand], kind="stable")]

    prefix = "class" if is_classifier else "target"
    l_tree = _pick(attrs, f"{prefix}_treeids", np.int64, np.zeros(0, dtype=np.int64))
    l_node = _pick(attrs, f"{prefix}_nodeids", np.int64, np.zeros(0, dtype=np.int64))
    l_col = _pick(attrs, f"{prefix}_ids", np.int64, np.zeros(0, dtype=np.int64))
    l_w = _pick(attrs, f"{prefix}_weights", np.float64, np.zeros(0))
    info: dict[str, Any] = {}
    if is_classifier:
        labels = attrs.get("classlabels_int64s")
        if labels is None or len(labels) == 0:
            labels = [_text(s, "") for s in (attrs.get("classlabels_strings") or [])]
        labels = list(labels)
        n_cols = max(len(labels), int(l_col.max()) + 1 if l_col.size else 1)
        info["class_labels"] = labels
        info["aggregate_function"] = "SUM"
    else:
        n_cols = int(attrs.get("n_targets", 1) or 1)
        info["aggregate_function"] = _text(attrs.get("aggregate_function"), "SUM")
    values = np.zeros((n, n_cols), dtype=np.float64)
    if l_tree.size:
        np.add.at(values, (lookup(l_tree, l_node), l_col), l_w)
    info["post_transform"] = _text(attrs.get("post_transform"), "NONE")
    info["base_values"] = _pick(attrs, "base_values", np.float64)
    info["used_columns"] = np.unique(l_col) if l_col.size else np.zeros(0, dtype=np.int64)
    graph = _Graph(
        true_id=g_true,
        false_id=g_false,
        feature=np.where(is_leaf, -1, feature[order]),
        threshold=threshold[order],
        mode=mode[order],
        nan_true=tracks[order],
        values=values,
        roots=roots,
        member_sets={},
    )
    return graph, info


def _parse_v5(attrs: dict[str, Any]) -> tuple[_Graph, dict[str, Any]]:
    """``TreeEnsemble`` (ai.onnx.ml opset 5): interior nodes 0..N-1, leaves N..N+L-1."""
    feature = _pick(attrs, "nodes_featureids", np.int64)
    if feature is None or feature.size == 0:
        raise UnsupportedTreeModel("tree ensemble without nodes")
    n_int = feature.size
    splits = _pick(attrs, "nodes_splits", np.float64)
    modes = _pick(attrs, "nodes_modes", np.int64).astype(np.int8)
    true_ids = _pick(attrs, "nodes_truenodeids", np.int64)
    false_ids = _pick(attrs, "nodes_falsenodeids", np.int64)
    true_leaf = _pick(attrs, "nodes_trueleafs", np.int64).astype(bool)
    false_leaf = _pick(attrs, "nodes_falseleafs", np.int64).astype(bool)
    tracks = _pick(attrs, "nodes_missing_value_tracks_true", np.int64, np.zeros(n_int, dtype=np.int64)).astype(bool)
    if tracks.size != n_int:
        tracks = np.zeros(n_int, dtype=bool)
    if np.any(modes > MEMBER):
        raise UnsupportedTreeModel("unsupported node mode in TreeEnsemble")
    leaf_targets = _pick(attrs, "leaf_targetids", np.int64)
    leaf_weights = _pick(attrs, "leaf_weights", np.float64)
    n_leaf = leaf_weights.size
    n_cols = int(attrs.get("n_targets", 1) or 1)
    n = n_int + n_leaf
    values = np.zeros((n, n_cols), dtype=np.float64)
    values[n_int + np.arange(n_leaf), leaf_targets] = leaf_weights
    member_sets: dict[int, np.ndarray] = {}
    member_nodes = np.flatnonzero(modes == MEMBER)
    if member_nodes.size:
        mv = _pick(attrs, "membership_values", np.float64, np.zeros(0))
        cuts = np.flatnonzero(np.isnan(mv))
        groups = np.split(mv, cuts)
        groups = [g[~np.isnan(g)] for g in groups]
        groups = [g for i, g in enumerate(groups) if i < member_nodes.size]
        if len(groups) < member_nodes.size:
            raise UnsupportedTreeModel("membership_values does not hold one set per BRANCH_MEMBER node")
        member_sets = {int(k): g for k, g in zip(member_nodes, groups, strict=False)}
    graph = _Graph(
        true_id=np.concatenate([np.where(true_leaf, true_ids + n_int, true_ids), np.full(n_leaf, -1)]),
        false_id=np.concatenate([np.where(false_leaf, false_ids + n_int, false_ids), np.full(n_leaf, -1)]),
        feature=np.concatenate([feature, np.full(n_leaf, -1)]),
        threshold=np.concatenate([splits, np.zeros(n_leaf)]),
        mode=np.concatenate([modes, np.full(n_leaf, LEAF, dtype=np.int8)]),
        nan_true=np.concatenate([tracks, np.zeros(n_leaf, dtype=bool)]),
        values=values,
        roots=_pick(attrs, "tree_roots", np.int64),
        member_sets=member_sets,
    )
    info = {
        "post_transform": _POST_TRANSFORMS_V5.get(int(attrs.get("post_transform", 0) or 0), "NONE"),
        "aggregate_function": _AGGREGATES_V5.get(int(attrs.get("aggregate_function", 1)), "SUM"),
        "base_values": None,
        "used_columns": np.unique(leaf_targets),
    }
    return graph, info


def _expand_equalities(g: _Graph) -> int:
    """Rewrite EQ / NEQ / MEMBER nodes into ``<=`` pairs, in place (new nodes appended). Returns count."""
    special = np.flatnonzero((g.mode == EQ) | (g.mode == NEQ) | (g.mode == MEMBER))
    if special.size == 0:
        return 0
    true_id = list(g.true_id)
    false_id = list(g.false_id)
    feature = list(g.feature)
    threshold = list(g.threshold)
    mode = list(g.mode)
    nan_true = list(g.nan_true)
    extra_values = 0

    def new_node(t_id, f_id, feat, thr, md, nt) -> int:
        nonlocal extra_values
        true_id.append(t_id)
        false_id.append(f_id)
        feature.append(feat)
        threshold.append(thr)
        mode.append(md)
        nan_true.append(nt)
        extra_values += 1
        return len(true_id) - 1

    def make_eq(at: int, t: float, t_id: int, f_id: int, track: bool) -> None:
        """Node ``at`` becomes ``x == t ? t_id : f_id`` as two <= splits."""
        # second split: x < t -> not equal (f_id); else equal (t_id). NaN: t_id if tracked else f_id.
        b = new_node(f_id, t_id, feature[at], float(t), LT, not track)
        true_id[at], false_id[at], threshold[at], mode[at], nan_true[at] = b, f_id, float(t), LEQ, track

    for k in special:
        k = int(k)
        md = mode[k]
        t_id, f_id, track = true_id[k], false_id[k], bool(nan_true[k])
        if md == EQ:
            make_eq(k, threshold[k], t_id, f_id, track)
        elif md == NEQ:
            # x != t  is  x == t with the branches swapped; NaN != t is true (original true branch).
            make_eq(k, threshold[k], f_id, t_id, False)
        else:  # MEMBER
            members = np.unique(g.member_sets.get(k, np.zeros(0)))
            if members.size == 0:
                # empty set: never true, NaN goes to the true branch only if tracked
                true_id[k], false_id[k], threshold[k], mode[k] = t_id, f_id, np.inf, GT
                nan_true[k] = track
                continue
            nodes = [k] + [new_node(-1, -1, feature[k], 0.0, LEQ, False) for _ in range(members.size - 1)]
            for j, (at, v) in enumerate(zip(nodes, members, strict=True)):
                nxt = nodes[j + 1] if j + 1 < len(nodes) else f_id
                # NaN: first test decides (true if tracked); later tests see NaN only if untracked -> false
                make_eq(at, float(v), t_id, nxt, track if j == 0 else False)
    g.true_id = np.asarray(true_id, dtype=np.int64)
    g.false_id = np.asarray(false_id, dtype=np.int64)
    g.feature = np.asarray(feature, dtype=np.int64)
    g.threshold = np.asarray(threshold, dtype=np.float64)
    g.mode = np.asarray(mode, dtype=np.int8)
    g.nan_true = np.asarray(nan_true, dtype=bool)
    g.values = np.concatenate([g.values, np.zeros((extra_values, g.values.shape[1]))])
    return int(special.size)


def _leq_threshold(t: np.ndarray, strict: np.ndarray, input_dtype) -> np.ndarray:
    """Threshold ``u`` with ``{x : x <= u}`` equal to ``{x : x <= t}`` (or ``x < t`` where ``strict``).

    For float32 inputs ``u`` is itself a float32 value (shap's interventional kernel keeps
    thresholds in single precision, so a float64 ``nextafter`` would be rounded away).
    """
    if np.dtype(input_dtype) == np.float32:
        with np.errstate(over="ignore"):
            t32 = t.astype(np.float32)
        down = np.where(t32.astype(np.float64) <= t, t32, np.nextafter(t32, np.float32(-np.inf)))
        down = np.where(np.isnan(t), t32, down)
        below = np.where(strict & (down.astype(np.float64) >= t), np.nextafter(down, np.float32(-np.inf)), down)
        return below.astype(np.float64)
    return np.where(strict, np.nextafter(t, -np.inf), t)


def _to_left_right(g: _Graph, input_dtype) -> tuple[np.ndarray, ...]:
    """Per global node: (left, right, default, threshold) in the ``x <= t goes left`` convention."""
    strict = (g.mode == LT) | (g.mode == GTE)  # x < t is x <= u for the float just below t
    thr = _leq_threshold(g.threshold, strict, input_dtype)
    swap = (g.mode == GTE) | (g.mode == GT)  # true branch is the "greater" side
    left = np.where(swap, g.false_id, g.true_id)
    right = np.where(swap, g.true_id, g.false_id)
    default = np.where(g.nan_true, g.true_id, g.false_id)
    return left, right, default, thr


def _unfold(g: _Graph, left: np.ndarray, right: np.ndarray, default: np.ndarray) -> dict[str, np.ndarray]:
    """Breadth-first relabelling of every tree from its root (node 0); shared subtrees are copied."""
    n_trees = g.roots.size
    counts = np.ones(n_trees, dtype=np.int64)
    f_tree = np.arange(n_trees)
    f_local = np.zeros(n_trees, dtype=np.int64)
    f_glob = g.roots.astype(np.int64)
    depth = 0
    rec_tree, rec_local, rec_glob, rec_left, rec_right, rec_default, rec_depth = [], [], [], [], [], [], []
    max_iter = g.true_id.size + 1
    while f_tree.size:
        if depth > max_iter:
            raise UnsupportedTreeModel("cycle in tree structure")
        internal = g.mode[f_glob] != LEAF
        l_local = np.full(f_tree.size, -1, dtype=np.int64)
        r_local = np.full(f_tree.size, -1, dtype=np.int64)
        d_local = np.full(f_tree.size, -1, dtype=np.int64)
        if internal.any():
            it = f_tree[internal]
            order = np.argsort(it, kind="stable")
            st = it[order]
            # rank of each internal frontier node within its tree
            first = np.searchsorted(st, st, side="left")
            rank_sorted = np.arange(st.size) - first
            rank = np.empty_like(rank_sorted)
            rank[order] = rank_sorted
            base = counts[it]
            l_loc = base + 2 * rank
            r_loc = l_loc + 1
            np.add.at(counts, it, 2)
            l_local[internal] = l_loc
            r_local[internal] = r_loc
            gi = f_glob[internal]
            d_local[internal] = np.where(default[gi] == left[gi], l_loc, r_loc)
        rec_tree.append(f_tree)
        rec_local.append(f_local)
        rec_glob.append(f_glob)
        rec_left.append(l_local)
        rec_right.append(r_local)
        rec_default.append(d_local)
        rec_depth.append(np.full(f_tree.size, depth, dtype=np.int64))
        if not internal.any():
            break
        gi = f_glob[internal]
        f_tree = np.concatenate([f_tree[internal], f_tree[internal]])
        f_local = np.concatenate([l_local[internal], r_local[internal]])
        f_glob = np.concatenate([left[gi], right[gi]])
        depth += 1
    return {
        "tree": np.concatenate(rec_tree),
        "local": np.concatenate(rec_local),
        "glob": np.concatenate(rec_glob),
        "left": np.concatenate(rec_left),
        "right": np.concatenate(rec_right),
        "default": np.concatenate(rec_default),
        "depth": np.concatenate(rec_depth),
        "counts": counts,
        "max_depth": depth,
    }


def parse_tree_ensemble(onnx_path_or_bytes: Any) -> ParsedTreeEnsemble:
    """Parse the tree ensemble of an ONNX model; raise :class:`UnsupportedTreeModel` when there is none."""
    model = load_model(onnx_path_or_bytes)
    node = find_tree_node(model)
    attrs = _attrs(node)
    op = node.op_type
    input_name, input_dtype = _graph_input_of(model, node.input[0])
    if np.dtype(input_dtype).kind != "f":
        raise UnsupportedTreeModel(f"tree ensemble input of type {np.dtype(input_dtype)} (expected float)")
    if op == "TreeEnsemble":
        graph, info = _parse_v5(attrs)
        is_classifier = False
        score_output = node.output[0]
    else:
        is_classifier = op == "TreeEnsembleClassifier"
        graph, info = _parse_legacy(attrs, is_classifier)
        score_output = node.output[1] if is_classifier else node.output[0]
    if info["aggregate_function"] not in ("SUM", "AVERAGE"):
        raise UnsupportedTreeModel(f"aggregate_function {info['aggregate_function']} is not additive over trees")
    expanded = _expand_equalities(graph)
    left, right, default, thr = _to_left_right(graph, input_dtype)
    u = _unfold(graph, left, right, default)

    n_trees = graph.roots.size
    max_nodes = int(u["counts"].max())
    shape = (n_trees, max_nodes)
    cl = np.full(shape, -1, dtype=np.int32)
    cr = np.full(shape, -1, dtype=np.int32)
    cd = np.full(shape, -1, dtype=np.int32)
    feats = np.full(shape, -1, dtype=np.int32)
    thrs = np.zeros(shape, dtype=np.float64)
    depth = np.full(shape, -1, dtype=np.int32)
    t, loc, gl = u["tree"], u["local"], u["glob"]
    cl[t, loc] = u["left"]
    cr[t, loc] = u["right"]
    cd[t, loc] = u["default"]
    is_int = u["left"] >= 0
    feats[t, loc] = np.where(is_int, graph.feature[gl], -1)
    thrs[t, loc] = np.where(is_int, thr[gl], 0.0)
    depth[t, loc] = u["depth"]

    col_values = graph.values
    if info["aggregate_function"] == "AVERAGE":
        col_values = col_values / n_trees
    n_cols = col_values.shape[1]
    base = info["base_values"]
    labels = info.get("class_labels", [])
    binary_single = False
    keep = np.arange(n_cols)
    if is_classifier and len(labels) == 2 and info["used_columns"].size <= 1:
        binary_single = True
        keep = info["used_columns"][:1] if info["used_columns"].size else np.array([0])
        if base is None or base.size == 0:
            base_offset = np.zeros(1)
        elif base.size >= 2:
            base_offset = base[1:2].astype(np.float64)
        else:
            base_offset = base[:1].astype(np.float64)
        names = [f"class {labels[1]}"]
    else:
        if base is None or base.size == 0:
            base_offset = np.zeros(n_cols)
        elif base.size == n_cols:
            base_offset = base.astype(np.float64)
        elif base.size == 1:
            base_offset = np.full(n_cols, float(base[0])) if not is_classifier else np.zeros(n_cols)
            if is_classifier:
                base_offset[0] = float(base[0])
        else:
            raise UnsupportedTreeModel("base_values do not match the number of outputs")
        names = [f"class {c}" for c in labels] if is_classifier else [f"target {i}" for i in range(n_cols)]
        names = names[:n_cols] + [f"output {i}" for i in range(len(names), n_cols)]
    vals = np.zeros((n_trees, max_nodes, keep.size), dtype=np.float64)
    vals[t, loc] = col_values[gl][:, keep]
    vals[cl >= 0] = 0.0  # internal nodes hold no vote; filled with expectations when covers are known

    n_features = _graph_n_features(model, input_name)
    max_feat = int(feats.max()) + 1 if feats.size else 0
    width_declared = n_features is not None
    if n_features is None:
        n_features = max_feat
    if max_feat > n_features:
        raise UnsupportedTreeModel("a split refers to a feature beyond the input width")

    return ParsedTreeEnsemble(
        children_left=cl,
        children_right=cr,
        children_default=cd,
        features=feats,
        thresholds=thrs,
        values=vals,
        depth=depth,
        node_count=u["counts"].astype(np.int64),
        max_depth=int(u["max_depth"]),
        base_offset=np.asarray(base_offset, dtype=np.float64),
        n_features=int(n_features),
        op_type=op,
        post_transform=info["post_transform"],
        aggregate_function=info["aggregate_function"],
        is_classifier=is_classifier,
        class_labels=list(labels),
        binary_single_score=binary_single,
        output_names=names,
        tree_input=input_name,
        tree_output=score_output,
        input_dtype=np.dtype(input_dtype).type,
        expanded_nodes=expanded,
        width_declared=width_declared,
    )
