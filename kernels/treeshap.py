"""Exact TreeSHAP on trees parsed from ONNX.

Two algorithms, the two of ``shap.TreeExplainer``:

* ``interventional``: Shapley values of ``v(S) = mean_b f(x_S, b_rest)`` over a
  background sample ``b`` (``feature_perturbation="interventional"``).  Needs no
  node covers.
* ``path_dependent``: Lundberg's tree-path-dependent TreeSHAP
  (``feature_perturbation="tree_path_dependent"``), which weights each split by
  the share of data going each way.  ONNX keeps no cover counts, so they are
  counted by passing the reference dataset through the parsed trees; a node no
  reference row reaches gets shap's 1e-6 cover.

How they are computed.  A tree is a sum over its leaves of
``value(leaf) * prod_j g_j``, one factor per distinct feature ``j`` on the
leaf's path: whether ``x_j`` lies in the leaf's interval for ``j`` (``a_j``),
and, for a feature left out, either whether the background row's ``b_j`` does
(interventional) or the product of the cover fractions of the path's splits on
``j`` (path-dependent: exactly what TreeSHAP's recursion weights by, repeated
features included).  Each leaf is therefore a small game over its ``d`` path
features whose Shapley values depend on ``x`` only through the bit pattern
``a`` (``2**d`` patterns).  Per leaf, a table ``U[a, k]`` of the Shapley value
of its ``k``-th path feature is built once (a matrix product with constant
Shapley weights, from the background's pattern histogram or from the cover
fractions), and explaining a row is reading one table row per leaf (compiled
with numba, rows split across threads; a numpy fallback when numba is missing).
Both are exact, not sampled; results equal shap's C++ TreeSHAP to rounding.

Trees with more than ``MAX_TABLE_DEPTH`` distinct features on a path (or past
the table memory budget), and the interventional explanation of a logistic output on the probability scale
(whose per-reference rescaling does not aggregate), run shap's own C++
TreeSHAP (``shap._cext.dense_tree_shap``, the code ``TreeExplainer`` runs) on
the same parsed trees (that kernel keeps interventional thresholds in single
precision, exact for float32 inputs, which is what tree converters emit).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from math import factorial

import numpy as np

from kernels import shap_kernel
from kernels.onnx_trees import ParsedTreeEnsemble

try:  # shap depends on numba; the numpy code below is the fallback
    import numba as _numba
except Exception:  # pragma: no cover - numba missing or broken
    _numba = None


def _jit(fn):
    """Compiled, GIL-free; cached on disk where a cache directory is writable."""
    try:
        return _numba.njit(cache=True, nogil=True)(fn)
    except Exception:  # pragma: no cover - no writable cache location
        return _numba.njit(nogil=True)(fn)

ZERO_COVER = 1e-6  # shap's cover for nodes that no reference row reaches
MAX_TABLE_DEPTH = 8  # distinct features on a leaf path handled by tables; deeper trees go to shap's C++
TABLE_BUDGET = 24_000_000  # table entries (float64) kept in memory at most
CHUNK_ELEMENTS = 4_000_000  # rows x (leaf, slot) pairs evaluated at once
FEW_ROWS = 4  # up to this many rows are explained one at a time (``_nb_explain_few``), more leaf by leaf



@dataclass
class TreeShapResult:
    values: np.ndarray  # (rows, features, outputs)
    expected_value: np.ndarray  # (outputs,)
    uncovered_nodes: int = 0  # path-dependent: nodes no reference row reached
    engine: str = "tables"  # "tables", "shap C++" or "tables + shap C++"
    details: dict = field(default_factory=dict)


# -- compiled kernels (numba, no GIL: rows are split across threads) ----------------------------------------

if _numba is not None:

    # Leaves outer, rows inner: one leaf's table (2^d x d) stays in cache while the rows stream past;
    # features are columns of the transposed matrix XT (features, rows).

    @_jit
    def _nb_leaf_patterns(XT, F, LO, HI, NANOK, leaf, d, a, r0, r1):  # pragma: no cover - compiled
        for r in range(r0, r1):
            a[r - r0] = 0
        for k in range(d):
            row = XT[F[leaf, k]]
            lo = LO[leaf, k]
            hi = HI[leaf, k]
            nan_bit = (1 << k) if NANOK[leaf, k] else 0
            bit = 1 << k
            for r in range(r0, r1):
                x = row[r]
                if x >= lo and x <= hi:
                    a[r - r0] |= bit
                elif x != x:
                    a[r - r0] |= nan_bit

    @_jit
    def _nb_patterns(XT, F, LO, HI, NANOK, DL, out, r0, r1):  # pragma: no cover - compiled
        a = np.zeros(r1 - r0, dtype=np.int64)
        for leaf in range(F.shape[0]):
            _nb_leaf_patterns(XT, F, LO, HI, NANOK, leaf, DL[leaf], a, r0, r1)
            for r in range(r0, r1):
                out[leaf, r] = a[r - r0]

    @_jit
    def _nb_explain(XT, F, LO, HI, NANOK, DL, TOFF, U, V, phiT, r0, r1):  # pragma: no cover - compiled
        n_out = V.shape[1]
        a = np.zeros(r1 - r0, dtype=np.int64)
        for leaf in range(F.shape[0]):
            d = DL[leaf]
            _nb_leaf_patterns(XT, F, LO, HI, NANOK, leaf, d, a, r0, r1)
            off = TOFF[leaf]
            for k in range(d):
                f = F[leaf, k]
                for o in range(n_out):
                    v = V[leaf, o]
                    if v == 0.0:
                        continue
                    dst = phiT[o, f]
                    for r in range(r0, r1):
                        dst[r] += U[off + a[r - r0] * d + k] * v

    @_jit
    def _nb_explain_few(X, F, LO, HI, NANOK, DL, TOFF, U, V, phiT):  # pragma: no cover - compiled
        """``_nb_explain`` for a few rows, one row at a time: first every leaf's table position, then the reads.
        A row reads one table row a leaf, scattered over megabytes of tables; apart from the pattern arithmetic,
        the reads are independent of one another and the processor keeps many of them in flight, where
        interleaved with it they are waited for one by one (about three times slower). The sums are taken in
        the same order as ``_nb_explain``'s, so the values are the same to the bit."""
        n_leaves = F.shape[0]
        n_out = V.shape[1]
        pos = np.empty(n_leaves, dtype=np.int64)
        for r in range(X.shape[0]):
            x = X[r]
            for leaf in range(n_leaves):
                d = DL[leaf]
                a = 0
                for k in range(d):
                    v = x[F[leaf, k]]
                    inside = (v >= LO[leaf, k]) & (v <= HI[leaf, k])
                    a |= (inside | ((v != v) & NANOK[leaf, k])) << k
                pos[leaf] = TOFF[leaf] + a * d
            for leaf in range(n_leaves):  # a leaf's path features are distinct: each sum still goes leaf by leaf
                q = pos[leaf]
                for o in range(n_out):
                    w = V[leaf, o]
                    if w != 0.0:
                        for k in range(DL[leaf]):
                            phiT[o, F[leaf, k], r] += U[q + k] * w

    @_jit
    def _nb_go(x, node, CL, CR, CD, THR, t):  # pragma: no cover - compiled
        if x != x:
            return CD[t, node]
        return CL[t, node] if x <= THR[t, node] else CR[t, node]

    @_jit
    def _nb_pair_shap(x, ref, CL, CR, CD, FEAT, THR, VAL, W_IN, W_OUT, phi, assign, sf, sn, sl, su, sv, sside,
                      pfeat):  # pragma: no cover - compiled
        """Add the interventional SHAP values of row ``x`` against the single reference ``ref`` (one output) over
        every tree to ``phi``: each leaf that a hybrid of the two rows reaches gives its value to the features
        taken from ``x`` (weight W_IN[u, v]) and takes it from those taken from ``ref`` (W_OUT[u, v])."""
        for t in range(CL.shape[0]):
            top = 0
            sn[0] = 0
            sl[0] = 0
            su[0] = 0
            sv[0] = 0
            sf[0] = -1
            sside[0] = 0
            length = 0
            while top >= 0:
                node, keep, u, v, fnew, side = sn[top], sl[top], su[top], sv[top], sf[top], sside[top]
                top -= 1
                while length > keep:  # back out of the branch the last frame was on
                    length -= 1
                    assign[pfeat[length]] = 0
                if fnew >= 0:
                    pfeat[length] = fnew
                    assign[fnew] = side
                    length += 1
                while CL[t, node] >= 0:
                    f = FEAT[t, node]
                    gx = _nb_go(x[f], node, CL, CR, CD, THR, t)
                    gr = _nb_go(ref[f], node, CL, CR, CD, THR, t)
                    if gx == gr or assign[f] == 1:
                        node = gx
                    elif assign[f] == 2:
                        node = gr
                    else:  # the two rows part here: follow x (f from x) now, ref (f from ref) later
                        top += 1
                        sn[top], sl[top], su[top], sv[top], sf[top], sside[top] = gr, length, u, v + 1, f, 2
                        pfeat[length] = f
                        assign[f] = 1
                        length += 1
                        u += 1
                        node = gx
                value = VAL[t, node]
                if value == 0.0 or u + v == 0:
                    continue
                w_in = W_IN[u, v] * value
                w_out = W_OUT[u, v] * value
                for k in range(length):
                    if assign[pfeat[k]] == 1:
                        phi[pfeat[k]] += w_in
                    else:
                        phi[pfeat[k]] -= w_out
            while length > 0:
                length -= 1
                assign[pfeat[length]] = 0

    @_jit
    def _nb_logistic(XT, RT, FX, FR, CL, CR, CD, FEAT, THR, VAL, W_IN, W_OUT, depth, logistic, out, r0,
                     r1):  # pragma: no cover
        """Interventional TreeSHAP of the logistic of one raw output, as shap computes it: each row's SHAP values
        against each reference, rescaled so that they add up to the change of the probability, then averaged."""
        n_features, n_ref = XT.shape[0], RT.shape[1]
        phi = np.zeros(n_features)
        assign = np.zeros(n_features, dtype=np.int8)
        size = 2 * depth + 4
        sf = np.zeros(size, dtype=np.int64)
        sn = np.zeros(size, dtype=np.int64)
        sl = np.zeros(size, dtype=np.int64)
        su = np.zeros(size, dtype=np.int64)
        sv = np.zeros(size, dtype=np.int64)
        sside = np.zeros(size, dtype=np.int8)
        pfeat = np.zeros(depth + 2, dtype=np.int64)
        x = np.zeros(n_features)
        ref = np.zeros(n_features)
        for r in range(r0, r1):
            for j in range(n_features):
                x[j] = XT[j, r]
            px = 1.0 / (1.0 + np.exp(-FX[r]))
            for b in range(n_ref):
                for j in range(n_features):
                    ref[j] = RT[j, b]
                    phi[j] = 0.0
                _nb_pair_shap(x, ref, CL, CR, CD, FEAT, THR, VAL, W_IN, W_OUT, phi, assign, sf, sn, sl, su, sv,
                              sside, pfeat)
                diff = FX[r] - FR[b]
                pr = 1.0 / (1.0 + np.exp(-FR[b]))
                if not logistic:
                    scale = 1.0
                elif abs(diff) > 1e-12:
                    scale = (px - pr) / diff
                else:
                    scale = px * (1.0 - px)
                for j in range(n_features):
                    out[r, j] += phi[j] * scale / n_ref

    @_jit
    def _nb_logistic_groups(PX, GP, GSTART, GOFF, MEMBERS, F, DL, VALS, FX, FR, W_IN, W_OUT, logistic, out, r0,
                            r1):  # pragma: no cover - compiled
        """The same as ``_nb_logistic`` from the leaves' path patterns. A row and a reference reach a leaf together
        when every feature on its path is satisfied by one of the two (the row's pattern OR the reference's is
        full); the features only the row satisfies are taken from it, those only the reference satisfies from the
        reference. Each leaf's references are grouped by pattern: a group that cannot reach the leaf with the row
        is skipped whole, a group that can adds its contribution once, weighted by the sum of its references'
        rescaling factors."""
        n_ref = FR.shape[0]
        n_features = out.shape[1]
        scale = np.zeros(n_ref)
        phi = np.zeros(n_features)
        for r in range(r0, r1):
            px = 1.0 / (1.0 + np.exp(-FX[r]))
            for b in range(n_ref):
                diff = FX[r] - FR[b]
                if not logistic:
                    scale[b] = 1.0 / n_ref
                elif abs(diff) > 1e-12:
                    scale[b] = (px - 1.0 / (1.0 + np.exp(-FR[b]))) / diff / n_ref
                else:
                    scale[b] = px * (1.0 - px) / n_ref
            for j in range(n_features):
                phi[j] = 0.0
            for leaf in range(F.shape[0]):
                v = VALS[leaf]
                if v == 0.0:
                    continue
                d = DL[leaf]
                full = (1 << d) - 1
                ax = PX[leaf, r]
                need = full & ~ax
                for g in range(GSTART[leaf], GSTART[leaf + 1]):
                    p = GP[g]
                    if (p & need) != need:
                        continue
                    only_x = ax & ~p & full
                    only_r = p & ~ax & full
                    if only_x == 0 and only_r == 0:
                        continue
                    weight = 0.0
                    for m in range(GOFF[g], GOFF[g + 1]):
                        weight += scale[MEMBERS[m]]
                    nu = 0
                    nv = 0
                    for k in range(d):
                        nu += (only_x >> k) & 1
                        nv += (only_r >> k) & 1
                    w_in = W_IN[nu, nv] * v * weight
                    w_out = W_OUT[nu, nv] * v * weight
                    for k in range(d):
                        if (only_x >> k) & 1:
                            phi[F[leaf, k]] += w_in
                        elif (only_r >> k) & 1:
                            phi[F[leaf, k]] -= w_out
            for j in range(n_features):
                out[r, j] = phi[j]

    @_jit
    def _nb_group_patterns(PR, GP, GSTART, GOFF, MEMBERS):  # pragma: no cover - compiled
        """Each leaf's references sorted by pattern: the distinct patterns (GP, per leaf from GSTART) and the
        references of each (MEMBERS, per pattern from GOFF)."""
        n_ref = PR.shape[1]
        g = 0
        m = 0
        for leaf in range(PR.shape[0]):
            GSTART[leaf] = g
            order = np.argsort(PR[leaf], kind="mergesort")
            previous = -1
            for i in range(n_ref):
                b = order[i]
                p = PR[leaf, b]
                if p != previous:
                    GP[g] = p
                    GOFF[g] = m
                    g += 1
                    previous = p
                MEMBERS[m] = b
                m += 1
        GSTART[PR.shape[0]] = g
        GOFF[g] = m
        return g

    @_jit
    def _nb_leaves(XT, CL, CR, CD, FEAT, THR, out, r0, r1):  # pragma: no cover - compiled
        for t in range(CL.shape[0]):
            for r in range(r0, r1):
                node = 0
                while CL[t, node] >= 0:
                    x = XT[FEAT[t, node], r]
                    if np.isnan(x):
                        node = CD[t, node]
                    elif x <= THR[t, node]:
                        node = CL[t, node]
                    else:
                        node = CR[t, node]
                out[t, r] = node


