"""``mg``: the command-line client for pipelines. It speaks only the REST API, with a token from the environment.

    export MG_URL=https://governance.example.com MG_TOKEN=mgt_...
    mg register credit-score model.onnx --dataset 12 --describe "Retrained on Q3"      # prints the version
    mg import credit-score models:/credit@champion                                     # or from MLflow
    mg follow credit-score credit                    # or let the platform import each new MLflow version itself
    mg dataset credit-score train.csv --kind reference
    mg submit credit-score 4
    mg wait credit-score 4 --timeout 3600                                              # exit code = outcome
    mg deploy credit-score 4 --host gpu-01 --host gpu-02
    mg status credit-score --json

Exit codes (also under ``mg --help``): 0 done (for ``wait``: approved), 2 bad usage, 3 rejected or revoked,
4 timed out, 5 refused by the platform (a business rule: the message and code say which), 6 the platform cannot
be reached or failed, 7 not authenticated (no token, or a wrong, expired or revoked one), 8 no such object or no
permission to see it.

Human output by default; ``--json`` prints one JSON document on standard output for machines. Uploads show
their progress on standard error when it is a terminal (``--progress`` forces it, ``--quiet`` hides it).
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

OK, USAGE, REJECTED, TIMED_OUT, REFUSED, UNREACHABLE, UNAUTHENTICATED, NOT_FOUND = 0, 2, 3, 4, 5, 6, 7, 8
EXIT_CODES = {OK: "done (wait: approved)", USAGE: "bad usage", REJECTED: "rejected or revoked",
              TIMED_OUT: "timed out", REFUSED: "refused by the platform", UNREACHABLE: "platform unreachable or failed",
              UNAUTHENTICATED: "not authenticated", NOT_FOUND: "no such object (or not yours to see)"}
FINAL = {"approved": OK, "rejected": REJECTED, "revoked": REJECTED, "retired": REJECTED}
CHUNK = 1 << 20


class Failure(Exception):
    def __init__(self, code: int, message: str, error: dict | None = None):
        super().__init__(message)
        self.code, self.message, self.error = code, message, error or {}


class Client:
    """The REST API at ``base`` with a bearer token; every failure becomes a ``Failure`` with its exit code."""

    def __init__(self, base: str, token: str, *, progress: bool = False, timeout: float = 300.0):
        if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
            raise Failure(USAGE, f"MG_URL must be an http(s) address, not {base!r}")
        self.base = base.rstrip("/") + "/api/v1"
        self.token = token
        self.progress = progress
        self.timeout = timeout

    def call(self, method: str, path: str, *, body: bytes | None = None, content_type: str | None = None,
             query: dict | None = None, size: int | None = None, stream=None):
        url = self.base + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                   "User-Agent": "mg-cli/1"}
        if content_type:
            headers["Content-Type"] = content_type
        data = body if stream is None else stream
        if size is not None:
            headers["Content-Length"] = str(size)
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 (http(s) only)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (http(s) only)
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise self._failure(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Failure(UNREACHABLE, f"cannot reach {self.base}: {reason}") from None
        return json.loads(raw) if raw else None

    @staticmethod
    def _failure(status: int, raw: bytes) -> Failure:
        try:
            error = json.loads(raw).get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        message = error.get("message") or f"HTTP {status}"
        if error.get("field"):
            message = f"{message} ({error['field']})"
        if status == 401:
            return Failure(UNAUTHENTICATED, message, error)
        if status == 404:
            return Failure(NOT_FOUND, message, error)
        if status >= 500:
            return Failure(UNREACHABLE, f"the platform failed: {message}", error)
        return Failure(REFUSED, message, error)

    def get(self, path: str, **query):
        return self.call("GET", path, query={k: v for k, v in query.items() if v is not None} or None)

    def post_json(self, path: str, payload: dict | None = None):
        return self.call("POST", path, body=json.dumps(payload or {}).encode(), content_type="application/json")

    def post_multipart(self, path: str, fields: dict, file_field: str, file: Path):
        """Stream ``file`` with ``fields`` as multipart/form-data, reporting progress on standard error."""
        boundary = f"mg-{uuid.uuid4().hex}"
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items() if value is not None)
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        head += (f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
                 f'filename="{file.name}"\r\nContent-Type: {kind}\r\n\r\n').encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        total = file.stat().st_size
        progress = self.progress

        def chunks():
            yield head
            sent, shown = 0, -1
            with open(file, "rb") as handle:
                while block := handle.read(CHUNK):
                    sent += len(block)
                    percent = 100 * sent // max(total, 1)
                    if progress and percent != shown:
                        shown = percent
                        sys.stderr.write(f"\rupload {file.name}: {percent:3d}% of {_size(total)}")
                        sys.stderr.flush()
                    yield block
            if progress:
                sys.stderr.write("\n")
            yield tail

        return self.call("POST", path, stream=chunks(), size=len(head) + total + len(tail),
                         content_type=f"multipart/form-data; boundary={boundary}")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _quote(key: str) -> str:
    return urllib.parse.quote(key, safe="")


# --------------------------------------------------------------------------- commands


def cmd_register(client: Client, args) -> tuple[dict, str]:
    path = Path(args.file)
    if not path.is_file():
        raise Failure(USAGE, f"{path}: no such file")
    fields = {"training_dataset": args.dataset, "feature_names": ",".join(args.feature) if args.feature else None,
              "metrics": args.metrics, "change_description": args.describe, "parent": args.parent,
              "mlflow_run_id": args.mlflow_run_id}
    version = client.post_multipart(f"/passports/{_quote(args.passport)}/versions/", fields, "artifact", path)
    return version, f"{args.passport} v{version['number']} registered ({version['state']}), sha256 {version['sha256']}"


def cmd_import(client: Client, args) -> tuple[dict, str]:
    """A version from MLflow; importing the same MLflow version again is no error (``already_imported``)."""
    payload = {"model_uri": args.model_uri, "tolerance": args.tolerance,
               **({"tracking_uri": args.tracking_uri} if args.tracking_uri else {})}
    result = client.post_json(f"/passports/{_quote(args.passport)}/versions/import-mlflow/", payload)
    version = result["version"]
    flat = {**version, "already_imported": result["already_imported"]}
    parity = ((version.get("provenance") or {}).get("parity") or {}).get("max_abs_diff")
    note = f", parity {parity:.2g}" if parity is not None else ""
    what = "was imported before as" if result["already_imported"] else "imported as"
    return flat, f"{version['mlflow_model_uri']} {what} {args.passport} v{version['number']} ({version['state']}){note}"


def cmd_follow(client: Client, args) -> tuple[dict, str]:
    """Have the platform follow a registered MLflow model: each later version is imported as a draft."""
    payload = {"registered_model": args.registered_model, "tolerance": args.tolerance,
               **({"tracking_uri": args.tracking_uri} if args.tracking_uri else {})}
    follow = client.post_json(f"/passports/{_quote(args.passport)}/mlflow-follows/", payload)
    return follow, (f"{args.passport} follows {follow['registered_model']} on {follow['tracking_uri']}: versions "
                    f"after {follow['last_version']} are imported as drafts (follow {follow['id']})")


def cmd_dataset(client: Client, args) -> tuple[dict, str]:
    path = Path(args.file)
    if not path.is_file():
        raise Failure(USAGE, f"{path}: no such file")
    dataset = client.post_multipart(f"/passports/{_quote(args.passport)}/datasets/",
                                    {"kind": args.kind, "name": args.name}, "file", path)
    return dataset, f"dataset {dataset['id']} ({dataset.get('name') or path.name}) attached to {args.passport}"


def cmd_submit(client: Client, args) -> tuple[dict, str]:
    version = client.post_json(f"/passports/{_quote(args.passport)}/versions/{args.version}/submit/")
    return version, f"{args.passport} v{args.version} is {version['state']}"


def cmd_wait(client: Client, args) -> tuple[dict, str, int]:
    """Poll the version until it is decided; the exit code says how it ended."""
    deadline = time.monotonic() + args.timeout
    path = f"/passports/{_quote(args.passport)}/versions/{args.version}/"
    last = None
    while True:
        version = client.get(path)
        state = version["state"]
        if state != last and not args.json and not args.quiet:
            sys.stderr.write(f"{args.passport} v{args.version}: {state}\n")
            last = state
        if state in FINAL:
            outcome = {"passport": args.passport, "version": args.version, "state": state,
                       "approval_expires_at": version.get("approval_expires_at")}
            return outcome, f"{args.passport} v{args.version} {state}", FINAL[state]
        if time.monotonic() >= deadline:
            outcome = {"passport": args.passport, "version": args.version, "state": state, "timed_out": True}
            return outcome, f"{args.passport} v{args.version} still {state} after {args.timeout:g} s", TIMED_OUT
        time.sleep(min(args.interval, max(0.0, deadline - time.monotonic())))


def cmd_deploy(client: Client, args) -> tuple[dict, str]:
    hosts = client.get("/serving/hosts/", page_size=1000)
    by_name = {h["name"]: h["id"] for h in (hosts.get("results", hosts) if isinstance(hosts, dict) else hosts)}
    ids = []
    for name in args.host:
        if name.isdigit():
            ids.append(int(name))
        elif name in by_name:
            ids.append(by_name[name])
        else:
            raise Failure(NOT_FOUND, f"no serving host named {name!r} (known: {', '.join(sorted(by_name)) or 'none'})")
    payload = {"passport": args.passport, "version": args.version, "hosts": ids, "environment": args.environment,
               "strategy": "full"}
    deployment = client.post_json("/serving/deployments/", payload)
    return deployment, (f"{args.passport} v{args.version} deployed to {', '.join(deployment['hosts'])} "
                        f"({deployment['environment']}), deployment {deployment['id']}")


def cmd_status(client: Client, args) -> tuple[dict, str]:
    key = _quote(args.passport)
    passport = client.get(f"/passports/{key}/")
    versions = client.get(f"/passports/{key}/versions/", page_size=100)
    versions = versions.get("results", versions) if isinstance(versions, dict) else versions
    deployments = client.get("/serving/deployments/", passport=args.passport, status="active")
    deployments = deployments.get("results", deployments) if isinstance(deployments, dict) else deployments
    state = {"passport": passport.get("key"), "name": passport.get("name"), "risk_tier": passport.get("risk_tier"),
             "versions": [{"number": v["number"], "state": v["state"], "sha256": v["sha256"],
                           "approval_expires_at": v.get("approval_expires_at")} for v in versions],
             "deployments": [{"id": d["id"], "version": d["version"], "environment": d["environment"],
                              "hosts": d["hosts"], "status": d["status"]} for d in deployments]}
    lines = [f"{state['passport']} · {state['name']} · tier {state['risk_tier']}"]
    lines += [f"  v{v['number']}: {v['state']}" for v in state["versions"]]
    lines += [f"  serving v{d['version']} in {d['environment']} on {', '.join(d['hosts'])}"
              for d in state["deployments"]]
    return state, "\n".join(lines)


# --------------------------------------------------------------------------- the parser


def parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())
    top = argparse.ArgumentParser(
        prog="mg", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Drive model versions from a pipeline: register, attach datasets, submit, wait for the "
        "decision, deploy. Reads MG_URL (default http://127.0.0.1:8000) and MG_TOKEN (an API token).",
        epilog=f"exit codes:\n{codes}")
    top.add_argument("--url", default=os.environ.get("MG_URL", "http://127.0.0.1:8000"))
    top.add_argument("--json", action="store_true", help="one JSON document on standard output")
    top.add_argument("--quiet", action="store_true", help="no progress on standard error")
    top.add_argument("--progress", action="store_true", help="upload progress even when stderr is not a terminal")
    sub = top.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("register", help="register a version from an ONNX file")
    p.add_argument("passport")
    p.add_argument("file", help="the ONNX artifact")
    p.add_argument("--dataset", type=int, help="the training dataset's id")
    p.add_argument("--feature", action="append", help="a feature name, in input order (repeat)")
    p.add_argument("--metrics", help="the developer's metrics as a JSON object")
    p.add_argument("--describe", help="what changed")
    p.add_argument("--parent", type=int, help="the version this one follows")
    p.add_argument("--mlflow-run-id")
    p.set_defaults(run=cmd_register)

    for name, what, help_text, run in (
            ("import", "model_uri", "import a version from MLflow (converted to ONNX with a parity check)", cmd_import),
            ("follow", "registered_model", "import each new version of a registered MLflow model as a draft",
             cmd_follow)):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("passport")
        p.add_argument(what, help="models:/name/3, models:/name@alias or runs:/<run id>/model" if what == "model_uri"
                       else "the registered model's name in MLflow")
        p.add_argument("--tracking-uri", help="one of the servers the platform allows (its default if omitted)")
        p.add_argument("--tolerance", type=float, default=1e-4, help="largest prediction difference (default 1e-4)")
        p.set_defaults(run=run)

    p = sub.add_parser("dataset", help="attach a dataset (CSV or Parquet) to a passport")
    p.add_argument("passport")
    p.add_argument("file")
    p.add_argument("--kind", required=True, choices=["reference", "validation", "other"],
                   help="reference (the training sample drift is measured against), validation (holdout), other")
    p.add_argument("--name")
    p.set_defaults(run=cmd_dataset)

    p = sub.add_parser("submit", help="submit a version for validation")
    p.add_argument("passport")
    p.add_argument("version", type=int)
    p.set_defaults(run=cmd_submit)

    p = sub.add_parser("wait", help="wait for a version's decision (exit code 0 approved, 3 rejected, 4 timed out)")
    p.add_argument("passport")
    p.add_argument("version", type=int)
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds (default 3600)")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between polls (default 10)")
    p.set_defaults(run=cmd_wait)

    p = sub.add_parser("deploy", help="deploy an approved version to serving hosts")
    p.add_argument("passport")
    p.add_argument("version", type=int)
    p.add_argument("--host", action="append", required=True, help="a host's name or id (repeat)")
    p.add_argument("--environment", default="production", choices=["production", "staging"])
    p.set_defaults(run=cmd_deploy)

    p = sub.add_parser("status", help="a passport's versions and deployments")
    p.add_argument("passport")
    p.set_defaults(run=cmd_status)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    token = os.environ.get("MG_TOKEN", "")
    emit_json = args.json
    try:
        if not token:
            raise Failure(UNAUTHENTICATED, "set MG_TOKEN to an API token (create one on the API tokens page)")
        client = Client(args.url, token, progress=(args.progress or sys.stderr.isatty()) and not args.quiet)
        result = args.run(client, args)
        data, text, code = result if len(result) == 3 else (*result, OK)
    except Failure as failure:
        if emit_json:
            print(json.dumps({"error": {"exit_code": failure.code, "message": failure.message,
                                        "code": failure.error.get("code"), "details": failure.error.get("details")}}))
        else:
            print(f"mg: {failure.message}", file=sys.stderr)
        return failure.code
    print(json.dumps(data, ensure_ascii=False) if emit_json else text)
    return code


if __name__ == "__main__":
    sys.exit(main())
