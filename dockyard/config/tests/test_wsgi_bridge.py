"""The ASGI → WSGI bridge at the ASGI level: fake scope, receive and send; no server, no sockets.

Nothing here asserts on times: waits are bounded only so that a broken bridge fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from django.http import HttpResponse, StreamingHttpResponse

from dockyard.config.asgi import Router
from dockyard.config.wsgi_bridge import StreamAborted, WSGIBridge, build_environ

Environ = dict[str, Any]
WAIT = 10.0  # seconds; a bound against hangs, never a performance expectation


def scope(
    path: str = "/",
    *,
    method: str = "GET",
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    raw_path: bytes | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path if raw_path is not None else path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers or [(b"host", b"dockyard.test")],
        "client": ("10.1.2.3", 54321),
        "server": ("127.0.0.1", 8080),
        **extra,
    }


class Client:
    """An ASGI peer: feeds request messages to ``receive``, records what the app ``send``s."""

    def __init__(self, body: list[bytes] | None = None, *, fail_send_after: int | None = None) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        parts = body if body is not None else [b""]
        for i, part in enumerate(parts):
            self.incoming.put_nowait({"type": "http.request", "body": part, "more_body": i < len(parts) - 1})
        self.sent: list[dict[str, Any]] = []
        self.fail_send_after = fail_send_after
        self.on_send: Callable[[dict[str, Any]], None] | None = None

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: dict[str, Any]) -> None:
        if self.fail_send_after is not None and len(self.sent) >= self.fail_send_after:
            raise OSError("connection reset by peer")
        self.sent.append(message)
        if self.on_send is not None:
            self.on_send(message)

    def disconnect(self) -> None:
        self.incoming.put_nowait({"type": "http.disconnect"})

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent[1:]]

    @property
    def complete(self) -> bool:
        return bool(self.sent) and self.sent[-1]["type"] == "http.response.body" and not self.sent[-1].get("more_body")


def call(app: Any, request_scope: dict[str, Any], client: Client) -> None:
    async def main() -> None:
        await asyncio.wait_for(app(request_scope, client.receive, client.send), WAIT)

    asyncio.run(main())


def echo_environ(seen: list[Environ]) -> Callable[..., Iterable[bytes]]:
    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ = {**environ, "body": environ["wsgi.input"].read()}
        seen.append(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return app


class Tracked:
    """A streaming WSGI iterable that counts what it yields and records ``close()``."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.produced = 0
        self.closed = threading.Event()
        self.thread: str | None = None

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.produced += 1
            yield chunk

    def close(self) -> None:
        self.thread = threading.current_thread().name
        self.closed.set()


def streaming_app(tracked: Tracked, status: str = "200 OK") -> Callable[..., Iterable[bytes]]:
    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(status, [("Content-Type", "application/octet-stream")])
        return tracked

    return app


def endless() -> Iterator[bytes]:
    while True:
        yield b"x" * 1024


# --- responses ---------------------------------------------------------------------------------------


def test_buffered_response_status_headers_and_body_in_one_message() -> None:
    closed = threading.Event()

    class Body(list[bytes]):
        def close(self) -> None:
            closed.set()

    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("201 Created", [("Content-Type", "application/json"), ("X-Request-Id", "abc")])
        return Body([b'{"a":', b" 1}"])

    client = Client()
    call(WSGIBridge(app, threads=2), scope(), client)
    assert client.status == 201
    assert client.headers == {b"content-type": b"application/json", b"x-request-id": b"abc"}
    assert client.bodies == [b'{"a": 1}']
    assert client.complete
    assert closed.wait(WAIT)


def test_django_response_is_buffered_and_closed_in_the_worker_thread() -> None:
    closed_in: list[str] = []

    class Response(HttpResponse):
        def close(self) -> None:
            closed_in.append(threading.current_thread().name)
            super().close()

    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        response = Response(b"hello", content_type="text/plain", status=202)
        start_response("202 Accepted", [(k, v) for k, v in response.items()])
        return response

    client = Client()
    bridge = WSGIBridge(app, threads=2, thread_name_prefix="bridge-test")
    call(bridge, scope(), client)
    bridge.executor.shutdown(wait=True)
    assert client.status == 202
    assert client.bodies == [b"hello"]
    assert len(client.sent) == 2
    assert closed_in and closed_in[0].startswith("bridge-test")


