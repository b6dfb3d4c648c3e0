"""Issue Hook (GitLab's ``Gitlab::HookData::IssueBuilder`` + ``Gitlab::DataBuilder::Issuable``)."""

from __future__ import annotations

from typing import Any

from dockyard.accounts.models import User
from dockyard.core.human_time import format_duration
from dockyard.webhooks.payloads.common import (
    assignee_attrs,
    iso,
    label_attrs,
    project_attrs,
    repository_attrs,
    user_attrs,
)

ACTIONS = ("open", "close", "reopen", "update")


def issue_url(issue: Any, base: str) -> str:
    return f"{base}/{issue.project.full_path}/-/issues/{issue.iid}"


def issue_attrs(issue: Any, base: str, *, labels: list[dict[str, Any]], assignee_ids: list[int]) -> dict[str, Any]:
    """``Issue#hook_attrs`` of a ``dockyard.issues.models.Issue``."""
    return {
        "id": issue.id,
        "title": issue.title,
        "assignee_ids": assignee_ids,
        "assignee_id": assignee_ids[0] if assignee_ids else None,
        "author_id": issue.author_id,
        "project_id": issue.project_id,
        "created_at": iso(issue.created_at),
        "updated_at": iso(issue.updated_at),
        "updated_by_id": None,
        "last_edited_at": None,
        "last_edited_by_id": None,
        "relative_position": None,
        "description": issue.description,
        "milestone_id": issue.milestone_id,
        "state_id": 1 if issue.state == "opened" else 2,
        "confidential": issue.confidential,
        "discussion_locked": issue.discussion_locked,
        "due_date": issue.due_date.isoformat() if issue.due_date else None,
        "moved_to_id": None,
        "duplicated_to_id": None,
        "time_estimate": issue.time_estimate,
        "total_time_spent": issue.total_time_spent,
        "time_change": 0,
        "human_total_time_spent": format_duration(issue.total_time_spent) if issue.total_time_spent else None,
        "human_time_estimate": format_duration(issue.time_estimate) if issue.time_estimate else None,
        "human_time_change": None,
        "weight": None,
        "type": "Issue",
        "iid": issue.iid,
        "url": issue_url(issue, base),
        "state": issue.state,
        "severity": "unknown",
        "closed_at": iso(issue.closed_at),
        "labels": labels,
    }


def build(
    *,
    issue: Any,
    user: User,
    action: str,
    base: str,
    changes: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The payload for ``action`` (open, close, reopen, update) on ``issue`` by ``user``. ``changes`` maps
    an attribute to ``{"previous": …, "current": …}``, as GitLab reports edits."""
    if action not in ACTIONS:
        raise ValueError(f"unknown issue hook action {action!r}")
    labels = [label_attrs(label) for label in issue.labels.all().order_by("title")]
    assignees = list(issue.assignees.all().order_by("id"))
    attrs = issue_attrs(issue, base, labels=labels, assignee_ids=[a.id for a in assignees])
    attrs["action"] = action
    payload: dict[str, Any] = {
        "object_kind": "issue",
        "event_type": "confidential_issue" if issue.confidential else "issue",
        "user": user_attrs(user),
        "project": project_attrs(issue.project, base),
        "object_attributes": attrs,
        "labels": labels,
        "changes": changes or {},
        "repository": repository_attrs(issue.project, base, full=False),
    }
    if assignees:
        payload["assignees"] = [assignee_attrs(a) for a in assignees]
        payload["assignee"] = assignee_attrs(assignees[0])
    return payload
