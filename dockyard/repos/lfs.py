"""Git LFS over HTTP as a native ASGI handler, on GitLab's paths (``config/routes/git_http.rb``):

- ``POST <project>.git/info/lfs/objects/batch``: the Batch API; answers ``{"transfer": "basic",
  "objects": [...]}`` with ``upload``/``download`` actions pointing at the two paths below;
- ``PUT <project>.git/gitlab-lfs/objects/<oid>/<size>``: upload, hashed while it streams to storage;
- ``GET <project>.git/gitlab-lfs/objects/<oid>``: download, streamed from storage;
- ``POST <project>.git/info/lfs/objects`` and ``GET .../info/lfs/objects/<oid>``: the pre-batch API,
  answered 501 as GitLab does;
- ``<project>.git/info/lfs/locks…``: file locking is not offered (501, which makes git-lfs stop
  verifying locks for the remote by itself).

Object bodies never sit in memory whole: they move in chunks between the socket and object storage,
with file I/O in worker threads. Like ``repos/http.py``, Django is only asked who may do what.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import unquote

from dockyard.core.logging import get_logger
from dockyard.core.middleware import observe
from dockyard.core.native import (
    BASIC_CHALLENGE,
    NO_CACHE,
    BodyTooLarge,
    ClientDisconnected,
    Receive,
    Scope,
    Send,
    external_base,
    read_body,
    request_body,
    request_headers,
    respond,
    respond_json,
    run_db,
    stream,
)
from dockyard.core.storage import CHUNK_SIZE, ObjectNotFound, ObjectWriter, object_storage
from dockyard.repos.lfs_objects import (
    LFS_DISABLED_MESSAGE,
    OID,
    TOKEN_TTL,
    Operation,
    lfs_batch_access,
    lfs_key,
    lfs_linked_objects,
    lfs_linked_size,
    lfs_object_link,
    lfs_transfer_access,
    lfs_transfer_authorization,
)
from dockyard.repos.selectors import GitAccess

# LFS URLs always carry ``.git`` (git-lfs appends it to a remote URL that lacks it), so this never
# overlaps the git route; the router still tries it first.
ROUTE = re.compile(r"^/(?P<repo>[^?#]+?)\.git/(?P<rest>info/lfs(?:/.*)?|gitlab-lfs/objects/.*)$")
_OBJECT = re.compile(r"\Agitlab-lfs/objects/(?P<oid>[0-9a-f]{64})(?:/(?P<size>[0-9]{1,19}))?\Z")
LFS_JSON = "application/vnd.git-lfs+json"
BATCH_BODY_LIMIT = 4 * 1024 * 1024
# Uploads are hashed and written in slices of about this size, in a worker thread each.
WRITE_SLICE = 1024 * 1024
log = get_logger("dockyard.lfs")


@dataclass(frozen=True)
class _Call:
    """One LFS request: what every step below needs to answer it."""

    scope: Scope
    receive: Receive
    send: Send
    headers: dict[str, str]
    repo: str

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def base_url(self) -> str:
        return external_base(self.scope, self.headers)

    async def error(self, status: int, message: str) -> int:
        """Answer in GitLab's LFS error shape; returns ``status`` for the metrics."""
        payload: dict[str, Any] = {"message": message}
        if status in (403, 404, 501):
            payload["documentation_url"] = f"{self.base_url}/help"
        await respond_json(self.send, status, payload, LFS_JSON, BASIC_CHALLENGE if status == 401 else None)
        return status

    async def denied(self, access: GitAccess) -> int:
        # GitLab's LFS wording for 403/404 (a disabled LFS keeps its own); git's Basic challenge on 401.
        message = {403: "Access forbidden. Check your access level.", 404: "Not found."}.get(
            access.status, access.message
        )
        if access.message == LFS_DISABLED_MESSAGE:
            message = access.message
        return await self.error(access.status, message)

    async def plain(self, status: int, text: str) -> int:
        await respond(self.send, status, (text + "\n").encode(), "text/plain; charset=utf-8")
        return status


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


