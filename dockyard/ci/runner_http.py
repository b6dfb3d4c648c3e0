"""The runner endpoints that must not hold a Django thread: ``POST /api/v4/jobs/request`` (long polling)
and job artifacts (streamed uploads and downloads), as native ASGI handlers.

``jobs/request`` answers at once when a job is there; otherwise it waits up to
``DOCKYARD_CI_LONG_POLL_SECONDS`` (50 s, as GitLab Workhorse) and answers 204 when the time is up or the
runner hangs up. A job queued in this process (the embedded task worker creating a push's pipeline, an
API call, a job finishing) wakes the waiting polls as soon as its transaction commits; jobs queued by
another process (``dockyard worker``, another web process) are found by one cheap query twice a second.
At scale a notification (PostgreSQL LISTEN or Redis, as Workhorse watches Redis) would replace that query.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from python_multipart.multipart import MultipartParser, parse_options_header

from dockyard.ci import payload, selectors, services
from dockyard.ci.models import ON_RUNNER_STATUSES, Job, Status
from dockyard.config.env import ENV
from dockyard.core.errors import BadRequest
from dockyard.core.middleware import observe
from dockyard.core.native import (
    BodyTooLarge,
    ClientDisconnected,
    Headers,
    Receive,
    Scope,
    Send,
    external_base,
    read_body,
    request_body,
    request_headers,
    respond_json,
    run_db,
    stream,
)
from dockyard.core.storage import object_storage
from dockyard.core.urls import bind_base

JOBS_REQUEST_ROUTE = re.compile(r"^/api/v4/jobs/request/?$")
JOB_ROUTE = re.compile(r"^/api/v4/jobs/(?P<job_id>\d+)/?$")
TRACE_ROUTE = re.compile(r"^/api/v4/jobs/(?P<job_id>\d+)/trace/?$")
ARTIFACTS_ROUTE = re.compile(r"^/api/v4/jobs/(?P<job_id>\d+)/artifacts/?$")
POLL_INTERVAL = 0.5
TRACE_UPDATE_INTERVAL = b"30"
MAX_TRACE_CHUNK = 16 * 1024 * 1024
_RANGE = re.compile(r"^(\d+)-(\d+)$")
MAX_REQUEST_BODY = 1024 * 1024
MAX_ARTIFACT_SIZE = 1024 * 1024 * 1024
ARTIFACT_TYPES = frozenset({"archive", "junit", "dotenv", "metadata", "trace", "cobertura", "codequality", "coverage"})
ARTIFACT_FORMATS = frozenset({"zip", "gzip", "raw"})
# Runners poll all the time, so their requests also drive the check for stuck and lost jobs.
STALE_CHECK_INTERVAL = 60.0
_last_stale_check = 0.0


def _query(scope: Scope) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


async def _message(send: Send, status: int, message: str, extra: Headers | None = None) -> None:
    await respond_json(send, status, {"message": message}, extra=extra)


# --- POST /jobs/request ------------------------------------------------------------------------------

# The long polls waiting in this process, each with the event loop it waits on; woken from any thread.
_waiting: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
_waiting_lock = threading.Lock()


@services.on_jobs_pending
def _wake_long_polls() -> None:
    with _waiting_lock:
        waiting = list(_waiting)
    for loop, event in waiting:
        with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits on it any more
            loop.call_soon_threadsafe(event.set)


async def _wait_for_jobs(seconds: float) -> bool:
    """Wait until a job is queued in this process (True) or ``seconds`` pass (False)."""
    key = (asyncio.get_running_loop(), asyncio.Event())
    with _waiting_lock:
        _waiting.add(key)
    try:
        async with asyncio.timeout(seconds):
            await key[1].wait()
        return True
    except TimeoutError:
        return False
    finally:
        with _waiting_lock:
            _waiting.discard(key)


def _request_job(
    *, token: str | None, system_id: str | None, info: Any, ip: str, base: str, heartbeat: bool
) -> tuple[int, dict[str, Any] | None]:
    runner, known = selectors.runner_and_manager(token=token, system_id=system_id)
    if runner is None:
        return 403, None
    manager = None
    if heartbeat or system_id:
        manager = services.runner_heartbeat(
            runner=runner,
            system_id=system_id,
            info=info if isinstance(info, dict) else None,
            ip_address=ip,
            manager=known,
        )
    assignment = services.job_request(runner=runner, manager=manager)
    if assignment is None:
        return 204, None
    return 201, payload.job_payload(job=assignment.job, token=assignment.token, base=base, runner=runner)


def _parse_params(body: bytes, content_type: str) -> dict[str, Any]:
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def _maybe_drop_stale() -> None:
    global _last_stale_check  # noqa: PLW0603 - one timestamp per process, read and set on the event loop
    now = time.monotonic()
    if now - _last_stale_check >= STALE_CHECK_INTERVAL:
        _last_stale_check = now
        await run_db(services.jobs_drop_stale)
        await run_db(services.jobs_enqueue_due)


async def jobs_request(scope: Scope, receive: Receive, send: Send) -> None:
    started = time.perf_counter()
    status = 204
    try:
        if scope["method"] != "POST":
            status = 405
            await _message(send, 405, "405 Method Not Allowed")
            return
        headers = request_headers(scope)
        try:
            body = await read_body(receive, MAX_REQUEST_BODY)
        except BodyTooLarge:
            status = 413
            await _message(send, 413, "413 Request Entity Too Large")
            return
        params = _parse_params(body, headers.get("content-type", ""))
        token = params.get("token") or headers.get("runner-token")
        base = external_base(scope, headers)
        await _maybe_drop_stale()
        disconnected = asyncio.ensure_future(receive())  # resolves when the runner hangs up
        deadline = time.monotonic() + max(ENV.ci_long_poll_seconds, 0)
        heartbeat = True
        try:
            while True:
                status, job = await run_db(
                    _request_job,
                    token=token,
                    system_id=params.get("system_id"),
                    info=params.get("info"),
                    ip=_client_ip(scope),
                    base=base,
                    heartbeat=heartbeat,
                )
                heartbeat = False
                if status != 204 or time.monotonic() >= deadline:
                    break
                while time.monotonic() < deadline and not disconnected.done():
                    woken = await _wait_for_jobs(min(POLL_INTERVAL, max(deadline - time.monotonic(), 0)))
                    if woken or await run_db(selectors.pending_jobs_exist):
                        break
                if disconnected.done():
                    status = 499
                    return
        finally:
            disconnected.cancel()
        extra = [(b"x-gitlab-last-update", secrets.token_hex(16).encode()), (b"gitlab-ci-builds-polling", b"yes")]
        if status == 201:
            await respond_json(send, 201, job, extra=extra)
        elif status == 204:
            await send({"type": "http.response.start", "status": 204, "headers": extra})
            await send({"type": "http.response.body", "body": b""})
        else:
            await _message(send, 403, "403 Forbidden")
    except ClientDisconnected:
        status = 499
    finally:
        observe(scope["method"], "/api/v4/jobs/request", status, time.perf_counter() - started)


# --- PUT /jobs/:id and PATCH /jobs/:id/trace ----------------------------------------------------------
# Several calls per job from every runner: served here rather than through Django's middleware and
# django-ninja, which cost more than the work itself (docs/decisions/0005-ci-dispatch.md).


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Headers = field(default_factory=list)

    @classmethod
    def message(cls, status: int, text: str, job_status: str | None = None) -> _Answer:
        answer = cls(status, json.dumps({"message": text}).encode())
        if job_status:
            answer.headers.append((b"job-status", job_status.encode()))
        return answer


def _running_job(*, job_id: int, token: str | None) -> tuple[Job | None, _Answer | None]:
    """GitLab's ``authenticate_job!``: the job's own token, and the job must be on its runner."""
    holder = selectors.runner_job_by_token(token=token)
    job = holder if holder is not None and holder.pk == job_id else selectors.runner_job_by_id(job_id=job_id)
    if job is None:
        return None, _Answer.message(404, "404 Not Found")
    if holder is None or holder.pk != job.pk:
        return None, _Answer.message(403, "403 Forbidden")
    if job.status not in ON_RUNNER_STATUSES:
        return None, _Answer.message(403, "403 Forbidden", job.status)
    return job, None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _update_job(*, job_id: int, params: dict[str, Any], token: str | None, base: str) -> _Answer:
    """The runner's status reports: ``running`` (keep-alive, cancel check), then ``success`` or
    ``failed``. ``Job-Status`` in the answer tells the runner when the job was canceled (``canceling``:
    stop, run ``after_script``, report; GitLab's graceful cancel). ``base`` is the server's address as
    the runner called it, for the links in what finishing queues (pipeline mails, hooks)."""
    bind_base(base)
    state = params.get("state")
    exit_code = _int(params.get("exit_code"))
    job = services.job_succeed_by_token(job_id=job_id, token=token, exit_code=exit_code) if state == "success" else None
    if job is None:
        job, refusal = _running_job(job_id=job_id, token=token)
        if refusal is not None or job is None:
            return refusal or _Answer.message(403, "403 Forbidden")
        if state in (None, "", "running", "pending"):
            services.job_touch(job=job)
        elif state in (Status.SUCCESS, Status.FAILED):
            job = services.job_finish(
                job=job, status=state, failure_reason=params.get("failure_reason"), exit_code=exit_code
            )
        else:
            return _Answer.message(400, "400 Bad request - Unknown state")
    headers = [(b"job-status", job.status.encode()), (b"x-gitlab-trace-update-interval", TRACE_UPDATE_INTERVAL)]
    return _Answer(200, b"200", "text/plain", headers)


def _append_trace(*, job_id: int, token: str | None, content_range: str, data: bytes) -> _Answer:
    """A chunk of the job's log at byte ``start`` of ``Content-Range: start-end``: 202, or 416 with the
    log's size in ``Range`` when the chunk does not continue the log."""
    job, refusal = _running_job(job_id=job_id, token=token)
    if refusal is not None or job is None:
        return refusal or _Answer.message(403, "403 Forbidden")
    match = _RANGE.match(content_range.strip())
    if match is None:
        return _Answer.message(400, "400 Bad request - Missing header Content-Range")
    try:
        size = services.trace_append(job=job, start=int(match[1]), data=data)
    except services.TraceRangeError as exc:
        return _Answer(416, headers=[(b"range", f"0-{exc.size}".encode())])
    headers = [
        (b"job-status", job.status.encode()),
        (b"range", f"0-{size}".encode()),
        (b"x-gitlab-trace-update-interval", TRACE_UPDATE_INTERVAL),
    ]
    return _Answer(202, headers=headers)


async def _answer(send: Send, answer: _Answer) -> None:
    headers = [(b"content-type", answer.content_type.encode()), (b"content-length", str(len(answer.body)).encode())]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers + answer.headers})
    await send({"type": "http.response.body", "body": answer.body})


