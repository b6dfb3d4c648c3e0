"""The one ASGI application behind ``dockyard serve`` (see docs/decisions/0001-serving.md).

Paths that stream or long-poll (git smart HTTP, registry blobs, runner ``jobs/request``) get native
async handlers registered in :data:`NATIVE_ROUTES` as their features arrive. Everything else goes to
Django through its *WSGI* handler on a thread pool (:class:`~dockyard.config.wsgi_bridge.WSGIBridge`:
the body read on the loop, one executor job per request), which measured several times faster than
Django's own ASGI handler for ordinary requests.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockyard.config.settings")

from django.conf import settings

from dockyard.config.env import ENV
from dockyard.config.worker import start_embedded_worker
from dockyard.config.wsgi import application as django_wsgi
from dockyard.config.wsgi_bridge import DEFAULT_MAX_BODY, WSGIBridge

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# (compiled path pattern, handler, the methods it serves or None for all), tried in order before falling
# through to Django.
NATIVE_ROUTES: list[tuple[re.Pattern[str], ASGIApp, frozenset[str] | None]] = []

_KEEP_ENCODED = re.compile(r"%(?:2[Ff]|25)")


def api_path(raw_path: bytes) -> str:
    """Decode a request path but keep ``%2F`` and ``%25`` encoded.

    GitLab addresses projects, groups, files and branches by URL-encoded paths
    (``/api/v4/projects/group%2Fsub%2Fproject``); decoding ``%2F`` before routing would turn one path
    segment into several. Handlers ``unquote`` the segment once matched.
    """
    text = raw_path.decode("latin-1")
    parts = _KEEP_ENCODED.split(text)
    seps = _KEEP_ENCODED.findall(text)
    out = [unquote(parts[0], encoding="utf-8", errors="surrogateescape")]
    for sep, part in zip(seps, parts[1:], strict=True):
        out.append(sep.upper())
        out.append(unquote(part, encoding="utf-8", errors="surrogateescape"))
    return "".join(out)


class Router:
    def __init__(self, django: ASGIApp) -> None:
        self.django = django

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        raw = scope.get("raw_path")
        if raw and path.startswith("/api/"):
            scope = {**scope, "path": api_path(raw.split(b"?", 1)[0])}
        for pattern, handler, methods in NATIVE_ROUTES:
            if pattern.match(path) and (methods is None or scope["method"] in methods):
                await handler(scope, receive, send)
                return
        await self.django(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if ENV.embedded_worker:
                    start_embedded_worker()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def _register_native_routes() -> None:
    from dockyard.repos.http import ROUTE as GIT_ROUTE
    from dockyard.repos.http import smart_http
    from dockyard.repos.lfs import ROUTE as LFS_ROUTE
    from dockyard.repos.lfs import lfs_http

    NATIVE_ROUTES.append((LFS_ROUTE, lfs_http, None))  # before git's: both live under ``<project>.git/``
    NATIVE_ROUTES.append((GIT_ROUTE, smart_http, None))

    from dockyard.ci import runner_http

    NATIVE_ROUTES.append((runner_http.JOBS_REQUEST_ROUTE, runner_http.jobs_request, None))
    NATIVE_ROUTES.append((runner_http.JOB_ROUTE, runner_http.job_update, frozenset({"PUT"})))
    NATIVE_ROUTES.append((runner_http.TRACE_ROUTE, runner_http.job_trace, frozenset({"PATCH"})))
    NATIVE_ROUTES.append((runner_http.ARTIFACTS_ROUTE, runner_http.job_artifacts, None))


def _max_body() -> int:
    """Bodies Django buffers: its own ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (``request.body`` refuses more
    anyway); big uploads (packs, LFS objects, artifacts) arrive on native routes."""
    limit: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return limit if limit is not None else 16 * DEFAULT_MAX_BODY


_register_native_routes()
application = Router(WSGIBridge(django_wsgi, threads=ENV.web_threads, max_body=_max_body()))
