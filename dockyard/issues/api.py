"""``/projects/:id/issues``, ``/groups/:id/issues``, ``/issues``, statistics, time tracking and links."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from dockyard.accounts.auth import current_user, require_user
from dockyard.accounts.models import User
from dockyard.core.pagination import paginate, paginate_list
from dockyard.issues import selectors, services
from dockyard.issues.models import Issue
from dockyard.issues.schemas import (
    DurationIn,
    IssueCreateIn,
    IssueLinkIn,
    IssueLinkOut,
    IssueOut,
    IssueUpdateIn,
    LinkedIssueOut,
    Statistics,
    TimeStats,
    time_stats,
)
from dockyard.namespaces import selectors as namespace_selectors
from dockyard.namespaces.models import Namespace
from dockyard.projects import selectors as project_selectors
from dockyard.projects.models import Project

router = Router(tags=["issues"])


class IssueQuery(Schema):
    state: str | None = None
    labels: list[str] | None = None
    milestone: str | None = None
    assignee_id: str | None = None
    assignee_username: list[str] | None = None
    author_id: int | None = None
    author_username: str | None = None
    search: str | None = None
    search_in: str | None = Field(None, alias="in")
    iids: list[int] | None = None
    confidential: bool | None = None
    scope: str | None = None
    order_by: str = "created_at"
    sort: str = "desc"
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    updated_after: dt.datetime | None = None
    updated_before: dt.datetime | None = None
    due_date: str | None = None
    with_labels_details: bool = False

    def filters(self, default_scope: str = "all") -> selectors.IssueFilters:
        labels = [p.strip() for item in self.labels or [] for p in item.split(",") if p.strip()]
        return selectors.IssueFilters(
            state=self.state,
            labels=labels,
            milestone=self.milestone,
            assignee_id=self.assignee_id,
            assignee_username=self.assignee_username or [],
            author_id=self.author_id,
            author_username=self.author_username,
            search=self.search,
            search_in=self.search_in,
            iids=self.iids or [],
            confidential=self.confidential,
            scope=self.scope or default_scope,
            order_by=self.order_by,
            sort=self.sort,
            created_after=self.created_after,
            created_before=self.created_before,
            updated_after=self.updated_after,
            updated_before=self.updated_before,
            due_date=self.due_date,
        )


def _project(request: HttpRequest, project_id: str) -> tuple[User | None, Project]:
    viewer = current_user(request)
    return viewer, project_selectors.project_get_for(viewer=viewer, ref=project_id)


def _issue(request: HttpRequest, project_id: str, issue_iid: str) -> tuple[User | None, Issue]:
    viewer, project = _project(request, project_id)
    return viewer, selectors.issue_get_for(viewer=viewer, project=project, iid=issue_iid)


def _rows(request: HttpRequest, response: HttpResponse, qs: Any, details: bool) -> list[Issue]:
    rows: list[Issue] = paginate(request, response, qs)
    for row in rows:
        row.with_labels_details = details  # type: ignore[attr-defined]  # read by IssueOut.labels
    return rows


def _list(
    request: HttpRequest,
    response: HttpResponse,
    query: IssueQuery,
    *,
    project: Project | None = None,
    group: Namespace | None = None,
    default_scope: str = "all",
) -> list[Issue]:
    qs = selectors.issue_list(
        viewer=current_user(request), filters=query.filters(default_scope), project=project, group=group
    )
    return _rows(request, response, qs, query.with_labels_details)


def _user_default_scope(request: HttpRequest, query: IssueQuery) -> str:
    # GitLab's /issues: your own issues by default; anonymous callers must ask for scope=all.
    if current_user(request) is None and (query.scope or "all") != "all":
        require_user(request)
    return "created_by_me" if current_user(request) is not None else "all"


@router.get("/issues", response=list[IssueOut], by_alias=True)
def list_issues(request: HttpRequest, response: HttpResponse, query: Query[IssueQuery]) -> list[Issue]:
    return _list(request, response, query, default_scope=_user_default_scope(request, query))


@router.get("/groups/{group_id}/issues", response=list[IssueOut], by_alias=True)
def list_group_issues(
    request: HttpRequest, response: HttpResponse, group_id: str, query: Query[IssueQuery]
) -> list[Issue]:
    group = namespace_selectors.group_get_for(viewer=current_user(request), ref=group_id)
    return _list(request, response, query, group=group)


@router.get("/projects/{project_id}/issues", response=list[IssueOut], by_alias=True)
def list_project_issues(
    request: HttpRequest, response: HttpResponse, project_id: str, query: Query[IssueQuery]
) -> list[Issue]:
    _, project = _project(request, project_id)
    return _list(request, response, query, project=project)


def _statistics(
    request: HttpRequest, query: IssueQuery, *, project: Project | None = None, group: Namespace | None = None
) -> dict[str, Any]:
    default = "all" if project or group else _user_default_scope(request, query)
    counts = selectors.issue_statistics(
        viewer=current_user(request), filters=query.filters(default), project=project, group=group
    )
    return {"statistics": {"counts": counts}}


@router.get("/issues_statistics", response=Statistics)
def issues_statistics(request: HttpRequest, query: Query[IssueQuery]) -> dict[str, Any]:
    return _statistics(request, query)


@router.get("/groups/{group_id}/issues_statistics", response=Statistics)
def group_issues_statistics(request: HttpRequest, group_id: str, query: Query[IssueQuery]) -> dict[str, Any]:
    group = namespace_selectors.group_get_for(viewer=current_user(request), ref=group_id)
    return _statistics(request, query, group=group)


@router.get("/projects/{project_id}/issues_statistics", response=Statistics)
def project_issues_statistics(request: HttpRequest, project_id: str, query: Query[IssueQuery]) -> dict[str, Any]:
    _, project = _project(request, project_id)
    return _statistics(request, query, project=project)


def _labels(value: list[str] | str | None) -> list[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return [p.strip() for item in items for p in str(item).split(",") if p.strip()]


def _assignees(ids: list[int] | int | None, single: int | None) -> list[int] | None:
    if ids is None:
        return None if single is None else ([single] if single else [])
    return [i for i in ([ids] if isinstance(ids, int) else ids) if i]


@router.post("/projects/{project_id}/issues", response={201: IssueOut}, by_alias=True)
def create_issue(request: HttpRequest, project_id: str, payload: IssueCreateIn) -> tuple[int, Issue]:
    actor = require_user(request)
    _, project = _project(request, project_id)
    issue = services.issue_create(
        actor=actor,
        project=project,
        title=payload.title,
        description=payload.description or "",
        confidential=payload.confidential,
        assignee_ids=_assignees(payload.assignee_ids, payload.assignee_id),
        milestone_id=payload.milestone_id,
        labels=_labels(payload.labels),
        due_date=payload.due_date,
        discussion_locked=payload.discussion_locked,
        created_at=payload.created_at,
    )
    return 201, selectors.issue_get_for(viewer=actor, project=project, iid=issue.iid)


@router.get("/projects/{project_id}/issues/{issue_iid}", response=IssueOut, by_alias=True)
def get_issue(request: HttpRequest, project_id: str, issue_iid: str) -> Issue:
    return _issue(request, project_id, issue_iid)[1]


@router.put("/projects/{project_id}/issues/{issue_iid}", response=IssueOut, by_alias=True)
def update_issue(request: HttpRequest, project_id: str, issue_iid: str, payload: IssueUpdateIn) -> Issue:
    actor = require_user(request)
    _, issue = _issue(request, project_id, issue_iid)
    given = payload.model_fields_set
    services.issue_update(
        actor=actor,
        issue=issue,
        title=payload.title,
        description=payload.description,
        state_event=payload.state_event,
        labels=_labels(payload.labels),
        add_labels=_labels(payload.add_labels),
        remove_labels=_labels(payload.remove_labels),
        assignee_ids=_assignees(payload.assignee_ids, payload.assignee_id),
        milestone_id=payload.milestone_id if "milestone_id" in given else services.UNSET,
        due_date=payload.due_date if "due_date" in given else services.UNSET,
        confidential=payload.confidential,
        discussion_locked=payload.discussion_locked,
    )
    return selectors.issue_get_for(viewer=actor, project=issue.project, iid=issue.iid)


@router.delete("/projects/{project_id}/issues/{issue_iid}", response={204: None})
def delete_issue(request: HttpRequest, project_id: str, issue_iid: str) -> tuple[int, None]:
    actor = require_user(request)
    _, issue = _issue(request, project_id, issue_iid)
    services.issue_delete(actor=actor, issue=issue)
    return 204, None


# --- time tracking ------------------------------------------------------------------------------


@router.get("/projects/{project_id}/issues/{issue_iid}/time_stats", response=TimeStats)
def get_time_stats(request: HttpRequest, project_id: str, issue_iid: str) -> dict[str, Any]:
    return time_stats(_issue(request, project_id, issue_iid)[1])


@router.post("/projects/{project_id}/issues/{issue_iid}/time_estimate", response=TimeStats)
def set_time_estimate(request: HttpRequest, project_id: str, issue_iid: str, payload: DurationIn) -> dict[str, Any]:
    actor = require_user(request)
    issue = _issue(request, project_id, issue_iid)[1]
    return time_stats(services.issue_set_time_estimate(actor=actor, issue=issue, duration=payload.duration))


@router.post("/projects/{project_id}/issues/{issue_iid}/reset_time_estimate", response=TimeStats)
def reset_time_estimate(request: HttpRequest, project_id: str, issue_iid: str) -> dict[str, Any]:
    actor = require_user(request)
    issue = _issue(request, project_id, issue_iid)[1]
    return time_stats(services.issue_reset_time_estimate(actor=actor, issue=issue))


@router.post("/projects/{project_id}/issues/{issue_iid}/add_spent_time", response={201: TimeStats})
def add_spent_time(
    request: HttpRequest, project_id: str, issue_iid: str, payload: DurationIn
) -> tuple[int, dict[str, Any]]:
    actor = require_user(request)
    issue = _issue(request, project_id, issue_iid)[1]
    return 201, time_stats(services.issue_add_spent_time(actor=actor, issue=issue, duration=payload.duration))


@router.post("/projects/{project_id}/issues/{issue_iid}/reset_spent_time", response=TimeStats)
def reset_spent_time(request: HttpRequest, project_id: str, issue_iid: str) -> dict[str, Any]:
    actor = require_user(request)
    issue = _issue(request, project_id, issue_iid)[1]
    return time_stats(services.issue_reset_spent_time(actor=actor, issue=issue))


# --- links --------------------------------------------------------------------------------------


def _linked(item: selectors.LinkedIssue) -> Issue:
    issue = item.issue
    issue.issue_link_id = item.link.pk  # type: ignore[attr-defined]  # read by LinkedIssueOut
    issue.link_type = item.link_type  # type: ignore[attr-defined]
    issue.link_created_at = item.link.created_at  # type: ignore[attr-defined]
    issue.link_updated_at = item.link.updated_at  # type: ignore[attr-defined]
    return issue


@router.get("/projects/{project_id}/issues/{issue_iid}/links", response=list[LinkedIssueOut], by_alias=True)
def list_links(request: HttpRequest, response: HttpResponse, project_id: str, issue_iid: str) -> list[Issue]:
    viewer, issue = _issue(request, project_id, issue_iid)
    return [
        _linked(item) for item in paginate_list(request, response, selectors.issue_links(viewer=viewer, issue=issue))
    ]


def _link_body(viewer: User | None, issue: Issue, link: Any) -> dict[str, Any]:
    source = selectors.issue_get_for(viewer=viewer, project=link.source.project, iid=link.source.iid)
    target = selectors.issue_get_for(viewer=viewer, project=link.target.project, iid=link.target.iid)
    kind = link.link_type
    if source.pk != issue.pk:
        source, target = target, source
        kind = "is_blocked_by" if kind == "blocks" else kind
    return {"source_issue": source, "target_issue": target, "link_type": kind}


@router.post("/projects/{project_id}/issues/{issue_iid}/links", response={201: IssueLinkOut}, by_alias=True)
def create_link(
    request: HttpRequest, project_id: str, issue_iid: str, payload: IssueLinkIn
) -> tuple[int, dict[str, Any]]:
    actor = require_user(request)
    _, issue = _issue(request, project_id, issue_iid)
    target_project = project_selectors.project_get_for(viewer=actor, ref=payload.target_project_id)
    target = selectors.issue_get_for(viewer=actor, project=target_project, iid=payload.target_issue_iid)
    link = services.issue_link_create(actor=actor, issue=issue, target=target, link_type=payload.link_type)
    link.source, link.target = (issue, target) if link.source_id == issue.pk else (target, issue)
    return 201, _link_body(actor, issue, link)


@router.get("/projects/{project_id}/issues/{issue_iid}/links/{link_id}", response=IssueLinkOut, by_alias=True)
def get_link(request: HttpRequest, project_id: str, issue_iid: str, link_id: str) -> dict[str, Any]:
    viewer, issue = _issue(request, project_id, issue_iid)
    return _link_body(viewer, issue, selectors.issue_link_get(issue=issue, link_id=link_id))


@router.delete("/projects/{project_id}/issues/{issue_iid}/links/{link_id}", response=IssueLinkOut, by_alias=True)
def delete_link(request: HttpRequest, project_id: str, issue_iid: str, link_id: str) -> dict[str, Any]:
    actor = require_user(request)
    _, issue = _issue(request, project_id, issue_iid)
    link = selectors.issue_link_get(issue=issue, link_id=link_id)
    body = _link_body(actor, issue, link)
    services.issue_link_delete(actor=actor, issue=issue, link=link)
    return body