async def _job_call(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    route: re.Pattern[str],
    label: str,
    limit: int,
    handle: Callable[[int, dict[str, str], bytes], Awaitable[_Answer]],
) -> None:
    """The frame of a runner's small call about one job: a body read up to ``limit``, ``handle``'s
    answer, and the request metric under ``label``."""
    started = time.perf_counter()
    answer = _Answer(499)
    try:
        match = route.match(scope["path"])
        assert match is not None
        headers = request_headers(scope)
        try:
            body = await read_body(receive, limit)
        except BodyTooLarge:
            answer = _Answer.message(413, "413 Request Entity Too Large")
        else:
            answer = await handle(int(match["job_id"]), headers, body)
        await _answer(send, answer)
    except ClientDisconnected:
        answer = _Answer(499)
    finally:
        observe(scope["method"], label, answer.status, time.perf_counter() - started)


async def job_update(scope: Scope, receive: Receive, send: Send) -> None:
    """``PUT /api/v4/jobs/:id`` (other methods on this path are the jobs API, in Django)."""

    async def handle(job_id: int, headers: dict[str, str], body: bytes) -> _Answer:
        # Grape reads parameters from the body over the query string.
        params: dict[str, Any] = {**_query(scope), **_parse_params(body, headers.get("content-type", ""))}
        token = params.get("token") or headers.get("job-token")
        base = external_base(scope, headers)
        return await run_db(_update_job, job_id=job_id, params=params, token=token, base=base)

    await _job_call(
        scope, receive, send, route=JOB_ROUTE, label="/api/v4/jobs/<job_id>", limit=MAX_REQUEST_BODY, handle=handle
    )


