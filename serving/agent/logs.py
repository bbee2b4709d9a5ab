"""``python -m serving.agent.logs``: read and verify a host's prediction log (no Django: it runs on the hosts).

``verify`` checks every log file on this host against the digests the control plane stored when the agent
reported them (``GET /api/v1/serving/deployments/{id}/log-digests/``, fetched with an API token, or saved to a
file): a file that is missing or whose sha256 differs was deleted or altered after it was reported; a sealed file
the control plane never heard of, and that is not waiting in the agent's outbox, was put there by someone else.
The exit status is 0 only when every file checks out.

``find`` prints the records of the log as JSON lines (input tensors as lists): by request id, by time, by client.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from serving.agent import controlplane as cp
from serving.agent.predlog import OPEN_SUFFIX, opened_at, read_segment, segment_paths

OK, ALTERED, MISSING, UNREPORTED, PENDING, OPEN = "ok", "altered", "missing", "unreported", "pending", "open"
RETIRED = "retired"  # reported, gone, and older than the retention the operator named: moved off the host
FAILING = (ALTERED, MISSING, UNREPORTED)
CLOCK_SLACK = 300.0  # seconds: how far a record's stamp may lie outside its segment's span by the names' times


class Unusable(Exception):
    """The digests could not be read (a file that is not the API's answer, a control plane that refused)."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def digests_from(data) -> list[dict]:
    """The digest entries of an API answer (one page ``{"results": [...]}``, several pages as a list of them, or a
    plain list of entries)."""
    if isinstance(data, dict):
        data = data.get("results")
    if not isinstance(data, list):
        raise Unusable("not a list of log digests (the answer of GET .../log-digests/)")
    entries = []
    for item in data:
        if isinstance(item, dict) and "results" in item:
            entries.extend(digests_from(item))
        elif isinstance(item, dict) and {"deployment", "name", "sha256"} <= item.keys():
            entries.append(item)
        else:
            raise Unusable(f"not a log digest: {json.dumps(item)[:200]}")
    return entries


def fetch_digests(base_url: str, token: str, deployment: int, host: str | None, timeout: float = 30.0) -> list[dict]:
    """Every page of the deployment's digests from the control plane (an API token with the serving scope)."""
    try:
        plane = cp.ControlPlane(base_url, token=token, timeout=timeout)
    except ValueError:
        raise Unusable(f"{base_url!r} is not an http(s) URL") from None
    try:
        return digests_from(plane.deployment_log_digests(deployment, host))
    except ValueError:
        raise Unusable("the control plane's answer is not JSON") from None
    except cp.Refused as exc:
        raise Unusable(f"the control plane answered {exc.status}: {exc.message}") from None
    except cp.Unreachable as exc:
        raise Unusable(f"the control plane could not be read: {exc}") from None


def _pending(state: Path) -> set[tuple[int, str]]:
    """Files sealed and waiting in the outbox to be reported."""
    pending = set()
    for path in (state / "outbox" / "log-digests").glob("*.json"):
        try:
            item = json.loads(path.read_text())
            pending.add((int(item["deployment"]), item["name"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return pending


def verify(state: Path, digests: list[dict], *, host: str | None = None, deployments: set[int] | None = None,
           retained_since: float | None = None) -> list[dict]:
    """One finding per file: each reported file (``ok``, ``altered``, ``missing``, or ``retired`` when it is gone
    and its last record is older than ``retained_since``), then each file on disk that was not reported
    (``pending`` in the outbox, ``open`` being written, or ``unreported``)."""
    if host:
        digests = [d for d in digests if d.get("host") in (None, host)]
    deployments = deployments or {int(d["deployment"]) for d in digests}
    findings, reported = [], set()
    for entry in sorted(digests, key=lambda d: (int(d["deployment"]), d["name"])):
        deployment, name = int(entry["deployment"]), entry["name"]
        if os.sep in name or name.startswith("."):
            findings.append({"deployment": deployment, "name": name, "status": ALTERED,
                             "detail": "not a log file's name"})
            continue
        reported.add((deployment, name))
        path = state / "log" / str(deployment) / name
        if not path.is_file():
            retired = retained_since is not None and _before(entry.get("last_at"), retained_since)
            findings.append({"deployment": deployment, "name": name, "status": RETIRED if retired else MISSING,
                             "records": entry.get("records"),
                             "detail": "older than the retention, moved off this host" if retired
                             else "reported, and no longer on this host"})
            continue
        actual = sha256_of(path)
        status = OK if actual == entry["sha256"] else ALTERED
        findings.append({"deployment": deployment, "name": name, "status": status, "records": entry.get("records"),
                         **({} if status == OK else {"detail": f"sha256 {actual}, reported {entry['sha256']}"})})
    pending = _pending(state)
    for deployment in sorted(deployments):
        folder = state / "log" / str(deployment)
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or (deployment, path.name) in reported:
                continue
            if path.name.endswith(OPEN_SUFFIX):
                status = OPEN
            elif (deployment, path.name) in pending:
                status = PENDING
            else:
                status = UNREPORTED
            findings.append({"deployment": deployment, "name": path.name, "status": status})
    return findings


def _before(stamp, limit: float) -> bool:
    try:
        return _when(stamp) < limit
    except (argparse.ArgumentTypeError, TypeError):
        return False


def _when(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time, e.g. 2026-12-03T10:00:00+00:00") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def find(state: Path, *, deployment: int | None = None, ids: set[str] | None = None, since: float | None = None,
         until: float | None = None, client: str | None = None, limit: int | None = None):
    """The log's records (oldest first within each deployment) that match every filter given."""
    root = state / "log"
    if deployment is not None:
        folders = [root / str(deployment)]
    else:
        folders = sorted((p for p in root.glob("*") if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    found = 0
    for folder in folders:
        for path in _segments_between(folder, since, until):
            for entry in read_segment(path):
                stamp = entry.get("t")
                if ids and entry.get("id") not in ids:
                    continue
                if (since is not None and (stamp is None or stamp < since)) or (
                        until is not None and (stamp is None or stamp > until)):
                    continue
                if client is not None and entry.get("client") != client:
                    continue
                yield entry
                found += 1
                if limit is not None and found >= limit:
                    return


def _segments_between(folder: Path, since: float | None, until: float | None) -> list[Path]:
    """The segments that can hold records stamped between ``since`` and ``until``, by the times in their names. A
    segment opened after ``until`` holds later records only; one whose successor was opened before ``since`` holds
    earlier ones only (a record is stamped before it is written). Both are left a margin of ``CLOCK_SLACK`` seconds,
    for a request answered slowly across a rotation and a clock stepped back."""
    paths = segment_paths(folder)
    opened = [opened_at(path) for path in paths]
    keep = []
    for i, path in enumerate(paths):
        if until is not None and opened[i] is not None and opened[i] > until + CLOCK_SLACK:
            break
        following = opened[i + 1] if i + 1 < len(paths) else None
        if since is not None and following is not None and following < since - CLOCK_SLACK:
            continue
        keep.append(path)
    return keep


def _plain(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _host_name(state: Path) -> str | None:
    try:
        return json.loads((state / "host.json").read_text()).get("name")
    except (OSError, ValueError, AttributeError):
        return None


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m serving.agent.logs", description=__doc__.split("\n")[0])
    p.add_argument("--state-dir", type=Path, default=Path(env("MG_AGENT_STATE_DIR", "var/agent")),
                   help="The agent's state folder (its log is in log/<deployment>/).")
    commands = p.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="Check the log files against the control plane's digests.")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--digests", type=Path, help="A file holding GET .../log-digests/ answers (a page, or a "
                                                     "list of pages or of entries).")
    source.add_argument("--control-plane", help="The control plane's base URL: the digests are fetched from it.")
    check.add_argument("--token-file", type=Path, help="A file holding an API token with the serving scope "
                                                       "(with --control-plane; or MG_API_TOKEN).")
    check.add_argument("--deployment", type=int, action="append",
                       help="The deployment whose files to check (repeatable; with --control-plane, required).")
    check.add_argument("--host", help="Whose files (default: the name this host enrolled under).")
    check.add_argument("--retained-since", type=_when, help="ISO 8601 time: a reported file whose records all "
                       "end before it may have been moved off the host (retention); not finding it is no failure.")
    check.add_argument("--json", action="store_true", help="Print the findings as JSON.")
    search = commands.add_parser("find", help="Print records as JSON lines.")
    search.add_argument("--deployment", type=int)
    search.add_argument("--id", action="append", help="A request id (repeatable).")
    search.add_argument("--since", type=_when, help="ISO 8601 time (UTC unless it says otherwise).")
    search.add_argument("--until", type=_when)
    search.add_argument("--client")
    search.add_argument("--limit", type=int)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    state = args.state_dir
    if not (state / "log").is_dir():
        parser().error(f"{state} holds no prediction log (give the agent's --state-dir)")
    if args.command == "find":
        for entry in find(state, deployment=args.deployment, ids=set(args.id) if args.id else None,
                          since=args.since, until=args.until, client=args.client, limit=args.limit):
            if isinstance(entry.get("t"), int | float):
                entry["at"] = datetime.fromtimestamp(entry["t"], UTC).isoformat()
            sys.stdout.write(json.dumps(entry, default=_plain, ensure_ascii=False) + "\n")
        return 0
    host = args.host or _host_name(state)
    try:
        if args.control_plane:
            if not args.deployment:
                parser().error("verify --control-plane needs --deployment")
            token = (args.token_file.read_text().strip() if args.token_file else os.environ.get("MG_API_TOKEN", ""))
            if not token:
                parser().error("verify --control-plane needs --token-file (or MG_API_TOKEN)")
            digests = [entry for deployment in args.deployment
                       for entry in fetch_digests(args.control_plane, token, deployment, host)]
        else:
            try:
                digests = digests_from(json.loads(args.digests.read_text()))
            except (OSError, ValueError) as exc:
                raise Unusable(f"{args.digests}: {exc}") from None
    except Unusable as exc:
        print(f"logs verify: {exc}", file=sys.stderr)
        return 2
    findings = verify(state, digests, host=host, deployments=set(args.deployment) if args.deployment else None,
                      retained_since=args.retained_since)
    failing = [f for f in findings if f["status"] in FAILING]
    if args.json:
        print(json.dumps({"host": host, "files": len(findings), "failing": len(failing), "findings": findings},
                         indent=2))
    else:
        for item in findings:
            print(f"{item['status']:<10} {item['deployment']}/{item['name']}"
                  + (f"  {item['records']} records" if item.get("records") is not None else "")
                  + (f"  ({item['detail']})" if item.get("detail") else ""))
        counts = {status: sum(f["status"] == status for f in findings) for status in
                  (OK, ALTERED, MISSING, RETIRED, UNREPORTED, PENDING, OPEN)}
        print(", ".join(f"{n} {status}" for status, n in counts.items() if n) or "no log files")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
