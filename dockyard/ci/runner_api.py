"""The GitLab Runner protocol's ordinary requests: registration, verification, job updates and log chunks.

Runners authenticate with their token in the body (``token``) and jobs with their job token (body
``token`` or the ``JOB-TOKEN`` header), never with a user's credentials, so these routes opt out of the
API's token authentication. ``jobs/request``, artifacts, job updates and log chunks live in
``runner_http.py`` (native: streaming, or called too often for Django's request stack).
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router

from dockyard.accounts.auth import require_user
from dockyard.ci import selectors, services
from dockyard.ci.models import Runner
from dockyard.ci.schemas import RunnerBasic
from dockyard.core.pagination import paginate

router = Router(tags=["runner protocol"])


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
