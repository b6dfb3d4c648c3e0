"""git smart HTTP (``info/refs``, ``git-upload-pack``, ``git-receive-pack``) as a native ASGI handler.

Packs stream straight between the socket and git in both directions; Django only answers the access
question (in a worker thread), so a long clone never holds one of Django's request threads.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from dockyard.config.env import ENV
from dockyard.core.internal import internal_secret
from dockyard.core.logging import get_logger
from dockyard.core.middleware import observe
from dockyard.repos import git
from dockyard.repos.selectors import GitAccess, git_http_access

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

ROUTE = re.compile(r"^/(?P<repo>[^?#]+?)(?:\.git)?/(?P<action>info/refs|git-upload-pack|git-receive-pack)$")
NO_CACHE = [
    (b"cache-control", b"no-cache, max-age=0, must-revalidate"),
    (b"expires", b"Fri, 01 Jan 1980 00:00:00 GMT"),
    (b"pragma", b"no-cache"),
]
log = get_logger("dockyard.git")


class ClientDisconnected(Exception):
    pass


def _decide(repo: str, authorization: str | None, write: bool) -> GitAccess:
    close_old_connections()
    try:
        return git_http_access(repository_path=repo, authorization=authorization, write=write)
    finally:
        close_old_connections()


async def _respond(send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = (text + "\n").encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


async def _stream(send: Send, content_type: str, chunks: AsyncIterator[bytes]) -> None:
    headers = [(b"content-type", content_type.encode()), *NO_CACHE]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    async for chunk in chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        if chunk := message.get("body", b""):
            yield chunk
        if not message.get("more_body", False):
            return


def _internal_url(scope: Scope) -> str:
    if ENV.internal_url:
        return ENV.internal_url
    host, port = scope.get("server") or ("127.0.0.1", 8080)
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def smart_http(scope: Scope, receive: Receive, send: Send) -> None:
    started = time.perf_counter()
    status = 200
    match = ROUTE.match(scope["path"])
    assert match is not None  # the router only sends matching paths here
    action = match["action"]
    method = scope["method"]
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    try:
        if action == "info/refs":
            service = parse_qs(scope.get("query_string", b"").decode()).get("service", [""])[0]
            if method not in ("GET", "HEAD"):
                status = 405
            elif service not in git.SERVICES:
                status = 403  # the dumb HTTP protocol is not offered
        else:
            service = action
            if method != "POST":
                status = 405
        if status != 200:
            await _respond(send, status, "Unsupported request")
            return
        write = service == "git-receive-pack"
        access = await sync_to_async(_decide, thread_sensitive=False)(
            unquote(match["repo"]), headers.get("authorization"), write
        )
        if not access.allowed:
            status = access.status
            extra = [(b"www-authenticate", b'Basic realm="GitLab"')] if status == 401 else []
            await _respond(send, status, access.message, extra)
            return
        assert access.project is not None
        project_id = access.project.id
        protocol = headers.get("git-protocol")
        kind = service.removeprefix("git-")
        if action == "info/refs":
            await _stream(
                send,
                f"application/x-{service}-advertisement",
                git.advertise_refs(service, project_id, git_protocol=protocol),
            )
            return
        env = None
        if write:
            env = {
                "DOCKYARD_INTERNAL_URL": _internal_url(scope),
                "DOCKYARD_INTERNAL_SECRET": internal_secret(),
                "DOCKYARD_PROJECT_ID": str(project_id),
                "DOCKYARD_USER_ID": str(access.user.pk if access.user else 0),
                "DOCKYARD_PROTOCOL": "http",
            }
        output = git.stateless_rpc(
            service,
            project_id,
            _body(receive),
            gzipped=headers.get("content-encoding", "").lower() in ("gzip", "x-gzip"),
            git_protocol=protocol,
            env=env,
        )
        await _stream(send, f"application/x-git-{kind}-result", output)
    except ClientDisconnected:
        status = 499
    finally:
        observe(method, f"/:repo.git/{action}", status, time.perf_counter() - started)
