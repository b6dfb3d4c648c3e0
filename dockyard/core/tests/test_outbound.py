"""The outbound-request guard. Only loopback traffic: other names are answered by a patched resolver,
and refused addresses are refused before any connection is made."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dockyard.core import outbound
from dockyard.core.outbound import BlockedUrl, OutboundError, Policy

DENY = Policy()


class _Handler(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        _Handler.seen.append(dict(self.headers.items()))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.end_headers()
        elif self.path == "/big":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * 200_000)
        elif self.path == "/slow":
            self.send_response(200)
            self.end_headers()
            for _ in range(50):  # drips a byte at a time: the total deadline must still hold
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        else:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names resolve from this table only; anything else fails to resolve."""
    table: dict[str, list[str]] = {}

    def lookup(host: str, port: int) -> list[str]:
        if host in table:
            return table[host]
        raise OSError("not in the test's table")

    monkeypatch.setattr(outbound.resolver, "lookup", lookup)
    return table


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "Requests to localhost are not allowed"),
        ("http://127.1.2.3:8080/x", "Requests to localhost are not allowed"),
        ("http://0.0.0.0/", "Requests to localhost are not allowed"),
        ("http://[::1]/", "Requests to localhost are not allowed"),
        ("http://[::ffff:127.0.0.1]/", "Requests to localhost are not allowed"),
        ("http://[::]/", "Requests to localhost are not allowed"),
        ("http://10.0.0.1/", "Requests to the local network are not allowed"),
        ("http://172.16.5.4/", "Requests to the local network are not allowed"),
        ("http://192.168.1.1/", "Requests to the local network are not allowed"),
        ("http://100.64.0.1/", "Requests to the local network are not allowed"),
        ("http://[fd00::1]/", "Requests to the local network are not allowed"),
        ("http://[::ffff:10.0.0.1]/", "Requests to the local network are not allowed"),
        ("http://[64:ff9b::a00:1]/", "Requests to the local network are not allowed"),
        ("http://[2002:7f00:1::]/", "Requests to localhost are not allowed"),
        ("http://224.0.0.1/", "Requests to the local network are not allowed"),
        ("http://169.254.169.254/latest/meta-data/", "Requests to the link local network are not allowed"),
        ("http://[fe80::1]/", "Requests to the link local network are not allowed"),
    ],
)
def test_local_addresses_are_refused(url: str, reason: str) -> None:
    with pytest.raises(BlockedUrl) as exc:
        outbound.check(url, policy=DENY)
    assert exc.value.reason == reason
    assert exc.value.message == f"URL is blocked: {reason}"


def test_names_are_resolved_once_and_every_address_checked(dns: dict[str, list[str]]) -> None:
    dns["metadata.example"] = ["169.254.169.254"]
    dns["mixed.example"] = ["93.184.216.34", "10.0.0.1"]  # one bad answer is enough to refuse
    dns["public.example"] = ["93.184.216.34"]
    with pytest.raises(BlockedUrl, match="link local"):
        outbound.check("https://metadata.example/", policy=DENY)
    with pytest.raises(BlockedUrl, match="local network"):
        outbound.check("https://mixed.example/", policy=DENY)
    with pytest.raises(BlockedUrl, match="cannot be resolved"):
        outbound.check("https://unknown.example/", policy=DENY)
    target = outbound.check("https://public.example:8443/hook?a=1", policy=DENY)
    # The connection goes to the checked address; the name stays for Host and TLS.
    assert target.pinned_url == "https://93.184.216.34:8443/hook?a=1"
    assert target.host_header == "public.example:8443"


def test_localhost_by_name_is_refused() -> None:
    with pytest.raises(BlockedUrl, match="localhost"):
        outbound.check("http://localhost:9/", policy=DENY)


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "gopher://x/", "http:///nohost", "x"])
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(BlockedUrl):
        outbound.check(url, policy=DENY)


def test_the_admin_setting_and_the_allowlist(dns: dict[str, list[str]]) -> None:
    dns["ci.internal"] = ["10.1.2.3"]
    assert outbound.check("http://127.0.0.1:9/", policy=Policy(allow_local=True)).ip.is_loopback
    listed = Policy(allowlist=("127.0.0.1", "10.1.0.0/16", "*.corp.example"))
    assert outbound.check("http://127.0.0.1:9/", policy=listed)
    assert outbound.check("http://ci.internal/", policy=listed)
    dns["git.corp.example"] = ["192.168.0.7"]
    assert outbound.check("http://git.corp.example/", policy=listed)
    with pytest.raises(BlockedUrl):
        outbound.check("http://127.0.0.2/", policy=listed)
    with pytest.raises(BlockedUrl):
        outbound.check("http://169.254.169.254/", policy=listed)
    by_name = Policy(allowlist=("ci.internal",))
    assert outbound.check("http://ci.internal/", policy=by_name)
    with pytest.raises(BlockedUrl):
        outbound.check("http://10.1.2.3/", policy=by_name)


def test_requests_are_refused_before_connecting(dns: dict[str, list[str]]) -> None:
    dns["rebind.example"] = ["127.0.0.1"]
    with pytest.raises(BlockedUrl):
        outbound.request("GET", "http://rebind.example:1/", policy=DENY)


LOCAL = Policy(allow_local=True)


def test_a_request_sends_host_and_basic_auth(server: str) -> None:
    _Handler.seen.clear()
    url = server.replace("http://", "http://user:s%40cret@")
    response = outbound.request("GET", url + "/plain", policy=LOCAL, headers={"X-Test": "1"})
    assert response.status == 200 and response.body == b"ok" and not response.truncated
    sent = _Handler.seen[-1]
    assert sent["Host"] == server.removeprefix("http://")
    assert sent["X-Test"] == "1"
    assert sent["Authorization"] == "Basic dXNlcjpzQGNyZXQ="


def test_redirects_are_not_followed(server: str) -> None:
    response = outbound.request("GET", server + "/redirect", policy=LOCAL)
    assert response.status == 302
    assert response.headers["location"] == "http://127.0.0.1:1/elsewhere"


def test_response_size_is_capped(server: str) -> None:
    response = outbound.request("GET", server + "/big", policy=LOCAL, max_response_bytes=1000)
    assert response.status == 200 and len(response.body) == 1000 and response.truncated


def test_total_time_is_capped(server: str) -> None:
    started = time.monotonic()
    with pytest.raises(OutboundError, match="execution expired"):
        outbound.request("GET", server + "/slow", policy=LOCAL, timeout=1.0)
    assert time.monotonic() - started < 2.5


def test_connection_errors_are_outbound_errors() -> None:
    with pytest.raises(OutboundError):
        outbound.request("GET", "http://127.0.0.1:1/", policy=LOCAL, timeout=2)


def test_redact_drops_user_information() -> None:
    assert outbound.redact("https://u:p@example.com:8443/x?y") == "https://example.com:8443/x?y"
    assert outbound.redact("https://example.com/x") == "https://example.com/x"
