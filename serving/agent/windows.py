"""Monitoring windows and their outbox (no Django: this runs on the serving hosts).

Each served release has a :class:`Window` that counts what it answered during the window: requests, predictions,
errors by kind, latency percentiles, and the bins of every feature and of the score against the manifest's
reference histograms, from which the PSI is computed when the window closes. Rows are kept in a small buffer and
folded into bin counts in bulk (every few thousand rows and at the close), so a request pays for an ``append``.

A closed window goes to the :class:`Outbox`: one file per window, named by its sequence number, written and
fsynced before the window counts as closed. The delivery thread sends them in order and deletes each only after
the control plane has stored it; the control plane stores a (host, deployment, sequence) once, so a window
delivered twice after a crash or a lost answer is stored once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from kernels.columns import count_bins
from serving.agent.manifest import SCORE, Manifest, bin_counts, psi

log = logging.getLogger("mg.agent.windows")

FOLD_ROWS = 1024


class Window:
    def __init__(self, *, deployment: int, version: int, role: str, manifest: Manifest):
        self.deployment, self.version, self.role = deployment, version, role
        self.manifest = manifest
        self.names = [f.name for f in manifest.features]
        self.histograms = {name: manifest.histograms.get(name) for name in self.names}
        self.score_histogram = manifest.histograms.get(SCORE)
        widths = [len(h.reference) for h in self.histograms.values() if h]
        self._counts = np.zeros((len(self.names), max(widths, default=0)), dtype=np.int64)
        # each feature's counts: a view of its row of the matrix, so bulk folding adds to all of them at once
        self.counts = {name: self._counts[i, : len(h.reference)] for i, (name, h) in enumerate(self.histograms.items())
                       if h}
        self._grid = _edge_grid(self.names, self.histograms)
        self.score_counts = None
        if self.score_histogram:
            self._score_counts = np.zeros((1, len(self.score_histogram.reference)), dtype=np.int64)
            self.score_counts = self._score_counts[0]
            self._score_edges = np.ascontiguousarray(np.asarray(self.score_histogram.edges, dtype=np.float64)[None])
            self._score_missing = np.array([len(self.score_histogram.reference) - 1], dtype=np.int64)
        self.started_at = datetime.now(UTC)
        self.requests = 0
        self.predictions = 0
        self.errors: dict[str, int] = {}
        self.latencies: list[float] = []
        self.rows: list[list] = []
        self.matrices: list[np.ndarray] = []
        self.columns: list[list] = []
        self.scores: list[np.ndarray] = []
        self.buffered = 0
        self.shadow_compared = 0
        self.shadow_disagreed = 0

    # ------------------------------------------------------------------ the request path

    def answered(self, latency_ms: float, rows: int) -> None:
        self.requests += 1
        self.predictions += rows
        self.latencies.append(latency_ms)

    def failed(self, kind: str) -> None:
        self.requests += 1
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def observe_rows(self, rows: list[list], scores: np.ndarray) -> None:
        self.rows.extend(rows)
        self._scored(scores, len(rows))

    def observe_matrix(self, matrix: np.ndarray, scores: np.ndarray) -> None:
        self.matrices.append(matrix)
        self._scored(scores, len(matrix))

    def observe_columns(self, columns: list, scores: np.ndarray) -> None:
        self.columns.append(columns)
        self._scored(scores, len(scores))

    def _scored(self, scores: np.ndarray, rows: int) -> None:
        self.scores.append(scores)
        self.buffered += rows
        if self.buffered >= FOLD_ROWS:
            self.fold()

    def compared(self, disagreed: int, rows: int) -> None:
        self.shadow_compared += rows
        self.shadow_disagreed += disagreed

    # ------------------------------------------------------------------ folding and closing

    def fold(self) -> None:
        """Add the buffered rows to the bin counts (numeric matrices one by one, other rows in one array each)."""
        blocks = []
        if self.rows:
            try:
                blocks.append(np.array(self.rows, dtype=np.float64).T)
            except (TypeError, ValueError):  # nulls or strings: column by column
                blocks.append([[row[i] for row in self.rows] for i in range(len(self.names))])
        if self.matrices and self._grid is not None and all(m.dtype.kind == "f" for m in self.matrices):
            for matrix in self.matrices:  # each as it came: no copy into one array first
                self._fold_numeric(matrix)
        elif self.matrices:
            blocks.append(np.concatenate(self.matrices).T)
        blocks.extend(self.columns)
        for block in blocks:
            if self._grid is not None and isinstance(block, np.ndarray) and block.dtype.kind == "f":
                self._fold_numeric(block.T)
                continue
            for name, values in zip(self.names, block, strict=False):
                histogram = self.histograms.get(name)
                if histogram is None:
                    continue
                if histogram.kind == "numeric" and isinstance(values, list):
                    values = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
                self.counts[name] += bin_counts(histogram, values)
        if self.scores and self.score_histogram is not None:
            scores = self.scores[0] if len(self.scores) == 1 else np.concatenate(self.scores)
            scores = scores.astype(np.float64, copy=False)
            if self.score_histogram.kind == "numeric":
                count_bins(scores[:, None], self._score_edges, self._score_missing, self._score_counts)
            else:
                self.score_counts += bin_counts(self.score_histogram, scores)
        self.rows, self.matrices, self.columns, self.scores, self.buffered = [], [], [], [], 0

    def _fold_numeric(self, matrix: np.ndarray) -> None:
        """Every numeric feature's bins at once, exactly as ``bin_counts`` counts them (one compiled pass)."""
        edges64, edges32, missing = self._grid
        features = matrix.shape[1]
        edges = edges32 if matrix.dtype == np.float32 else edges64
        count_bins(matrix, edges[:features], missing[:features], self._counts[:features])

    def close(self, sequence: int, ended_at: datetime | None = None) -> dict:
        """The window as the control plane takes it (``POST /api/v1/agent/windows/``)."""
        self.fold()
        ended_at = ended_at or datetime.now(UTC)
        if ended_at <= self.started_at:
            ended_at = self.started_at + timedelta(milliseconds=1)
        latencies = np.asarray(self.latencies, dtype=np.float64)
        p50, p95, p99 = ((float(v) for v in np.percentile(latencies, [50, 95, 99])) if len(latencies)
                         else (None, None, None))
        return {
            "deployment": self.deployment, "version": self.version, "role": self.role, "sequence": sequence,
            "started_at": self.started_at.isoformat(), "ended_at": ended_at.isoformat(),
            "requests": self.requests, "predictions": self.predictions, "errors": dict(self.errors),
            "latency_p50_ms": _round(p50), "latency_p95_ms": _round(p95), "latency_p99_ms": _round(p99),
            "psi": {name: _round(psi(self.histograms[name].reference, counts), 6)
                    for name, counts in self.counts.items() if counts.sum()},
            "score_psi": (_round(psi(self.score_histogram.reference, self.score_counts), 6)
                          if self.score_counts is not None and self.score_counts.sum() else None),
            "shadow_disagreement": (round(self.shadow_disagreed / self.shadow_compared, 6)
                                    if self.shadow_compared else None),
        }

    @property
    def empty(self) -> bool:
        return self.requests == 0 and self.shadow_compared == 0


