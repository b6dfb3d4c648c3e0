"""Helpers shared by the native ASGI handlers (git smart HTTP, Git LFS, later the registry and runner).

These paths bypass Django so that bodies stream in bounded memory; Django is only asked questions (who
is this, may they) in a worker thread through :func:`run_db`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from dockyard.config.env import ENV

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

NO_CACHE: Headers = [
    (b"cache-control", b"no-cache, max-age=0, must-revalidate"),
    (b"expires", b"Fri, 01 Jan 1980 00:00:00 GMT"),
    (b"pragma", b"no-cache"),
]
BASIC_CHALLENGE: Headers = [(b"www-authenticate", b'Basic realm="GitLab"')]

P = ParamSpec("P")
T = TypeVar("T")


class ClientDisconnected(Exception):
    pass


class BodyTooLarge(Exception):
    pass


def request_headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _in_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


async def run_db(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn`` (which uses the ORM) in a worker thread with fresh, then released, DB connections."""
    result: T = await sync_to_async(_in_thread, thread_sensitive=False)(fn, *args, **kwargs)
    return result


async def respond(send: Send, status: int, body: bytes, content_type: str, extra: Headers | None = None) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


async def respond_text(send: Send, status: int, text: str, extra: Headers | None = None) -> None:
    await respond(send, status, (text + "\n").encode(), "text/plain; charset=utf-8", extra)


async def respond_json(
    send: Send, status: int, payload: object, content_type: str = "application/json", extra: Headers | None = None
) -> None:
    await respond(send, status, json.dumps(payload).encode(), content_type, extra)


async def stream(
    send: Send,
    content_type: str,
    chunks: AsyncIterator[bytes],
    *,
    status: int = 200,
    extra: Headers | None = None,
) -> None:
    headers = [(b"content-type", content_type.encode()), *(extra if extra is not None else NO_CACHE)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    async for chunk in chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def request_body(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as it arrives; raises :class:`ClientDisconnected` if the client goes away."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        if chunk := message.get("body", b""):
            yield chunk
        if not message.get("more_body", False):
            return


async def read_body(receive: Receive, limit: int) -> bytes:
    """A small request body (JSON) read whole; raises :class:`BodyTooLarge` past ``limit`` bytes."""
    parts: list[bytes] = []
    total = 0
    async for chunk in request_body(receive):
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge
        parts.append(chunk)
    return b"".join(parts)


def external_base(scope: Scope, headers: dict[str, str]) -> str:
    """``DOCKYARD_EXTERNAL_URL``, else the scheme and Host the client used (as ``core.urls`` does)."""
    if ENV.external_url:
        return ENV.external_url
    host = headers.get("host")
    if not host:
        server_host, port = scope.get("server") or ("localhost", 80)
        host = f"[{server_host}]:{port}" if ":" in server_host else f"{server_host}:{port}"
    return f"{scope.get('scheme', 'http')}://{host}"