async def job_trace(scope: Scope, receive: Receive, send: Send) -> None:
    """``PATCH /api/v4/jobs/:id/trace`` (``GET`` of the same path is the jobs API's, in Django)."""

    async def handle(job_id: int, headers: dict[str, str], data: bytes) -> _Answer:
        token = _query(scope).get("token") or headers.get("job-token")
        content_range = headers.get("content-range", "")
        return await run_db(_append_trace, job_id=job_id, token=token, content_range=content_range, data=data)

    await _job_call(
        scope,
        receive,
        send,
        route=TRACE_ROUTE,
        label="/api/v4/jobs/<job_id>/trace",
        limit=MAX_TRACE_CHUNK,
        handle=handle,
    )


# --- artifacts -------------------------------------------------------------------------------------


@dataclass
class _JobAccess:
    status: int
    job: Job | None = None
    job_status: str | None = None


def _upload_access(*, job_id: int, token: str | None) -> _JobAccess:
    job = selectors.job_by_id(job_id=job_id)
    if job is None:
        return _JobAccess(404)
    holder = selectors.job_by_token(token=token)
    if holder is None or holder.pk != job.pk:
        return _JobAccess(403)
    if job.status not in ON_RUNNER_STATUSES:
        return _JobAccess(403, job_status=job.status)
    return _JobAccess(200, job=job)


