"""``/groups`` and ``/namespaces``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema

from dockyard.accounts.auth import current_user, require_user
from dockyard.core.pagination import paginate
from dockyard.core.schema import Message
from dockyard.core.visibility import Visibility, parse_visibility
from dockyard.namespaces import selectors, services
from dockyard.namespaces.models import Namespace
from dockyard.namespaces.schemas import GroupCreateIn, GroupOut, GroupUpdateIn, NamespaceOut
from dockyard.permissions import policy

router = Router(tags=["groups"])


class GroupFilters(Schema):
    search: str | None = None
    owned: bool = False
    min_access_level: int | None = None
    top_level_only: bool = False
    all_available: bool | None = None
    order_by: str = "name"
    sort: str = "asc"


def _list(
    request: HttpRequest, response: HttpResponse, filters: GroupFilters, parent: Namespace | None = None
) -> list[Namespace]:
    qs = selectors.group_list(
        viewer=current_user(request),
        search=filters.search,
        owned=filters.owned,
        min_access_level=filters.min_access_level,
        top_level_only=filters.top_level_only,
        parent=parent,
        order_by=filters.order_by,
        sort=filters.sort,
    )
    return paginate(request, response, qs)


@router.get("/groups", response=list[GroupOut])
def list_groups(request: HttpRequest, response: HttpResponse, filters: Query[GroupFilters]) -> list[Namespace]:
    return _list(request, response, filters)


@router.post("/groups", response={201: GroupOut})
def create_group(request: HttpRequest, payload: GroupCreateIn) -> tuple[int, Namespace]:
    actor = require_user(request)
    parent = None
    if payload.parent_id is not None:
        parent = selectors.group_get_for(viewer=actor, ref=payload.parent_id)
        policy.authorize(actor, "create_subgroup", parent)
    group = services.group_create(
        actor=actor,
        name=payload.name,
        path=payload.path,
        parent=parent,
        description=payload.description,
        visibility=parse_visibility(payload.visibility) or Visibility.PRIVATE,
        request_access_enabled=payload.request_access_enabled,
    )
    return 201, group


@router.get("/groups/{group_id}", response=GroupOut)
def get_group(request: HttpRequest, group_id: str) -> Namespace:
    return selectors.group_get_for(viewer=current_user(request), ref=group_id)


@router.put("/groups/{group_id}", response=GroupOut)
def update_group(request: HttpRequest, group_id: str, payload: GroupUpdateIn) -> Namespace:
    actor = require_user(request)
    group = selectors.group_get_for(viewer=actor, ref=group_id)
    policy.authorize(actor, "admin_group", group)
    return services.group_update(
        group=group,
        name=payload.name,
        path=payload.path,
        description=payload.description,
        visibility=parse_visibility(payload.visibility),
        request_access_enabled=payload.request_access_enabled,
        default_branch=payload.default_branch,
    )


@router.delete("/groups/{group_id}", response={202: Message})
def delete_group(request: HttpRequest, group_id: str) -> tuple[int, dict[str, str]]:
    actor = require_user(request)
    group = selectors.group_get_for(viewer=actor, ref=group_id)
    policy.authorize(actor, "remove_group", group)
    services.group_delete(group=group)
    return 202, {"message": "202 Accepted"}


@router.get("/groups/{group_id}/subgroups", response=list[GroupOut])
def list_subgroups(
    request: HttpRequest, response: HttpResponse, group_id: str, filters: Query[GroupFilters]
) -> list[Namespace]:
    parent = selectors.group_get_for(viewer=current_user(request), ref=group_id)
    return _list(request, response, filters, parent=parent)


# --- /namespaces ------------------------------------------------------------------------------


class NamespaceFilters(Schema):
    search: str | None = None
    owned_only: bool = False


@router.get("/namespaces", response=list[NamespaceOut], tags=["namespaces"])
def list_namespaces(request: HttpRequest, response: HttpResponse, filters: Query[NamespaceFilters]) -> list[Namespace]:
    viewer = require_user(request)
    return paginate(
        request, response, selectors.namespace_list(viewer=viewer, search=filters.search, owned_only=filters.owned_only)
    )


@router.get("/namespaces/{namespace_id}", response=NamespaceOut, tags=["namespaces"])
def get_namespace(request: HttpRequest, namespace_id: str) -> Namespace:
    return selectors.namespace_get_for(viewer=require_user(request), ref=namespace_id)
