"""The ONE way Dockyard makes an HTTP request to a URL a user gave it (webhooks now; mirrors, imports and
``include:remote`` later). Everything that fetches or posts to such a URL goes through :func:`request`.

What it guarantees, and why:

- **One DNS lookup, then that address.** The host name is resolved once, every address it resolves to is
  checked, and the connection goes to the first of them by IP, while the ``Host`` header and TLS SNI (and
  so certificate verification) keep the original name. A second lookup at connect time is what DNS
  rebinding attacks rely on (answer a public address to the check, ``127.0.0.1`` to the request).
- **No requests into the machine or its networks** unless an administrator allowed local requests or
  allow-listed the host: loopback, RFC 1918 private ranges, link-local (cloud metadata at
  169.254.169.254), unique-local IPv6, shared/CGNAT space, unspecified, multicast, reserved and
  documentation ranges, and IPv6 forms that embed such an IPv4 address (``::ffff:127.0.0.1``, 6to4,
  NAT64, Teredo). In short: only globally routable addresses, GitLab's ``UrlBlocker`` rules.
- **Only http and https; no redirects followed** (a redirect is answered as is: following it would send
  the request to a host nobody checked); **proxies from the environment ignored** (they would re-resolve).
- **Bounded:** a total deadline for the whole exchange (connect, send, headers, body) and a cap on the
  response body read; what is over the cap is not read.

Messages follow GitLab's (``URL is blocked: Requests to localhost are not allowed``).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

import httpx

from dockyard.core.errors import DockyardError

DEFAULT_TIMEOUT = 10.0  # seconds; GitLab's default webhook timeout
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges Python's ``is_global`` does not already exclude, listed for clarity where it matters.
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedUrl(DockyardError):
    """The URL may not be requested. ``reason`` is GitLab's sentence without the "URL is blocked" part."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"URL is blocked: {reason}")
        self.reason = reason


class OutboundError(DockyardError):
    """The request was allowed but failed: connection refused, TLS error, timeout."""


@dataclass(frozen=True)
class Policy:
    """Where requests may go. ``allowlist`` holds host names (``*.example.com`` allowed), IP addresses and
    CIDR ranges that may be requested even while local requests are refused (GitLab's
    ``outbound_local_requests_whitelist``)."""

    allow_local: bool = False
    allowlist: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``ip``) and what to call it (``host``)."""

    scheme: str
    host: str
    port: int
    ip: IPAddress
    path_and_query: str
    username: str | None = None
    password: str | None = None

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"

    @property
    def pinned_url(self) -> str:
        ip = f"[{self.ip}]" if self.ip.version == 6 else str(self.ip)
        return f"{self.scheme}://{ip}:{self.port}{self.path_and_query}"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool
    duration: float  # seconds


@dataclass
class _Resolver:
    """``getaddrinfo`` behind a seam, so tests can answer for names without any traffic leaving."""

    lookup: Callable[[str, int], list[str]] = field(
        default=lambda host, port: [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    )


resolver = _Resolver()


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.version == 6 and int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def local_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` counts as local (GitLab's sentence), or None for a globally routable address."""
    inner = _embedded_v4(ip)
    if inner is not None:
        return local_reason(inner) or None
    if ip.is_loopback or ip.is_unspecified:
        return "Requests to localhost are not allowed"
    if ip.is_link_local:
        return "Requests to the link local network are not allowed"
    if ip.is_multicast or ip in _SHARED or ip.is_private or ip.is_reserved or not ip.is_global:
        return "Requests to the local network are not allowed"
    return None


