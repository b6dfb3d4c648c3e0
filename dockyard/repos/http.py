"""git smart HTTP (``info/refs``, ``git-upload-pack``, ``git-receive-pack``) as a native ASGI handler.

Packs stream straight between the socket and git in both directions; Django only answers the access
question (in a worker thread), so a long clone never holds one of Django's request threads.
"""

from __future__ import annotations

import contextlib
import re
import time
from urllib.parse import parse_qs, unquote

from dockyard.config.env import ENV
from dockyard.core.internal import internal_secret
from dockyard.core.logging import get_logger
from dockyard.core.middleware import observe
from dockyard.core.native import (
    BASIC_CHALLENGE,
    ClientDisconnected,
    Receive,
    Scope,
    Send,
    request_body,
    request_headers,
    respond_text,
    run_db,
    stream,
)
from dockyard.repos import git
from dockyard.repos.selectors import git_http_access

ROUTE = re.compile(r"^/(?P<repo>[^?#]+?)(?:\.git)?/(?P<action>info/refs|git-upload-pack|git-receive-pack)$")
log = get_logger("dockyard.git")


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
    headers = request_headers(scope)
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
            await respond_text(send, status, "Unsupported request")
            return
        write = service == "git-receive-pack"
        access = await run_db(
            git_http_access,
            repository_path=unquote(match["repo"]),
            authorization=headers.get("authorization"),
            write=write,
        )
        if not access.allowed:
            status = access.status
            await respond_text(send, status, access.message, BASIC_CHALLENGE if status == 401 else None)
            return
        assert access.project is not None
        project_id = access.project.id
        protocol = headers.get("git-protocol")
        kind = service.removeprefix("git-")
        if action == "info/refs":
            async with contextlib.aclosing(git.advertise_refs(service, project_id, git_protocol=protocol)) as refs:
                await stream(send, f"application/x-{service}-advertisement", refs)
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
            request_body(receive),
            gzipped=headers.get("content-encoding", "").lower() in ("gzip", "x-gzip"),
            git_protocol=protocol,
            env=env,
        )
        # Closed as soon as sending fails (the client went away), not when garbage-collected: git is
        # killed and its pipe closed at once.
        async with contextlib.aclosing(output):
            await stream(send, f"application/x-git-{kind}-result", output)
    except ClientDisconnected:
        status = 499
    finally:
        observe(method, f"/:repo.git/{action}", status, time.perf_counter() - started)
