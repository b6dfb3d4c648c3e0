"""``/projects/:id/protected_branches``, ``/protected_tags`` and the internal endpoints git hooks call."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from ninja.security import APIKeyHeader

from dockyard.accounts import selectors as account_selectors
from dockyard.accounts.auth import current_user, require_user
from dockyard.core.errors import NotFound
from dockyard.core.internal import check_internal_secret
from dockyard.core.pagination import paginate
from dockyard.permissions import policy
from dockyard.projects import selectors as project_selectors
from dockyard.projects.models import Project
from dockyard.repos import selectors, services
from dockyard.repos.models import ProtectedBranch, ProtectedTag
from dockyard.repos.schemas import (
    HookChanges,
    ProtectedBranchIn,
    ProtectedBranchOut,
    ProtectedBranchPatch,
    ProtectedTagIn,
    ProtectedTagOut,
)

router = Router(tags=["protected_branches"])


def _project(request: HttpRequest, project_id: str, action: str) -> Project:
    project = project_selectors.project_get_for(viewer=current_user(request), ref=project_id)
    policy.authorize(current_user(request), action, project)
    return project


class SearchFilter(Schema):
    search: str | None = None


@router.get("/projects/{project_id}/protected_branches", response=list[ProtectedBranchOut])
def list_protected_branches(
    request: HttpRequest, response: HttpResponse, project_id: str, filters: Query[SearchFilter]
) -> list[ProtectedBranch]:
    project = _project(request, project_id, "download_code")
    return paginate(request, response, selectors.protected_branch_list(project=project, search=filters.search))


def _branch_rule(project: Project, name: str) -> ProtectedBranch:
    rule = selectors.protected_branch_get(project=project, name=unquote(name))
    if rule is None:
        raise NotFound("Protected Branch")
    return rule


@router.get("/projects/{project_id}/protected_branches/{name}", response=ProtectedBranchOut)
def get_protected_branch(request: HttpRequest, project_id: str, name: str) -> ProtectedBranch:
    return _branch_rule(_project(request, project_id, "download_code"), name)


@router.post("/projects/{project_id}/protected_branches", response={201: ProtectedBranchOut})
def protect_branch(request: HttpRequest, project_id: str, payload: ProtectedBranchIn) -> tuple[int, ProtectedBranch]:
    require_user(request)
    project = _project(request, project_id, "admin_protected_refs")
    return 201, services.protected_branch_create(project=project, **payload.dict())


@router.patch("/projects/{project_id}/protected_branches/{name}", response=ProtectedBranchOut)
def update_protected_branch(
    request: HttpRequest, project_id: str, name: str, payload: ProtectedBranchPatch
) -> ProtectedBranch:
    require_user(request)
    project = _project(request, project_id, "admin_protected_refs")
    return services.protected_branch_update(rule=_branch_rule(project, name), **payload.dict())


@router.delete("/projects/{project_id}/protected_branches/{name}", response={204: None})
def unprotect_branch(request: HttpRequest, project_id: str, name: str) -> tuple[int, None]:
    require_user(request)
    project = _project(request, project_id, "admin_protected_refs")
    services.protected_branch_delete(rule=_branch_rule(project, name))
    return 204, None


@router.get("/projects/{project_id}/protected_tags", response=list[ProtectedTagOut], tags=["protected_tags"])
def list_protected_tags(request: HttpRequest, response: HttpResponse, project_id: str) -> list[ProtectedTag]:
    project = _project(request, project_id, "download_code")
    return paginate(request, response, selectors.protected_tag_list(project=project))


def _tag_rule(project: Project, name: str) -> ProtectedTag:
    rule = selectors.protected_tag_get(project=project, name=unquote(name))
    if rule is None:
        raise NotFound("Protected Tag")
    return rule


@router.get("/projects/{project_id}/protected_tags/{name}", response=ProtectedTagOut, tags=["protected_tags"])
def get_protected_tag(request: HttpRequest, project_id: str, name: str) -> ProtectedTag:
    return _tag_rule(_project(request, project_id, "download_code"), name)


@router.post("/projects/{project_id}/protected_tags", response={201: ProtectedTagOut}, tags=["protected_tags"])
def protect_tag(request: HttpRequest, project_id: str, payload: ProtectedTagIn) -> tuple[int, ProtectedTag]:
    require_user(request)
    project = _project(request, project_id, "admin_protected_refs")
    return 201, services.protected_tag_create(project=project, **payload.dict())


@router.delete("/projects/{project_id}/protected_tags/{name}", response={204: None}, tags=["protected_tags"])
def unprotect_tag(request: HttpRequest, project_id: str, name: str) -> tuple[int, None]:
    require_user(request)
    project = _project(request, project_id, "admin_protected_refs")
    services.protected_tag_delete(rule=_tag_rule(project, name))
    return 204, None


# --- internal: called by the git hooks, like gitlab-shell's /internal/allowed ------------------


class InternalAuth(APIKeyHeader):
    param_name = "Gitlab-Shared-Secret"

    def authenticate(self, request: HttpRequest, key: str | None) -> bool:
        return check_internal_secret(key)


internal = Router(tags=["internal"], auth=InternalAuth())


def _hook_context(payload: HookChanges) -> tuple[Project, Any]:
    project = selectors.project_by_id(project_id=payload.project_id)
    user = account_selectors.user_get(ref=str(payload.user_id)) if payload.user_id else None
    if project is None:
        raise NotFound("Project")
    return project, user


@internal.post("/internal/allowed", include_in_schema=False)
def internal_allowed(request: HttpRequest, payload: HookChanges) -> dict[str, Any]:
    project, user = _hook_context(payload)
    branches = selectors.protected_branches(project=project)
    tags = selectors.protected_tags(project=project)
    for change in services.changes_from_hook(payload.changes):
        denial = policy.push_denial(user, project, change, protected_branches=branches, protected_tags=tags)
        if denial:
            return {"status": False, "message": denial}
    return {"status": True}


@internal.post("/internal/post_receive", include_in_schema=False)
def internal_post_receive(request: HttpRequest, payload: HookChanges) -> dict[str, Any]:
    project, user = _hook_context(payload)
    services.push_process(
        project=project,
        user=user,
        changes=services.changes_from_hook(payload.changes),
        push_options=payload.push_options,
    )
    return {"messages": []}
