"""The agents' API of the control plane, from the host's side (no Django; the standard library's HTTP client).

Every call but enrolment carries the host token. A refusal (4xx) raises :class:`Refused` with the control
plane's error code; anything else that keeps an answer from arriving (refused connection, timeout, 5xx) raises
:class:`Unreachable`, which the agent rides out on what it already has on disk.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode, urljoin

AGENT_VERSION = "1.0.0"


class Unreachable(Exception):
    """No answer from the control plane (down, timed out, or a 5xx)."""


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, details=None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details


class ControlPlane:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 10.0):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the control plane URL must be http(s): {base_url!r}")
        self.base_url = base_url.rstrip("/") + "/"
        self.token = token
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def url(self, path: str) -> str:
        url = urljoin(self.base_url, path)
        if not url.startswith("/".join(self.base_url.split("/", 3)[:3]) + "/"):  # paths stay on this origin
            raise Refused(400, "bad_url", f"{path!r} leaves the control plane")
        return url

    def _call(self, method: str, path: str, body=None, headers: dict | None = None) -> tuple[int, dict, bytes]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url(path), data=data, method=method)  # noqa: S310 (http(s) only)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            if exc.code == 304:
                return 304, dict(exc.headers), b""
            if exc.code >= 500 or exc.code == 429:
                raise Unreachable(f"{exc.code} from {path}") from exc
            try:
                error = json.loads(payload).get("error") or {}
            except ValueError:
                error = {}
            raise Refused(exc.code, error.get("code", "error"), error.get("message", payload[:200].decode(
                "utf-8", "replace")), error.get("details")) from exc
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise Unreachable(f"{path}: {exc}") from exc

    def _json(self, method: str, path: str, body=None) -> dict:
        _status, _headers, payload = self._call(method, path, body)
        return json.loads(payload) if payload else {}

    # ------------------------------------------------------------------ the calls

    def enrol(self, *, token: str, name: str, facts: dict) -> dict:
        return self._json("POST", "/api/v1/agent/enrol/", {"token": token, "name": name, **facts})

    def state(self, etag: str | None) -> tuple[str | None, dict | None]:
        """``(etag, state)``; ``state`` is None when unchanged since ``etag``."""
        status, headers, payload = self._call("GET", "/api/v1/agent/state/",
                                              headers={"If-None-Match": f'"{etag}"'} if etag else None)
        if status == 304:
            return etag, None
        state = json.loads(payload)
        return state.get("etag"), state

    def download(self, path: str, target: Path, limit: int = 4 << 30) -> None:
        """Stream ``path`` into ``target`` (written beside it, then renamed)."""
        request = urllib.request.Request(self.url(path), method="GET")  # noqa: S310 (http(s) only)
        request.add_header("Authorization", f"Bearer {self.token}")
        partial = target.with_name(f".{target.name}.part")
        try:
            with self._opener.open(request, timeout=self.timeout) as answer, open(partial, "wb") as sink:
                size = 0
                while chunk := answer.read(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        raise Refused(413, "too_large", f"{path} is larger than {limit} bytes")
                    sink.write(chunk)
        except urllib.error.HTTPError as exc:
            partial.unlink(missing_ok=True)
            if exc.code >= 500:
                raise Unreachable(f"{exc.code} from {path}") from exc
            raise Refused(exc.code, "download_refused", f"{path}: {exc.code}") from exc
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            partial.unlink(missing_ok=True)
            raise Unreachable(f"{path}: {exc}") from exc
        os.replace(partial, target)

    def heartbeat(self, body: dict) -> dict:
        return self._json("POST", "/api/v1/agent/heartbeat/", body)

    def windows(self, windows: list[dict]) -> dict:
        return self._json("POST", "/api/v1/agent/windows/", {"windows": windows})

    def log_digests(self, digests: list[dict]) -> dict:
        return self._json("POST", "/api/v1/agent/log-digests/", {"digests": digests})

    def deployment_log_digests(self, deployment: int, host: str | None = None) -> list[dict]:
        """Every page of the digests a deployment's hosts reported (with a person's API token, ``serving:read``);
        a ``next`` link off this control plane's origin is refused, so the token goes nowhere else."""
        path = f"/api/v1/serving/deployments/{deployment}/log-digests/" + (f"?{urlencode({'host': host})}" if host
                                                                           else "")
        pages = []
        while path:
            pages.append(self._json("GET", path))
            path = pages[-1].get("next")
        return pages
