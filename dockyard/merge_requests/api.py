"""``/projects/:id/merge_requests`` (and ``/merge_requests``, ``/groups/:id/merge_requests``): merge requests,
their changes, commits and versions, approvals, merging and rebasing, with GitLab's paths and answers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from dockyard.accounts.auth import current_user, require_user
from dockyard.accounts.models import User
from dockyard.core.errors import NotFound
from dockyard.core.pagination import paginate, paginate_list
from dockyard.merge_requests import selectors, services
from dockyard.merge_requests.models import MergeRequest
from dockyard.merge_requests.schemas import (
    ApprovalsOut,
    ApproveIn,
    MergeIn,
    MergeRequestBasicOut,
    MergeRequestChangesOut,
    MergeRequestCreateIn,
    MergeRequestOut,
    MergeRequestUpdateIn,
    VersionFullOut,
    VersionOut,
    version_out,
)
from dockyard.namespaces import selectors as namespace_selectors
from dockyard.namespaces.models import Namespace
from dockyard.permissions import policy
from dockyard.projects import selectors as project_selectors
from dockyard.projects.models import Project
from dockyard.repos.schemas import CommitOut, DiffOut, commit_out, diff_out

router = Router(tags=["merge_requests"])

MR = "/projects/{project_id}/merge_requests/{mr_iid}"


class MergeRequestQuery(Schema):
    state: str | None = None
    labels: list[str] | None = None
    milestone: str | None = None
    author_id: int | None = None
    author_username: str | None = None
    assignee_id: str | None = None
    reviewer_id: str | None = None
    reviewer_username: str | None = None
    search: str | None = None
    source_branch: str | None = None
    target_branch: str | None = None
    wip: str | None = None
    draft: bool | None = None
    iids: list[int] | None = None
    scope: str | None = None
    order_by: str = "created_at"
    sort: str = "desc"
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    updated_after: dt.datetime | None = None
    updated_before: dt.datetime | None = None
    with_labels_details: bool = False
    view: str | None = None
    with_merge_status_recheck: bool = False
    search_in: str | None = Field(None, alias="in")

    def filters(self, default_scope: str) -> selectors.MergeRequestFilters:
        return selectors.MergeRequestFilters(
            state=self.state,
            labels=[p.strip() for item in self.labels or [] for p in item.split(",") if p.strip()],
            milestone=self.milestone,
            author_id=self.author_id,
            author_username=self.author_username,
            assignee_id=self.assignee_id,
            reviewer_id=self.reviewer_id,
            reviewer_username=self.reviewer_username,
            search=self.search,
            source_branch=self.source_branch,
            target_branch=self.target_branch,
            wip=self.wip,
            draft=self.draft,
            iids=self.iids or [],
            scope=(self.scope or default_scope).replace("-", "_"),
            order_by=self.order_by,
            sort=self.sort,
            created_after=self.created_after,
            created_before=self.created_before,
            updated_after=self.updated_after,
            updated_before=self.updated_before,
        )


def _project(request: HttpRequest, project_id: str) -> tuple[User | None, Project]:
    viewer = current_user(request)
    return viewer, project_selectors.project_get_for(viewer=viewer, ref=project_id)


def _mr(request: HttpRequest, project_id: str, mr_iid: str) -> tuple[User | None, MergeRequest]:
    viewer, project = _project(request, project_id)
    mr = selectors.merge_request_get_for(viewer=viewer, project=project, iid=mr_iid)
    return viewer, mr


def _fresh(viewer: User | None, mr: MergeRequest) -> MergeRequest:
    """The merge request re-read with everything its entity shows, for ``viewer``."""
    fresh = selectors.merge_request_get_for(viewer=viewer, project=mr.project, iid=mr.iid)
    fresh.viewer_can_merge = services.can_be_merged_by(viewer, fresh)  # type: ignore[attr-defined]
    fresh.head_pipeline = services.head_pipeline(fresh, getattr(fresh, "head_sha", None))  # type: ignore[attr-defined]
    return fresh


def _list(
    request: HttpRequest,
    response: HttpResponse,
    query: MergeRequestQuery,
    *,
    project: Project | None = None,
    group: Namespace | None = None,
    default_scope: str = "all",
) -> list[MergeRequest]:
    qs = selectors.merge_request_list(
        viewer=current_user(request), filters=query.filters(default_scope), project=project, group=group
    )
    rows: list[MergeRequest] = paginate(request, response, qs)
    for row in rows:
        row.with_labels_details = query.with_labels_details  # type: ignore[attr-defined]
    return rows


@router.get("/merge_requests", response=list[MergeRequestBasicOut])
def list_merge_requests(
    request: HttpRequest, response: HttpResponse, query: Query[MergeRequestQuery]
) -> list[MergeRequest]:
    if current_user(request) is None and (query.scope or "") != "all":
        require_user(request)
    return _list(request, response, query, default_scope="created_by_me")


@router.get("/groups/{group_id}/merge_requests", response=list[MergeRequestBasicOut])
def list_group_merge_requests(
    request: HttpRequest, response: HttpResponse, group_id: str, query: Query[MergeRequestQuery]
) -> list[MergeRequest]:
    group = namespace_selectors.group_get_for(viewer=current_user(request), ref=group_id)
    return _list(request, response, query, group=group)


@router.get("/projects/{project_id}/merge_requests", response=list[MergeRequestBasicOut])
def list_project_merge_requests(
    request: HttpRequest, response: HttpResponse, project_id: str, query: Query[MergeRequestQuery]
) -> list[MergeRequest]:
    _, project = _project(request, project_id)
    return _list(request, response, query, project=project)


def _split(value: list[str] | str | None) -> list[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return [p.strip() for item in items for p in str(item).split(",") if p.strip()]


def _ids(ids: list[int] | int | None, single: int | None = None) -> list[int] | None:
    if ids is None:
        return None if single is None else ([single] if single else [])
    return [i for i in ([ids] if isinstance(ids, int) else ids) if i]


@router.post("/projects/{project_id}/merge_requests", response={201: MergeRequestOut})
def create_merge_request(
    request: HttpRequest, project_id: str, payload: MergeRequestCreateIn
) -> tuple[int, MergeRequest]:
    actor = require_user(request)
    _, project = _project(request, project_id)
    target = None
    if payload.target_project_id and payload.target_project_id != project.id:
        try:
            target = project_selectors.project_get_for(viewer=actor, ref=payload.target_project_id)
        except NotFound:
            raise NotFound("Target Project") from None
    mr = services.merge_request_create(
        actor=actor,
        project=project,
        target_project=target,
        source_branch=payload.source_branch,
        target_branch=payload.target_branch,
        title=payload.title,
        description=payload.description or "",
        assignee_ids=_ids(payload.assignee_ids, payload.assignee_id),
        reviewer_ids=_ids(payload.reviewer_ids),
        labels=_split(payload.labels),
        milestone_id=payload.milestone_id,
        remove_source_branch=payload.remove_source_branch,
        squash=payload.squash,
    )
    return 201, _fresh(actor, mr)


@router.get(MR, response=MergeRequestOut)
def get_merge_request(
    request: HttpRequest, project_id: str, mr_iid: str, include_rebase_in_progress: bool = False
) -> MergeRequest:
    viewer, mr = _mr(request, project_id, mr_iid)
    fresh = _fresh(viewer, mr)
    fresh.include_rebase_in_progress = include_rebase_in_progress  # type: ignore[attr-defined]
    return fresh


@router.put(MR, response=MergeRequestOut)
def update_merge_request(
    request: HttpRequest, project_id: str, mr_iid: str, payload: MergeRequestUpdateIn
) -> MergeRequest:
    actor = require_user(request)
    _, mr = _mr(request, project_id, mr_iid)
    services.merge_request_update(
        actor=actor,
        mr=mr,
        title=payload.title,
        description=payload.description,
        target_branch=payload.target_branch,
        state_event=payload.state_event,
        labels=_split(payload.labels),
        add_labels=_split(payload.add_labels),
        remove_labels=_split(payload.remove_labels),
        assignee_ids=_ids(payload.assignee_ids, payload.assignee_id),
        reviewer_ids=_ids(payload.reviewer_ids),
        milestone_id=services.UNSET if payload.milestone_id == -1 else payload.milestone_id,
        remove_source_branch=payload.remove_source_branch,
        squash=payload.squash,
        discussion_locked=payload.discussion_locked,
    )
    return _fresh(actor, mr)


@router.delete(MR, response={204: None})
def delete_merge_request(request: HttpRequest, project_id: str, mr_iid: str) -> tuple[int, None]:
    actor = require_user(request)
    _, mr = _mr(request, project_id, mr_iid)
    services.merge_request_delete(actor=actor, mr=mr)
    return 204, None


# --- changes, diffs, commits, versions -------------------------------------------------------------


def _diffs(mr: MergeRequest, base: str | None, head: str | None) -> list[DiffOut]:
    return [diff_out(d) for d in selectors.diff_entries(project_id=mr.project_id, base=base, head=head)]


@router.get(f"{MR}/changes", response=MergeRequestChangesOut)
def merge_request_changes(request: HttpRequest, project_id: str, mr_iid: str) -> Any:
    viewer, mr = _mr(request, project_id, mr_iid)
    fresh = _fresh(viewer, mr)
    fresh.changes = _diffs(mr, getattr(fresh, "base_sha", None), getattr(fresh, "head_sha", None))  # type: ignore[attr-defined]
    fresh.changes_count = str(len(fresh.changes))  # type: ignore[attr-defined]
    return fresh


@router.get(f"{MR}/diffs", response=list[DiffOut])
def merge_request_diffs(request: HttpRequest, response: HttpResponse, project_id: str, mr_iid: str) -> list[DiffOut]:
    _, mr = _mr(request, project_id, mr_iid)
    return paginate_list(request, response, _diffs(mr, getattr(mr, "base_sha", None), getattr(mr, "head_sha", None)))


def _commits(mr: MergeRequest, start: str | None, head: str | None) -> list[CommitOut]:
    commits = selectors.commit_infos(project_id=mr.project_id, start=start, head=head)
    return [commit_out(c, mr.project) for c in commits]


@router.get(f"{MR}/commits", response=list[CommitOut])
def merge_request_commits(
    request: HttpRequest, response: HttpResponse, project_id: str, mr_iid: str
) -> list[CommitOut]:
    _, mr = _mr(request, project_id, mr_iid)
    commits = _commits(mr, getattr(mr, "start_sha", None), getattr(mr, "head_sha", None))
    return paginate_list(request, response, commits)


@router.get(f"{MR}/versions", response=list[VersionOut])
def merge_request_versions(
    request: HttpRequest, response: HttpResponse, project_id: str, mr_iid: str
) -> list[dict[str, Any]]:
    _, mr = _mr(request, project_id, mr_iid)
    return [version_out(v) for v in paginate(request, response, selectors.versions(merge_request=mr))]


@router.get(f"{MR}/versions/{{version_id}}", response=VersionFullOut)
def merge_request_version(request: HttpRequest, project_id: str, mr_iid: str, version_id: str) -> dict[str, Any]:
    _, mr = _mr(request, project_id, mr_iid)
    row = selectors.version_get(merge_request=mr, version_id=version_id)
    return {
        **version_out(row),
        "commits": _commits(mr, row.start_commit_sha, row.head_commit_sha),
        "diffs": _diffs(mr, row.base_commit_sha, row.head_commit_sha),
    }


# --- approvals ------------------------------------------------------------------------------------


def _approvals(viewer: User | None, mr: MergeRequest) -> dict[str, Any]:
    rows = selectors.approvals(merge_request=mr)
    required = mr.project.approvals_before_merge
    has_approved = viewer is not None and any(r.user_id == viewer.pk for r in rows)
    from dockyard.accounts.schemas import UserBasic

    return {
        "id": mr.pk,
        "iid": mr.iid,
        "project_id": mr.project_id,
        "title": mr.title,
        "description": mr.description,
        "state": mr.state,
        "created_at": mr.created_at,
        "updated_at": mr.updated_at,
        "merge_status": mr.merge_status,
        "approved": len(rows) >= required if required else bool(rows),
        "approvals_required": required,
        "approvals_left": max(0, required - len(rows)),
        "approved_by": [{"user": UserBasic.from_orm(r.user).model_dump()} for r in rows],
        "user_has_approved": has_approved,
        "user_can_approve": bool(
            viewer is not None
            and not has_approved
            and mr.is_open
            and policy.can_on_merge_request(viewer, "approve_merge_request", mr)
        ),
        "has_approval_rules": bool(required),
    }


@router.get(f"{MR}/approvals", response=ApprovalsOut)
def merge_request_approvals(request: HttpRequest, project_id: str, mr_iid: str) -> dict[str, Any]:
    viewer, mr = _mr(request, project_id, mr_iid)
    return _approvals(viewer, mr)


@router.get(f"{MR}/approval_state")
def merge_request_approval_state(request: HttpRequest, project_id: str, mr_iid: str) -> dict[str, Any]:
    viewer, mr = _mr(request, project_id, mr_iid)
    state = _approvals(viewer, mr)
    rule = {
        "id": mr.project_id,
        "name": "All Members",
        "rule_type": "any_approver",
        "eligible_approvers": [],
        "approvals_required": state["approvals_required"],
        "users": [],
        "groups": [],
        "contains_hidden_groups": False,
        "approved_by": [a["user"] for a in state["approved_by"]],
        "source_rule": None,
        "approved": state["approvals_left"] == 0,
        "overridden": False,
    }
    return {"approval_rules_overwritten": False, "rules": [rule]}


@router.post(f"{MR}/approve", response={201: ApprovalsOut})
def approve_merge_request(
    request: HttpRequest, project_id: str, mr_iid: str, payload: ApproveIn | None = None
) -> tuple[int, dict[str, Any]]:
    actor = require_user(request)
    _, mr = _mr(request, project_id, mr_iid)
    services.approve(actor=actor, mr=mr, sha=payload.sha if payload else None)
    return 201, _approvals(actor, mr)


@router.post(f"{MR}/unapprove", response={201: ApprovalsOut})
def unapprove_merge_request(request: HttpRequest, project_id: str, mr_iid: str) -> tuple[int, dict[str, Any]]:
    actor = require_user(request)
    _, mr = _mr(request, project_id, mr_iid)
    services.unapprove(actor=actor, mr=mr)
    return 201, _approvals(actor, mr)


# --- merge and rebase -----------------------------------------------------------------------------


@router.put(f"{MR}/merge", response=MergeRequestOut)
def merge_merge_request(
    request: HttpRequest, project_id: str, mr_iid: str, payload: MergeIn | None = None
) -> MergeRequest:
    actor = require_user(request)
    _, mr = _mr(request, project_id, mr_iid)
    body = payload or MergeIn()
    services.merge(
        actor=actor,
        mr=mr,
        options=services.MergeOptions(
            sha=body.sha,
            merge_commit_message=body.merge_commit_message,
            squash_commit_message=body.squash_commit_message,
            squash=body.squash,
            should_remove_source_branch=body.should_remove_source_branch,
            auto_merge=bool(body.merge_when_pipeline_succeeds or body.auto_merge),
        ),
    )
    return _fresh(actor, mr)


@router.post(f"{MR}/cancel_merge_when_pipeline_succeeds", response={201: dict[str, str]})
def cancel_auto_merge(request: HttpRequest, project_id: str, mr_iid: str) -> tuple[int, dict[str, str]]:
    actor = require_user(request)
    _, mr = _mr(request, project_id, mr_iid)
    services.auto_merge_cancel(actor=actor, mr=mr)
    return 201, {"status": "success"}


@router.put(f"{MR}/rebase", response={202: dict[str, bool]})
def rebase_merge_request(request: HttpRequest, project_id: str, mr_iid: str) -> tuple[int, dict[str, bool]]:
    actor = require_user(request)
    _, mr = _mr(request, project_id, mr_iid)
    services.rebase(actor=actor, mr=mr)
    return 202, {"rebase_in_progress": False}


@router.get(f"{MR}/closes_issues", response=list[dict[str, Any]])
def merge_request_closes_issues(
    request: HttpRequest, response: HttpResponse, project_id: str, mr_iid: str
) -> list[dict[str, Any]]:
    from dockyard.issues import selectors as issue_selectors
    from dockyard.issues.schemas import IssueOut

    viewer, mr = _mr(request, project_id, mr_iid)
    issues = issue_selectors.closing_issue_references(mr.description, mr.project, viewer=viewer)
    rows = paginate_list(request, response, issues)
    return [
        IssueOut.from_orm(issue_selectors.issue_get_for(viewer=viewer, project=i.project, iid=i.iid)).model_dump(
            by_alias=True
        )
        for i in rows
    ]