async def lfs_http(scope: Scope, receive: Receive, send: Send) -> None:
    started = time.perf_counter()
    match = ROUTE.match(scope["path"])
    assert match is not None  # the router only sends matching paths here
    call = _Call(scope, receive, send, request_headers(scope), unquote(match["repo"]))
    rest = match["rest"]
    method = scope["method"]
    status, route = 404, "/:repo.git/info/lfs/*"
    try:
        if rest == "info/lfs/objects/batch":
            route = "/:repo.git/info/lfs/objects/batch"
            status = await _batch(call) if method == "POST" else await call.error(405, "405 Method Not Allowed")
        elif rest.startswith("info/lfs/locks"):
            route = "/:repo.git/info/lfs/locks"
            status = await _locks(call)
        elif (rest == "info/lfs/objects" and method == "POST") or (
            rest.startswith("info/lfs/objects/") and method == "GET"
        ):
            route = "/:repo.git/info/lfs/objects"
            status = await call.error(
                501, "Server supports batch API only, please update your Git LFS client to version 1.0.1 and up."
            )
        elif (obj := _OBJECT.match(rest)) is not None:
            oid, size = obj["oid"], obj["size"]
            if size is None:
                route = "/:repo.git/gitlab-lfs/objects/:oid"
                ok = method in ("GET", "HEAD")
                status = await _download(call, oid) if ok else await call.error(405, "405 Method Not Allowed")
            else:
                route = "/:repo.git/gitlab-lfs/objects/:oid/:size"
                ok = method == "PUT"
                status = await _upload(call, oid, int(size)) if ok else await call.error(405, "405 Method Not Allowed")
        else:
            status = await call.error(404, "Not found.")
    except ClientDisconnected:
        status = 499
    finally:
        observe(method, route, status, time.perf_counter() - started)


async def _batch(call: _Call) -> int:
    try:
        request = json.loads(await read_body(call.receive, BATCH_BODY_LIMIT))
    except BodyTooLarge:
        return await call.error(413, "Batch request too large")
    except ValueError:
        return await call.error(422, "Invalid JSON in the batch request")
    if not isinstance(request, dict):
        request = {}
    operation = request.get("operation")
    access = await run_db(
        lfs_batch_access, repository_path=call.repo, authorization=call.authorization, operation=str(operation)
    )
    if not access.allowed:
        return await call.denied(access)
    assert access.project is not None
    objects = request.get("objects")
    if operation not in ("upload", "download"):
        return await call.error(422, "operation must be upload or download")
    if request.get("hash_algo", "sha256") != "sha256":
        return await call.error(409, "Only sha256 object ids are supported")
    if not isinstance(objects, list) or not objects:
        return await call.error(404, "Not found.")  # GitLab's answer to an empty batch

    project = access.project
    linked = await run_db(lfs_linked_objects, project_id=project.id, oids=[o["oid"] for o in objects if _valid(o)])
    base = f"{call.base_url}/{project.full_path}.git/gitlab-lfs/objects"
    answers = []
    for item in objects:
        if not _valid(item):
            answers.append({**(item if isinstance(item, dict) else {}), "error": _INVALID})
            continue
        oid, size = item["oid"], item["size"]
        answer: dict[str, Any] = {"oid": oid, "size": size}
        grant = lfs_transfer_authorization(project_id=project.id, user=access.user, oid=oid, operation=operation)
        if operation == "download":
            if oid in linked:
                answer.update(size=linked[oid], authenticated=True)
                answer["actions"] = {
                    "download": {"href": f"{base}/{oid}", "header": {"Authorization": grant}, "expires_in": TOKEN_TTL}
                }
            else:
                answer["error"] = _MISSING
        elif oid not in linked:  # an upload without actions means "the project holds it already"
            answer["authenticated"] = True
            answer["actions"] = {
                "upload": {
                    "href": f"{base}/{oid}/{size}",
                    # GitLab's headers; chunked makes git-lfs stream the file without a length.
                    "header": {
                        "Authorization": grant,
                        "Content-Type": "application/octet-stream",
                        "Transfer-Encoding": "chunked",
                    },
                    "expires_in": TOKEN_TTL,
                }
            }
        answers.append(answer)
    await respond_json(call.send, 200, {"transfer": "basic", "objects": answers}, LFS_JSON)
    return 200


