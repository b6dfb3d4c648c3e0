"""API shapes for issues, labels, milestones and issue links (GitLab's ``Issue``, ``LabelBasic``/``Label``,
``Milestone`` entities)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ninja import Field, Schema

from dockyard.accounts.schemas import UserBasic
from dockyard.core.human_time import format_duration
from dockyard.core.schema import GlDateTime
from dockyard.core.urls import absolute
from dockyard.issues.models import Issue, Label, Milestone

_TASK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\[([ xX])\]\s", re.MULTILINE)


class LabelBasic(Schema):
    id: int
    name: str
    description: str | None
    description_html: str = ""
    text_color: str
    color: str
    priority: int | None = None
    is_project_label: bool

    @staticmethod
    def resolve_name(obj: Label) -> str:
        return obj.title

    @staticmethod
    def resolve_description(obj: Label) -> str | None:
        return obj.description or None

    @staticmethod
    def resolve_is_project_label(obj: Label) -> bool:
        return obj.project_id is not None


class LabelOut(LabelBasic):
    open_issues_count: int | None = None
    closed_issues_count: int | None = None
    open_merge_requests_count: int | None = None
    subscribed: bool = False

    @staticmethod
    def resolve_open_merge_requests_count(obj: Label) -> int | None:
        return 0 if hasattr(obj, "open_issues_count") else None


class LabelCreateIn(Schema):
    name: str | None = None
    color: str | None = None
    description: str | None = None
    priority: int | None = None


class LabelUpdateIn(Schema):
    new_name: str | None = None
    name: str | None = None  # the legacy ``PUT /labels?name=`` form names the label to change
    color: str | None = None
    description: str | None = None
    priority: int | None = None


class MilestoneOut(Schema):
    id: int
    iid: int
    project_id: int | None = None
    group_id: int | None = None
    title: str
    description: str | None
    state: str
    created_at: GlDateTime
    updated_at: GlDateTime
    due_date: dt.date | None
    start_date: dt.date | None
    expired: bool
    web_url: str

    @staticmethod
    def resolve_group_id(obj: Milestone) -> int | None:
        return obj.namespace_id

    @staticmethod
    def resolve_description(obj: Milestone) -> str | None:
        return obj.description or None

    @staticmethod
    def resolve_web_url(obj: Milestone) -> str:
        if obj.project is not None:
            return absolute(f"{obj.project.full_path}/-/milestones/{obj.iid}")
        assert obj.namespace is not None
        return absolute(f"groups/{obj.namespace.full_path}/-/milestones/{obj.iid}")


class MilestoneCreateIn(Schema):
    title: str | None = None
    description: str | None = None
    due_date: str | None = None
    start_date: str | None = None


class MilestoneUpdateIn(Schema):
    title: str | None = None
    description: str | None = None
    due_date: str | None = None
    start_date: str | None = None
    state_event: str | None = None


def time_stats(issue: Issue) -> dict[str, Any]:
    return {
        "time_estimate": issue.time_estimate,
        "total_time_spent": issue.total_time_spent,
        "human_time_estimate": format_duration(issue.time_estimate),
        "human_total_time_spent": format_duration(issue.total_time_spent),
    }


class TimeStats(Schema):
    time_estimate: int
    total_time_spent: int
    human_time_estimate: str | None
    human_total_time_spent: str | None


class IssueOut(Schema):
    id: int
    iid: int
    project_id: int
    title: str
    description: str | None
    state: str
    created_at: GlDateTime
    updated_at: GlDateTime
    closed_at: GlDateTime | None
    closed_by: UserBasic | None
    labels: list[Any]
    milestone: MilestoneOut | None
    assignees: list[UserBasic]
    author: UserBasic | None
    type: str = "ISSUE"
    issue_type: str = "issue"
    assignee: UserBasic | None
    user_notes_count: int
    merge_requests_count: int = 0
    upvotes: int = 0
    downvotes: int = 0
    due_date: dt.date | None
    confidential: bool
    discussion_locked: bool | None
    web_url: str
    time_stats: dict[str, Any]
    task_completion_status: dict[str, int]
    has_tasks: bool
    task_status: str | None = None
    links: dict[str, str | None] = Field(..., serialization_alias="_links")
    references: dict[str, str]
    severity: str = "UNKNOWN"
    subscribed: bool = False
    moved_to_id: int | None = None
    service_desk_reply_to: str | None = None
    blocking_issues_count: int = 0

    @staticmethod
    def resolve_description(obj: Issue) -> str | None:
        return obj.description

    @staticmethod
    def resolve_labels(obj: Issue) -> list[Any]:
        labels = sorted(obj.labels.all(), key=lambda lb: lb.title)
        if getattr(obj, "with_labels_details", False):
            return [LabelBasic.from_orm(lb).model_dump() for lb in labels]
        return [lb.title for lb in labels]

    @staticmethod
    def resolve_assignees(obj: Issue) -> list[Any]:
        return sorted(obj.assignees.all(), key=lambda u: u.pk)

    @staticmethod
    def resolve_assignee(obj: Issue) -> Any:
        assignees = sorted(obj.assignees.all(), key=lambda u: u.pk)
        return assignees[0] if assignees else None

    @staticmethod
    def resolve_user_notes_count(obj: Issue) -> int:
        return int(getattr(obj, "user_notes_count", 0) or 0)

    @staticmethod
    def resolve_discussion_locked(obj: Issue) -> bool | None:
        return obj.discussion_locked or None

    @staticmethod
    def resolve_web_url(obj: Issue) -> str:
        return absolute(f"{obj.project.full_path}/-/issues/{obj.iid}")

    @staticmethod
    def resolve_time_stats(obj: Issue) -> dict[str, Any]:
        return time_stats(obj)

    @staticmethod
    def resolve_task_completion_status(obj: Issue) -> dict[str, int]:
        marks = _TASK.findall(obj.description or "")
        return {"count": len(marks), "completed_count": sum(1 for m in marks if m != " ")}

    @staticmethod
    def resolve_has_tasks(obj: Issue) -> bool:
        return bool(_TASK.search(obj.description or ""))

    @staticmethod
    def resolve_task_status(obj: Issue) -> str | None:
        marks = _TASK.findall(obj.description or "")
        if not marks:
            return None
        return f"{sum(1 for m in marks if m != ' ')} of {len(marks)} checklist items completed"

    @staticmethod
    def resolve_links(obj: Issue) -> dict[str, str | None]:
        api = absolute(f"api/v4/projects/{obj.project_id}")
        return {
            "self": f"{api}/issues/{obj.iid}",
            "notes": f"{api}/issues/{obj.iid}/notes",
            "award_emoji": f"{api}/issues/{obj.iid}/award_emoji",
            "project": api,
            "closed_as_duplicate_of": None,
        }

    @staticmethod
    def resolve_references(obj: Issue) -> dict[str, str]:
        return {"short": f"#{obj.iid}", "relative": f"#{obj.iid}", "full": f"{obj.project.full_path}#{obj.iid}"}


class LinkedIssueOut(IssueOut):
    issue_link_id: int
    link_type: str
    link_created_at: GlDateTime
    link_updated_at: GlDateTime


class IssueLinkOut(Schema):
    source_issue: IssueOut
    target_issue: IssueOut
    link_type: str


class IssueCreateIn(Schema):
    title: str | None = None
    description: str | None = None
    confidential: bool = False
    assignee_ids: list[int] | int | None = None
    assignee_id: int | None = None
    milestone_id: int | None = None
    labels: list[str] | str | None = None
    due_date: str | None = None
    discussion_locked: bool = False
    created_at: dt.datetime | None = None
    issue_type: str | None = None


class IssueUpdateIn(Schema):
    title: str | None = None
    description: str | None = None
    state_event: str | None = None
    labels: list[str] | str | None = None
    add_labels: list[str] | str | None = None
    remove_labels: list[str] | str | None = None
    assignee_ids: list[int] | int | None = None
    assignee_id: int | None = None
    milestone_id: int | None = None
    due_date: str | None = None
    confidential: bool | None = None
    discussion_locked: bool | None = None
    updated_at: dt.datetime | None = None
    issue_type: str | None = None


class IssueLinkIn(Schema):
    target_project_id: int | str
    target_issue_iid: int | str
    link_type: str = "relates_to"


class DurationIn(Schema):
    duration: str | None = None
    summary: str | None = None


class Statistics(Schema):
    statistics: dict[str, dict[str, int]]