def test_streaming_response_arrives_in_several_chunks_and_is_closed() -> None:
    tracked = Tracked(iter([b"one", b"", b"two", b"three"]))
    client = Client()
    call(WSGIBridge(streaming_app(tracked), threads=2), scope(), client)
    assert client.status == 200
    assert client.bodies == [b"one", b"two", b"three", b""]
    assert [m.get("more_body", False) for m in client.sent[1:]] == [True, True, True, False]
    assert tracked.closed.wait(WAIT)


def test_django_streaming_http_response_is_streamed() -> None:
    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        response = StreamingHttpResponse((f"part {i}\n".encode() for i in range(5)), content_type="text/plain")
        start_response("200 OK", [(k, v) for k, v in response.items()])
        return response

    client = Client()
    call(WSGIBridge(app, threads=2), scope(), client)
    assert client.bodies[:-1] == [f"part {i}\n".encode() for i in range(5)]
    assert client.complete


def test_streaming_is_bounded_by_the_queue() -> None:
    """The worker thread never runs more than ``queue_chunks`` chunks ahead of what was sent."""
    limit = 3
    tracked = Tracked(iter([b"c%d" % i for i in range(50)]))
    ahead: list[int] = []
    client = Client()

    def on_send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            ahead.append(tracked.produced - (len(client.sent) - 1))

    client.on_send = on_send
    call(WSGIBridge(streaming_app(tracked), threads=2, queue_chunks=limit), scope(), client)
    assert len(client.bodies) == 51
    assert max(ahead) <= limit + 1  # the queued chunks plus the one the thread holds while waiting


def test_empty_streaming_response_sends_headers_and_an_empty_body() -> None:
    tracked = Tracked(iter([]))
    client = Client()
    call(WSGIBridge(streaming_app(tracked, "204 No Content"), threads=2), scope(), client)
    assert client.status == 204
    assert client.bodies == [b""]
    assert tracked.closed.wait(WAIT)


def test_write_callable_output_comes_first() -> None:
    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        write = start_response("200 OK", [])
        write(b"legacy ")
        return [b"body"]

    client = Client()
    call(WSGIBridge(app, threads=1), scope(), client)
    assert client.bodies == [b"legacy body"]


# --- request bodies ----------------------------------------------------------------------------------


def test_body_in_several_messages_is_the_wsgi_input() -> None:
    seen: list[Environ] = []
    client = Client([b"a=1", b"&b=", b"2"])
    headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"transfer-encoding", b"chunked")]
    call(WSGIBridge(echo_environ(seen), threads=1), scope(method="POST", headers=headers), client)
    assert seen[0]["body"] == b"a=1&b=2"
    assert seen[0]["CONTENT_LENGTH"] == "7"  # a chunked request has no header; Django needs one
    assert seen[0]["CONTENT_TYPE"] == "application/x-www-form-urlencoded"


def test_declared_large_body_is_refused_with_413_without_reading_or_calling_the_app() -> None:
    seen: list[Environ] = []
    client = Client([b"x" * 10])
    call(
        WSGIBridge(echo_environ(seen), threads=1, max_body=100),
        scope(method="POST", headers=[(b"content-length", b"101")]),
        client,
    )
    assert client.status == 413
    assert seen == []


def test_large_chunked_body_is_refused_with_413() -> None:
    seen: list[Environ] = []
    client = Client([b"x" * 60, b"x" * 60])
    call(WSGIBridge(echo_environ(seen), threads=1, max_body=100), scope(method="POST"), client)
    assert client.status == 413
    assert b"100 bytes" in client.bodies[0]
    assert seen == []


