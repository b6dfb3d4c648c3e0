"""Note Hook for comments on issues and merge requests (GitLab's ``Gitlab::DataBuilder::Note``).

Comments on commits and snippets follow when those exist in Dockyard.
"""

from __future__ import annotations

from typing import Any

from dockyard.accounts.models import User
from dockyard.webhooks.payloads.common import label_attrs, project_attrs, repository_attrs, user_attrs, utc
from dockyard.webhooks.payloads.issue import issue_url
from dockyard.webhooks.payloads.merge_request import merge_request_attrs, merge_request_url


def is_confidential(note: Any) -> bool:
    """Internal notes and comments on confidential issues go to ``confidential_note_events`` hooks only."""
    return bool(note.internal or (note.issue is not None and note.issue.confidential))


def _issue(issue: Any) -> dict[str, Any]:
    assignee_ids = [a.id for a in issue.assignees.all().order_by("id")]
    return {
        "id": issue.id,
        "title": issue.title,
        "assignee_ids": assignee_ids,
        "assignee_id": assignee_ids[0] if assignee_ids else None,
        "author_id": issue.author_id,
        "project_id": issue.project_id,
        "created_at": utc(issue.created_at),
        "updated_at": utc(issue.updated_at),
        "position": 0,
        "branch_name": None,
        "description": issue.description,
        "milestone_id": issue.milestone_id,
        "state": issue.state,
        "iid": issue.iid,
        "labels": [label_attrs(label) for label in issue.labels.all().order_by("title")],
    }


def _merge_request(mr: Any, base: str, head_sha: str | None) -> dict[str, Any]:
    attrs = merge_request_attrs(mr, base, head_sha=head_sha)
    attrs.update(created_at=utc(mr.created_at), updated_at=utc(mr.updated_at), position=0)
    assignees = sorted(mr.assignees.all(), key=lambda a: a.id)
    if assignees:
        attrs["assignee"] = {"name": assignees[0].name, "username": assignees[0].username, "avatar_url": None}
    return attrs


def build(*, note: Any, user: User, action: str, base: str, head_sha: str | None = None) -> dict[str, Any]:
    """The payload for ``action`` (create, update) of ``note`` (a ``dockyard.notes.models.Note``) on an
    issue or a merge request (``head_sha``: the merge request's source head, for ``last_commit``)."""
    if action not in ("create", "update"):
        raise ValueError(f"unknown note hook action {action!r}")
    if note.issue is None and note.merge_request is None:
        raise ValueError("only notes on issues and merge requests have a payload so far")
    project = note.project
    on_issue = note.issue is not None
    target_url = issue_url(note.issue, base) if on_issue else merge_request_url(note.merge_request, base)
    payload: dict[str, Any] = {
        "object_kind": "note",
        "event_type": "confidential_note" if is_confidential(note) else "note",
        "user": user_attrs(user),
        "project_id": project.id,
        "project": project_attrs(project, base),
        "repository": repository_attrs(project, base, full=False),
        "object_attributes": {
            "id": note.id,
            "note": note.body,
            "noteable_type": "Issue" if on_issue else "MergeRequest",
            "author_id": note.author_id,
            "created_at": utc(note.created_at),
            "updated_at": utc(note.updated_at),
            "project_id": project.id,
            "attachment": None,
            "line_code": None,
            "commit_id": "",
            "noteable_id": note.issue_id if on_issue else note.merge_request_id,
            "system": note.system,
            "st_diff": None,
            "action": action,
            "url": f"{target_url}#note_{note.id}",
        },
    }
    if on_issue:
        payload["issue"] = _issue(note.issue)
    else:
        payload["merge_request"] = _merge_request(note.merge_request, base, head_sha)
    return payload
