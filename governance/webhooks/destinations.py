"""Where a webhook may go, and the one way it is sent there.

A destination must be ``https`` (``http`` only for a host the operator allows) and every address its host name
resolves to must be a public one: loopback, private, link-local (cloud metadata at 169.254.169.254 included),
carrier-grade NAT, multicast, reserved and unspecified addresses are refused, IPv4 written inside IPv6 too. The
check runs when a subscriber is saved and again at each delivery, and the request then connects to the very address
that was checked (TLS still verifies the host name), so a name that resolves to a public address for the check and
to a private one for the connection (DNS rebinding) gets nowhere. Redirects are not followed. Host names in
``MG_WEBHOOK_ALLOWED_HOSTS`` (an operator's setting) skip the address check.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import DomainError

_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class DestinationRefused(DomainError):
    def __init__(self, message: str):
        super().__init__(message, code="destination_not_allowed", field="url")


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    target: str  # path and query
    address: str  # the checked address the request connects to


def _allowed_hosts() -> set[str]:
    return {h.strip().lower() for h in settings.MG_WEBHOOK_ALLOWED_HOSTS if h.strip()}


def public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_loopback
                                 or ip.is_private or ip.is_unspecified)


def resolve(url: str) -> Destination:
    """The destination of ``url`` with the address to connect to, or ``DestinationRefused`` saying why."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise DestinationRefused(_("A webhook URL is an https:// address."))
    if parts.username or parts.password:
        raise DestinationRefused(_("A webhook URL carries no user name or password; the signature authenticates."))
    allowed = host in _allowed_hosts()
    if parts.scheme == "http" and not allowed:
        raise DestinationRefused(_("A webhook URL is an https:// address (plain http only for a host the operator "
                                   "allows in MG_WEBHOOK_ALLOWED_HOSTS)."))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DestinationRefused(_("The URL's port is not a number between 0 and 65535.")) from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DestinationRefused(_("%(host)s does not resolve: %(error)s") % {"host": host, "error": exc}) from None
    addresses = [info[4][0] for info in infos]
    if not allowed:
        private = [a for a in addresses if not public_address(a)]
        if private:
            raise DestinationRefused(
                _("%(host)s resolves to %(address)s, a loopback, private, link-local or otherwise internal address: "
                  "webhooks go to public addresses only (an operator may allow a named host in "
                  "MG_WEBHOOK_ALLOWED_HOSTS).") % {"host": host, "address": private[0]})
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return Destination(parts.scheme, host, port, target, addresses[0])


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    response_ms: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(destination: Destination, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST ``body`` to the checked address; a 2xx is success, anything else (a redirect included) is not."""
    timeout = urllib3.Timeout(connect=settings.MG_WEBHOOK_TIMEOUT_SECONDS, read=settings.MG_WEBHOOK_TIMEOUT_SECONDS)
    default_port = 443 if destination.scheme == "https" else 80
    host_header = destination.host if destination.port == default_port else f"{destination.host}:{destination.port}"
    if destination.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(destination.address, destination.port, timeout=timeout, retries=False,
                                           server_hostname=destination.host, assert_hostname=destination.host,
                                           cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(), maxsize=1)
    else:
        pool = urllib3.HTTPConnectionPool(destination.address, destination.port, timeout=timeout, retries=False,
                                          maxsize=1)
    started = time.perf_counter()
    try:
        with pool:
            response = pool.urlopen("POST", destination.target, body=body, redirect=False, assert_same_host=False,
                                    headers={**headers, "Host": host_header}, preload_content=False)
            response.read(64 * 1024, decode_content=False)  # enough to finish the exchange, never the whole answer
            response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        return Outcome(None, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"[:500])
    ms = (time.perf_counter() - started) * 1000
    return Outcome(response.status, ms)  # the status says it all; a 3xx is not followed (see the delivery log)
