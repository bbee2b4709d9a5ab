"""``python -m serving.agent``: the host agent's command (no Django). ``--help`` lists the options."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import logging
import os
import signal
import sys
from pathlib import Path

from serving.agent.agent import Agent, Config
from serving.agent.runtime import LoadFailed


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m serving.agent", description=(
        "Serve the releases the control plane assigns to this host: verified before loading, validated, logged, "
        "monitored. Options default to MG_AGENT_* environment variables."))
    p.add_argument("--control-plane", default=env("MG_AGENT_CONTROL_PLANE"),
                   help="The control plane's base URL, e.g. https://governance.example.com")
    p.add_argument("--enrolment-token", default=env("MG_AGENT_ENROLMENT_TOKEN"),
                   help="One-time enrolment token (first start only).")
    p.add_argument("--name", default=env("MG_AGENT_NAME", ""), help="Host name to enrol under (default: hostname).")
    p.add_argument("--state-dir", type=Path, default=Path(env("MG_AGENT_STATE_DIR", "var/agent")),
                   help="Identity, verified releases, prediction log, outbox.")
    p.add_argument("--host", default=env("MG_AGENT_HOST", "127.0.0.1"), help="Listen address.")
    p.add_argument("--port", type=int, default=int(env("MG_AGENT_PORT", "8700")))
    p.add_argument("--provider", choices=["auto", "cuda", "cpu"], default=env("MG_AGENT_PROVIDER", "auto"),
                   help="ONNX Runtime execution provider (auto: CUDA where present).")
    p.add_argument("--threads", type=int, default=int(env("MG_AGENT_THREADS", "1")),
                   help="ONNX Runtime intra-op threads per session.")
    p.add_argument("--window-seconds", type=float, default=float(env("MG_AGENT_WINDOW_SECONDS", "60")),
                   help="Monitoring window length, 5 to 3600 s.")
    p.add_argument("--poll-seconds", type=float, default=float(env("MG_AGENT_POLL_SECONDS", "0")) or None,
                   help="Desired-state poll interval (default: what the control plane says).")
    p.add_argument("--clients-file", type=Path, default=env("MG_AGENT_CLIENTS_FILE"),
                   help='JSON {"clients": [{"name", "sha256"}], "rate_per_second", "burst"}: client tokens.')
    p.add_argument("--allow-anonymous", action="store_true", help="Serve requests without a client token.")
    p.add_argument("--max-body-mb", type=float, default=float(env("MG_AGENT_MAX_BODY_MB", "32")))
    p.add_argument("--log-max-mb", type=float, default=float(env("MG_AGENT_LOG_MAX_MB", "64")),
                   help="Rotate a prediction-log segment at this size.")
    p.add_argument("--log-max-seconds", type=float, default=float(env("MG_AGENT_LOG_MAX_SECONDS", "3600")),
                   help="... or at this age.")
    p.add_argument("--labels", default=env("MG_AGENT_LABELS", "{}"), help="Host labels as a JSON object.")
    p.add_argument("--release", type=Path, help="Serve this signed release folder from disk (no control plane).")
    p.add_argument("--signature", type=Path, help="... its signature file.")
    p.add_argument("--public-key", type=Path, help="... and the signer's public key (PEM).")
    p.add_argument("--log-level", default=env("MG_AGENT_LOG_LEVEL", "INFO"))
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid> prints every thread's stack (diagnostics on a host)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.release is None and not args.control_plane:
        parser().error("give --control-plane (or --release, --signature and --public-key to serve from disk)")
    if args.release is not None and not (args.signature and args.public_key):
        parser().error("--release needs --signature and --public-key")
    if not 5 <= args.window_seconds <= 3600:
        parser().error("--window-seconds must be between 5 and 3600")
    config = Config(
        state_dir=args.state_dir, control_plane=args.control_plane, name=args.name,
        enrolment_token=args.enrolment_token, host=args.host, port=args.port, provider=args.provider,
        threads=args.threads, window_seconds=args.window_seconds, poll_seconds=args.poll_seconds,
        max_body_bytes=int(args.max_body_mb * (1 << 20)), clients_file=args.clients_file,
        allow_anonymous=args.allow_anonymous, log_max_bytes=int(args.log_max_mb * (1 << 20)),
        log_max_seconds=args.log_max_seconds, labels=json.loads(args.labels), release=args.release,
        signature=args.signature, public_key=args.public_key)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        agent = Agent(config)
    except LoadFailed as exc:  # --provider cuda on a host where no GPU answers
        sys.exit(f"mg-agent: {exc}")
    asyncio.run(agent.run())


if __name__ == "__main__":
    main()