def _threads(n_rows: int, work_per_row: int) -> int:
    if n_rows * work_per_row < 2_000_000:
        return 1
    return max(1, min(os.cpu_count() or 1, 8, n_rows))


def _parallel_rows(kernel, n_rows: int, work_per_row: int, *args) -> None:
    """Run ``kernel(*args, r0, r1)`` over row ranges, in threads (the kernels release the GIL)."""
    n = _threads(n_rows, work_per_row)
    if n == 1:
        kernel(*args, 0, n_rows)
        return
    bounds = np.linspace(0, n_rows, n + 1).astype(np.int64)
    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(kernel, *args, int(bounds[i]), int(bounds[i + 1])) for i in range(n)]
        for f in futures:
            f.result()


def leaf_indices(ens: ParsedTreeEnsemble, X: np.ndarray) -> np.ndarray:
    """Leaf reached by each prepared row in each tree (n_trees, n_rows), compiled when numba is there."""
    if _numba is None:
        return ens.leaf_indices_numpy(X)
    out = np.zeros((ens.n_trees, X.shape[0]), dtype=np.int64)
    _parallel_rows(
        _nb_leaves, X.shape[0], ens.n_trees * max(ens.max_depth, 1),
        np.ascontiguousarray(X.T, dtype=np.float64), ens.children_left, ens.children_right, ens.children_default,
        ens.features, ens.thresholds, out,
    )
    return out


