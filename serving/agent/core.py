"""What a host serves right now, and the bookkeeping every answer goes through (no Django).

A :class:`Loaded` is one verified release in a warmed ONNX Runtime session, with its schema checks and its open
monitoring window. A :class:`Served` is one deployment: the champion, the challenger when there is one, and the
strategy. The agent swaps the whole table of served models in one assignment on the event loop, so a request
sees either the old table or the new one, never half of each.
"""

from __future__ import annotations

import gc
import hashlib
import math
import mmap
import os
import random
import struct
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from serving.agent.manifest import Manifest
from serving.agent.runtime import Model
from serving.agent.schema import RequestInvalid, Schema
from serving.agent.windows import Window


@dataclass(eq=False)
class Loaded:
    release: int
    deployment: int
    role: str  # champion | challenger
    manifest: Manifest
    model: Model
    schema: Schema
    window: Window
    loaded_at: float = field(default_factory=time.time)
    warm_ms: float = 0.0
    masked: tuple[int, ...] = ()
    explainer: object | None = None  # serving.agent.explain.Explainer for a tree ensemble
    @property
    def version(self) -> int:
        return self.manifest.version

    def new_window(self) -> Window:
        return Window(deployment=self.deployment, version=self.manifest.version, role=self.role,
                      manifest=self.manifest)


@dataclass(eq=False)
class Served:
    name: str  # the model name clients use: the passport key
    deployment: int
    generation: int
    strategy: str  # full | canary | shadow
    canary_percent: int
    champion: Loaded
    challenger: Loaded | None = None
    limit_hosts: int = 1  # how many hosts share the deployment's daily stop-limit, and which of them this one is
    limit_index: int = 0

    def allowance(self, limit: int) -> int:
        """This host's part of a daily stop-limit of ``limit`` decisions (see :func:`stop_limit_share`)."""
        return stop_limit_share(limit, self.limit_hosts, self.limit_index)

    def pick(self) -> Loaded:
        """Who answers this request: the challenger for a canary's share, the champion otherwise."""
        if self.challenger is not None and self.strategy == "canary" and random.random() * 100 < self.canary_percent:
            return self.challenger
        return self.champion

    @property
    def shadow(self) -> Loaded | None:
        return self.challenger if self.strategy == "shadow" else None

    def all(self) -> list[Loaded]:
        return [self.champion] if self.challenger is None else [self.champion, self.challenger]


# --------------------------------------------------------------------------- stop-limits


