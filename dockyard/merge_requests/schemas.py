"""API shapes for merge requests (GitLab's ``MergeRequestBasic``/``MergeRequest``, ``MergeRequestChanges``,
``MergeRequestDiff``/``MergeRequestDiffFull`` and ``MergeRequestApprovals`` entities)."""

from __future__ import annotations

import re
from typing import Any

from ninja import Field, Schema

from dockyard.accounts.schemas import UserBasic
from dockyard.ci.schemas import PipelineBasic, PipelineOut
from dockyard.core.schema import GlDateTime
from dockyard.core.urls import absolute
from dockyard.issues.schemas import LabelBasic, MilestoneOut
from dockyard.merge_requests.models import MergeRequest, MergeRequestDiff
from dockyard.repos.schemas import DiffOut

_TASK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\[([ xX])\]\s", re.MULTILINE)


def _sorted_users(users: Any) -> list[Any]:
    return sorted(users.all(), key=lambda u: u.pk)


class MergeRequestBasicOut(Schema):
    id: int
    iid: int
    project_id: int
    title: str
    description: str | None
    state: str
    created_at: GlDateTime
    updated_at: GlDateTime
    merged_by: UserBasic | None
    merge_user: UserBasic | None
    merged_at: GlDateTime | None
    closed_by: UserBasic | None
    closed_at: GlDateTime | None
    target_branch: str
    source_branch: str
    user_notes_count: int
    upvotes: int = 0
    downvotes: int = 0
    author: UserBasic | None
    assignees: list[UserBasic]
    assignee: UserBasic | None
    reviewers: list[UserBasic]
    source_project_id: int | None
    target_project_id: int
    labels: list[Any]
    draft: bool
    imported: bool = False
    imported_from: str = "none"
    work_in_progress: bool
    milestone: MilestoneOut | None
    merge_when_pipeline_succeeds: bool = False
    merge_status: str
    detailed_merge_status: str
    merge_after: str | None = None
    sha: str | None
    merge_commit_sha: str | None
    squash_commit_sha: str | None
    discussion_locked: bool | None
    should_remove_source_branch: bool | None
    force_remove_source_branch: bool
    prepared_at: GlDateTime | None
    allow_collaboration: bool = False
    allow_maintainer_to_push: bool = False
    reference: str
    references: dict[str, str]
    web_url: str
    time_stats: dict[str, Any]
    squash: bool
    squash_on_merge: bool
    task_completion_status: dict[str, int]
    has_conflicts: bool
    blocking_discussions_resolved: bool

    @staticmethod
    def resolve_merge_user(obj: MergeRequest) -> Any:
        return obj.merged_by or obj.merge_user

    @staticmethod
    def resolve_user_notes_count(obj: MergeRequest) -> int:
        return int(getattr(obj, "user_notes_count", 0) or 0)

    @staticmethod
    def resolve_assignees(obj: MergeRequest) -> list[Any]:
        return _sorted_users(obj.assignees)

    @staticmethod
    def resolve_assignee(obj: MergeRequest) -> Any:
        users = _sorted_users(obj.assignees)
        return users[0] if users else None

    @staticmethod
    def resolve_reviewers(obj: MergeRequest) -> list[Any]:
        return _sorted_users(obj.reviewers)

    @staticmethod
    def resolve_target_project_id(obj: MergeRequest) -> int:
        return obj.project_id

    @staticmethod
    def resolve_labels(obj: MergeRequest) -> list[Any]:
        labels = sorted(obj.labels.all(), key=lambda lb: lb.title)
        if getattr(obj, "with_labels_details", False):
            return [LabelBasic.from_orm(lb).model_dump() for lb in labels]
        return [lb.title for lb in labels]

    @staticmethod
    def resolve_work_in_progress(obj: MergeRequest) -> bool:
        return obj.draft

    @staticmethod
    def resolve_sha(obj: MergeRequest) -> str | None:
        return getattr(obj, "head_sha", None)

    @staticmethod
    def resolve_discussion_locked(obj: MergeRequest) -> bool | None:
        return obj.discussion_locked or None

    @staticmethod
    def resolve_should_remove_source_branch(obj: MergeRequest) -> bool | None:
        return obj.should_remove_source_branch

    @staticmethod
    def resolve_prepared_at(obj: MergeRequest) -> Any:
        return obj.created_at

    @staticmethod
    def resolve_reference(obj: MergeRequest) -> str:
        return f"!{obj.iid}"

    @staticmethod
    def resolve_references(obj: MergeRequest) -> dict[str, str]:
        return {"short": f"!{obj.iid}", "relative": f"!{obj.iid}", "full": f"{obj.project.full_path}!{obj.iid}"}

    @staticmethod
    def resolve_web_url(obj: MergeRequest) -> str:
        return absolute(f"{obj.project.full_path}/-/merge_requests/{obj.iid}")

    @staticmethod
    def resolve_time_stats(obj: MergeRequest) -> dict[str, Any]:
        return {"time_estimate": 0, "total_time_spent": 0, "human_time_estimate": None, "human_total_time_spent": None}

    @staticmethod
    def resolve_squash_on_merge(obj: MergeRequest) -> bool:
        return obj.squash

    @staticmethod
    def resolve_task_completion_status(obj: MergeRequest) -> dict[str, int]:
        marks = _TASK.findall(obj.description or "")
        return {"count": len(marks), "completed_count": sum(1 for m in marks if m != " ")}

    @staticmethod
    def resolve_blocking_discussions_resolved(obj: MergeRequest) -> bool:
        return obj.detailed_merge_status != "discussions_not_resolved"


