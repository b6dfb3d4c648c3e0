"""An ASGI → WSGI bridge with one thread hop each way per ordinary request (docs/decisions/0001-serving.md).

Django's ordinary requests (API calls, pages) are short and synchronous. For each one:

1. the request body is read on the event loop, whole, up to ``max_body`` bytes (a bigger one is
   answered ``413`` without calling Django: large uploads belong on native routes);
2. the whole WSGI call (view, then iterating the response, then ``close()``) runs as **one job** on a
   thread pool of ``threads`` threads, with ``wsgi.input`` a ``BytesIO`` of the buffered body;
3. the loop sends status, headers and body.

A response that is a plain list, or a Django response that is not ``streaming``, is joined in the
thread and sent as one body message. Any other iterable (``StreamingHttpResponse``, ``FileResponse``,
a generator) is *streamed*: the same job iterates it in the thread and hands each chunk to the loop,
at most ``queue_chunks`` chunks ahead of what the loop has sent (memory stays bounded when the client
reads slowly). The status and headers go out with the first non-empty chunk, as WSGI asks, so an
error before it still becomes a ``500``. A client disconnect (``http.disconnect`` on ``receive``, or
a failing ``send``) stops the iteration at the next chunk. ``close()`` is called on every iterable,
always, in the worker thread: Django's ``request_finished`` (which releases the thread's database
connection) runs there.

An exception from the application becomes a logged ``500`` if nothing was sent yet; once a streamed
response has started it is logged and re-raised, so that the server drops the connection and the
client sees a truncated response rather than a complete-looking one.

This module imports nothing from Django or Dockyard; ``dockyard.config.asgi`` wires it up.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import sys
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

log = logging.getLogger("dockyard.server")

DEFAULT_MAX_BODY = 2_621_440  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE default (2.5 MiB)
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


class StreamAborted(Exception):
    """A streamed response failed after its headers were sent; the connection must be dropped."""


@dataclass(frozen=True)
class _Buffered:
    status: int
    headers: Headers
    body: bytes


@dataclass(frozen=True)
class _StreamHead:
    status: int
    headers: Headers


class _End:
    """The last item of a stream; ``failed`` when the iteration raised."""

    def __init__(self, failed: bool) -> None:
        self.failed = failed


class _Channel:
    """Hands streamed chunks from the worker thread to the loop, at most ``limit`` ahead.

    The thread takes a credit per chunk (blocking when the loop is behind) and schedules the chunk
    onto the loop with ``call_soon_threadsafe``; the loop gives the credit back once the chunk is sent.
    ``stop()`` (from the loop) makes the thread's next ``put`` return ``False`` at once.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.loop = loop
        self.credits = threading.Semaphore(limit)
        self.stopped = False
        self.items: deque[bytes | _End] = deque()
        self.ready: asyncio.Event = asyncio.Event()

    # --- worker thread side ---
    def post(self, callback: Callable[..., object], *args: object) -> bool:
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: the server is gone
            self.stopped = True
            return False
        return True

    def put(self, chunk: bytes) -> bool:
        while not self.credits.acquire(timeout=5.0):
            if self.stopped:
                return False
        return not self.stopped and self.post(self._append, chunk)

    def end(self, failed: bool) -> None:
        self.post(self._append, _End(failed))

    # --- loop side ---
    def _append(self, item: bytes | _End) -> None:
        self.items.append(item)
        self.ready.set()

    def sent(self) -> None:
        self.credits.release()

    def stop(self) -> None:
        self.stopped = True
        self.credits.release()  # wakes a thread waiting for a credit