# -- leaf paths ---------------------------------------------------------------------------------------------


@dataclass
class _LeafGroup:
    """Leaves with ``d`` distinct path features."""

    d: int
    tree: np.ndarray  # (L,)
    node: np.ndarray  # (L,)
    feature: np.ndarray  # (L, d) int
    lo: np.ndarray  # (L, d) inclusive lower bound (-inf when none)
    hi: np.ndarray  # (L, d) inclusive upper bound (+inf when none)
    nan_ok: np.ndarray  # (L, d) a missing value follows this leaf's path at every split on the feature
    entry_slot: np.ndarray  # (L, depth) slot of each path entry (-1 padding)
    entry_parent: np.ndarray  # (L, depth) parent node of each path entry
    entry_child: np.ndarray  # (L, depth) child node taken


@dataclass
class LeafPaths:
    groups: list[_LeafGroup]
    stump_tree: np.ndarray  # trees whose root is a leaf
    deep_trees: np.ndarray  # trees with a leaf of more than MAX_TABLE_DEPTH distinct path features
    _packed: dict | None = None

    def packed(self) -> dict:
        """All groups' leaves in one padded layout, for the compiled kernels."""
        if self._packed is None:
            width = max((g.d for g in self.groups), default=1)
            total = sum(g.feature.shape[0] for g in self.groups)
            F = np.zeros((total, width), dtype=np.int64)
            LO = np.zeros((total, width))
            HI = np.zeros((total, width))
            NANOK = np.zeros((total, width), dtype=np.bool_)
            DL = np.zeros(total, dtype=np.int64)
            starts = []
            pos = 0
            for g in self.groups:
                L = g.feature.shape[0]
                sl = slice(pos, pos + L)
                F[sl, : g.d], LO[sl, : g.d], HI[sl, : g.d], NANOK[sl, : g.d] = g.feature, g.lo, g.hi, g.nan_ok
                DL[sl] = g.d
                starts.append(pos)
                pos += L
            self._packed = {"F": F, "LO": LO, "HI": HI, "NANOK": NANOK, "DL": DL, "starts": starts}
        return self._packed