def _download_access(*, job_id: int, token: str | None) -> _JobAccess:
    job = selectors.job_by_id(job_id=job_id)
    downloader = selectors.job_by_token(token=token)
    if downloader is None:
        return _JobAccess(401)
    if job is None or not selectors.job_can_download_artifacts(downloader=downloader, job=job):
        return _JobAccess(403 if job is not None else 404)
    return _JobAccess(200, job=job)


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    field_name: bytes = b""
    value: bytes = b""


class _UploadParser:
    """Feeds the multipart body through python-multipart, handing the ``file`` part's bytes on as they come."""

    def __init__(self, boundary: bytes) -> None:
        self.parts: list[_Part] = []
        self.pending: list[bytes] = []
        self.filename: str | None = None
        self._in_file = False
        self._header_field = b""
        self._header_value = b""
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_part_data": self._part_data,
                "on_header_field": self._header_field_data,
                "on_header_value": self._header_value_data,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
            },
        )

    def _part_begin(self) -> None:
        self.parts.append(_Part())
        self._in_file = False

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self.parts[-1].headers[self._header_field.decode("latin-1").lower()] = self._header_value.decode(
            "utf-8", "replace"
        )
        self._header_field = self._header_value = b""

    def _headers_finished(self) -> None:
        disposition = self.parts[-1].headers.get("content-disposition", "")
        _, options = parse_options_header(disposition)
        self.parts[-1].field_name = options.get(b"name", b"")
        if self.parts[-1].field_name == b"file" and self.filename is None:
            self._in_file = True
            raw_name = options.get(b"filename", b"artifacts.zip").decode("utf-8", "replace")
            self.filename = raw_name.rsplit("/", 1)[-1] or "artifacts.zip"

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.pending.append(data[start:end])
        elif len(self.parts[-1].value) < 4096:
            self.parts[-1].value += data[start:end]

    def take(self) -> bytes:
        chunk = b"".join(self.pending)
        self.pending.clear()
        return chunk


