"""``python -m serving.agent``: the host agent's command (no Django). ``--help`` lists the options."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import logging
import math
import os
import signal
import sys
from pathlib import Path

from serving.agent.agent import Agent, Config
from serving.agent.runtime import LoadFailed


def _number(kind, low: float, high: float | None = None, *, low_open: bool = False):
    """An argparse type: ``kind`` (int or float) between ``low`` and ``high``; a string default (an environment
    variable) is read the same way, so a bad ``MG_AGENT_*`` value is a clear usage error, not a traceback."""
    def read(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or (high is not None and value > high):
            bound = f"more than {low:g}" if low_open else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"{text} must be {bound}" + (f" and at most {high:g}" if high else ""))
        return value
    read.__name__ = kind.__name__
    return read


def _one_of(*choices: str, upper: bool = False):
    def read(text: str) -> str:
        value = text.upper() if upper else text
        if value not in choices:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(choices)}")
        return value
    return read


def _labels(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not JSON") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise argparse.ArgumentTypeError("labels must be a JSON object of strings, e.g. {\"zone\": \"eu-1\"}")
    return value


def _poll(text: str) -> float | None:
    return None if text in ("", "0") else _number(float, 0, 3600, low_open=True)(text)


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m serving.agent", description=(
        "Serve the releases the control plane assigns to this host: verified before loading, validated, logged, "
        "monitored. Options default to MG_AGENT_* environment variables."))
    p.add_argument("--control-plane", default=env("MG_AGENT_CONTROL_PLANE"),
                   help="The control plane's base URL, e.g. https://governance.example.com")
    p.add_argument("--control-plane-timeout", type=_number(float, 0, 600, low_open=True),
                   default=env("MG_AGENT_CONTROL_PLANE_TIMEOUT", "10"),
                   help="Seconds to wait for the control plane's answer before trying again later.")
    p.add_argument("--enrolment-token", default=env("MG_AGENT_ENROLMENT_TOKEN"),
                   help="One-time enrolment token (first start only).")
    p.add_argument("--name", default=env("MG_AGENT_NAME", ""), help="Host name to enrol under (default: hostname).")
    p.add_argument("--state-dir", type=Path, default=Path(env("MG_AGENT_STATE_DIR", "var/agent")),
                   help="Identity, verified releases, prediction log, outbox.")
    p.add_argument("--host", default=env("MG_AGENT_HOST", "127.0.0.1"), help="Listen address.")
    p.add_argument("--port", type=_number(int, 0, 65535), default=env("MG_AGENT_PORT", "8700"))
    p.add_argument("--provider", type=_one_of("auto", "cuda", "cpu"), default=env("MG_AGENT_PROVIDER", "auto"),
                   help="ONNX Runtime execution provider: auto (CUDA where present), cuda or cpu.")
    p.add_argument("--threads", type=_number(int, 1, 1024), default=env("MG_AGENT_THREADS", "1"),
                   help="ONNX Runtime intra-op threads per session.")
    p.add_argument("--window-seconds", type=_number(float, 5, 3600), default=env("MG_AGENT_WINDOW_SECONDS", "60"),
                   help="Monitoring window length, 5 to 3600 s.")
    p.add_argument("--poll-seconds", type=_poll, default=env("MG_AGENT_POLL_SECONDS", "0"),
                   help="Desired-state poll interval (default: what the control plane says).")
    p.add_argument("--clients-file", type=Path, default=env("MG_AGENT_CLIENTS_FILE"),
                   help='JSON {"clients": [{"name", "sha256"}], "rate_per_second", "burst"}: client tokens.')
    p.add_argument("--allow-anonymous", action="store_true", help="Serve requests without a client token.")
    p.add_argument("--max-body-mb", type=_number(float, 0, low_open=True), default=env("MG_AGENT_MAX_BODY_MB", "32"))
    p.add_argument("--log-max-mb", type=_number(float, 0, low_open=True), default=env("MG_AGENT_LOG_MAX_MB", "64"),
                   help="Rotate a prediction-log segment at this size.")
    p.add_argument("--log-max-seconds", type=_number(float, 1), default=env("MG_AGENT_LOG_MAX_SECONDS", "3600"),
                   help="... or at this age.")
    p.add_argument("--log-disk-floor-mb", type=_number(float, 0), default=env("MG_AGENT_LOG_DISK_FLOOR_MB", "256"),
                   help="Report the state directory's disk as nearly full (an alert) below this much free space.")
    p.add_argument("--labels", type=_labels, default=env("MG_AGENT_LABELS", "{}"),
                   help="Host labels as a JSON object of strings.")
    p.add_argument("--release", type=Path, help="Serve this signed release folder from disk (no control plane).")
    p.add_argument("--signature", type=Path, help="... its signature file.")
    p.add_argument("--public-key", type=Path, help="... and the signer's public key (PEM).")
    p.add_argument("--log-level", type=_one_of("DEBUG", "INFO", "WARNING", "ERROR", upper=True),
                   default=env("MG_AGENT_LOG_LEVEL", "INFO"))
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid> prints every thread's stack (diagnostics on a host)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.release is None and not args.control_plane:
        parser().error("give --control-plane (or --release, --signature and --public-key to serve from disk)")
    if args.release is not None and not (args.signature and args.public_key):
        parser().error("--release needs --signature and --public-key")
    config = Config(
        state_dir=args.state_dir, control_plane=args.control_plane, name=args.name,
        enrolment_token=args.enrolment_token,
        control_plane_timeout=args.control_plane_timeout, host=args.host, port=args.port, provider=args.provider,
        threads=args.threads, window_seconds=args.window_seconds, poll_seconds=args.poll_seconds,
        max_body_bytes=int(args.max_body_mb * (1 << 20)), clients_file=args.clients_file,
        allow_anonymous=args.allow_anonymous, log_max_bytes=int(args.log_max_mb * (1 << 20)),
        log_max_seconds=args.log_max_seconds, log_disk_floor_bytes=int(args.log_disk_floor_mb * (1 << 20)),
        labels=args.labels, release=args.release, signature=args.signature, public_key=args.public_key)
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
