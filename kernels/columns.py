"""One-pass kernels over the columns of a matrix, compiled (no Django: the serving hosts run them per request).

:func:`within` says whether every value is finite and within its column's range, for the schema check of a
tensor, from each column's least and greatest value: about 10 us for 1,024 rows of 30 float32 features on one
core, against 45 us with numpy (a transposed copy, then a minimum and a maximum along each column).

:func:`count_bins` counts values into histogram bins, for drift. A value's bin is the number of its feature's
edges strictly below it, as ``numpy.searchsorted(edges, value, side="left")`` places it; NaN goes to the
feature's missing bin. Edges are given per feature as rows of a grid padded with +inf, so a feature with fewer
edges never reaches the padding. One pass over the matrix, row by row, counting the values above each edge (the
bins are the differences) in whole vector instructions, with the edges of all features (a few hundred bytes) in
cache: for 1,024 float32 rows of 30 features with 9 edges, about 26 us on one core (70 us with int64 counters
and a 30-lane inner loop, 180 us with numpy: one comparison per edge, then a ``bincount``); a single column
(the score) runs edge by edge along the column, 5 us for 1,024 values. It leaves the cache to the model that
scores the next request.

The kernels are compiled for their signatures when this module is imported (from numba's disk cache after the first
time), so no request ever waits for the compiler.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types

# Contiguous float32 and float64 matrices, read-only (a request's bytes) or not: exact types, so that a call never
# finds two signatures that would both take it.
_MATRICES = [types.Array(dtype, 2, "C", readonly=readonly) for readonly in (True, False)
             for dtype in (types.float32, types.float64)]
_COUNT = [types.void(matrix, types.Array(matrix.dtype, 2, "C", readonly=True),
                     types.Array(types.int64, 1, "C", readonly=True), types.Array(types.int64, 2, "C"))
          for matrix in _MATRICES]
_RANGES = [types.boolean(matrix, types.Array(types.float64, 1, "C", readonly=True),
                         types.Array(types.float64, 1, "C", readonly=True))
           for matrix in _MATRICES]


def _compile(signatures):
    def compiled(fn):
        try:
            return numba.njit(signatures, nogil=True, cache=True)(fn)
        except RuntimeError:  # pragma: no cover - no writable cache location
            return numba.njit(signatures, nogil=True)(fn)

    return compiled


def _floats(matrix: np.ndarray) -> np.ndarray:
    if matrix.dtype not in (np.float32, np.float64):
        return np.ascontiguousarray(matrix, dtype=np.float64)
    return matrix if matrix.flags.c_contiguous and matrix.flags.aligned else matrix.copy()


@_compile(_RANGES)
def _within(matrix, lo, hi):
    rows, features = matrix.shape
    nan = False
    least = np.full(features, np.inf)
    most = np.full(features, -np.inf)
    for i in range(rows):
        for j in range(features):
            value = matrix[i, j]
            nan |= value != value
            least[j] = min(least[j], value)
            most[j] = max(most[j], value)
    if nan:
        return False
    if rows == 0:
        return True
    for j in range(features):
        if not (least[j] >= lo[j] and most[j] <= hi[j] and np.isfinite(least[j]) and np.isfinite(most[j])):
            return False
    return True


def within(matrix: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> bool:
    """Whether every value of ``matrix`` ([rows, features], numbers) is finite and within its column's ``lo`` and
    ``hi`` (float64): from each column's least and greatest value and whether any is NaN, in one pass."""
    return bool(_within(_floats(matrix), lo, hi))


@_compile(_COUNT)
def _count(matrix, edges, missing, counts):
    rows, features = matrix.shape
    width = edges.shape[1]
    if features == 1:  # one column (the score): edge by edge along it, many rows to a vector instruction
        column = matrix[:, 0]
        nan = 0
        for i in range(rows):
            nan += column[i] != column[i]
        before = rows
        for k in range(width):
            level, above = edges[0, k], 0
            for i in range(rows):
                above += column[i] > level
            counts[0, k] += before - above
            before = above
        counts[0, width] += before
        counts[0, 0] -= nan
        counts[0, missing[0]] += nan
        return
    # Many columns: row by row, each row copied into a buffer padded to a multiple of 16 lanes, so the innermost
    # loop has a fixed length with no remainder and the compiler turns it into whole vector instructions; padding
    # lanes compare with +inf and count nothing. The counters are int32 (a request's rows are far fewer than 2**31).
    padded = (features + 15) // 16 * 16
    grid = np.full((width, padded), np.inf, matrix.dtype)  # edge by edge, so the innermost loop runs along a row
    for k in range(width):
        for j in range(features):
            grid[k, j] = edges[j, k]
    above = np.zeros((width, padded), np.int32)  # values above each edge: no scattered increments
    nan = np.zeros(padded, np.int32)
    row = np.zeros(padded, matrix.dtype)
    for i in range(rows):
        for j in range(features):
            row[j] = matrix[i, j]
        for k in range(width):
            for j in range(padded):
                above[k, j] += np.int32(row[j] > grid[k, j])
        for j in range(padded):
            nan[j] += np.int32(row[j] != row[j])
    for j in range(features):  # bin b holds the values above edge b-1 and not above edge b; NaN is above none
        before = rows
        for k in range(width):
            counts[j, k] += before - above[k, j]
            before = above[k, j]
        counts[j, width] += before
        counts[j, 0] -= nan[j]
        counts[j, missing[j]] += nan[j]


def count_bins(matrix: np.ndarray, edges: np.ndarray, missing: np.ndarray, counts: np.ndarray) -> None:
    """Add the bins of ``matrix`` ([rows, features], float32 or float64) to ``counts`` ([features, slots], int64).

    ``edges`` is the [features, edges] grid in the matrix's dtype (for float32, each edge rounded down so that a
    comparison in float32 decides as it would in float64), ``missing`` each feature's missing slot."""
    _count(_floats(matrix), edges, missing, counts)