def _allow_listed(host: str, ip: IPAddress, port: int, allowlist: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    for raw in allowlist:
        entry = raw.strip().lower()
        if not entry:
            continue
        try:
            if ip in ipaddress.ip_network(entry.strip("[]"), strict=False):
                return True
            continue
        except ValueError:
            pass
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and entry_port.isdigit() and int(entry_port) != port:
            continue
        name = name.rstrip(".")
        if name == host or (name.startswith("*.") and host.endswith(name[1:])):
            return True
    return False


def _parse(url: str) -> SplitResult:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  # raises ValueError on a malformed port
    except ValueError:
        raise BlockedUrl("URI is invalid") from None
    if parts.scheme not in ("http", "https"):
        raise BlockedUrl("Only allowed schemes are http, https")
    if not parts.hostname:
        raise BlockedUrl("URI is invalid")
    if any(ch in url for ch in "\r\n\x00 "):
        raise BlockedUrl("URI is invalid")
    return parts


def check(url: str, *, policy: Policy) -> Target:
    """Resolve ``url`` once and check every address; return where to connect. Raises :class:`BlockedUrl`."""
    parts = _parse(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        ips = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            answers = resolver.lookup(host, port)
        except (OSError, UnicodeError):
            raise BlockedUrl("Host cannot be resolved or invalid") from None
        try:
            ips = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
        except ValueError:
            raise BlockedUrl("Host cannot be resolved or invalid") from None
    if not ips:
        raise BlockedUrl("Host cannot be resolved or invalid")
    if not policy.allow_local:
        for ip in ips:
            reason = local_reason(ip)
            if reason and not _allow_listed(host, ip, port, policy.allowlist):
                raise BlockedUrl(reason)
    path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    return Target(
        scheme=parts.scheme,
        host=host,
        port=port,
        ip=ips[0],
        path_and_query=path,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def redact(url: str) -> str:
    """``url`` without its user information, for logs and API answers."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.username and not parts.password:
        return url
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def _exchange(
    target: Target,
    method: str,
    headers: dict[str, str],
    content: bytes | None,
    *,
    verify_tls: bool,
    max_response_bytes: int,
    timeout: float,
) -> tuple[int, dict[str, str], bytes, bool]:
    async with httpx.AsyncClient(
        verify=verify_tls, follow_redirects=False, trust_env=False, timeout=httpx.Timeout(timeout)
    ) as client:
        request = client.build_request(
            method,
            target.pinned_url,
            headers=headers,
            content=content,
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        response = await client.send(request, stream=True)
        try:
            body = bytearray()
            truncated = False
            async for chunk in response.aiter_raw():
                body.extend(chunk)
                if len(body) > max_response_bytes:
                    truncated = True
                    del body[max_response_bytes:]
                    break
            return response.status_code, dict(response.headers.items()), bytes(body), truncated
        finally:
            await response.aclose()


def request(
    method: str,
    url: str,
    *,
    policy: Policy,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    verify_tls: bool = True,
) -> Response:
    """Send one request to a user-supplied ``url`` under ``policy``.

    Raises :class:`BlockedUrl` for a refused URL and :class:`OutboundError` for a failed exchange
    (including the total ``timeout`` running out). Redirects come back as responses (3xx), unfollowed.
    """
    target = check(url, policy=policy)
    sent = {k: v for k, v in (headers or {}).items() if k.lower() != "host"}
    sent["Host"] = target.host_header
    if target.username is not None and not any(k.lower() == "authorization" for k in sent):
        # GitLab sends user information in a hook URL as HTTP Basic credentials.
        pair = f"{target.username}:{target.password or ''}".encode()
        sent["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    started = time.monotonic()
    try:
        status, response_headers, body, truncated = asyncio.run(
            asyncio.wait_for(
                _exchange(
                    target,
                    method,
                    sent,
                    content,
                    verify_tls=verify_tls,
                    max_response_bytes=max_response_bytes,
                    timeout=timeout,
                ),
                timeout,
            )
        )
    except (TimeoutError, httpx.TimeoutException):
        raise OutboundError("execution expired") from None
    except httpx.HTTPError as exc:
        raise OutboundError(str(exc) or exc.__class__.__name__) from None
    except OSError as exc:
        raise OutboundError(str(exc)) from None
    return Response(
        status=status,
        headers=response_headers,
        body=body,
        truncated=truncated,
        duration=time.monotonic() - started,
    )