_INVALID = {"code": 422, "message": "Invalid object: oid must be 64 hex digits of SHA-256 and size a count of bytes"}
_MISSING = {"code": 404, "message": "Object does not exist on the server or you don't have permissions to access it"}


def _valid(item: object) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("oid"), str)
        and OID.match(item["oid"]) is not None
        and type(item.get("size")) is int
        and item["size"] >= 0
    )


async def _transfer_access(call: _Call, oid: str, operation: Operation) -> GitAccess:
    return await run_db(
        lfs_transfer_access,
        repository_path=call.repo,
        authorization=call.authorization,
        oid=oid,
        operation=operation,
    )


async def _download(call: _Call, oid: str) -> int:
    access = await _transfer_access(call, oid, "download")
    if not access.allowed:
        return await call.denied(access)
    assert access.project is not None
    size = await run_db(lfs_linked_size, project_id=access.project.id, oid=oid)
    if size is None:
        return await call.error(404, "Not found.")
    try:
        fh = await asyncio.to_thread(object_storage().open_read, lfs_key(oid))
    except ObjectNotFound:
        log.warning("lfs object missing from storage", oid=oid, project_id=access.project.id)
        return await call.error(404, "Not found.")
    extra = [(b"content-length", str(size).encode()), *NO_CACHE]
    try:
        if call.scope["method"] == "HEAD":
            start = [(b"content-type", b"application/octet-stream"), *extra]
            await call.send({"type": "http.response.start", "status": 200, "headers": start})
            await call.send({"type": "http.response.body", "body": b""})
        else:
            await stream(call.send, "application/octet-stream", _chunks(fh), extra=extra)
    finally:
        await asyncio.to_thread(fh.close)
    return 200


async def _chunks(fh: BinaryIO) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(fh.read, CHUNK_SIZE):
        yield chunk


async def _upload(call: _Call, oid: str, size: int) -> int:
    access = await _transfer_access(call, oid, "upload")
    if not access.allowed:
        return await call.denied(access)
    assert access.project is not None
    declared = call.headers.get("content-length")
    if declared is not None and declared.strip() != str(size):
        return await call.plain(400, "SHA256 or size mismatch")
    storage = object_storage()
    key = lfs_key(oid)
    writer = await asyncio.to_thread(storage.open_write, key)
    try:
        with writer:
            await _receive_verified(call.receive, writer, oid, size)
            if await asyncio.to_thread(storage.exists, key):
                writer.abort()  # stored already for another project: same bytes, keep the existing file
            else:
                await asyncio.to_thread(writer.commit)
    except _Refused as refused:
        return await call.plain(refused.status, refused.message)
    if not await run_db(lfs_object_link, project_id=access.project.id, oid=oid, size=size):
        return await call.error(404, "Not found.")  # the project was deleted during the upload
    await respond(call.send, 200, b"", LFS_JSON)
    return 200


async def _receive_verified(receive: Receive, writer: ObjectWriter, oid: str, size: int) -> None:
    """Stream the body into ``writer`` while hashing it; refuse a body whose length or SHA-256 is not
    what the URL promised (the caller's ``with`` then discards the pending object)."""
    digest = hashlib.sha256()
    pending = bytearray()
    received = 0

    def absorb(data: bytes) -> None:
        digest.update(data)
        writer.write(data)

    async for chunk in request_body(receive):
        received += len(chunk)
        if received > size:
            raise _Refused(400, "SHA256 or size mismatch")
        pending += chunk
        if len(pending) >= WRITE_SLICE:
            await asyncio.to_thread(absorb, bytes(pending))
            pending.clear()
    if pending:
        await asyncio.to_thread(absorb, bytes(pending))
    if received != size or digest.hexdigest() != oid:
        raise _Refused(400, "SHA256 or size mismatch")


async def _locks(call: _Call) -> int:
    """GitLab offers file locking; Dockyard does not yet. 501 (after the same access check as a fetch,
    so a private project stays hidden) is what makes git-lfs stop verifying locks on push."""
    access = await run_db(
        lfs_batch_access, repository_path=call.repo, authorization=call.authorization, operation="download"
    )
    if not access.allowed:
        return await call.denied(access)
    return await call.error(501, "Git LFS file locking is not supported by this server.")