def leaf_paths(
    ens: ParsedTreeEnsemble, max_table_depth: int = MAX_TABLE_DEPTH, table_budget: float = TABLE_BUDGET
) -> LeafPaths:
    """Every leaf's path from the root, grouped by the number of distinct features on it.

    Trees with a leaf of more than ``max_table_depth`` distinct path features, and the largest
    trees once the tables would exceed ``table_budget`` entries, are listed in ``deep_trees``
    for shap's C++ kernel.
    """
    D = max(int(ens.max_depth), 1)
    n_trees = ens.n_trees
    t = np.arange(n_trees)
    n = np.zeros(n_trees, dtype=np.int64)
    pf = np.full((n_trees, D), -1, dtype=np.int64)
    pthr = np.zeros((n_trees, D))
    pleft = np.zeros((n_trees, D), dtype=bool)
    pnan = np.zeros((n_trees, D), dtype=bool)
    ppar = np.zeros((n_trees, D), dtype=np.int64)
    pchi = np.zeros((n_trees, D), dtype=np.int64)
    out = {k: [] for k in ("t", "n", "f", "thr", "left", "nan", "par", "chi", "depth")}
    for depth in range(D + 1):
        cl = ens.children_left[t, n]
        leaf = cl < 0
        if leaf.any():
            for key, arr in (
                ("t", t), ("n", n), ("f", pf), ("thr", pthr), ("left", pleft),
                ("nan", pnan), ("par", ppar), ("chi", pchi),
            ):
                out[key].append(arr[leaf])
            out["depth"].append(np.full(int(leaf.sum()), depth))
        inner = ~leaf
        if not inner.any() or depth == D:
            break
        t, n = t[inner], n[inner]
        pf, pthr, pleft, pnan, ppar, pchi = (a[inner] for a in (pf, pthr, pleft, pnan, ppar, pchi))
        lc = ens.children_left[t, n]
        rc = ens.children_right[t, n]
        dc = ens.children_default[t, n]
        feat = ens.features[t, n]
        thr = ens.thresholds[t, n]
        k = t.size
        t = np.concatenate([t, t])
        par = np.concatenate([n, n])
        n = np.concatenate([lc, rc]).astype(np.int64)
        pf, pthr, pleft, pnan, ppar, pchi = (np.concatenate([a, a]) for a in (pf, pthr, pleft, pnan, ppar, pchi))
        pf[:, depth] = np.concatenate([feat, feat])
        pthr[:, depth] = np.concatenate([thr, thr])
        pleft[:, depth] = np.arange(2 * k) < k
        pnan[:, depth] = np.concatenate([dc == lc, dc == rc])
        ppar[:, depth] = par
        pchi[:, depth] = n

    cat = {k: np.concatenate(v) for k, v in out.items()}
    L = cat["t"].size
    depth = cat["depth"]
    valid = np.arange(D)[None, :] < depth[:, None]
    feats = np.where(valid, cat["f"], np.iinfo(np.int64).max)
    order = np.argsort(feats, axis=1, kind="stable")
    fs = np.take_along_axis(feats, order, axis=1)
    vs = np.take_along_axis(valid, order, axis=1)
    new = np.ones_like(vs)
    new[:, 1:] = fs[:, 1:] != fs[:, :-1]
    slot_sorted = np.cumsum(new & vs, axis=1) - 1
    slot = np.full((L, D), -1, dtype=np.int64)
    np.put_along_axis(slot, order, np.where(vs, slot_sorted, -1), axis=1)
    d_leaf = (new & vs).sum(axis=1)

    # per (leaf, slot) interval and missing-value agreement
    maxd = int(d_leaf.max()) if L else 0
    width = max(maxd, 1)
    flat = (np.arange(L)[:, None] * width + slot)[valid]
    lo = np.full(L * width, -np.inf)
    hi = np.full(L * width, np.inf)
    nan_ok = np.ones(L * width, dtype=bool)
    feat_slot = np.full(L * width, -1, dtype=np.int64)
    thr_v, left_v = cat["thr"][valid], cat["left"][valid]
    np.minimum.at(hi, flat[left_v], thr_v[left_v])
    # x > t  is  x >= nextafter(t, +inf)
    np.maximum.at(lo, flat[~left_v], np.nextafter(thr_v[~left_v], np.inf))
    np.logical_and.at(nan_ok, flat, cat["nan"][valid])
    feat_slot[flat] = cat["f"][valid]
    lo, hi, nan_ok, feat_slot = (a.reshape(L, width) for a in (lo, hi, nan_ok, feat_slot))

    tree_maxd = np.zeros(n_trees, dtype=np.int64)
    np.maximum.at(tree_maxd, cat["t"], d_leaf)
    deep = tree_maxd > max_table_depth
    # keep the tables within TABLE_BUDGET entries: the trees with the largest tables go to shap's kernel
    size = np.zeros(n_trees, dtype=np.float64)
    np.add.at(size, cat["t"], np.ldexp(1.0, d_leaf) * d_leaf)
    size[deep] = 0.0
    if size.sum() > table_budget:
        order = np.argsort(-size, kind="stable")
        over = np.cumsum(size[order]) > size.sum() - table_budget
        first = int(np.argmax(over))
        deep[order[: first + 1]] = True
    deep_trees = np.flatnonzero(deep)
    is_deep = np.isin(cat["t"], deep_trees)
    groups = []
    for d in range(1, min(maxd, max_table_depth) + 1):
        sel = np.flatnonzero((d_leaf == d) & ~is_deep)
        if sel.size == 0:
            continue
        groups.append(
            _LeafGroup(
                d=d,
                tree=cat["t"][sel],
                node=cat["n"][sel],
                feature=feat_slot[sel, :d],
                lo=lo[sel, :d],
                hi=hi[sel, :d],
                nan_ok=nan_ok[sel, :d],
                entry_slot=slot[sel],
                entry_parent=cat["par"][sel],
                entry_child=cat["chi"][sel],
            )
        )
    stump = cat["t"][(d_leaf == 0) & ~is_deep]
    return LeafPaths(groups=groups, stump_tree=stump, deep_trees=deep_trees)


