"""The GitLab Runner protocol's ordinary requests: registration, verification, job updates and log chunks.

Runners authenticate with their token in the body (``token``) and jobs with their job token (body
``token`` or the ``JOB-TOKEN`` header), never with a user's credentials, so these routes opt out of the
API's token authentication. ``jobs/request`` and artifacts live in ``runner_http.py`` (native, streaming).
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router

from dockyard.accounts.auth import require_user
from dockyard.ci import selectors, services
from dockyard.ci.models import ON_RUNNER_STATUSES, Job, Runner, Status
from dockyard.ci.schemas import RunnerBasic
from dockyard.core.pagination import paginate

router = Router(tags=["runner protocol"])
TRACE_UPDATE_INTERVAL = "30"
_RANGE = re.compile(r"^(\d+)-(\d+)$")


def _params(request: HttpRequest) -> dict[str, Any]:
    """Body parameters as Grape reads them: JSON, or a form, over the query string."""
    params: dict[str, Any] = {k: v for k, v in request.GET.items()}
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        params.update({k: (request.POST.getlist(k) if k.endswith("[]") else request.POST[k]) for k in request.POST})
    elif request.body:
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict):
            params.update(body)
    return params


def _forbidden(job_status: str | None = None) -> HttpResponse:
    response = JsonResponse({"message": "403 Forbidden"}, status=403)
    if job_status:
        response["Job-Status"] = job_status
    return response


def _runner(params: dict[str, Any], request: HttpRequest) -> Runner | None:
    return selectors.runner_by_token(token=params.get("token") or request.headers.get("Runner-Token"))


def _bool(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes", "on")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _runner_body(runner: Runner, token: str) -> dict[str, Any]:
    expires = runner.token_expires_at.isoformat() if runner.token_expires_at else None
    return {"id": runner.pk, "token": token, "token_expires_at": expires}


@router.post("/runners", auth=None)
def register(request: HttpRequest) -> HttpResponse:
    """Legacy registration with a registration token (``gitlab-runner register -r …``)."""
    params = _params(request)
    tags = params.get("tag_list[]") or params.get("tag_list")
    runner, token = services.runner_register(
        registration=str(params.get("token") or ""),
        description=params.get("description"),
        maintenance_note=params.get("maintenance_note"),
        tag_list=tags,
        run_untagged=_bool(params.get("run_untagged")),
        locked=_bool(params.get("locked")),
        paused=_bool(params.get("paused")) or (_bool(params.get("active")) is False),
        access_level=params.get("access_level"),
        maximum_timeout=_int(params.get("maximum_timeout")),
    )
    return JsonResponse(_runner_body(runner, token), status=201)


@router.post("/runners/verify", auth=None)
def verify(request: HttpRequest) -> HttpResponse:
    params = _params(request)
    runner = _runner(params, request)
    if runner is None:
        return _forbidden()
    services.runner_heartbeat(
        runner=runner,
        system_id=params.get("system_id"),
        info=params.get("info") if isinstance(params.get("info"), dict) else None,
        ip_address=request.META.get("REMOTE_ADDR", ""),
    )
    return JsonResponse(_runner_body(runner, str(params.get("token") or request.headers.get("Runner-Token"))))


@router.delete("/runners", auth=None)
def unregister(request: HttpRequest) -> HttpResponse:
    runner = _runner(_params(request), request)
    if runner is None:
        return _forbidden()
    services.runner_delete(runner=runner)
    return HttpResponse(status=204)


@router.delete("/runners/managers", auth=None)
def unregister_manager(request: HttpRequest) -> HttpResponse:
    params = _params(request)
    runner = _runner(params, request)
    if runner is None:
        return _forbidden()
    services.runner_manager_delete(runner=runner, system_id=str(params.get("system_id") or ""))
    return HttpResponse(status=204)


@router.post("/runners/reset_authentication_token", auth=None)
def reset_token(request: HttpRequest) -> HttpResponse:
    runner = _runner(_params(request), request)
    if runner is None:
        return _forbidden()
    token = services.runner_reset_token(runner=runner)
    return JsonResponse({"token": token, "token_expires_at": None}, status=201)


@router.get("/runners/router/discovery", auth=None)
def discovery(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"message": "501 Not Implemented"}, status=501)


def _job_for_token(request: HttpRequest, job_id: int, params: dict[str, Any]) -> tuple[Job | None, HttpResponse | None]:
    """GitLab's ``authenticate_job!``: the job's own token, and the job must be running."""
    holder = selectors.runner_job_by_token(token=params.get("token") or request.headers.get("Job-Token"))
    job = holder if holder is not None and holder.pk == job_id else selectors.runner_job_by_id(job_id=job_id)
    if job is None:
        return None, JsonResponse({"message": "404 Not Found"}, status=404)
    if holder is None or holder.pk != job.pk:
        return None, _forbidden()
    if job.status not in ON_RUNNER_STATUSES:
        return None, _forbidden(job.status)
    return job, None


@router.put("/jobs/{job_id}", auth=None)
def update_job(request: HttpRequest, job_id: int) -> HttpResponse:
    """The runner's status reports: ``running`` (keep-alive, cancel check), then ``success`` or ``failed``.
    The answer's ``Job-Status`` tells the runner when the job was canceled (``canceling``: stop, run
    ``after_script``, report; GitLab's graceful cancel)."""
    params = _params(request)
    job, refusal = _job_for_token(request, job_id, params)
    if refusal is not None or job is None:
        return refusal or _forbidden()
    state = params.get("state")
    if state in (None, "", "running", "pending"):
        services.job_touch(job=job)
    elif state in (Status.SUCCESS, Status.FAILED):
        job = services.job_finish(
            job=job, status=state, failure_reason=params.get("failure_reason"), exit_code=_int(params.get("exit_code"))
        )
    else:
        return JsonResponse({"message": "400 Bad request - Unknown state"}, status=400)
    response = HttpResponse("200", content_type="text/plain", status=200)
    response["Job-Status"] = job.status
    response["X-GitLab-Trace-Update-Interval"] = TRACE_UPDATE_INTERVAL
    return response