def test_body_at_the_limit_is_accepted() -> None:
    seen: list[Environ] = []
    client = Client([b"x" * 100])
    call(WSGIBridge(echo_environ(seen), threads=1, max_body=100), scope(method="PUT"), client)
    assert client.status == 200
    assert len(seen[0]["body"]) == 100


# --- disconnects -------------------------------------------------------------------------------------


def test_disconnect_while_the_body_arrives_never_calls_the_app() -> None:
    seen: list[Environ] = []
    client = Client([b"partial", b"more"])
    client.incoming = asyncio.Queue()
    client.incoming.put_nowait({"type": "http.request", "body": b"partial", "more_body": True})
    client.incoming.put_nowait({"type": "http.disconnect"})
    call(WSGIBridge(echo_environ(seen), threads=1), scope(method="POST"), client)
    assert client.sent == []
    assert seen == []


def test_disconnect_stops_an_endless_stream_and_closes_it() -> None:
    tracked = Tracked(endless())
    client = Client()

    def on_send(message: dict[str, Any]) -> None:
        if len(client.sent) == 4:  # the head and three chunks went out; then the client leaves
            client.disconnect()

    client.on_send = on_send
    call(WSGIBridge(streaming_app(tracked), threads=2, queue_chunks=2), scope(), client)
    assert tracked.closed.wait(WAIT)
    assert not client.complete
    assert tracked.produced < 20  # it stopped: bounded queue, then the stop flag


def test_failing_send_stops_the_stream_and_closes_it() -> None:
    tracked = Tracked(endless())
    client = Client(fail_send_after=3)
    call(WSGIBridge(streaming_app(tracked), threads=2, queue_chunks=2), scope(), client)
    assert tracked.closed.wait(WAIT)
    assert len(client.sent) == 3


# --- errors ------------------------------------------------------------------------------------------


def test_exception_in_the_app_becomes_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        raise ValueError("boom")

    client = Client()
    with caplog.at_level(logging.ERROR, logger="dockyard.server"):
        call(WSGIBridge(app, threads=1), scope("/broken"), client)
    assert client.status == 500
    assert client.complete
    assert b"boom" not in b"".join(client.bodies)
    record = next(r for r in caplog.records if r.name == "dockyard.server")
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)


def test_exception_before_the_first_streamed_chunk_is_a_500_and_closes() -> None:
    def failing() -> Iterator[bytes]:
        raise RuntimeError("before any output")
        yield b""  # pragma: no cover

    tracked = Tracked(failing())
    client = Client()
    call(WSGIBridge(streaming_app(tracked), threads=1), scope(), client)
    assert client.status == 500
    assert tracked.closed.wait(WAIT)


def test_exception_mid_stream_aborts_the_response(caplog: pytest.LogCaptureFixture) -> None:
    def failing() -> Iterator[bytes]:
        yield b"first"
        raise RuntimeError("mid-stream")

    tracked = Tracked(failing())
    client = Client()
    with caplog.at_level(logging.ERROR, logger="dockyard.server"), pytest.raises(StreamAborted):
        call(WSGIBridge(streaming_app(tracked), threads=1), scope(), client)
    assert client.status == 200
    assert client.bodies == [b"first"]
    assert not client.complete  # the server drops the connection: the client sees a truncated response
    assert tracked.closed.wait(WAIT)
    assert any(r.name == "dockyard.server" for r in caplog.records)


def test_start_response_with_exc_info_replaces_the_status_before_anything_was_sent() -> None:
    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise KeyError("late")
        except KeyError as error:
            start_response("503 Service Unavailable", [("Retry-After", "1")], (type(error), error, None))
        return [b"later"]

    client = Client()
    call(WSGIBridge(app, threads=1), scope(), client)
    assert client.status == 503
    assert client.headers == {b"retry-after": b"1"}


# --- the environ -------------------------------------------------------------------------------------