def _edge_grid(names: list[str], histograms: dict) -> tuple | None:
    """The numeric features' edges padded with +inf into one [features, edges] grid, and each
    feature's missing bin; None when any feature is categorical or has no histogram (the general path then)."""
    if not names or any(h is None or h.kind != "numeric" for h in (histograms[n] for n in names)):
        return None
    width = max(len(histograms[n].edges) for n in names)
    edges = np.full((len(names), max(width, 1)), np.inf)
    for index, name in enumerate(names):
        values = histograms[name].edges
        edges[index, : len(values)] = values
    missing = np.array([len(histograms[n].reference) - 1 for n in names], dtype=np.int64)
    # For float32 inputs: each edge rounded down to float32, so that v > edge holds in float32 exactly when it
    # holds in float64 (every float32 is a float64; the largest float32 at or below the edge splits them alike).
    edges32 = edges.astype(np.float32)
    above = edges32.astype(np.float64) > edges
    edges32[above] = np.nextafter(edges32[above], np.float32(-np.inf))
    return edges, edges32, missing


def _round(value, digits: int = 3):
    return None if value is None else round(float(value), digits)


class Outbox:
    """Files waiting for the control plane, one per item, in order of a persistent sequence number."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._counter = self.folder / "sequence"
        last = int(self._counter.read_text()) if self._counter.exists() else 0
        pending = [int(p.stem) for p in self.folder.glob("*.json")]
        self._next = max([last, *pending]) + 1

    def put(self, make) -> int:
        """Write ``make(sequence)`` durably as the next item; returns its sequence."""
        with self._lock:
            sequence = self._next
            item = make(sequence)
            path = self.folder / f"{sequence:012d}.json"
            partial = path.with_name(f".{path.name}.part")
            try:
                with open(partial, "w") as handle:
                    json.dump(item, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(partial, path)
            except OSError:  # a full disk: nothing taken, and the sequence is still free for the same item later
                partial.unlink(missing_ok=True)
                raise
            self._next += 1
            try:  # the item is taken; the counter is written again with the next one, which supersedes it
                _write_durably(self._counter, str(sequence))
            except OSError as exc:
                log.warning("outbox %s: its sequence counter was not written (%s)", self.folder, exc)
            return sequence

    def pending(self, limit: int = 500) -> list[tuple[Path, dict]]:
        items = []
        for path in sorted(self.folder.glob("*.json"))[:limit]:
            try:
                items.append((path, json.loads(path.read_text())))
            except ValueError:  # a torn file cannot be: put() renames only complete ones; keep it for a person
                path.rename(path.with_suffix(".broken"))
        return items

    def done(self, paths: list[Path]) -> None:
        for path in paths:
            path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.json")))


def _write_durably(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.part")
    with open(partial, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
