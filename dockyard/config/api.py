"""The one NinjaAPI behind ``/api/v4``: authentication, request parsing and error mapping in GitLab's shapes."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.datastructures import MultiValueDict
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser

from dockyard.accounts.auth import TokenAuth
from dockyard.core.errors import DockyardError
from dockyard.core.logging import get_logger

log = get_logger("dockyard.api")


def _form_to_dict(data: MultiValueDict[str, Any]) -> dict[str, Any]:
    """Rails-style form fields (``topics[]=a&topics[]=b``, ``h[k]=v``) into plain JSON-like values."""
    result: dict[str, Any] = {}
    for key in data:
        if key.endswith("[]"):
            result[key[:-2]] = data.getlist(key)
        elif "[" in key and key.endswith("]"):
            outer, _, inner = key[:-1].partition("[")
            result.setdefault(outer, {})[inner] = data[key]
        else:
            result[key] = data[key]
    return result


class GitLabParser(Parser):
    """Accept parameters the way GitLab (Grape) does: a JSON body, a form body, or the query string.

    Clients differ (python-gitlab sends JSON, curl users send forms, some send query parameters on
    POST), so body parameters are merged over query parameters.
    """

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        params = _form_to_dict(request.GET)
        params.pop("private_token", None)
        content_type = request.content_type or ""
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            params.update(_form_to_dict(request.POST))
        elif request.body:
            try:
                body = json.loads(request.body)
            except (ValueError, UnicodeDecodeError):
                raise DockyardError("400 Bad request - The request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise DockyardError("400 Bad request - The request body must be a JSON object")
            params.update(body)
        return params

    def parse_querydict(
        self, data: MultiValueDict[str, Any], list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key in data:
            name = key[:-2] if key.endswith("[]") else key
            result[name] = data.getlist(key) if name in list_fields else data[key]
        return result


api = NinjaAPI(
    title="Dockyard REST API",
    version="v4",
    description="GitLab-compatible REST API v4",
    auth=TokenAuth(),
    parser=GitLabParser(),
    urls_namespace="api-v4",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def _json(status: int, body: dict[str, Any]) -> JsonResponse:
    return JsonResponse(body, status=status)


@api.exception_handler(DockyardError)
def _dockyard_error(request: HttpRequest, exc: DockyardError) -> HttpResponse:
    response = _json(exc.status, exc.body())
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="GitLab"'
    return response


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _json(401, {"message": "401 Unauthorized"})


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    """Grape's parameter errors: ``{"error": "name is missing, visibility does not have a valid value"}``."""
    parts: list[str] = []
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "payload", "data")]
        name = "[".join(loc[:1]) + "".join(f"[{p}]" for p in loc[1:]) if loc else "parameters"
        kind = err.get("type", "")
        if kind == "missing":
            parts.append(f"{name} is missing")
        elif kind.startswith(("int_", "bool_", "float_", "date", "datetime")):
            parts.append(f"{name} is invalid")
        else:
            parts.append(f"{name} does not have a valid value")
    return _json(400, {"error": ", ".join(dict.fromkeys(parts))})


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _json(exc.status_code, {"message": f"{exc.status_code} {exc.message}"})


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("unhandled_api_error", path=request.path)
    return _json(500, {"message": "500 Internal Server Error"})


def _register_routers() -> None:
    from dockyard.accounts.api import router as accounts_router
    from dockyard.accounts.api import tokens_router
    from dockyard.ci.api import router as ci_router
    from dockyard.ci.runner_api import router as ci_runner_router
    from dockyard.config.application_settings_api import router as application_settings_router
    from dockyard.config.instance_api import router as core_router
    from dockyard.events.api import router as events_router
    from dockyard.events.api_audit import router as audit_events_router
    from dockyard.issues.api import router as issues_router
    from dockyard.issues.api_labels import router as labels_router
    from dockyard.merge_requests.api import router as merge_requests_router
    from dockyard.merge_requests.api_notes import router as merge_request_notes_router
    from dockyard.namespaces.api import router as namespaces_router
    from dockyard.notes.api import router as notes_router
    from dockyard.notifications.api import router as notification_settings_router
    from dockyard.permissions.api import router as members_router
    from dockyard.projects.api import router as projects_router
    from dockyard.repos.api import internal as internal_router
    from dockyard.repos.api import router as repos_router
    from dockyard.repos.api_repository import router as repository_router
    from dockyard.webhooks.api import router as hooks_router

    api.add_router("", core_router)
    api.add_router("", accounts_router)
    api.add_router("", tokens_router)
    api.add_router("", namespaces_router)
    api.add_router("", projects_router)
    api.add_router("", members_router)
    api.add_router("", repos_router)
    api.add_router("", repository_router)
    api.add_router("", internal_router)
    api.add_router("", issues_router)
    api.add_router("", labels_router)
    api.add_router("", notes_router)
    api.add_router("", merge_requests_router)
    api.add_router("", merge_request_notes_router)
    api.add_router("", hooks_router)
    api.add_router("", events_router)
    api.add_router("", audit_events_router)
    api.add_router("", notification_settings_router)
    api.add_router("", application_settings_router)
    api.add_router("", ci_runner_router)  # before ci_router: it owns ``/runners`` (GET, POST, DELETE)
    api.add_router("", ci_router)


_register_routers()