class WSGIBridge:
    """``WSGIBridge(app, threads=16, max_body=...)`` is an ASGI application serving the WSGI ``app``."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        threads: int = 16,
        max_body: int = DEFAULT_MAX_BODY,
        queue_chunks: int = 8,
        thread_name_prefix: str = "dockyard-web",
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.queue_chunks = queue_chunks
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=thread_name_prefix)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            body = await self._read_body(scope, receive)
        except _TooLarge:
            await _send_text(send, 413, f"Request body larger than {self.max_body} bytes")
            return
        if body is None:  # the client went away before its request was complete
            return
        loop = asyncio.get_running_loop()
        head: asyncio.Future[_Buffered | _StreamHead] = loop.create_future()
        channel = _Channel(loop, self.queue_chunks)
        environ = build_environ(scope, body)
        context = contextvars.copy_context()
        self.executor.submit(context.run, self._job, environ, head, channel)
        try:
            result = await head
        except BaseException:
            channel.stop()  # cancelled: a streaming job, if any, stops at its next chunk
            raise
        await send({"type": "http.response.start", "status": result.status, "headers": result.headers})
        if isinstance(result, _Buffered):
            await send({"type": "http.response.body", "body": result.body})
            return
        await self._stream(receive, send, channel)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        for name, value in scope.get("headers", ()):
            if name.lower() == b"content-length":
                try:
                    if int(value) > self.max_body:
                        raise _TooLarge
                except ValueError:
                    pass
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self.max_body:
                    raise _TooLarge
                parts.append(chunk)
            if not message.get("more_body", False):
                return parts[0] if len(parts) == 1 else b"".join(parts)

    async def _stream(self, receive: Receive, send: Send, channel: _Channel) -> None:
        """Send what the worker thread hands over until it ends, the client leaves or ``send`` fails."""
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            while True:
                if not channel.items:
                    channel.ready.clear()
                    waiter = asyncio.ensure_future(channel.ready.wait())
                    await asyncio.wait({waiter, watcher}, return_when=asyncio.FIRST_COMPLETED)
                    if not waiter.done():
                        waiter.cancel()
                    if watcher.done():  # the client disconnected (or receive failed: the same to us)
                        return
                    continue
                item = channel.items.popleft()
                if isinstance(item, _End):
                    if item.failed:
                        raise StreamAborted("the WSGI response failed while streaming (logged above)")
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                try:
                    await send({"type": "http.response.body", "body": item, "more_body": True})
                except Exception:
                    return  # the client went away (servers raise OSError or their own errors here)
                channel.sent()
        finally:
            channel.stop()
            if watcher.done():
                watcher.exception()  # retrieved: a failing receive means a gone client
            else:
                watcher.cancel()

    # --- the worker thread ---

    def _job(self, environ: dict[str, Any], head: asyncio.Future[Any], channel: _Channel) -> None:
        """The whole WSGI call, in a pool thread. Settles ``head`` exactly once."""
        state = _Response()
        iterable: Iterable[bytes] | None = None
        streaming = False
        try:
            iterable = self.app(environ, state.start_response)
            if _is_buffered(iterable):
                chunks = [*state.written, *iterable]
                channel.post(_settle, head, _Buffered(state.status, state.headers, b"".join(chunks)))
                return
            streaming = True
            self._iterate(iterable, state, head, channel)
        except BaseException as error:
            if not streaming or not state.head_sent:
                log.error("unhandled exception in a WSGI request", exc_info=error, extra=_request_extra(environ))
                channel.post(_settle, head, _Buffered(500, _TEXT, b"Internal Server Error\n"))
            else:
                log.error("WSGI response failed while streaming", exc_info=error, extra=_request_extra(environ))
                channel.end(failed=True)
            if not isinstance(error, Exception):
                raise
        finally:
            if iterable is not None:
                _close(iterable, environ)

    def _iterate(
        self, iterable: Iterable[bytes], state: _Response, head: asyncio.Future[Any], channel: _Channel
    ) -> None:
        pending = list(state.written)
        for chunk in iterable:
            if not chunk:
                continue
            if not state.head_sent:
                state.head_sent = True
                channel.post(_settle, head, _StreamHead(state.status, state.headers))
            for part in (*pending, chunk):
                if not channel.put(part):
                    return  # the client left or the server is stopping: stop iterating
            pending = []
        if not state.head_sent:  # an empty stream
            state.head_sent = True
            channel.post(_settle, head, _StreamHead(state.status, state.headers))
        for part in pending:
            if not channel.put(part):
                return
        channel.end(failed=False)


class _TooLarge(Exception):
    pass


class _Response:
    """``start_response`` and what it was given."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: Headers = []
        self.started = False
        self.head_sent = False
        self.written: list[bytes] = []

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.started:
            raise RuntimeError("start_response called a second time without exc_info")
        self.started = True
        self.status = int(status.split(" ", 1)[0])
        self.headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        return self.written.append


def _is_buffered(iterable: Iterable[bytes]) -> bool:
    """A list or tuple, or a Django response that says it is not streaming, is joined in one go."""
    if isinstance(iterable, list | tuple):
        return True
    return getattr(iterable, "streaming", None) is False


def _settle(future: asyncio.Future[Any], result: object) -> None:
    if not future.done():
        future.set_result(result)


def _close(iterable: Iterable[bytes], environ: dict[str, Any]) -> None:
    close = getattr(iterable, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception:
        log.exception("closing a WSGI response failed", extra=_request_extra(environ))


def _request_extra(environ: dict[str, Any]) -> dict[str, str]:
    return {"method": environ.get("REQUEST_METHOD", ""), "path": environ.get("PATH_INFO", "")}


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _send_text(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    headers = [*_TEXT, (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _wsgi_str(text: str) -> str:
    """A native WSGI string: the UTF-8 bytes (lone surrogates from undecodable input restored) as latin-1."""
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def build_environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of an ASGI HTTP ``scope`` whose body was read whole."""
    script_name = _wsgi_str(scope.get("root_path", "") or "").rstrip("/")
    path_info = _wsgi_str(scope["path"])
    if script_name and (path_info == script_name or path_info.startswith(script_name + "/")):
        path_info = path_info[len(script_name) :]
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]) if server[1] is not None else "80",
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
        environ["REMOTE_PORT"] = str(client[1])
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE":
            key = "CONTENT_TYPE"
        elif name == "CONTENT_LENGTH":
            key = "CONTENT_LENGTH"  # replaced below by the size of the body actually read
            value = ""
        else:
            key = "HTTP_" + name
        if key in environ:
            environ[key] += ("; " if key == "HTTP_COOKIE" else ",") + value
        else:
            environ[key] = value
    if body or "CONTENT_LENGTH" in environ:  # also right for a chunked request, which has no header
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ
