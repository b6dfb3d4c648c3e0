"""ASGI plumbing shared by the bridged configurations: a router like ``dockyard.config.asgi.Router``.

``BENCH_WSGI_APP`` (``module:attribute``) names the WSGI application to bridge; it defaults to this
package's bare Django, and ``bench/run.py`` points it at ``dockyard.config.wsgi:application`` to try
Dockyard's own app behind another bridge.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def wsgi_app_from_env() -> Any:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baseline.settings")
    module, _, attribute = os.environ.get("BENCH_WSGI_APP", "baseline.wsgi:application").partition(":")
    return getattr(importlib.import_module(module), attribute or "application")


def _as_coroutine(receive: Receive) -> Receive:
    """a2wsgi needs ``receive()`` to return a real coroutine (it schedules it with
    ``run_coroutine_threadsafe``); granian's does not. Harmless for the other bridge."""

    async def wrapped() -> Message:
        return await receive()

    return wrapped


class Router:
    """Answers ASGI lifespan itself and hands every HTTP request to ``app`` (no native routes here)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        await self.app(scope, _as_coroutine(receive), send)
