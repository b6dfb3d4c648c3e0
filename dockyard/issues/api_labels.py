"""``/projects/:id/labels``, ``/groups/:id/labels``, ``/projects/:id/milestones``, ``/groups/:id/milestones``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema

from dockyard.accounts.auth import current_user, require_user
from dockyard.core.errors import BadRequest
from dockyard.core.pagination import paginate
from dockyard.issues import selectors, services
from dockyard.issues.models import Issue, Label, Milestone
from dockyard.issues.schemas import (
    IssueOut,
    LabelCreateIn,
    LabelOut,
    LabelUpdateIn,
    MilestoneCreateIn,
    MilestoneOut,
    MilestoneUpdateIn,
)
from dockyard.namespaces import selectors as namespace_selectors
from dockyard.namespaces.models import Namespace
from dockyard.projects import selectors as project_selectors
from dockyard.projects.models import Project

router = Router(tags=["labels", "milestones"])


def _project(request: HttpRequest, project_id: str) -> Project:
    return project_selectors.project_get_for(viewer=current_user(request), ref=project_id)


def _group(request: HttpRequest, group_id: str) -> Namespace:
    return namespace_selectors.group_get_for(viewer=current_user(request), ref=group_id)


# --- labels -------------------------------------------------------------------------------------


class LabelQuery(Schema):
    with_counts: bool = False
    include_ancestor_groups: bool = True
    include_descendant_groups: bool = False
    search: str | None = None


@router.get("/projects/{project_id}/labels", response=list[LabelOut], tags=["labels"])
def list_project_labels(
    request: HttpRequest, response: HttpResponse, project_id: str, query: Query[LabelQuery]
) -> list[Label]:
    project = _project(request, project_id)
    qs = selectors.label_list_for_project(
        viewer=current_user(request),
        project=project,
        with_counts=query.with_counts,
        include_ancestor_groups=query.include_ancestor_groups,
        search=query.search,
    )
    return paginate(request, response, qs)


@router.get("/groups/{group_id}/labels", response=list[LabelOut], tags=["labels"])
def list_group_labels(
    request: HttpRequest, response: HttpResponse, group_id: str, query: Query[LabelQuery]
) -> list[Label]:
    group = _group(request, group_id)
    qs = selectors.label_list_for_group(
        viewer=current_user(request),
        group=group,
        with_counts=query.with_counts,
        include_ancestor_groups=query.include_ancestor_groups,
        include_descendant_groups=query.include_descendant_groups,
        search=query.search,
    )
    return paginate(request, response, qs)


@router.post("/projects/{project_id}/labels", response={201: LabelOut}, tags=["labels"])
def create_project_label(request: HttpRequest, project_id: str, payload: LabelCreateIn) -> tuple[int, Label]:
    actor = require_user(request)
    project = _project(request, project_id)
    label = services.label_create(
        actor=actor,
        project=project,
        name=payload.name,
        color=payload.color,
        description=payload.description,
        priority=payload.priority,
    )
    return 201, label


@router.post("/groups/{group_id}/labels", response={201: LabelOut}, tags=["labels"])
def create_group_label(request: HttpRequest, group_id: str, payload: LabelCreateIn) -> tuple[int, Label]:
    actor = require_user(request)
    group = _group(request, group_id)
    label = services.label_create(
        actor=actor, group=group, name=payload.name, color=payload.color, description=payload.description
    )
    return 201, label


@router.get("/projects/{project_id}/labels/{label_id}", response=LabelOut, tags=["labels"])
def get_project_label(request: HttpRequest, project_id: str, label_id: str) -> Label:
    return selectors.label_get_for_project(project=_project(request, project_id), ref=label_id)


@router.get("/groups/{group_id}/labels/{label_id}", response=LabelOut, tags=["labels"])
def get_group_label(request: HttpRequest, group_id: str, label_id: str) -> Label:
    return selectors.label_get_for_group(group=_group(request, group_id), ref=label_id)


def _update_label(request: HttpRequest, label: Label, payload: LabelUpdateIn) -> Label:
    return services.label_update(
        actor=require_user(request),
        label=label,
        new_name=payload.new_name,
        color=payload.color,
        description=payload.description,
        priority=payload.priority if "priority" in payload.model_fields_set else services.UNSET,
    )


@router.put("/projects/{project_id}/labels/{label_id}", response=LabelOut, tags=["labels"])
def update_project_label(request: HttpRequest, project_id: str, label_id: str, payload: LabelUpdateIn) -> Label:
    require_user(request)
    label = selectors.label_get_for_project(project=_project(request, project_id), ref=label_id, own_only=True)
    return _update_label(request, label, payload)


@router.put("/projects/{project_id}/labels", response=LabelOut, tags=["labels"])
def update_project_label_by_name(request: HttpRequest, project_id: str, payload: LabelUpdateIn) -> Label:
    """The legacy form: the label named by ``name`` (or ``label_id``)."""
    require_user(request)
    if not payload.name:
        raise BadRequest("label_id, name are missing, exactly one parameter must be provided")
    label = selectors.label_get_for_project(project=_project(request, project_id), ref=payload.name, own_only=True)
    return _update_label(request, label, payload)


@router.put("/groups/{group_id}/labels/{label_id}", response=LabelOut, tags=["labels"])
def update_group_label(request: HttpRequest, group_id: str, label_id: str, payload: LabelUpdateIn) -> Label:
    require_user(request)
    label = selectors.label_get_for_group(group=_group(request, group_id), ref=label_id)
    return _update_label(request, label, payload)


@router.put("/groups/{group_id}/labels", response=LabelOut, tags=["labels"])
def update_group_label_by_name(request: HttpRequest, group_id: str, payload: LabelUpdateIn) -> Label:
    """The legacy form python-gitlab uses: the label named by ``name``."""
    require_user(request)
    if not payload.name:
        raise BadRequest("label_id, name are missing, exactly one parameter must be provided")
    label = selectors.label_get_for_group(group=_group(request, group_id), ref=payload.name)
    return _update_label(request, label, payload)


@router.delete("/groups/{group_id}/labels", response={204: None}, tags=["labels"])
def delete_group_label_by_name(request: HttpRequest, group_id: str, name: str) -> tuple[int, None]:
    actor = require_user(request)
    label = selectors.label_get_for_group(group=_group(request, group_id), ref=name)
    services.label_delete(actor=actor, label=label)
    return 204, None


@router.delete("/projects/{project_id}/labels/{label_id}", response={204: None}, tags=["labels"])
def delete_project_label(request: HttpRequest, project_id: str, label_id: str) -> tuple[int, None]:
    actor = require_user(request)
    label = selectors.label_get_for_project(project=_project(request, project_id), ref=label_id, own_only=True)
    services.label_delete(actor=actor, label=label)
    return 204, None


@router.delete("/projects/{project_id}/labels", response={204: None}, tags=["labels"])
def delete_project_label_by_name(request: HttpRequest, project_id: str, name: str) -> tuple[int, None]:
    actor = require_user(request)
    label = selectors.label_get_for_project(project=_project(request, project_id), ref=name, own_only=True)
    services.label_delete(actor=actor, label=label)
    return 204, None


@router.delete("/groups/{group_id}/labels/{label_id}", response={204: None}, tags=["labels"])
def delete_group_label(request: HttpRequest, group_id: str, label_id: str) -> tuple[int, None]:
    actor = require_user(request)
    label = selectors.label_get_for_group(group=_group(request, group_id), ref=label_id)
    services.label_delete(actor=actor, label=label)
    return 204, None


# --- milestones ---------------------------------------------------------------------------------


class MilestoneQuery(Schema):
    state: str | None = None
    title: str | None = None
    search: str | None = None
    iids: list[int] | None = None
    include_ancestors: bool = False
    include_parent_milestones: bool = False


def _milestones(
    request: HttpRequest,
    response: HttpResponse,
    query: MilestoneQuery,
    *,
    project: Project | None = None,
    group: Namespace | None = None,
) -> list[Milestone]:
    qs = selectors.milestone_list(
        project=project,
        group=group,
        include_ancestors=query.include_ancestors or query.include_parent_milestones,
        state=query.state,
        title=query.title,
        search=query.search,
        iids=query.iids,
    )
    return paginate(request, response, qs)


@router.get("/projects/{project_id}/milestones", response=list[MilestoneOut], tags=["milestones"])
def list_project_milestones(
    request: HttpRequest, response: HttpResponse, project_id: str, query: Query[MilestoneQuery]
) -> list[Milestone]:
    return _milestones(request, response, query, project=_project(request, project_id))


@router.get("/groups/{group_id}/milestones", response=list[MilestoneOut], tags=["milestones"])
def list_group_milestones(
    request: HttpRequest, response: HttpResponse, group_id: str, query: Query[MilestoneQuery]
) -> list[Milestone]:
    return _milestones(request, response, query, group=_group(request, group_id))


@router.post("/projects/{project_id}/milestones", response={201: MilestoneOut}, tags=["milestones"])
def create_project_milestone(
    request: HttpRequest, project_id: str, payload: MilestoneCreateIn
) -> tuple[int, Milestone]:
    actor = require_user(request)
    project = _project(request, project_id)
    return 201, services.milestone_create(actor=actor, project=project, **payload.dict())


@router.post("/groups/{group_id}/milestones", response={201: MilestoneOut}, tags=["milestones"])
def create_group_milestone(request: HttpRequest, group_id: str, payload: MilestoneCreateIn) -> tuple[int, Milestone]:
    actor = require_user(request)
    group = _group(request, group_id)
    return 201, services.milestone_create(actor=actor, group=group, **payload.dict())


@router.get("/projects/{project_id}/milestones/{milestone_id}", response=MilestoneOut, tags=["milestones"])
def get_project_milestone(request: HttpRequest, project_id: str, milestone_id: str) -> Milestone:
    return selectors.milestone_get(project=_project(request, project_id), milestone_id=milestone_id)


@router.get("/groups/{group_id}/milestones/{milestone_id}", response=MilestoneOut, tags=["milestones"])
def get_group_milestone(request: HttpRequest, group_id: str, milestone_id: str) -> Milestone:
    return selectors.milestone_get(group=_group(request, group_id), milestone_id=milestone_id)


def _update_milestone(request: HttpRequest, milestone: Milestone, payload: MilestoneUpdateIn) -> Milestone:
    given = payload.model_fields_set
    return services.milestone_update(
        actor=require_user(request),
        milestone=milestone,
        title=payload.title,
        description=payload.description,
        start_date=payload.start_date if "start_date" in given else services.UNSET,
        due_date=payload.due_date if "due_date" in given else services.UNSET,
        state_event=payload.state_event,
    )


@router.put("/projects/{project_id}/milestones/{milestone_id}", response=MilestoneOut, tags=["milestones"])
def update_project_milestone(
    request: HttpRequest, project_id: str, milestone_id: str, payload: MilestoneUpdateIn
) -> Milestone:
    require_user(request)
    milestone = selectors.milestone_get(project=_project(request, project_id), milestone_id=milestone_id)
    return _update_milestone(request, milestone, payload)


@router.put("/groups/{group_id}/milestones/{milestone_id}", response=MilestoneOut, tags=["milestones"])
def update_group_milestone(
    request: HttpRequest, group_id: str, milestone_id: str, payload: MilestoneUpdateIn
) -> Milestone:
    require_user(request)
    milestone = selectors.milestone_get(group=_group(request, group_id), milestone_id=milestone_id)
    return _update_milestone(request, milestone, payload)


@router.delete("/projects/{project_id}/milestones/{milestone_id}", response={204: None}, tags=["milestones"])
def delete_project_milestone(request: HttpRequest, project_id: str, milestone_id: str) -> tuple[int, None]:
    actor = require_user(request)
    milestone = selectors.milestone_get(project=_project(request, project_id), milestone_id=milestone_id)
    services.milestone_delete(actor=actor, milestone=milestone)
    return 204, None


@router.delete("/groups/{group_id}/milestones/{milestone_id}", response={204: None}, tags=["milestones"])
def delete_group_milestone(request: HttpRequest, group_id: str, milestone_id: str) -> tuple[int, None]:
    actor = require_user(request)
    milestone = selectors.milestone_get(group=_group(request, group_id), milestone_id=milestone_id)
    services.milestone_delete(actor=actor, milestone=milestone)
    return 204, None


@router.get(
    "/projects/{project_id}/milestones/{milestone_id}/issues",
    response=list[IssueOut],
    by_alias=True,
    tags=["milestones"],
)
def list_project_milestone_issues(
    request: HttpRequest, response: HttpResponse, project_id: str, milestone_id: str
) -> list[Issue]:
    milestone = selectors.milestone_get(project=_project(request, project_id), milestone_id=milestone_id)
    return paginate(request, response, selectors.milestone_issues(viewer=current_user(request), milestone=milestone))


@router.get(
    "/groups/{group_id}/milestones/{milestone_id}/issues", response=list[IssueOut], by_alias=True, tags=["milestones"]
)
def list_group_milestone_issues(
    request: HttpRequest, response: HttpResponse, group_id: str, milestone_id: str
) -> list[Issue]:
    milestone = selectors.milestone_get(group=_group(request, group_id), milestone_id=milestone_id)
    return paginate(request, response, selectors.milestone_issues(viewer=current_user(request), milestone=milestone))