class DailyCounter:
    """Decisions of one deployment on the current UTC day, in a memory-mapped file: each ``add`` reaches the page
    cache at once, so a SIGKILL never resets the count and a restart goes on from it."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < 16:
                os.ftruncate(fd, 16)
            self._map = mmap.mmap(fd, 16)
        finally:
            os.close(fd)

    @staticmethod
    def _today() -> int:
        return int(time.time() // 86400)

    def value(self) -> int:
        day, count = struct.unpack_from("<qq", self._map, 0)
        return count if day == self._today() else 0

    def add(self, n: int) -> int:
        today = self._today()
        day, count = struct.unpack_from("<qq", self._map, 0)
        count = (count if day == today else 0) + n
        struct.pack_into("<qq", self._map, 0, today, count)
        return count


def stop_limit_share(limit: int, hosts: int, index: int) -> int:
    """The decisions a day that host ``index`` of the ``hosts`` serving a deployment may make of the release's
    stop-limit ``limit``: split as evenly as whole decisions allow, the remainder to the first hosts, so the parts
    add up to the limit and the hosts together never make more. A share that cannot be read is none at all."""
    if hosts == 1 and index == 0:
        return limit
    if not (isinstance(hosts, int) and isinstance(index, int) and 0 <= index < hosts):
        return 0
    return limit // hosts + (1 if index < limit % hosts else 0)


class StopLimitReached(RequestInvalid):
    def __init__(self, name: str, limit: int, allowed: int | None = None, hosts: int = 1):
        seconds = 86400 - int(time.time() % 86400)
        reached = (f"its stop-limit of {limit} decisions today (UTC)" if allowed is None or hosts == 1 else
                   f"this host's share of its stop-limit today (UTC): {allowed} of {limit} decisions, split over "
                   f"{hosts} hosts")
        super().__init__(f"Model '{name}' reached {reached}; it answers again in {seconds} s.",
                         code="stop_limit_reached", status=429, retry_after=seconds)


# --------------------------------------------------------------------------- clients


class Clients:
    """Client tokens (stored as sha256) and a token bucket per client.

    The file holds ``{"clients": [{"name": ..., "sha256": ...}], "rate_per_second": R, "burst": B}``. Without a
    file every inference is refused unless anonymous clients were allowed on the command line.
    """

    def __init__(self, entries: list[dict], *, rate: float = 0.0, burst: float = 0.0, anonymous: bool = False):
        self.by_digest = {e["sha256"]: e["name"] for e in entries}
        self.rate, self.burst = float(rate), float(burst or rate)
        self.anonymous = anonymous
        self._known: dict[str, str] = {}
        self._buckets: dict[str, list[float]] = {}

    def client(self, authorization: str | None) -> str:
        """The client named by the ``Authorization: Bearer`` header; raise :class:`RequestInvalid` (401/429)."""
        if not authorization:
            if self.anonymous:
                return self._throttle("anonymous")
            raise RequestInvalid("A client token is required (Authorization: Bearer <token>).",
                                 code="not_authenticated", status=401)
        name = self._known.get(authorization)
        if name is None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise RequestInvalid("Use Authorization: Bearer <token>.", code="not_authenticated", status=401)
            name = self.by_digest.get(hashlib.sha256(token.strip().encode()).hexdigest())
            if name is None:
                raise RequestInvalid("The client token is not valid.", code="authentication_failed", status=401)
            if len(self._known) < 10_000:
                self._known[authorization] = name
        return self._throttle(name)

    def keep_buckets(self, previous: Clients) -> None:
        """Carry the rate buckets of clients that stay over from ``previous`` (a reload resets no one's rate)."""
        names = set(self.by_digest.values()) | ({"anonymous"} if self.anonymous else set())
        self._buckets = {name: bucket for name, bucket in previous._buckets.items() if name in names}

    def _throttle(self, name: str) -> str:
        if self.rate <= 0:
            return name
        now = time.monotonic()
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = [self.burst, now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            raise RequestInvalid(f"Client '{name}' is over its rate of {self.rate:g} requests/s.", code="throttled",
                                 status=429)
        bucket[0] = tokens - 1.0
        return name


# --------------------------------------------------------------------------- metrics


_BUCKETS = (0.5, 1, 2, 5, 10, 25, 50, 100, 200, 500, 1000, 5000)


class Metrics:
    """Prometheus text exposition of the agent's counters (no client library: a few dicts)."""

    def __init__(self):
        self.requests: dict[tuple, int] = {}
        self.rows: dict[tuple, int] = {}
        self.latency: dict[tuple, list] = {}

    def answered(self, loaded: Loaded, name: str, ms: float, rows: int) -> None:
        key = (name, loaded.version, loaded.role, "ok")
        self.requests[key] = self.requests.get(key, 0) + 1
        self.rows[key[:3]] = self.rows.get(key[:3], 0) + rows
        slot = self.latency.get(key[:3])
        if slot is None:
            slot = self.latency[key[:3]] = [[0] * (len(_BUCKETS) + 1), 0.0, 0]
        index = 0
        while index < len(_BUCKETS) and ms > _BUCKETS[index]:
            index += 1
        slot[0][index] += 1
        slot[1] += ms
        slot[2] += 1

    def failed(self, name: str, version, role: str, kind: str) -> None:
        key = (name, version, role, kind)
        self.requests[key] = self.requests.get(key, 0) + 1

    def render(self, extra: list[str]) -> bytes:
        lines = ["# HELP mg_agent_requests_total Inference requests by model, version, role and outcome.",
                 "# TYPE mg_agent_requests_total counter"]
        for (name, version, role, outcome), count in sorted(self.requests.items(), key=str):
            lines.append(f'mg_agent_requests_total{{model="{name}",version="{version}",role="{role}",'
                         f'outcome="{outcome}"}} {count}')
        lines += ["# HELP mg_agent_predictions_total Rows predicted.", "# TYPE mg_agent_predictions_total counter"]
        for (name, version, role), count in sorted(self.rows.items(), key=str):
            lines.append(f'mg_agent_predictions_total{{model="{name}",version="{version}",role="{role}"}} {count}')
        lines += ["# HELP mg_agent_latency_ms Time from request to answer, milliseconds.",
                  "# TYPE mg_agent_latency_ms histogram"]
        for (name, version, role), (buckets, total, count) in sorted(self.latency.items(), key=str):
            labels = f'model="{name}",version="{version}",role="{role}"'
            running = 0
            for bound, n in zip((*_BUCKETS, math.inf), buckets, strict=True):
                running += n
                edge = "+Inf" if bound == math.inf else f"{bound:g}"
                lines.append(f'mg_agent_latency_ms_bucket{{{labels},le="{edge}"}} {running}')
            lines.append(f"mg_agent_latency_ms_sum{{{labels}}} {total:.3f}")
            lines.append(f"mg_agent_latency_ms_count{{{labels}}} {count}")
        lines += extra
        return ("\n".join(lines) + "\n").encode()


class GcPauses:
    """How often Python's cyclic collector ran, per generation, and how long it stopped every thread: a full
    collection is the longest pause a Python server has that no request asked for."""

    def __init__(self):
        self.count = [0, 0, 0]
        self.total = [0.0, 0.0, 0.0]
        self.longest = [0.0, 0.0, 0.0]
        self._started = 0.0

    def install(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation, took = info["generation"], time.perf_counter() - self._started
        self.count[generation] += 1
        self.total[generation] += took
        self.longest[generation] = max(self.longest[generation], took)

    def lines(self) -> list[str]:
        lines = ["# HELP mg_agent_gc_collections_total Runs of Python's cyclic garbage collector, by generation.",
                 "# TYPE mg_agent_gc_collections_total counter"]
        lines += [f'mg_agent_gc_collections_total{{generation="{g}"}} {n}' for g, n in enumerate(self.count)]
        lines += ["# HELP mg_agent_gc_pause_seconds_total Time the collector held every thread, by generation.",
                  "# TYPE mg_agent_gc_pause_seconds_total counter"]
        lines += [f'mg_agent_gc_pause_seconds_total{{generation="{g}"}} {t:.6f}' for g, t in enumerate(self.total)]
        lines += ["# HELP mg_agent_gc_pause_max_seconds The longest collection since the agent started serving.",
                  "# TYPE mg_agent_gc_pause_max_seconds gauge"]
        lines += [f'mg_agent_gc_pause_max_seconds{{generation="{g}"}} {t:.6f}' for g, t in enumerate(self.longest)]
        lines += ["# HELP mg_agent_gc_frozen_objects Objects of start-up kept out of the collector's walks.",
                  "# TYPE mg_agent_gc_frozen_objects gauge", f"mg_agent_gc_frozen_objects {gc.get_freeze_count()}"]
        return lines


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat()
