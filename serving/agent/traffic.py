"""Demo traffic for an agent (no Django): ``python -m serving.agent.traffic --state-dir var/agent --model KEY``.

Records come from ``--records`` (a JSON list of records, e.g. rows of the reference data), or else are drawn from
the served release's reference histograms, each feature on its own (a bin by its reference share, a value
uniformly inside it: the features' joint distribution is lost, so the score's PSI drifts a little). ``--shift``
moves every numeric feature by that many bin widths to show drift. Sends ``--rate`` requests per second for
``--seconds`` through the JSON route.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import urllib.error
import urllib.request
from pathlib import Path

from serving.agent.manifest import Manifest, manifest_decode


def served_manifest(state_dir: Path, model: str) -> Manifest:
    state = json.loads((state_dir / "desired.json").read_text())
    for deployment in state["deployments"]:
        if deployment["passport"] == model and deployment["releases"]:
            release = deployment["releases"][0]["release"]
            return manifest_decode((state_dir / "releases" / str(release) / "manifest.json").read_bytes())
    raise SystemExit(f"{model} is not served by the agent in {state_dir}")


def sampler(manifest: Manifest, shift: float = 0.0):
    rng = random.Random(7)

    def value(feature):
        histogram = manifest.histograms.get(feature.name)
        if feature.categories:
            return rng.choice(feature.categories)
        if histogram is None or histogram.kind != "numeric" or not histogram.edges:
            lo, hi = feature.min if feature.min is not None else 0.0, feature.max if feature.max is not None else 1.0
            return rng.uniform(lo, hi)
        edges = histogram.edges
        shares = histogram.reference[: len(edges) + 1]
        index = rng.choices(range(len(shares)), weights=[max(s, 1e-9) for s in shares])[0]
        width = (edges[-1] - edges[0]) / max(len(edges) - 1, 1) or 1.0
        lo = edges[index - 1] if index > 0 else edges[0] - width
        hi = edges[index] if index < len(edges) else edges[-1] + width
        x = rng.uniform(lo, hi) + shift * width
        if feature.min is not None:
            x = max(x, feature.min)
        if feature.max is not None:
            x = min(x, feature.max)
        return round(x) if feature.type == "int" else round(x, 4)

    return lambda: {f.name: value(f) for f in manifest.features}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m serving.agent.traffic", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8700")
    parser.add_argument("--state-dir", type=Path, default=Path("var/agent"))
    parser.add_argument("--model", required=True)
    parser.add_argument("--token-file", type=Path, help="file holding the client token")
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--shift", type=float, default=0.0)
    parser.add_argument("--records", type=Path, help="a JSON list of records to cycle through")
    args = parser.parse_args(argv)
    manifest = served_manifest(args.state_dir, args.model)
    if args.records and args.records.exists():
        pool = json.loads(args.records.read_text())
        widths = {h: (manifest.histograms[h].edges[-1] - manifest.histograms[h].edges[0]) / 10
                  for h in manifest.histograms if manifest.histograms[h].kind == "numeric"
                  and manifest.histograms[h].edges}
        cycle = iter(range(1 << 62))

        def record() -> dict:
            row = dict(pool[next(cycle) % len(pool)])
            if args.shift:
                for name, width in widths.items():
                    if isinstance(row.get(name), int | float) and not isinstance(row.get(name), bool):
                        row[name] = row[name] + args.shift * width
            return row
    else:
        record = sampler(manifest, args.shift)
    token = args.token_file.read_text().strip() if args.token_file else None
    sent = failed = 0
    start = time.monotonic()
    while time.monotonic() - start < args.seconds:
        body = json.dumps({"records": [record() for _ in range(random.randint(1, 4))]}).encode()
        request = urllib.request.Request(f"{args.url}/v1/models/{args.model}/predict", data=body,  # noqa: S310
                                         method="POST")
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (an http URL given on the command line)
                sent += 1
        except (urllib.error.URLError, OSError):
            failed += 1
        time.sleep(max(0.0, start + (sent + failed) / args.rate - time.monotonic()))
    print(json.dumps({"model": args.model, "answered": sent, "failed": failed}))


if __name__ == "__main__":
    main()