def test_environ_from_scope() -> None:
    seen: list[Environ] = []
    headers = [
        (b"host", b"dockyard.test:8443"),
        (b"x-forwarded-for", b"1.1.1.1"),
        (b"x-forwarded-for", b"2.2.2.2"),
        (b"cookie", b"a=1"),
        (b"cookie", b"b=2"),
        (b"private-token", b"glpat-x"),
    ]
    request = scope(
        "/app/api/v4/projects",
        method="GET",
        query=b"search=a%20b&page=2",
        headers=headers,
        scheme="https",
        root_path="/app",
        http_version="2",
    )
    call(WSGIBridge(echo_environ(seen), threads=1), request, Client())
    env = seen[0]
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == "/app"
    assert env["PATH_INFO"] == "/api/v4/projects"
    assert env["QUERY_STRING"] == "search=a%20b&page=2"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == "8080"
    assert env["SERVER_PROTOCOL"] == "HTTP/2"
    assert env["REMOTE_ADDR"] == "10.1.2.3"
    assert env["REMOTE_PORT"] == "54321"
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTP_HOST"] == "dockyard.test:8443"
    assert env["HTTP_X_FORWARDED_FOR"] == "1.1.1.1,2.2.2.2"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["HTTP_PRIVATE_TOKEN"] == "glpat-x"
    assert "CONTENT_LENGTH" not in env
    assert env["body"] == b""


def test_non_ascii_path_is_a_latin1_wsgi_string() -> None:
    env = build_environ(scope("/héllo wörld"), b"")
    assert env["PATH_INFO"] == "/héllo wörld".encode().decode("latin-1")
    assert env["PATH_INFO"].encode("latin-1").decode() == "/héllo wörld"


def test_encoded_api_path_keeps_its_encoded_slash_through_the_router() -> None:
    seen: list[Environ] = []
    raw = b"/api/v4/projects/group%2Fsub%2Fproj/repository/files/dir%2Fa%20b.txt"
    request = scope(
        "/api/v4/projects/group/sub/proj/repository/files/dir/a b.txt",
        raw_path=raw,
        query=b"ref=main",
    )
    call(Router(WSGIBridge(echo_environ(seen), threads=1)), request, Client())
    assert seen[0]["PATH_INFO"] == "/api/v4/projects/group%2Fsub%2Fproj/repository/files/dir%2Fa b.txt"
    assert seen[0]["QUERY_STRING"] == "ref=main"


def test_undecodable_path_bytes_survive() -> None:
    """The router decodes ``/api/`` paths with surrogateescape; the bridge gives Django the same bytes."""
    seen: list[Environ] = []
    request = scope("/api/v4/x", raw_path=b"/api/v4/projects/%FF%2Fx")
    call(Router(WSGIBridge(echo_environ(seen), threads=1)), request, Client())
    assert seen[0]["PATH_INFO"].encode("latin-1") == b"/api/v4/projects/\xff%2Fx"


def test_context_variables_reach_the_worker_thread() -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
    seen: list[str] = []

    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.append(request_id.get())
        start_response("200 OK", [])
        return [b""]

    async def main() -> None:
        request_id.set("req-42")
        client = Client()
        await asyncio.wait_for(WSGIBridge(app, threads=1)(scope(), client.receive, client.send), WAIT)

    asyncio.run(main())
    assert seen == ["req-42"]


def test_many_concurrent_requests_share_the_pool() -> None:
    seen: list[Environ] = []
    bridge = WSGIBridge(echo_environ(seen), threads=4)

    async def main() -> list[Client]:
        clients = [Client([str(i).encode()]) for i in range(40)]
        calls = [bridge(scope(f"/r/{i}", method="POST"), c.receive, c.send) for i, c in enumerate(clients)]
        await asyncio.wait_for(asyncio.gather(*calls), WAIT)
        return clients

    clients = asyncio.run(main())
    assert all(c.status == 200 and c.complete for c in clients)
    assert sorted(e["body"] for e in seen) == sorted(str(i).encode() for i in range(40))
    assert all(e["PATH_INFO"] == f"/r/{e['body'].decode()}" for e in seen)
