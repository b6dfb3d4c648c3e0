"""Merge Request Hook (GitLab's ``Gitlab::HookData::MergeRequestBuilder`` + ``Gitlab::DataBuilder::Issuable``),
also what system hooks receive for merge request events."""

from __future__ import annotations

from typing import Any

from dockyard.accounts.models import User
from dockyard.webhooks.payloads.common import (
    commit_attrs,
    iso,
    label_attrs,
    project_attrs,
    repository_attrs,
    user_attrs,
    utc,
)

ACTIONS = ("open", "close", "reopen", "update", "approved", "unapproved", "approval", "unapproval", "merge")
_STATE_IDS = {"opened": 1, "closed": 2, "merged": 3, "locked": 4}


def merge_request_url(mr: Any, base: str) -> str:
    return f"{base}/{mr.project.full_path}/-/merge_requests/{mr.iid}"


def _person(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "username": user.username, "avatar_url": None}


def merge_request_attrs(mr: Any, base: str, *, head_sha: str | None = None) -> dict[str, Any]:
    """``MergeRequest#hook_attrs`` of a ``dockyard.merge_requests.models.MergeRequest``. ``head_sha`` is
    the source head of its latest diff version (``last_commit``)."""
    assignee_ids = sorted(a.id for a in mr.assignees.all())
    reviewer_ids = sorted(r.id for r in mr.reviewers.all())
    labels = [label_attrs(label) for label in mr.labels.all().order_by("title")]
    return {
        "id": mr.id,
        "iid": mr.iid,
        "target_branch": mr.target_branch,
        "source_branch": mr.source_branch,
        "source_project_id": mr.source_project_id,
        "author_id": mr.author_id,
        "assignee_ids": assignee_ids,
        "assignee_id": assignee_ids[0] if assignee_ids else None,
        "reviewer_ids": reviewer_ids,
        "title": mr.title,
        "created_at": iso(mr.created_at),
        "updated_at": iso(mr.updated_at),
        "last_edited_at": None,
        "last_edited_by_id": None,
        "milestone_id": mr.milestone_id,
        "state_id": _STATE_IDS.get(mr.state, 1),
        "state": mr.state,
        "blocking_discussions_resolved": mr.detailed_merge_status != "discussions_not_resolved",
        "work_in_progress": mr.draft,
        "draft": mr.draft,
        "first_contribution": False,
        "merge_status": mr.merge_status,
        "target_project_id": mr.project_id,
        "description": mr.description,
        "prepared_at": iso(mr.created_at),
        "merge_commit_sha": mr.merge_commit_sha,
        "merge_error": mr.merge_error,
        "merge_user_id": mr.merged_by_id,
        "merge_when_pipeline_succeeds": False,
        "head_pipeline_id": None,
        "time_estimate": 0,
        "total_time_spent": 0,
        "time_change": 0,
        "human_total_time_spent": None,
        "human_time_change": None,
        "human_time_estimate": None,
        "updated_by_id": None,
        "url": merge_request_url(mr, base),
        # A deleted fork leaves no source project; its head was fetched into the target's repository.
        "source": project_attrs(mr.source_project, base) if mr.source_project is not None else None,
        "target": project_attrs(mr.project, base),
        "last_commit": commit_attrs(mr.project, head_sha, base),
        "labels": labels,
        "detailed_merge_status": mr.detailed_merge_status,
    }


def build(
    *,
    mr: Any,
    user: User,
    action: str,
    base: str,
    head_sha: str | None = None,
    changes: dict[str, dict[str, Any]] | None = None,
    oldrev: str | None = None,
) -> dict[str, Any]:
    """The payload for ``action`` on ``mr`` by ``user``. ``changes`` maps an attribute to ``{"previous":
    …, "current": …}``; ``oldrev`` is the previous source head when new commits were pushed."""
    if action not in ACTIONS:
        raise ValueError(f"unknown merge request hook action {action!r}")
    attrs = merge_request_attrs(mr, base, head_sha=head_sha)
    attrs["action"] = action
    if oldrev:
        attrs["oldrev"] = oldrev
    people = {u.id: u for u in (*mr.assignees.all(), *mr.reviewers.all())}
    payload: dict[str, Any] = {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": user_attrs(user),
        "project": project_attrs(mr.project, base),
        "object_attributes": attrs,
        "labels": attrs["labels"],
        "changes": changes or {},
        "repository": repository_attrs(mr.project, base, full=False),
    }
    # GitLab leaves these out when empty.
    if attrs["assignee_ids"]:
        payload["assignees"] = [_person(people[i]) for i in attrs["assignee_ids"]]
    if attrs["reviewer_ids"]:
        payload["reviewers"] = [_person(people[i]) for i in attrs["reviewer_ids"]]
    return payload


def snapshot(mr: Any) -> dict[str, Any]:
    """What an edit may change, in hook form: taken before and after an update to report ``changes``."""
    return {
        "title": mr.title,
        "description": mr.description,
        "target_branch": mr.target_branch,
        "draft": mr.draft,
        "milestone_id": mr.milestone_id,
        "discussion_locked": mr.discussion_locked,
        "labels": [label_attrs(label) for label in mr.labels.all().order_by("title")],
        "assignees": [_person(u) for u in mr.assignees.all().order_by("id")],
        "reviewers": [_person(u) for u in mr.reviewers.all().order_by("id")],
        "updated_at": utc(mr.updated_at),
    }


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """GitLab's ``changes``: ``{attribute: {"previous": …, "current": …}}`` for what differs."""
    return {key: {"previous": before[key], "current": after[key]} for key in after if before.get(key) != after[key]}
