"""Project hooks (``/projects/:id/hooks``), group hooks (``/groups/:id/hooks``), system hooks (``/hooks``),
their tests and their recent events (GitLab 17.3+'s ``…/hooks/:hook_id/events`` and ``…/resend``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema

from dockyard.accounts.auth import current_user, require_admin, require_user
from dockyard.core.errors import NotFound
from dockyard.core.pagination import paginate
from dockyard.core.schema import Message
from dockyard.namespaces import selectors as namespace_selectors
from dockyard.permissions import policy
from dockyard.projects import selectors as project_selectors
from dockyard.webhooks import selectors, services
from dockyard.webhooks.models import WebHook, WebHookLog
from dockyard.webhooks.schemas import GroupHookOut, HookEventOut, HookIn, ProjectHookOut, ResendOut, SystemHookOut

router = Router(tags=["hooks"])


class EventFilters(Schema):
    status: str | None = None


def _project_hooks(request: HttpRequest, project_id: str) -> tuple[QuerySet[WebHook], dict[str, Any]]:
    project = project_selectors.project_get_for(viewer=current_user(request), ref=project_id)
    policy.authorize(current_user(request), "admin_project", project)
    return selectors.project_hook_list(project=project), {"project": project}


def _group_hooks(request: HttpRequest, group_id: str) -> tuple[QuerySet[WebHook], dict[str, Any]]:
    group = namespace_selectors.group_get_for(viewer=current_user(request), ref=group_id)
    policy.authorize(current_user(request), "admin_group", group)
    return selectors.group_hook_list(group=group), {"group": group}


Scope = Callable[[HttpRequest, str], tuple[QuerySet[WebHook], dict[str, Any]]]


def _hook(request: HttpRequest, scope: Scope, owner_id: str, hook_id: int) -> WebHook:
    qs, _ = scope(request, owner_id)
    return selectors.hook_get(qs=qs, hook_id=hook_id)


def _owned_routes(kind: str, base: str, scope: Scope, out: type[ProjectHookOut]) -> None:
    """The same routes for project and group hooks."""

    @router.get(base, response=list[out], operation_id=f"{kind}_hooks_list")  # type: ignore[valid-type]
    def list_hooks(request: HttpRequest, response: HttpResponse, owner_id: str) -> list[WebHook]:
        qs, _ = scope(request, owner_id)
        return paginate(request, response, qs)

    @router.get(f"{base}/{{hook_id}}", response=out, operation_id=f"{kind}_hooks_get")
    def get_hook(request: HttpRequest, owner_id: str, hook_id: int) -> WebHook:
        return _hook(request, scope, owner_id, hook_id)

    @router.post(base, response={201: out}, operation_id=f"{kind}_hooks_create")
    def create_hook(request: HttpRequest, owner_id: str, payload: HookIn) -> tuple[int, WebHook]:
        _, owner = scope(request, owner_id)
        hook = services.hook_create(
            kind=kind, url=payload.url or "", token=payload.token, **owner, **payload.fields(system=False)
        )
        return 201, hook

    @router.put(f"{base}/{{hook_id}}", response=out, operation_id=f"{kind}_hooks_update")
    def update_hook(request: HttpRequest, owner_id: str, hook_id: int, payload: HookIn) -> WebHook:
        hook = _hook(request, scope, owner_id, hook_id)
        return services.hook_update(hook=hook, url=payload.url, token=payload.token, **payload.fields(system=False))

    @router.delete(f"{base}/{{hook_id}}", response={204: None}, operation_id=f"{kind}_hooks_delete")
    def delete_hook(request: HttpRequest, owner_id: str, hook_id: int) -> tuple[int, None]:
        services.hook_delete(hook=_hook(request, scope, owner_id, hook_id))
        return 204, None

    @router.get(f"{base}/{{hook_id}}/events", response=list[HookEventOut], operation_id=f"{kind}_hooks_events")
    def list_events(
        request: HttpRequest, response: HttpResponse, owner_id: str, hook_id: int, filters: Query[EventFilters]
    ) -> list[WebHookLog]:
        hook = _hook(request, scope, owner_id, hook_id)
        return paginate(request, response, selectors.hook_log_list(hook=hook, status=filters.status))

    @router.post(
        f"{base}/{{hook_id}}/events/{{event_id}}/resend",
        response={201: ResendOut},
        operation_id=f"{kind}_hooks_event_resend",
    )
    def resend_event(request: HttpRequest, owner_id: str, hook_id: int, event_id: int) -> tuple[int, dict[str, object]]:
        hook = _hook(request, scope, owner_id, hook_id)
        outcome = services.hook_log_resend(log=selectors.hook_log_get(hook=hook, log_id=event_id))
        status = outcome.log.response_status
        return 201, {"response_status": int(status) if status.isdigit() else status}


_owned_routes("project", "/projects/{owner_id}/hooks", _project_hooks, ProjectHookOut)
_owned_routes("group", "/groups/{owner_id}/hooks", _group_hooks, GroupHookOut)


@router.post("/projects/{owner_id}/hooks/{hook_id}/test/{trigger}", response={201: Message})
def test_project_hook(request: HttpRequest, owner_id: str, hook_id: int, trigger: str) -> tuple[int, dict[str, str]]:
    hook = _hook(request, _project_hooks, owner_id, hook_id)
    services.hook_test(hook=hook, trigger=trigger, user=require_user(request))
    return 201, {"message": "201 Created"}


# --- system hooks --------------------------------------------------------------------------------------


def _system_hook(request: HttpRequest, hook_id: int) -> WebHook:
    require_admin(request)
    hook = selectors.system_hook_list().filter(pk=hook_id).first()
    if hook is None:
        raise NotFound()
    return hook


@router.get("/hooks", response=list[SystemHookOut])
def list_system_hooks(request: HttpRequest, response: HttpResponse) -> list[WebHook]:
    require_admin(request)
    return paginate(request, response, selectors.system_hook_list())


@router.get("/hooks/{hook_id}", response=SystemHookOut)
def get_system_hook(request: HttpRequest, hook_id: int) -> WebHook:
    return _system_hook(request, hook_id)


@router.post("/hooks", response={201: SystemHookOut})
def create_system_hook(request: HttpRequest, payload: HookIn) -> tuple[int, WebHook]:
    require_admin(request)
    hook = services.hook_create(
        kind=WebHook.Kind.SYSTEM, url=payload.url or "", token=payload.token, **payload.fields(system=True)
    )
    return 201, hook


@router.put("/hooks/{hook_id}", response=SystemHookOut)
def update_system_hook(request: HttpRequest, hook_id: int, payload: HookIn) -> WebHook:
    hook = _system_hook(request, hook_id)
    return services.hook_update(hook=hook, url=payload.url, token=payload.token, **payload.fields(system=True))


@router.post("/hooks/{hook_id}", response={201: dict[str, object]})
def test_system_hook(request: HttpRequest, hook_id: int) -> tuple[int, dict[str, object]]:
    """GitLab's ``POST /hooks/:id`` tests a system hook with a sample ``project_create`` event."""
    outcome = services.system_hook_test(hook=_system_hook(request, hook_id))
    return 201, outcome.log.request_data


@router.delete("/hooks/{hook_id}", response={204: None})
def delete_system_hook(request: HttpRequest, hook_id: int) -> tuple[int, None]:
    services.hook_delete(hook=_system_hook(request, hook_id))
    return 204, None