def _bits(g: _LeafGroup, X: np.ndarray) -> np.ndarray:
    """Pattern index (rows, L): bit k set when the row satisfies the leaf's conditions on its k-th feature."""
    xv = X[:, g.feature]  # (rows, L, d)
    inside = (xv >= g.lo) & (xv <= g.hi)
    missing = np.isnan(xv)
    if missing.any():
        inside = np.where(missing, g.nan_ok, inside)
    weights = (1 << np.arange(g.d)).astype(np.int64)
    return inside.astype(np.int64) @ weights


def _pattern_bits(d: int) -> np.ndarray:
    return ((np.arange(1 << d)[:, None] >> np.arange(d)[None, :]) & 1).astype(bool)  # (2^d, d)


def _interventional_weights(d: int) -> np.ndarray:
    """W[b, a, k]: Shapley value of feature k for x pattern a against a reference of pattern b (unit leaf)."""
    bits = _pattern_bits(d)
    a = bits[None, :, :]  # x pattern
    b = bits[:, None, :]  # reference pattern
    invalid = (~a & ~b).any(axis=2)
    in_a = a & ~b  # x on the path, reference off: the feature must be in S
    in_b = ~a & b  # reference on the path, x off: the feature must stay out
    na = in_a.sum(axis=2)
    nb = in_b.sum(axis=2)
    fact = np.array([factorial(i) for i in range(d + 2)], dtype=np.float64)
    tot = fact[na + nb]
    wa = np.where(na > 0, fact[np.maximum(na - 1, 0)] * fact[nb] / tot, 0.0)
    wb = np.where(nb > 0, -fact[na] * fact[np.maximum(nb - 1, 0)] / tot, 0.0)
    W = np.where(in_a, wa[..., None], 0.0) + np.where(in_b, wb[..., None], 0.0)
    W[invalid] = 0.0
    return W  # (2^d, 2^d, d)


def _path_dependent_weights(d: int) -> np.ndarray:
    """K[c, a, k] such that the path-dependent table is (a_k - q_k) * sum_c G[c] K[c, a, k].

    ``G[c]`` is the product of the cover fractions ``q`` of the features in ``c``;
    ``K`` holds the Shapley weight |S|!(d-|S|-1)!/d! for coalitions S that avoid k,
    lie inside x's pattern, and whose complement (minus k) is ``c``.
    """
    bits = _pattern_bits(d)
    full = (1 << d) - 1
    fact = np.array([factorial(i) for i in range(d + 1)], dtype=np.float64)
    K = np.zeros((1 << d, 1 << d, d))
    a_idx = np.arange(1 << d)
    for c in range(1 << d):
        size_c = int(bits[c].sum())
        for k in range(d):
            if bits[c, k]:
                continue
            s_mask = full & ~c & ~(1 << k)  # S = P \ c \ {k}
            s = d - 1 - size_c  # |S|
            w = fact[s] * fact[d - s - 1] / fact[d]
            ok = (a_idx & s_mask) == s_mask  # S inside x's ones
            K[c, ok, k] = w
    return K


_WEIGHTS_CACHE: dict[tuple[str, int], np.ndarray] = {}


def _weights(kind: str, d: int) -> np.ndarray:
    key = (kind, d)
    if key not in _WEIGHTS_CACHE:
        W = _interventional_weights(d) if kind == "interventional" else _path_dependent_weights(d)
        _WEIGHTS_CACHE[key] = W.reshape(1 << d, -1)
    return _WEIGHTS_CACHE[key]


def _scatter_matrix(g: _LeafGroup, values: np.ndarray, n_features: int):
    """Sparse (L*d, features*outputs) matrix: leaf value of output o at column feature*outputs + o."""
    from scipy import sparse

    L, d = g.feature.shape
    n_out = values.shape[1]
    rows = np.repeat(np.arange(L * d), n_out)
    cols = (np.repeat(g.feature.reshape(-1), n_out) * n_out + np.tile(np.arange(n_out), L * d)).astype(np.int64)
    data = np.repeat(values, d, axis=0).reshape(-1)
    return sparse.csr_matrix((data, (rows, cols)), shape=(L * d, n_features * n_out))


@dataclass
class PackedTables:
    """Tables, leaf values and leaf paths laid out for the compiled kernel once, for many explanations."""

    paths: LeafPaths
    tables: list
    leaf_values: list
    n_out: int
    U: np.ndarray | None = None
    TOFF: np.ndarray | None = None
    V: np.ndarray | None = None


def pack_tables(paths: LeafPaths, tables: list[np.ndarray], leaf_values: list[np.ndarray], n_out: int) -> PackedTables:
    packed = PackedTables(paths=paths, tables=tables, leaf_values=leaf_values, n_out=n_out)
    if paths.groups and _numba is not None:
        sizes = np.concatenate([np.full(g.feature.shape[0], (1 << g.d) * g.d, dtype=np.int64) for g in paths.groups])
        packed.U = np.concatenate([t.reshape(-1) for t in tables])
        packed.TOFF = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        packed.V = np.ascontiguousarray(np.concatenate(leaf_values), dtype=np.float64)
    return packed