@router.patch("/jobs/{job_id}/trace", auth=None)
def append_trace(request: HttpRequest, job_id: int) -> HttpResponse:
    """A chunk of the job's log at byte ``start`` of ``Content-Range: start-end``."""
    job, refusal = _job_for_token(request, job_id, {"token": request.GET.get("token")})
    if refusal is not None or job is None:
        return refusal or _forbidden()
    content_range = request.headers.get("Content-Range", "")
    match = _RANGE.match(content_range.strip())
    if match is None:
        return JsonResponse({"message": "400 Bad request - Missing header Content-Range"}, status=400)
    try:
        size = services.trace_append(job=job, start=int(match[1]), data=request.body)
    except services.TraceRangeError as exc:
        response = HttpResponse(status=416)
        response["Range"] = f"0-{exc.size}"
        return response
    response = HttpResponse(status=202)
    response["Job-Status"] = job.status
    response["Range"] = f"0-{size}"
    response["X-GitLab-Trace-Update-Interval"] = TRACE_UPDATE_INTERVAL
    return response


# ``GET /runners`` shares its path with the protocol's ``POST``/``DELETE /runners``, so it lives on this router.


@router.get("/runners", response=list[RunnerBasic])
def list_owned_runners(request: HttpRequest, response: HttpResponse) -> list[Runner]:
    user = require_user(request)
    filters = selectors.RunnerFilters(
        type=request.GET.get("type"),
        status=request.GET.get("status"),
        paused=_bool(request.GET.get("paused")),
        tag_list=[t for item in request.GET.getlist("tag_list") for t in item.split(",") if t],
    )
    return paginate(request, response, selectors.runner_list_owned(viewer=user, filters=filters))
