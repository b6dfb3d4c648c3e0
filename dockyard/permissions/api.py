"""``/projects/:id/members`` and ``/groups/:id/members``, direct and ``/all`` (inherited)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema

from dockyard.accounts import selectors as account_selectors
from dockyard.accounts.auth import current_user, require_user
from dockyard.accounts.models import User
from dockyard.core.errors import NotFound
from dockyard.core.pagination import paginate
from dockyard.namespaces import selectors as namespace_selectors
from dockyard.namespaces.models import Namespace
from dockyard.permissions import policy, selectors, services
from dockyard.permissions.models import Membership
from dockyard.permissions.schemas import MemberCreateIn, MemberOut, MemberUpdateIn
from dockyard.projects import selectors as project_selectors
from dockyard.projects.models import Project

router = Router(tags=["members"])

Source = Project | Namespace


class MemberFilters(Schema):
    query: str | None = None
    user_ids: list[int] | None = None


def _project(request: HttpRequest, ref: str) -> Project:
    return project_selectors.project_get_for(viewer=current_user(request), ref=ref)


def _group(request: HttpRequest, ref: str) -> Namespace:
    return namespace_selectors.group_get_for(viewer=current_user(request), ref=ref)


_KINDS: dict[str, tuple[Callable[[HttpRequest, str], Source], str]] = {
    "projects": (_project, "admin_project_member"),
    "groups": (_group, "admin_group_member"),
}


def _user(ref: str) -> User:
    user = account_selectors.user_get(ref=ref)
    if user is None:
        raise NotFound("User")
    return user


def _register(kind: str) -> None:
    find, admin_action = _KINDS[kind]
    base = f"/{kind}/{{source_id}}/members"

    def _list(
        request: HttpRequest, response: HttpResponse, source_id: str, filters: MemberFilters, inherited: bool
    ) -> list[Membership]:
        source = find(request, source_id)
        users = paginate(
            request,
            response,
            selectors.member_users(source=source, inherited=inherited, query=filters.query, user_ids=filters.user_ids),
        )
        return selectors.memberships_for(source=source, users=users, inherited=inherited)

    def _one(request: HttpRequest, source_id: str, user_id: str, inherited: bool) -> Membership:
        source = find(request, source_id)
        found = selectors.memberships_for(source=source, users=[_user(user_id)], inherited=inherited)
        if not found:
            raise NotFound("Member")
        return found[0]

    @router.get(base, response=list[MemberOut], operation_id=f"{kind}_members_list")
    def list_members(
        request: HttpRequest, response: HttpResponse, source_id: str, filters: Query[MemberFilters]
    ) -> list[Membership]:
        return _list(request, response, source_id, filters, inherited=False)

    @router.get(f"{base}/all", response=list[MemberOut], operation_id=f"{kind}_members_all")
    def list_all_members(
        request: HttpRequest, response: HttpResponse, source_id: str, filters: Query[MemberFilters]
    ) -> list[Membership]:
        return _list(request, response, source_id, filters, inherited=True)

    @router.get(f"{base}/all/{{user_id}}", response=MemberOut, operation_id=f"{kind}_members_all_get")
    def get_any_member(request: HttpRequest, source_id: str, user_id: str) -> Membership:
        return _one(request, source_id, user_id, inherited=True)

    @router.get(f"{base}/{{user_id}}", response=MemberOut, operation_id=f"{kind}_members_get")
    def get_member(request: HttpRequest, source_id: str, user_id: str) -> Membership:
        return _one(request, source_id, user_id, inherited=False)

    @router.post(base, response={201: MemberOut}, operation_id=f"{kind}_members_add")
    def add_member(request: HttpRequest, source_id: str, payload: MemberCreateIn) -> tuple[int, Membership]:
        actor = require_user(request)
        source = find(request, source_id)
        policy.authorize(actor, admin_action, source)
        membership = services.member_add(
            actor=actor,
            source=source,
            user=_user(str(payload.user_id)),
            access_level=payload.access_level,
            expires_at=payload.expires_at,
        )
        return 201, membership

    @router.put(f"{base}/{{user_id}}", response=MemberOut, operation_id=f"{kind}_members_edit")
    def edit_member(request: HttpRequest, source_id: str, user_id: str, payload: MemberUpdateIn) -> Membership:
        actor = require_user(request)
        source = find(request, source_id)
        policy.authorize(actor, admin_action, source)
        return services.member_update(
            actor=actor,
            source=source,
            user=_user(user_id),
            access_level=payload.access_level,
            expires_at=payload.expires_at,
        )

    @router.delete(f"{base}/{{user_id}}", response={204: None}, operation_id=f"{kind}_members_remove")
    def remove_member(request: HttpRequest, source_id: str, user_id: str) -> tuple[int, None]:
        actor = require_user(request)
        source = find(request, source_id)
        target = _user(user_id)
        # Members may leave on their own; removing others needs the admin-member permission.
        if target.pk != actor.pk:
            policy.authorize(actor, admin_action, source)
        services.member_remove(actor=actor, source=source, user=target)
        return 204, None


_register("projects")
_register("groups")