async def _upload(scope: Scope, receive: Receive, send: Send, job_id: int, headers: dict[str, str]) -> int:
    query = _query(scope)
    token = headers.get("job-token") or query.get("token") or query.get("job_token")
    access = await run_db(_upload_access, job_id=job_id, token=token)
    if access.status != 200 or access.job is None:
        extra = [(b"job-status", access.job_status.encode())] if access.job_status else None
        text = {403: "403 Forbidden", 404: "404 Not Found"}.get(access.status, "403 Forbidden")
        await _message(send, access.status, text, extra)
        return access.status
    file_type = query.get("artifact_type") or "archive"
    file_format = query.get("artifact_format") or ("zip" if file_type == "archive" else "gzip")
    if file_type not in ARTIFACT_TYPES or file_format not in ARTIFACT_FORMATS:
        await respond_json(send, 400, {"error": "artifact_type does not have a valid value"})
        return 400
    content_type, options = parse_options_header(headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        await respond_json(send, 400, {"error": "file is missing"})
        return 400
    job = access.job
    key = services.artifact_key(job=job, file_type=file_type)
    digest = hashlib.sha256()
    parser = _UploadParser(boundary)
    with object_storage().open_write(key) as writer:
        async for chunk in request_body(receive):
            parser.parser.write(chunk)
            data = parser.take()
            if data:
                digest.update(data)
                await asyncio.to_thread(writer.write, data)
                if writer.bytes_written > MAX_ARTIFACT_SIZE:
                    await _message(send, 413, "413 Request Entity Too Large")
                    return 413
        parser.parser.finalize()
        data = parser.take()
        if data:
            digest.update(data)
            await asyncio.to_thread(writer.write, data)
        if parser.filename is None:
            await respond_json(send, 400, {"error": "file is missing"})
            return 400
        size = writer.bytes_written
        await asyncio.to_thread(writer.commit)
    try:
        await run_db(
            services.artifact_create,
            job=job,
            file_type=file_type,
            file_format=file_format,
            filename=parser.filename,
            storage_key=key,
            size=size,
            sha256=digest.hexdigest(),
            expire_in=query.get("expire_in"),
        )
    except BadRequest as exc:  # a dotenv report that breaks GitLab's rules: 400 with its reason
        await asyncio.to_thread(object_storage().delete, key)
        await respond_json(send, 400, {"message": exc.message})
        return 400
    await respond_json(send, 201, {"message": "201 Created"})
    return 201


async def _download(scope: Scope, send: Send, job_id: int, headers: dict[str, str]) -> int:
    query = _query(scope)
    token = headers.get("job-token") or query.get("token") or query.get("job_token")
    access = await run_db(_download_access, job_id=job_id, token=token)
    if access.status != 200 or access.job is None:
        text = {401: "401 Unauthorized", 403: "403 Forbidden", 404: "404 Not Found"}[access.status]
        await _message(send, access.status, text)
        return access.status
    artifact = await run_db(selectors.artifact_get, job=access.job)
    if artifact is None:
        await _message(send, 404, "404 Not Found")
        return 404
    storage = object_storage()

    async def chunks() -> Any:
        reader = await asyncio.to_thread(storage.open_read, artifact.storage_key)
        try:
            while data := await asyncio.to_thread(reader.read, 256 * 1024):
                yield data
        finally:
            reader.close()

    extra = [
        (b"content-length", str(artifact.size).encode()),
        (b"content-disposition", f'attachment; filename="{artifact.filename}"'.encode()),
    ]
    await stream(send, "application/octet-stream", chunks(), extra=extra)
    return 200


async def job_artifacts(scope: Scope, receive: Receive, send: Send) -> None:
    started = time.perf_counter()
    status = 500
    match = ARTIFACTS_ROUTE.match(scope["path"])
    assert match is not None
    headers = request_headers(scope)
    try:
        if scope["method"] == "POST":
            status = await _upload(scope, receive, send, int(match["job_id"]), headers)
        elif scope["method"] in ("GET", "HEAD"):
            status = await _download(scope, send, int(match["job_id"]), headers)
        else:
            status = 405
            await _message(send, 405, "405 Method Not Allowed")
    except ClientDisconnected:
        status = 499
    finally:
        observe(scope["method"], "/api/v4/jobs/:id/artifacts", status, time.perf_counter() - started)
