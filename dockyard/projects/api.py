"""``/projects``, ``/groups/:id/projects`` and ``/users/:id/projects``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema

from dockyard.accounts import selectors as account_selectors
from dockyard.accounts.auth import current_user, require_admin, require_user
from dockyard.accounts.models import User
from dockyard.core.errors import NotFound
from dockyard.core.pagination import paginate
from dockyard.core.schema import Message
from dockyard.core.visibility import Visibility, parse_visibility
from dockyard.namespaces import selectors as namespace_selectors
from dockyard.namespaces.models import Namespace
from dockyard.permissions import policy
from dockyard.projects import selectors, services
from dockyard.projects.models import Project
from dockyard.projects.schemas import (
    ProjectCreateIn,
    ProjectForkIn,
    ProjectOut,
    ProjectRows,
    ProjectSimple,
    ProjectUpdateIn,
)

router = Router(tags=["projects"])


class ProjectFilters(Schema):
    owned: bool = False
    membership: bool = False
    starred: bool = False
    search: str | None = None
    visibility: str | None = None
    archived: bool | None = None
    topic: str | None = None
    min_access_level: int | None = None
    order_by: str = "created_at"
    sort: str = "desc"
    simple: bool = False
    include_subgroups: bool = False


def _list(
    request: HttpRequest,
    response: HttpResponse,
    filters: ProjectFilters,
    *,
    namespace: Namespace | None = None,
    forked_from: Project | None = None,
) -> ProjectRows:
    viewer = current_user(request)
    qs = selectors.project_list(
        viewer=viewer,
        namespace=namespace,
        forked_from=forked_from,
        include_subgroups=filters.include_subgroups,
        owned=filters.owned,
        membership=filters.membership,
        starred=filters.starred,
        search=filters.search,
        visibility=filters.visibility,
        archived=filters.archived,
        topic=filters.topic,
        min_access_level=filters.min_access_level,
        order_by="id" if request.GET.get("pagination") == "keyset" else filters.order_by,
        sort=filters.sort,
    )
    rows = paginate(request, response, qs)
    schema = ProjectSimple if filters.simple else ProjectOut
    context = {"request": request}
    return ProjectRows.model_construct([schema.from_orm(p, context=context) for p in rows])


LIST_RESPONSE = {200: ProjectRows}


@router.get("/projects", response=LIST_RESPONSE, by_alias=True)
def list_projects(request: HttpRequest, response: HttpResponse, filters: Query[ProjectFilters]) -> ProjectRows:
    return _list(request, response, filters)


@router.get("/groups/{group_id}/projects", response=LIST_RESPONSE, by_alias=True, tags=["groups"])
def list_group_projects(
    request: HttpRequest, response: HttpResponse, group_id: str, filters: Query[ProjectFilters]
) -> ProjectRows:
    group = namespace_selectors.group_get_for(viewer=current_user(request), ref=group_id)
    return _list(request, response, filters, namespace=group)


@router.get("/users/{user_id}/projects", response=LIST_RESPONSE, by_alias=True, tags=["users"])
def list_user_projects(
    request: HttpRequest, response: HttpResponse, user_id: str, filters: Query[ProjectFilters]
) -> ProjectRows:
    user = account_selectors.user_get(ref=user_id)
    if user is None:
        raise NotFound("User")
    return _list(request, response, filters, namespace=user.namespace)


def _create(request: HttpRequest, actor: User, owner: User, payload: ProjectCreateIn) -> Project:
    if payload.namespace_id:
        namespace = namespace_selectors.namespace_get_for(viewer=actor, ref=payload.namespace_id)
    else:
        namespace = owner.namespace
    return services.project_create(
        actor=actor,
        namespace=namespace,
        name=payload.name,
        path=payload.path,
        description=payload.description,
        visibility=parse_visibility(payload.visibility) or Visibility.PRIVATE,
        default_branch=payload.default_branch or "",
        topics=payload.topics if payload.topics is not None else payload.tag_list,
        initialize_with_readme=payload.initialize_with_readme,
        **{f: getattr(payload, f) for f in services.PROJECT_FEATURES},
    )


@router.post("/projects", response={201: ProjectOut}, by_alias=True)
def create_project(request: HttpRequest, payload: ProjectCreateIn) -> tuple[int, Project]:
    actor = require_user(request)
    return 201, _create(request, actor, actor, payload)


@router.post("/projects/user/{user_id}", response={201: ProjectOut}, by_alias=True)
def create_project_for_user(request: HttpRequest, user_id: str, payload: ProjectCreateIn) -> tuple[int, Project]:
    actor = require_admin(request)
    owner = account_selectors.user_get(ref=user_id)
    if owner is None:
        raise NotFound("User")
    return 201, _create(request, actor, owner, payload)


def _with_permissions(viewer: User | None, project: Project) -> Project:
    """GitLab's single-project ``permissions``: the caller's direct project level and inherited group level."""
    index = policy.member_index(viewer) if viewer is not None else None
    project_level = index.projects.get(project.id) if index else None
    group_level = None
    if index and project.namespace.is_group:
        levels = [index.namespaces[i] for i in project.namespace.ancestor_ids if i in index.namespaces]
        group_level = max(levels) if levels else None
    project.api_permissions = {  # type: ignore[attr-defined]
        "project_access": {"access_level": project_level, "notification_level": 3} if project_level else None,
        "group_access": {"access_level": group_level, "notification_level": 3} if group_level else None,
    }
    return project


@router.get("/projects/{project_id}", response=ProjectOut, by_alias=True)
def get_project(request: HttpRequest, project_id: str) -> Project:
    viewer = current_user(request)
    return _with_permissions(viewer, selectors.project_get_for(viewer=viewer, ref=project_id))


@router.put("/projects/{project_id}", response=ProjectOut, by_alias=True)
def update_project(request: HttpRequest, project_id: str, payload: ProjectUpdateIn) -> Project:
    actor = require_user(request)
    project = selectors.project_get_for(viewer=actor, ref=project_id)
    policy.authorize(actor, "admin_project", project)
    return services.project_update(
        project=project,
        actor=actor,
        name=payload.name,
        path=payload.path,
        description=payload.description,
        visibility=parse_visibility(payload.visibility),
        default_branch=payload.default_branch,
        topics=payload.topics if payload.topics is not None else payload.tag_list,
        **{f: getattr(payload, f) for f in services.PROJECT_FEATURES},
    )


@router.delete("/projects/{project_id}", response={202: Message})
def delete_project(request: HttpRequest, project_id: str) -> tuple[int, dict[str, str]]:
    actor = require_user(request)
    project = selectors.project_get_for(viewer=actor, ref=project_id)
    policy.authorize(actor, "remove_project", project)
    services.project_delete(project=project)
    return 202, {"message": "202 Accepted"}


def _set_archived(request: HttpRequest, project_id: str, archived: bool) -> Project:
    actor = require_user(request)
    project = selectors.project_get_for(viewer=actor, ref=project_id)
    policy.authorize(actor, "archive_project", project)
    return services.project_set_archived(project=project, archived=archived)


@router.post("/projects/{project_id}/archive", response={201: ProjectOut}, by_alias=True)
def archive_project(request: HttpRequest, project_id: str) -> tuple[int, Project]:
    return 201, _set_archived(request, project_id, True)


@router.post("/projects/{project_id}/unarchive", response={201: ProjectOut}, by_alias=True)
def unarchive_project(request: HttpRequest, project_id: str) -> tuple[int, Project]:
    return 201, _set_archived(request, project_id, False)


# --- forks ------------------------------------------------------------------------------------------


@router.post("/projects/{project_id}/fork", response={201: ProjectOut}, by_alias=True)
def fork_project(request: HttpRequest, project_id: str, payload: ProjectForkIn | None = None) -> tuple[int, Project]:
    actor = require_user(request)
    source = selectors.project_get_for(viewer=actor, ref=project_id)
    payload = payload or ProjectForkIn()
    ref = payload.namespace_id or payload.namespace_path or payload.namespace
    namespace = namespace_selectors.namespace_get_for(viewer=actor, ref=ref) if ref else None
    fork = services.project_fork(
        actor=actor,
        source=source,
        namespace=namespace,
        name=payload.name,
        path=payload.path,
        description=payload.description,
        visibility=parse_visibility(payload.visibility),
        mr_default_target_self=payload.mr_default_target_self,
        branch=payload.branches or None,
    )
    return 201, selectors.project_get_for(viewer=actor, ref=fork.id)


@router.get("/projects/{project_id}/forks", response=LIST_RESPONSE, by_alias=True)
def list_forks(
    request: HttpRequest, response: HttpResponse, project_id: str, filters: Query[ProjectFilters]
) -> ProjectRows:
    project = selectors.project_get_for(viewer=current_user(request), ref=project_id)
    return _list(request, response, filters, forked_from=project)


@router.post("/projects/{project_id}/fork/{forked_from_id}", response={201: ProjectOut}, by_alias=True)
def link_fork(request: HttpRequest, project_id: str, forked_from_id: str) -> tuple[int, Project]:
    actor = require_user(request)
    project = selectors.project_get_for(viewer=actor, ref=project_id)
    source = selectors.project_get_for(viewer=actor, ref=forked_from_id)
    return 201, services.project_fork_link(actor=actor, project=project, source=source)


@router.delete("/projects/{project_id}/fork", response={204: None, 304: None})
def unlink_fork(request: HttpRequest, project_id: str) -> tuple[int, None]:
    actor = require_user(request)
    project = selectors.project_get_for(viewer=actor, ref=project_id)
    return (204 if services.project_fork_unlink(actor=actor, project=project) else 304), None
