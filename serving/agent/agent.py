"""The host agent: enrols, follows its desired state, serves verified releases, reports back (no Django).

Threads and their jobs:

- the **event loop** (Granian's embedded server, RSGI) answers requests; every answer is scored, logged and
  counted on this thread, and the table of served models is swapped here in one assignment;
- the **sync thread** talks to the control plane every poll: the desired state (ETag), downloads and verifies new
  releases, warms their sessions *before* they take traffic, sends the heartbeat, delivers the windows and log
  digests waiting on disk. When the control plane does not answer it keeps serving what it has;
- the **window ticker** (a task on the loop) closes every served release's window each ``window_seconds`` into the
  on-disk outbox.

State on disk (``--state-dir``): ``host.json`` (identity, 0600), ``desired.json`` (the last desired state that
was applied), ``releases/`` (verified releases), ``log/<deployment>/`` (the prediction log), ``outbox/`` (windows
and log digests not yet delivered), ``counters/`` (stop-limit counts).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from serving.agent import controlplane as cp
from serving.agent.app import App
from serving.agent.core import Clients, DailyCounter, GcPauses, Loaded, Metrics, Served, StopLimitReached, utc_now_iso
from serving.agent.predlog import LogUnavailable, PredictionLog
from serving.agent.runtime import LoadFailed, Model, providers_for
from serving.agent.schema import RequestInvalid, Schema
from serving.agent.store import Refusal, ReleaseStore, expired, open_release
from serving.agent.windows import Outbox, Window

log = logging.getLogger("mg.agent")
LOG_UNREADY_SECONDS = 5.0
VERSION = cp.AGENT_VERSION
REFUSAL_RETRY_SECONDS = 60.0


@dataclass
class Config:
    state_dir: Path
    control_plane: str | None = None
    control_plane_timeout: float = 10.0
    name: str = ""
    enrolment_token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8700
    provider: str = "auto"
    threads: int = 1
    window_seconds: float = 60.0
    poll_seconds: float | None = None
    max_body_bytes: int = 32 << 20
    clients_file: Path | None = None
    allow_anonymous: bool = False
    log_max_bytes: int = 64 << 20
    log_disk_floor_bytes: int = 256 << 20  # free space under which the heartbeat reports the disk nearly full
    log_max_seconds: float = 3600.0
    cost_per_hour: float | None = None
    labels: dict | None = None
    # serving a release from disk, without a control plane (development, benchmarks)
    release: Path | None = None
    signature: Path | None = None
    public_key: Path | None = None


def _gpu_facts() -> dict:
    """GPU model and memory from nvidia-smi where there is one (best effort: absent on CPU hosts)."""
    import shutil
    import subprocess

    tool = shutil.which("nvidia-smi")
    if not tool:
        return {}
    try:
        out = subprocess.run([tool, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],  # noqa: S603
                             capture_output=True, text=True, timeout=5, check=True).stdout.strip().splitlines()
    except (subprocess.SubprocessError, OSError):
        return {}
    if not out:
        return {}
    name, _, memory = out[0].partition(",")
    return {"gpu_model": name.strip()[:200], "gpu_memory_mb": int(float(memory.strip() or 0))}


def _outputs_for_log(scores: np.ndarray, labels: np.ndarray | None, rows: int) -> dict:
    """The answered scores and labels as the log keeps them: JSON lists for a few rows, numeric arrays of many
    as raw bytes (spelling 1,024 scores out costs more than the rest of the record)."""
    raw = rows > 16
    out = {"score": scores if raw else scores.tolist()}
    if labels is not None:
        out["label"] = labels if raw and labels.dtype.kind in "biuf" else labels.tolist()
    return out


class Agent:
    def __init__(self, config: Config):
        self.config = config
        self.version = VERSION
        self.root = Path(config.state_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.store = ReleaseStore(self.root)
        self.windows_outbox = Outbox(self.root / "outbox" / "windows")
        self.digests_outbox = Outbox(self.root / "outbox" / "log-digests")
        self.metrics = Metrics()
        self.gc_pauses: GcPauses | None = None
        self._unwritten: list = []  # closed windows the disk refused, oldest first
        self.clients = self._clients()
        self.providers = providers_for(config.provider)
        self.provider = self.providers[0]
        self.served: dict[str, Served] = {}
        self.refused: dict[str, str] = {}
        self.retired: list[Loaded] = []
        self.problems: list[dict] = []
        self.stop_reached: dict[int, tuple] = {}  # deployment: (model, limit, this host's part, hosts, UTC day)
        self._models: dict[int, tuple] = {}  # release -> (Opened, Model, Schema, warm-up ms)
        self._refusals: dict[int, tuple] = {}  # release -> (when, Refusal)
        self._logs: dict[int, PredictionLog] = {}
        self._counters: dict[int, DailyCounter] = {}
        self._mask_key = self._secret("mask.key")
        self._stop = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.identity: dict = {}
        self.etag: str | None = None
        self.facts = {"address": f"{socket.gethostname()}:{config.port}", "labels": config.labels or {},
                      "agent_version": VERSION, **_gpu_facts()}

    # ------------------------------------------------------------------ set-up

    def _secret(self, name: str) -> bytes:
        path = self.root / name
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(32))
        return path.read_bytes()

    def _clients(self) -> Clients:
        path = self.config.clients_file
        if path is None:
            return Clients([], anonymous=self.config.allow_anonymous)
        self._clients_stamp = self._stamp(path)
        data = json.loads(Path(path).read_text())
        return Clients(data.get("clients", []), rate=data.get("rate_per_second", 0),
                       burst=data.get("burst", 0), anonymous=self.config.allow_anonymous)

    @staticmethod
    def _stamp(path) -> tuple:
        try:
            stat = os.stat(path)
        except OSError:
            return ()
        return stat.st_mtime_ns, stat.st_size, stat.st_ino

    def reload_clients(self, *, changed_only: bool = False) -> bool:
        """Read the clients file again (on SIGHUP, and when it changes on disk): new tokens work and removed ones
        stop at the next request, without a restart. A file that cannot be read keeps the clients in force."""
        path = self.config.clients_file
        if path is None or (changed_only and self._stamp(path) == getattr(self, "_clients_stamp", ())):
            return False
        try:
            fresh = self._clients()
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            self._clients_stamp = self._stamp(path)  # not retried until the file changes again
            log.error("clients file %s not reloaded, the previous clients stay in force: %s", path, exc)
            return False
        fresh.keep_buckets(self.clients)
        self.clients = fresh  # one assignment: a request sees the old table or the new one
        log.info("clients file %s reloaded: %d clients", path, len(fresh.by_digest))
        return True

    def control_plane(self) -> cp.ControlPlane:
        return cp.ControlPlane(self.config.control_plane, token=self.identity.get("host_token"),
                               timeout=self.config.control_plane_timeout)

    def enrol(self) -> None:
        """Load this host's identity, or spend the enrolment token for one (written 0600 before it is used).

        The request carries an id of this agent's own, kept on disk until the answer is saved: when an answer is
        lost (a timeout under load, the agent killed between asking and saving), asking again with the same id
        gets a fresh host token rather than ``enrolment_token_used``."""
        path = self.root / "host.json"
        if path.exists():
            self.identity = json.loads(path.read_text())
            return
        if not self.config.enrolment_token:
            raise SystemExit("This host is not enrolled: pass --enrolment-token (an administrator creates one).")
        request_file = self.root / "enrol-request"
        try:
            fd = os.open(request_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            request_id = request_file.read_text().strip()
        else:
            request_id = secrets.token_urlsafe(24)
            with os.fdopen(fd, "w") as handle:
                handle.write(request_id)
                handle.flush()
                os.fsync(handle.fileno())
        while True:  # a control plane still starting, or briefly away, or an answer lost: try again; a refusal ends it
            try:
                answer = cp.ControlPlane(self.config.control_plane, timeout=self.config.control_plane_timeout).enrol(
                    token=self.config.enrolment_token, name=self.config.name or socket.gethostname(),
                    facts={**self.facts, "provider": self.provider, "request_id": request_id})
                break
            except cp.Unreachable as exc:
                log.warning("enrolment: control plane unreachable (%s), trying again in 2 s", exc)
                if self._stop.wait(2.0):
                    raise SystemExit("stopped before enrolment") from exc
            except cp.Refused as exc:
                raise SystemExit(f"enrolment refused: {exc}") from exc
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(answer, handle)
            handle.flush()
            os.fsync(handle.fileno())
        request_file.unlink(missing_ok=True)
        self.identity = answer
        log.info("enrolled as %s (host %s)", answer["name"], answer["host"])

    # ------------------------------------------------------------------ loading releases

    def _model(self, entry: dict, *, download: cp.ControlPlane | None) -> tuple:
        """The release's verified, warmed model; a refusal is remembered for a while, and the refused copy is
        dropped, so the next try downloads it afresh instead of checking the same bad bytes at every poll."""
        release = entry["release"]
        cached = self._models.get(release)
        if cached is not None:
            if expired(cached[0].manifest):
                raise Refusal("release_expired", f"the approval of v{cached[0].manifest.version} expired")
            return cached
        refused = self._refusals.get(release)
        if refused is not None and time.monotonic() - refused[0] < REFUSAL_RETRY_SECONDS:
            raise refused[1]
        try:
            return self._load(entry, release, download)
        except Refusal as exc:
            self._refusals[release] = (time.monotonic(), exc)
            if exc.kind != "download_failed":
                self.store.drop(release)
            raise

    def _load(self, entry: dict, release: int, download: cp.ControlPlane | None) -> tuple:
        if not self.store.have(release):
            if download is None:
                raise Refusal("download_failed", f"release {release} is not on this host and the control plane "
                                                 "is not reachable")
            try:
                self.store.fetch(download, entry)
            except cp.Refused as exc:
                raise Refusal("download_failed", str(exc)) from exc
        opened = self.store.open(entry, self.identity["public_key_pem"])
        try:
            model = Model(opened.artifact, opened.manifest, providers=self.providers, threads=self.config.threads)
        except LoadFailed as exc:
            raise Refusal("load_failed", str(exc)) from exc
        warm = model.warm_up()
        self._models[release] = cached = (opened, model, Schema(opened.manifest), warm, self._explainer(opened))
        return cached

    @staticmethod
    def _explainer(opened):
        """Reason codes for a tree ensemble whose manifest carries covers; a model without one serves unexplained."""
        if opened.manifest.explainer is None or opened.manifest.layout != "tensor":
            return None
        from serving.agent.explain import Explainer

        try:
            return Explainer(opened.artifact, opened.manifest)
        except Exception as exc:  # the trees could not be read back: serve, and say why explanations are missing
            log.warning("release %s: no explanations (%s)", opened.release, exc)
            return None

    def _loaded(self, entry: dict, deployment: int, previous: dict) -> Loaded:
        old = previous.get((entry["release"], deployment, entry["role"]))
        if old is not None:
            return old
        opened, model, schema, warm, explainer = self._models[entry["release"]]
        masked = tuple(i for i, f in enumerate(opened.manifest.features)
                       if f.name in set(opened.manifest.personal_data_columns))
        return Loaded(release=entry["release"], deployment=deployment, role=entry["role"], manifest=opened.manifest,
                      model=model, schema=schema, warm_ms=warm, masked=masked, explainer=explainer,
                      window=Window(deployment=deployment, version=opened.manifest.version, role=entry["role"],
                                    manifest=opened.manifest))

    def apply(self, state: dict, *, download: cp.ControlPlane | None) -> None:
        """Make ``state`` what this host serves: load and warm what is new, then swap the table at once."""
        if state.get("key_id") and self.identity.get("key_id") and state["key_id"] != self.identity["key_id"]:
            problems = [{"kind": "signature_invalid", "message": f"the desired state names signing key "
                         f"{state['key_id']}, not the enrolled {self.identity['key_id']}",
                         "args": {"key_id": str(state["key_id"])[:100],
                                  "enrolled": str(self.identity["key_id"])[:100]}}]
            self._install({}, {d["passport"]: "signing key changed" for d in state.get("deployments", [])}, problems)
            return
        previous = {(item.release, item.deployment, item.role): item
                    for served in self.served.values() for item in served.all()}
        table, refused, problems = {}, {}, []
        for deployment in state.get("deployments", []):
            name, loaded, failed = deployment["passport"], {}, False
            for entry in deployment["releases"]:
                try:
                    self._model(entry, download=download)
                except Refusal as exc:
                    failed = True
                    refused[name] = f"release {entry['release']} (v{entry['version']}) refused: {exc.message}"
                    problems.append({"kind": exc.kind, "message": refused[name][:2000],
                                     "deployment": deployment["deployment"], "release": entry["release"],
                                     "args": {"version": entry["version"], "detail": exc.message[:500]}})
                    log.warning("%s", refused[name])
                    continue
                loaded[entry["role"]] = self._loaded(entry, deployment["deployment"], previous)
            if failed or "champion" not in loaded:
                reasons = [f"v{w['version']} {w['reason']}" for w in deployment.get("withdrawn", [])]
                refused.setdefault(name, "withdrawn: " + ", ".join(reasons) if reasons else "nothing to serve")
                continue
            table[name] = Served(name=name, deployment=deployment["deployment"], generation=deployment["generation"],
                                 strategy=deployment["strategy"], canary_percent=deployment["canary_percent"],
                                 champion=loaded["champion"], challenger=loaded.get("challenger"),
                                 limit_hosts=deployment.get("stop_limit_hosts", 1),
                                 limit_index=deployment.get("stop_limit_index", 0))
        self._install(table, refused, problems)
        keep = {item.release for served in table.values() for item in served.all()}
        self.store.prune(keep)
        for release in list(self._models):
            if release not in keep:
                del self._models[release]

    def _install(self, table: dict, refused: dict, problems: list) -> None:
        def swap():
            current = {id(item) for served in table.values() for item in served.all()}
            self.retired.extend(item for served in self.served.values() for item in served.all()
                                if id(item) not in current)
            self.served, self.refused, self.problems = table, refused, problems

        if self.loop is not None and self.loop.is_running():
            done = threading.Event()
            self.loop.call_soon_threadsafe(lambda: (swap(), done.set()))
            done.wait(10)
        else:
            swap()

    # ------------------------------------------------------------------ the request path (event loop)

    def counter(self, deployment: int) -> DailyCounter:
        counter = self._counters.get(deployment)
        if counter is None:
            counter = self._counters[deployment] = DailyCounter(self.root / "counters" / f"{deployment}.bin")
        return counter

    def prediction_log(self, deployment: int) -> PredictionLog:
        plog = self._logs.get(deployment)
        if plog is None:
            plog = self._logs[deployment] = PredictionLog(
                self.root / "log" / str(deployment), mask_key=self._mask_key, max_bytes=self.config.log_max_bytes,
                max_seconds=self.config.log_max_seconds,
                on_closed=lambda entry, d=deployment: self.digests_outbox.put(
                    lambda _seq: {**entry, "deployment": d}))
        return plog

    def infer(self, served: Served, loaded: Loaded, feeds: dict, rows: int):
        limit = loaded.manifest.stop_limits.max_decisions_per_day
        if limit:
            allowed = served.allowance(limit)
            if self.counter(served.deployment).value() + rows > allowed:
                self.stop_reached[served.deployment] = (served.name, limit, allowed, served.limit_hosts,
                                                        utc_now_iso()[:10])
                raise StopLimitReached(served.name, limit, allowed, served.limit_hosts)
        return loaded.model.run(feeds)

    def record(self, served: Served, loaded: Loaded, client: str, rid: str, ms: float, *, rows=None, observe=None,
               scored=None, shadow: bool = False, explained: tuple | None = None) -> None:
        """Log the answered prediction (before the answer leaves) and count it in the window and the metrics."""
        scores, labels = scored.scores, scored.labels
        if rows is not None:
            x, n = self._mask_rows(loaded, rows), len(rows)
        elif observe[0] == "matrix":
            matrix = observe[1]
            n = len(matrix)
            x = matrix if not loaded.masked else self._mask_rows(loaded, matrix.tolist())  # raw bytes in the log
        else:
            columns = observe[1]
            n = len(scores)
            x = {name: (list(values) if not isinstance(values, np.ndarray) else values.tolist())
                 for name, values in zip(loaded.schema.names, columns, strict=True)}
            for index in loaded.masked:
                name = loaded.schema.names[index]
                x[name] = [self.prediction_log(served.deployment).mask(v) for v in x[name]]
        entry = {"t": time.time(), "id": rid, "model": served.name, "dep": served.deployment, "v": loaded.version,
                 "role": loaded.role, "client": client, "ms": round(ms, 3), "n": n, "x": x,
                 "y": _outputs_for_log(scores, labels, n)}
        if shadow:
            entry["shadow"] = True  # scored on a copy of the request; the client never saw it
        if explained is not None:  # the reason codes given with the answer, kept with it
            values, expected = explained
            entry["explain"] = {"algorithm": loaded.explainer.algorithm, "scale": loaded.explainer.scale,
                                "expected_value": round(expected, 6), "shap": np.round(values, 6).tolist()}
        self.prediction_log(served.deployment).write([entry])
        if not shadow:  # a decision counts against the day's stop-limit once it is logged, i.e. given
            self.counter(served.deployment).add(n)
        window = loaded.window
        window.answered(ms, n)
        if rows is not None:
            window.observe_rows(rows, scores)
        elif observe[0] == "matrix":
            window.observe_matrix(observe[1], scores)
        else:
            window.observe_columns(observe[1], scores)
        self.metrics.answered(loaded, served.name, ms, n)

    def _mask_rows(self, loaded: Loaded, rows: list) -> list:
        if not loaded.masked:
            return rows
        plog = self.prediction_log(loaded.deployment)
        return [[plog.mask(v) if i in loaded.masked else v for i, v in enumerate(row)] for row in rows]

    def refused_request(self, served: Served, loaded: Loaded, exc: Exception) -> None:
        kind = getattr(exc, "code", "inference_failed") if isinstance(exc, RequestInvalid) else "inference_failed"
        kind = {"invalid_feature": "invalid_request", "invalid_tensor": "invalid_request",
                "invalid_record": "invalid_request"}.get(kind, kind)
        loaded.window.failed(kind)
        self.metrics.failed(served.name, loaded.version, loaded.role, kind)

    def shadow(self, served: Served, feeds: dict, rid: str, client: str, *, champion, rows=None,
               observe=None) -> None:
        """Score the same input with the shadow challenger after the answer left; log and compare, never return."""
        challenger = served.challenger
        start = time.perf_counter()
        try:
            scored = challenger.model.run(feeds)
        except LoadFailed:
            challenger.window.failed("inference_failed")
            return
        ms = (time.perf_counter() - start) * 1000
        if champion.labels is not None and scored.labels is not None:
            disagreed = int(np.sum(champion.labels != scored.labels))
        else:
            scale = np.maximum(np.abs(champion.scores), 1e-9)
            disagreed = int(np.sum(np.abs(champion.scores - scored.scores) > 0.1 * scale))
        try:
            self.record(served, challenger, client, rid, ms, rows=rows, observe=observe, scored=scored, shadow=True)
        except LogUnavailable:  # said once in the agent's log and in the heartbeat; the copy is dropped
            challenger.window.failed("log_unavailable")
            return
        challenger.window.compared(disagreed, len(scored.scores))

    def disk_free(self) -> int | None:
        """Bytes free to the agent on the disk of its state directory (the prediction log's); None where unknown."""
        try:
            stats = os.statvfs(self.root)
        except OSError:
            return None
        return stats.f_bavail * stats.f_frsize

    def ready(self) -> bool:
        return not self.unready_reasons()

    def unready_reasons(self) -> list[str]:
        """Why the host should not take traffic, if it should not: nothing served yet, a model refused, or a
        prediction log that refused a record (not ready for ``LOG_UNREADY_SECONDS``: the balancer sends elsewhere,
        then tries again)."""
        reasons = [] if self.served else ["no model is served yet"]
        reasons += [f"model '{name}' is not served: {why}" for name, why in sorted(self.refused.items())]
        now = time.monotonic()
        reasons += [f"the prediction log of deployment {deployment} cannot be written: {plog.failure}"
                    for deployment, plog in sorted(self._logs.items())
                    if plog.failure is not None and now - plog.failed_at <= LOG_UNREADY_SECONDS]
        return reasons

    def metrics_text(self) -> bytes:
        extra = ["# HELP mg_agent_release_info Releases served now.", "# TYPE mg_agent_release_info gauge"]
        for served in self.served.values():
            for item in served.all():
                extra.append(f'mg_agent_release_info{{model="{served.name}",version="{item.version}",'
                             f'role="{item.role}",release="{item.release}",provider="{item.model.provider}",'
                             f'strategy="{served.strategy}"}} 1')
        extra += ["# TYPE mg_agent_log_records_total counter",
                  f"mg_agent_log_records_total {sum(p.records_total for p in self._logs.values())}",
                  "# HELP mg_agent_log_write_failures_total Predictions refused because the log could not take them.",
                  "# TYPE mg_agent_log_write_failures_total counter",
                  f"mg_agent_log_write_failures_total {sum(p.failures for p in self._logs.values())}",
                  "# HELP mg_agent_log_disk_free_bytes Free space on the disk of the prediction log.",
                  "# TYPE mg_agent_log_disk_free_bytes gauge", f"mg_agent_log_disk_free_bytes {self.disk_free() or 0}",
                  "# TYPE mg_agent_outbox_windows gauge", f"mg_agent_outbox_windows {len(self.windows_outbox)}",
                  "# TYPE mg_agent_stop_limit_reached gauge",
                  f"mg_agent_stop_limit_reached {len(self.stop_reached)}"]
        limited = [(served, served.champion.manifest.stop_limits.max_decisions_per_day)
                   for served in list(self.served.values())]
        limited = [(served, limit) for served, limit in limited if limit]
        if limited:
            extra += ["# HELP mg_agent_stop_limit_allowed Decisions this host may make today of the model's "
                      "stop-limit (its share where several hosts serve the deployment).",
                      "# TYPE mg_agent_stop_limit_allowed gauge",
                      *(f'mg_agent_stop_limit_allowed{{model="{served.name}"}} {served.allowance(limit)}'
                        for served, limit in limited),
                      "# TYPE mg_agent_stop_limit_decisions_today gauge",
                      *(f'mg_agent_stop_limit_decisions_today{{model="{served.name}"}} '
                        f"{self.counter(served.deployment).value()}" for served, _limit in limited)]
        if self.gc_pauses is not None:
            extra += self.gc_pauses.lines()
        return self.metrics.render(extra)

    # ------------------------------------------------------------------ windows (event loop)

    def close_windows(self) -> list:
        """Swap every served release's window for a fresh one; returns the closed ones (to write out)."""
        closed = []
        for served in self.served.values():
            for item in served.all():
                old, item.window = item.window, item.new_window()
                closed.append(old)
        closed.extend(item.window for item in self.retired)
        self.retired = []
        return [w for w in closed if not w.empty]

    def write_windows(self, windows: list) -> None:
        """The closed windows to the outbox, in order, after any the disk refused before: a window the disk will
        not take is kept in memory (its end time fixed) and written at the next close, so none is lost to a full
        disk unless the agent stops while it is still full (then :meth:`report_unwritten` puts it in the log)."""
        ended = datetime.now(UTC)
        waiting = self._unwritten + [functools.partial(window.close, ended_at=ended) for window in windows]
        for index, make in enumerate(waiting):
            try:
                self.windows_outbox.put(make)
            except OSError as exc:
                if not self._unwritten:
                    log.warning("monitoring windows cannot be written (%s); kept in memory until they can", exc)
                self._unwritten = waiting[index:]
                return
        if self._unwritten:
            log.warning("monitoring windows are written again")
        self._unwritten = []

    def report_unwritten(self) -> list[dict]:
        """At a stop with windows the disk still refuses: they cannot outlive the process, so each goes to the
        agent's log in full (an operator can post it to ``/api/v1/agent/windows/`` with a free sequence) rather
        than vanish without a word. Returns them."""
        if not self._unwritten:
            return []
        lost = [make(None) for make in self._unwritten]
        log.error("%d monitoring window(s) could not be written to disk before the agent stopped; they are not "
                  "delivered: %s", len(lost), json.dumps(lost, separators=(",", ":")))
        return lost

    async def window_ticker(self) -> None:
        """Closes the windows every ``window_seconds``; in between, once a second, looks whether the clients file
        changed."""
        close_at = time.monotonic() + self.config.window_seconds
        while True:
            await asyncio.sleep(max(0.0, min(1.0, close_at - time.monotonic())))
            try:
                self.reload_clients(changed_only=True)
                if time.monotonic() < close_at:
                    continue
                close_at += self.config.window_seconds
                closed = self.close_windows()
                if closed or self._unwritten:
                    await asyncio.get_running_loop().run_in_executor(None, self.write_windows, closed)
            except Exception:  # the ticker must go on: a fault here must not stop the windows for good
                log.exception("closing the monitoring windows failed")

    # ------------------------------------------------------------------ the control plane (sync thread)

    def heartbeat_body(self) -> dict:
        serving = [{"deployment": served.deployment, "release": item.release, "role": item.role,
                    "version": item.version, "state": "serving"}
                   for served in list(self.served.values()) for item in served.all()]
        problems = list(self.problems)
        for deployment, (name, limit, allowed, hosts, day) in list(self.stop_reached.items()):
            if self.counter(deployment).value() == 0:
                continue
            args = {"model": name, "limit": limit, "day": day}
            message = f"{name}: {limit} decisions reached on {day}"
            if hosts > 1:
                args |= {"allowed": allowed, "hosts": hosts}
                message = f"{name}: this host's {allowed} of {limit} decisions ({hosts} hosts) reached on {day}"
            problems.append({"kind": "stop_limit_reached", "message": message, "deployment": deployment,
                             "args": args})
        free = self.disk_free()
        if free is not None and free < self.config.log_disk_floor_bytes:
            args = {"free_mb": free >> 20, "floor_mb": self.config.log_disk_floor_bytes >> 20,
                    "path": str(self.root)[:500]}
            problems.append({"kind": "log_disk_low", "args": args,
                             "message": "{free_mb} MB free for the prediction log in {path}, under the floor of "
                                        "{floor_mb} MB".format(**args)})
        for deployment, plog in list(self._logs.items()):
            if plog.failure is not None:
                args = {"error": str(plog.failure)[:500], "refused": plog.failures}
                problems.append({"kind": "log_unavailable", "deployment": deployment, "args": args,
                                 "message": "the prediction log cannot be written ({error}): {refused} predictions "
                                            "refused so far".format(**args)})
        return {**self.facts, "provider": self.provider, "serving": serving, "problems": problems[:100]}

    def sync_once(self, plane: cp.ControlPlane) -> None:
        etag, state = plane.state(self.etag)
        if state is not None:
            self.apply(state, download=plane)
            self._save_state(state)
            self.etag = etag
        else:
            self.expire_check()
        plane.heartbeat(self.heartbeat_body())
        self.deliver(plane)

    def deliver(self, plane: cp.ControlPlane) -> None:
        while items := self.windows_outbox.pending(500):
            plane.windows([item for _path, item in items])
            self.windows_outbox.done([path for path, _item in items])
        while items := self.digests_outbox.pending(500):
            try:
                plane.log_digests([item for _path, item in items])
            except cp.Refused as exc:
                index = exc.details.get("index") if isinstance(exc.details, dict) else None
                if exc.code != "digest_changed" or not isinstance(index, int) or not 0 <= index < len(items):
                    raise
                # The control plane holds another digest for this file and has raised an alert: the item is kept
                # aside for a person (not sent again and again), the ones before it were stored, the rest go on.
                path, item = items[index]
                path.rename(path.with_suffix(".refused"))
                self.digests_outbox.done([p for p, _item in items[:index]])
                log.error("log file %s: the control plane holds another sha256 for it (%s); its report is kept "
                          "in %s", item.get("name"), exc.message, path.with_suffix(".refused"))
                continue
            self.digests_outbox.done([path for path, _item in items])

    def expire_check(self) -> None:
        if any(expired(item.manifest) for served in self.served.values() for item in served.all()):
            state = self._load_state()
            if state is not None:
                self.apply(state, download=None)

    def _save_state(self, state: dict) -> None:
        path = self.root / "desired.json"
        partial = path.with_name(".desired.json.part")
        partial.write_text(json.dumps(state))
        os.replace(partial, path)

    def _load_state(self) -> dict | None:
        path = self.root / "desired.json"
        return json.loads(path.read_text()) if path.exists() else None

    def sync_loop(self) -> None:
        plane = self.control_plane()
        while not self._stop.is_set():
            try:
                self.sync_once(plane)
            except cp.Unreachable as exc:
                log.warning("control plane unreachable (serving on): %s", exc)
                self.expire_check()
            except cp.Refused as exc:
                log.error("control plane refused: %s", exc)
                if exc.status in (401, 403):
                    self._install({}, dict.fromkeys(self.served, "this host's token was refused"), [])
            except Exception:  # the loop must go on: a bug here must not stop serving
                log.exception("sync failed")
            self._stop.wait(self.config.poll_seconds or self.identity.get("poll_seconds", 5.0))

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        """Before serving: the identity, then what was served last (verified again) so an outage changes nothing."""
        if self.config.release is not None:
            self._static()
            return
        self.enrol()
        state = self._load_state()
        if state is not None:
            self.apply(state, download=None)
        try:
            self.sync_once(self.control_plane())
        except (cp.Unreachable, cp.Refused) as exc:
            log.warning("first sync failed (serving from disk): %s", exc)

    def _static(self) -> None:
        """Serve one signed release from disk, as deployment 1 (no control plane)."""
        config = self.config
        public_key = Path(config.public_key).read_text()
        self.identity = {"public_key_pem": public_key}
        opened = open_release(config.release, config.signature, public_key, release=1)
        digest = hashlib.sha256(opened.artifact).hexdigest()
        folder, signature = self.store.paths(1)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(config.release, folder)
        shutil.copyfile(config.signature, signature)
        entry = {"release": 1, "role": "champion", "version": opened.manifest.version, "artifact_sha256": digest}
        self.apply({"deployments": [{"deployment": 1, "passport": opened.manifest.passport, "generation": 1,
                                     "strategy": "full", "canary_percent": 0, "releases": [entry],
                                     "withdrawn": []}]}, download=None)

    async def run(self) -> None:
        from granian.server.embed import Server

        self.loop = asyncio.get_running_loop()
        await self.loop.run_in_executor(None, self.start)
        settle_heap()
        self.gc_pauses = GcPauses().install()
        server = Server(App(self), address=self.config.host, port=self.config.port, log_enabled=False,
                        backlog=1024)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, server.stop)
        self.loop.add_signal_handler(signal.SIGHUP, self.reload_clients)
        sync = None
        if self.config.control_plane and self.config.release is None:
            sync = threading.Thread(target=self.sync_loop, name="agent-sync", daemon=True)
            sync.start()
        ticker = self.loop.create_task(self.window_ticker())
        log.info("serving on http://%s:%s (%s)", self.config.host, self.config.port, self.provider)
        try:
            await server.serve()
        finally:
            ticker.cancel()
            self._stop.set()
            self.write_windows(self.close_windows())
            self.report_unwritten()
            for plog in self._logs.values():
                plog.close()
            if sync is not None:
                sync.join(timeout=5)
                with contextlib.suppress(cp.Unreachable, cp.Refused):
                    self.deliver(self.control_plane())


def settle_heap() -> None:
    """Before the first request: the garbage of start-up collected, and what is left (modules, ONNX Runtime,
    numba's compiled kernels: about 160,000 objects) moved out of the cyclic collector's sight. A full collection
    walked all of it, stopping every request for about 85 ms, once every minute or so under load; now it walks
    what was made since."""
    gc.collect()
    gc.freeze()