def explain_packed(packed: PackedTables, X: np.ndarray) -> np.ndarray:
    """phi[row, feature, output]: sum over leaves of the table row picked by the row's pattern, times the leaf value."""
    paths, n_out = packed.paths, packed.n_out
    if not paths.groups:
        return np.zeros((X.shape[0], X.shape[1], n_out))
    if _numba is None:
        return _explain_with_tables_numpy(paths.groups, packed.tables, packed.leaf_values, X, n_out)
    p = paths.packed()
    phiT = np.zeros((n_out, X.shape[1], X.shape[0]))
    if X.shape[0] <= FEW_ROWS:
        _nb_explain_few(np.ascontiguousarray(X, dtype=np.float64), p["F"], p["LO"], p["HI"], p["NANOK"], p["DL"],
                        packed.TOFF, packed.U, packed.V, phiT)
        return np.ascontiguousarray(phiT.transpose(2, 1, 0))
    _parallel_rows(
        _nb_explain, X.shape[0], int(p["DL"].sum()) * n_out,
        np.ascontiguousarray(X.T, dtype=np.float64), p["F"], p["LO"], p["HI"], p["NANOK"], p["DL"], packed.TOFF,
        packed.U, packed.V, phiT,
    )
    return np.ascontiguousarray(phiT.transpose(2, 1, 0))


def _explain_with_tables(
    paths: LeafPaths, tables: list[np.ndarray], leaf_values: list[np.ndarray], X: np.ndarray, n_out: int
) -> np.ndarray:
    return explain_packed(pack_tables(paths, tables, leaf_values, n_out), X)


def _group_patterns(paths: LeafPaths, X: np.ndarray) -> list[np.ndarray]:
    """Pattern index (rows, L_g) of each group."""
    if _numba is None:
        return [_bits(g, X) for g in paths.groups]
    p = paths.packed()
    out = np.zeros((p["F"].shape[0], X.shape[0]), dtype=np.int64)
    _parallel_rows(
        _nb_patterns, X.shape[0], int(p["DL"].sum()),
        np.ascontiguousarray(X.T, dtype=np.float64), p["F"], p["LO"], p["HI"], p["NANOK"], p["DL"], out,
    )
    return [out[s : s + g.feature.shape[0]].T for s, g in zip(p["starts"], paths.groups, strict=True)]