class MergeRequestOut(MergeRequestBasicOut):
    subscribed: bool = False
    changes_count: str | None
    latest_build_started_at: GlDateTime | None = None
    latest_build_finished_at: GlDateTime | None = None
    first_deployed_to_production_at: GlDateTime | None = None
    pipeline: PipelineBasic | None = None
    head_pipeline: PipelineOut | None = None
    diff_refs: dict[str, str | None] | None
    merge_error: str | None
    rebase_in_progress: bool | None = None
    first_contribution: bool = False
    user: dict[str, bool]
    approvals_before_merge: int | None

    @staticmethod
    def resolve_pipeline(obj: MergeRequest) -> Any:
        return getattr(obj, "head_pipeline", None)

    @staticmethod
    def resolve_head_pipeline(obj: MergeRequest) -> Any:
        return getattr(obj, "head_pipeline", None)

    @staticmethod
    def resolve_changes_count(obj: MergeRequest) -> str | None:
        return getattr(obj, "changes_count", None)

    @staticmethod
    def resolve_diff_refs(obj: MergeRequest) -> dict[str, str | None] | None:
        if getattr(obj, "head_sha", None) is None:
            return None
        return {"base_sha": obj.base_sha, "head_sha": obj.head_sha, "start_sha": obj.start_sha}  # type: ignore[attr-defined]

    @staticmethod
    def resolve_rebase_in_progress(obj: MergeRequest) -> bool | None:
        return False if getattr(obj, "include_rebase_in_progress", False) else None

    @staticmethod
    def resolve_user(obj: MergeRequest) -> dict[str, bool]:
        return {"can_merge": bool(getattr(obj, "viewer_can_merge", False))}

    @staticmethod
    def resolve_approvals_before_merge(obj: MergeRequest) -> int | None:
        return obj.project.approvals_before_merge or None


class MergeRequestChangesOut(MergeRequestOut):
    changes: list[DiffOut]
    overflow: bool = False


class VersionOut(Schema):
    id: int
    head_commit_sha: str
    base_commit_sha: str
    start_commit_sha: str
    created_at: GlDateTime
    merge_request_id: int
    state: str = "collected"
    real_size: str
    patch_id_sha: str | None = None


class VersionFullOut(VersionOut):
    commits: list[Any]
    diffs: list[DiffOut]


def version_out(row: MergeRequestDiff) -> dict[str, Any]:
    return {
        "id": row.pk,
        "head_commit_sha": row.head_commit_sha,
        "base_commit_sha": row.base_commit_sha,
        "start_commit_sha": row.start_commit_sha,
        "created_at": row.created_at,
        "merge_request_id": row.merge_request_id,
        "real_size": row.real_size,
    }


class ApprovalsOut(Schema):
    id: int
    iid: int
    project_id: int
    title: str
    description: str | None
    state: str
    created_at: GlDateTime
    updated_at: GlDateTime
    merge_status: str
    approved: bool
    approvals_required: int
    approvals_left: int
    require_password_to_approve: bool = False
    approved_by: list[dict[str, Any]]
    suggested_approvers: list[Any] = []
    approvers: list[Any] = []
    approver_groups: list[Any] = []
    user_has_approved: bool
    user_can_approve: bool
    approval_rules_left: list[Any] = []
    has_approval_rules: bool
    merge_request_approvers_available: bool = False
    multiple_approval_rules_available: bool = False
    invalid_approvers_rules: list[Any] = []


class MergeRequestCreateIn(Schema):
    source_branch: str | None = None
    target_branch: str | None = None
    title: str | None = None
    description: str | None = None
    assignee_id: int | None = None
    assignee_ids: list[int] | int | None = None
    reviewer_ids: list[int] | int | None = None
    labels: list[str] | str | None = None
    milestone_id: int | None = None
    remove_source_branch: bool | None = None
    squash: bool | None = None
    target_project_id: int | None = None
    allow_collaboration: bool | None = None


class MergeRequestUpdateIn(Schema):
    title: str | None = None
    description: str | None = None
    target_branch: str | None = None
    state_event: str | None = None
    labels: list[str] | str | None = None
    add_labels: list[str] | str | None = None
    remove_labels: list[str] | str | None = None
    assignee_id: int | None = None
    assignee_ids: list[int] | int | None = None
    reviewer_ids: list[int] | int | None = None
    milestone_id: int | None = Field(default=-1)
    remove_source_branch: bool | None = None
    squash: bool | None = None
    discussion_locked: bool | None = None
    allow_collaboration: bool | None = None


class MergeIn(Schema):
    merge_commit_message: str | None = None
    squash_commit_message: str | None = None
    squash: bool | None = None
    should_remove_source_branch: bool | None = None
    merge_when_pipeline_succeeds: bool | None = None
    auto_merge: bool | None = None
    sha: str | None = None


class ApproveIn(Schema):
    sha: str | None = None
    approval_password: str | None = None