def _explain_with_tables_numpy(
    groups: list[_LeafGroup], tables: list[np.ndarray], leaf_values: list[np.ndarray], X: np.ndarray, n_out: int
) -> np.ndarray:
    n_rows, n_features = X.shape
    phi = np.zeros((n_rows, n_features * n_out))
    for g, U, V in zip(groups, tables, leaf_values, strict=True):
        L, d = g.feature.shape
        B = _scatter_matrix(g, V, n_features)
        U3 = U.reshape(L, 1 << d, d)
        step = max(1, CHUNK_ELEMENTS // max(L * d, 1))
        leaves = np.arange(L)[None, :]
        for start in range(0, n_rows, step):
            Xc = X[start : start + step]
            idx = _bits(g, Xc)  # (rows, L)
            C = U3[leaves, idx].reshape(Xc.shape[0], L * d)
            phi[start : start + step] += (B.T @ C.T).T
    return phi.reshape(n_rows, n_features, n_out)


def _leaf_values(ens: ParsedTreeEnsemble, g: _LeafGroup) -> np.ndarray:
    return ens.values[g.tree, g.node]  # (L, n_out)


# -- shap's C++ kernel --------------------------------------------------------------------------------------


def _run_cext(
    ens: ParsedTreeEnsemble,
    trees: np.ndarray,
    values: np.ndarray,
    covers: np.ndarray,
    X: np.ndarray,
    R: np.ndarray | None,
    algorithm: str,
    transform: str,
    base_offset: np.ndarray,
) -> np.ndarray:
    sl = np.asarray(trees, dtype=np.int64)
    phi = np.zeros((X.shape[0], X.shape[1] + 1, ens.n_outputs))
    return shap_kernel.dense_tree_shap(
        children_left=ens.children_left[sl], children_right=ens.children_right[sl],
        children_default=ens.children_default[sl], features=ens.features[sl], thresholds=ens.thresholds[sl],
        values=values[sl], covers=covers[sl], max_depth=int(ens.max_depth), X=X, R=R, base_offset=base_offset,
        phi=phi, algorithm=algorithm, transform=transform)


# -- covers -------------------------------------------------------------------------------------------------


def fill_expectations(ens: ParsedTreeEnsemble, covers: np.ndarray) -> np.ndarray:
    """Values with each internal node set to the cover-weighted mean of its children (bottom-up)."""
    values = ens.values.copy()
    cl, cr = ens.children_left, ens.children_right
    for d in range(ens.max_depth - 1, -1, -1):
        t, n = np.nonzero((ens.depth == d) & (cl >= 0))
        if t.size == 0:
            continue
        li, ri = cl[t, n], cr[t, n]
        wl, wr = covers[t, li][:, None], covers[t, ri][:, None]
        tot = wl + wr
        with np.errstate(invalid="ignore", divide="ignore"):
            v = (wl * values[t, li] + wr * values[t, ri]) / tot
        values[t, n] = np.where(tot > 0, v, 0.0)
    return values


def node_covers(ens: ParsedTreeEnsemble, reference: np.ndarray) -> np.ndarray:
    """Reference rows through each node (n_trees, max_nodes): leaf counts summed bottom-up."""
    leaves = leaf_indices(ens, reference)
    max_nodes = ens.children_left.shape[1]
    offsets = (np.arange(ens.n_trees) * max_nodes)[:, None]
    covers = np.bincount((leaves + offsets).ravel(), minlength=ens.n_trees * max_nodes).astype(np.float64)
    covers = covers.reshape(ens.n_trees, max_nodes)
    cl, cr = ens.children_left, ens.children_right
    for d in range(ens.max_depth - 1, -1, -1):
        t, n = np.nonzero((ens.depth == d) & (cl >= 0))
        covers[t, n] = covers[t, cl[t, n]] + covers[t, cr[t, n]]
    return covers


def path_dependent_covers(ens: ParsedTreeEnsemble, reference: np.ndarray) -> tuple[np.ndarray, int]:
    """Covers counted from the (prepared) reference rows; zero covers replaced as shap does."""
    covers = node_covers(ens, reference)
    used = ens.depth >= 0
    zero = used & (covers == 0)
    covers[zero] = ZERO_COVER
    return covers, int(zero.sum())


# -- algorithms ---------------------------------------------------------------------------------------------


def interventional(
    ens: ParsedTreeEnsemble,
    X: np.ndarray,
    background: np.ndarray,
    *,
    transform: str = "identity",
    paths: LeafPaths | None = None,
) -> TreeShapResult:
    """Interventional TreeSHAP of prepared rows ``X`` against prepared ``background`` rows.

    ``transform="logistic"`` explains the logistic of a single raw output exactly as shap's
    ``model_output="probability"`` does (per-reference rescaling; shap's C++ kernel).
    """
    if background is None or background.shape[0] == 0:
        raise ValueError("interventional TreeSHAP needs a background sample")
    if transform == "logistic":
        if ens.n_outputs != 1:
            raise ValueError("the logistic rescaling applies to single-output models only")
        if _numba is not None:
            return _logistic_interventional(ens, X, background)
        covers = np.ones_like(ens.thresholds)
        phi = _run_cext(ens, np.arange(ens.n_trees), ens.values, covers, X, background, "interventional",
                        "logistic", ens.base_offset)
        raw_bg = ens.predict_raw(background)
        expected = (1.0 / (1.0 + np.exp(-raw_bg))).mean(0)
        return TreeShapResult(values=phi[:, :-1, :], expected_value=expected, engine="shap C++")

    paths = paths or leaf_paths(ens)
    n_bg = background.shape[0]
    tables, vals = [], []
    for g, idx in zip(paths.groups, _group_patterns(paths, background), strict=True):
        L = g.feature.shape[0]
        H = np.bincount((np.arange(L)[None, :] * (1 << g.d) + idx).ravel(), minlength=L << g.d)
        H = H.reshape(L, 1 << g.d).astype(np.float64) / n_bg
        tables.append(H @ _weights("interventional", g.d))  # (L, 2^d * d)
        vals.append(_leaf_values(ens, g))
    phi = _explain_with_tables(paths, tables, vals, X, ens.n_outputs)
    engine = "tables"
    if paths.deep_trees.size:
        covers = np.ones_like(ens.thresholds)
        deep = _run_cext(ens, paths.deep_trees, ens.values, covers, X, background, "interventional", "identity",
                         np.zeros(ens.n_outputs))
        phi += deep[:, :-1, :]
        engine = "tables + shap C++"
    expected = ens.predict_raw(background).mean(0)
    return TreeShapResult(
        values=phi, expected_value=expected, engine=engine,
        details={"deep_trees": int(paths.deep_trees.size)},
    )


def _pair_weights(depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Shapley weights of a leaf reached with ``u`` features from the row and ``v`` from the reference:
    (u-1)! v! / (u+v)! for each of the u, u! (v-1)! / (u+v)! for each of the v."""
    size = depth + 2
    w_in, w_out = np.zeros((size, size)), np.zeros((size, size))
    for u in range(size):
        for v in range(size):
            if u + v == 0:
                continue
            total = factorial(u + v)
            if u:
                w_in[u, v] = factorial(u - 1) * factorial(v) / total
            if v:
                w_out[u, v] = factorial(u) * factorial(v - 1) / total
    return w_in, w_out


def _logistic_interventional(ens: ParsedTreeEnsemble, X: np.ndarray, background: np.ndarray,
                             logistic: bool = True, engine: str = "auto") -> TreeShapResult:
    """shap's ``model_output="probability"`` for one logistic output (each reference's exact raw values rescaled
    to the change of the probability, averaged), compiled and split across threads: from the leaves' path
    patterns where every leaf has a table (``engine="patterns"``), else by walking each tree for each row and
    reference together (``"pairs"``, any depth). ``logistic=False`` gives the raw values (a cross-check)."""
    depth = int(ens.max_depth)
    w_in, w_out = _pair_weights(depth + 1)
    fx = ens.predict_raw(X)[:, 0].astype(np.float64)
    fr = ens.predict_raw(background)[:, 0].astype(np.float64)
    out = np.zeros((X.shape[0], X.shape[1]))
    paths = leaf_paths(ens)
    if engine == "patterns" or (engine == "auto" and not paths.deep_trees.size):
        p = paths.packed()
        vals = np.concatenate([_leaf_values(ens, g)[:, 0] for g in paths.groups]) if paths.groups else np.zeros(0)
        px = np.concatenate([m.T for m in _group_patterns(paths, X)]) if paths.groups else np.zeros((0, 0))
        pr = np.concatenate([m.T for m in _group_patterns(paths, background)]) if paths.groups else np.zeros((0, 0))
        pr = np.ascontiguousarray(pr)
        n_leaves, n_ref = pr.shape
        gp = np.zeros(n_leaves * n_ref + 1, dtype=np.int64)
        gstart = np.zeros(n_leaves + 1, dtype=np.int64)
        goff = np.zeros(n_leaves * n_ref + 1, dtype=np.int64)
        members = np.zeros(n_leaves * n_ref, dtype=np.int64)
        groups = _nb_group_patterns(pr, gp, gstart, goff, members)
        _parallel_rows(
            _nb_logistic_groups, X.shape[0], (groups + n_ref) * 4,
            np.ascontiguousarray(px), gp[: groups + 1], gstart, goff[: groups + 1], members, p["F"], p["DL"],
            np.ascontiguousarray(vals), fx, fr, w_in, w_out, logistic, out,
        )
        expected = (1.0 / (1.0 + np.exp(-fr))).mean(keepdims=True)
        return TreeShapResult(values=out[:, :, None], expected_value=expected, engine="compiled patterns")
    values = np.ascontiguousarray(ens.values[:, :, 0], dtype=np.float64)
    _parallel_rows(
        _nb_logistic, X.shape[0], background.shape[0] * ens.n_trees * max(depth, 1),
        np.ascontiguousarray(X.T, dtype=np.float64), np.ascontiguousarray(background.T, dtype=np.float64), fx, fr,
        ens.children_left, ens.children_right, ens.children_default, ens.features, ens.thresholds, values,
        w_in, w_out, depth + 1, logistic, out,
    )
    expected = (1.0 / (1.0 + np.exp(-fr))).mean(keepdims=True)
    return TreeShapResult(values=out[:, :, None], expected_value=expected, engine="compiled pairs")


@dataclass
class PathDependent:
    """Path-dependent TreeSHAP made ready for one ensemble and its covers: explaining rows then reads tables only
    (the host agent builds one per served release and explains each decision with it)."""

    ens: ParsedTreeEnsemble
    covers: np.ndarray
    packed: PackedTables
    expected: np.ndarray
    deep_values: np.ndarray | None
    uncovered_nodes: int = 0

    def explain(self, X: np.ndarray) -> TreeShapResult:
        """SHAP values of prepared rows ``X`` (``ens.prepare``), on the ensemble's raw output scale."""
        paths = self.packed.paths
        phi = explain_packed(self.packed, X)
        engine = "tables"
        if paths.deep_trees.size:
            deep = _run_cext(self.ens, paths.deep_trees, self.deep_values, self.covers, X, None, "path_dependent",
                             "identity", np.zeros(self.ens.n_outputs))
            phi += deep[:, :-1, :]
            engine = "tables + shap C++"
        return TreeShapResult(values=phi, expected_value=self.expected.copy(), uncovered_nodes=self.uncovered_nodes,
                              engine=engine, details={"deep_trees": int(paths.deep_trees.size)})


def path_dependent_prepare(ens: ParsedTreeEnsemble, covers: np.ndarray, *,
                           paths: LeafPaths | None = None) -> PathDependent:
    """Tables of path-dependent TreeSHAP from node ``covers`` (as :func:`path_dependent_covers` gives them)."""
    paths = paths or leaf_paths(ens)
    tables, vals = [], []
    expected = ens.base_offset.astype(np.float64).copy()
    for g in paths.groups:
        L, d = g.feature.shape
        # cover fraction of each path entry, multiplied per slot
        valid = g.entry_slot >= 0
        frac = np.ones_like(g.entry_slot, dtype=np.float64)
        tt = np.broadcast_to(g.tree[:, None], g.entry_slot.shape)
        frac[valid] = covers[tt[valid], g.entry_child[valid]] / covers[tt[valid], g.entry_parent[valid]]
        q = np.ones(L * d)
        np.multiply.at(q, (np.arange(L)[:, None] * d + g.entry_slot)[valid], frac[valid])
        q = q.reshape(L, d)
        bits = _pattern_bits(d)  # (2^d, d)
        G = np.where(bits[None, :, :], q[:, None, :], 1.0).prod(axis=2)  # (L, 2^d)
        Y = (G @ _weights("path_dependent", d)).reshape(L, 1 << d, d)
        U = (bits[None, :, :].astype(np.float64) - q[:, None, :]) * Y
        tables.append(U.reshape(L, -1))
        V = _leaf_values(ens, g)
        vals.append(V)
        expected += (V * q.prod(axis=1)[:, None]).sum(0)
    if paths.stump_tree.size:
        expected += ens.values[paths.stump_tree, 0].sum(0)
    deep_values = None
    if paths.deep_trees.size:
        deep_values = fill_expectations(ens, covers)
        expected += deep_values[paths.deep_trees, 0].sum(0)
    return PathDependent(ens=ens, covers=covers, packed=pack_tables(paths, tables, vals, ens.n_outputs),
                         expected=expected, deep_values=deep_values)


def path_dependent(
    ens: ParsedTreeEnsemble, X: np.ndarray, reference: np.ndarray, *, paths: LeafPaths | None = None
) -> TreeShapResult:
    """Path-dependent TreeSHAP of prepared rows ``X`` with covers counted on prepared ``reference`` rows."""
    if reference is None or reference.shape[0] == 0:
        raise ValueError("path-dependent TreeSHAP needs reference rows to count covers")
    covers, n_zero = path_dependent_covers(ens, reference)
    prepared = path_dependent_prepare(ens, covers, paths=paths)
    prepared.uncovered_nodes = n_zero
    return prepared.explain(X)


def cext_reference(
    ens: ParsedTreeEnsemble, X: np.ndarray, data: np.ndarray, algorithm: str, transform: str = "identity"
) -> TreeShapResult:
    """The whole ensemble through shap's C++ kernel (cross-check; slower)."""
    if algorithm == "interventional":
        covers = np.ones_like(ens.thresholds)
        phi = _run_cext(ens, np.arange(ens.n_trees), ens.values, covers, X, data, "interventional", transform,
                        ens.base_offset)
        return TreeShapResult(values=phi[:, :-1, :], expected_value=phi[0, -1, :].copy(), engine="shap C++")
    covers, n_zero = path_dependent_covers(ens, data)
    values = fill_expectations(ens, covers)
    phi = _run_cext(ens, np.arange(ens.n_trees), values, covers, X, None, "path_dependent", "identity",
                    ens.base_offset)
    return TreeShapResult(values=phi[:, :-1, :], expected_value=values[:, 0, :].sum(0) + ens.base_offset,
                          uncovered_nodes=n_zero, engine="shap C++")
