"""Reads on notes and discussions, shared by the API and the pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Min, QuerySet

from dockyard.accounts.models import User
from dockyard.core.errors import BadRequest, NotFound
from dockyard.issues.models import Issue
from dockyard.notes import references
from dockyard.notes.models import Note
from dockyard.permissions import policy
from dockyard.projects.models import Project


@dataclass
class Discussion:
    """A thread, or an individual note standing alone (GitLab's ``individual_note``)."""

    id: str
    individual_note: bool
    notes: list[Note] = field(default_factory=list)


def _visible(viewer: User | None, issue: Issue | None, merge_request: Any = None) -> QuerySet[Note]:
    """The notes of ``issue`` (or of ``merge_request``) ``viewer`` may read."""
    noteable = issue if issue is not None else merge_request
    qs = Note.objects.filter(issue=issue) if issue is not None else Note.objects.filter(merge_request=merge_request)
    if not policy.can_on_project_issues(viewer, "read_internal_note", noteable.project):
        qs = qs.filter(internal=False)
    return qs.select_related("author", "resolved_by")


def _attach(note: Note, issue: Issue | None, merge_request: Any) -> Note:
    if issue is not None:
        note.issue = issue
    else:
        note.merge_request = merge_request
    return note


def note_list(
    *,
    viewer: User | None,
    issue: Issue | None = None,
    merge_request: Any = None,
    order_by: str = "created_at",
    sort: str = "desc",
) -> QuerySet[Note]:
    if order_by not in ("created_at", "updated_at"):
        raise BadRequest("order_by does not have a valid value")
    if sort not in ("asc", "desc"):
        raise BadRequest("sort does not have a valid value")
    prefix = "-" if sort == "desc" else ""
    return _visible(viewer, issue, merge_request).order_by(f"{prefix}{order_by}", f"{prefix}id")


def note_get(*, viewer: User | None, issue: Issue | None = None, merge_request: Any = None, note_id: int | str) -> Note:
    qs = _visible(viewer, issue, merge_request)
    note = qs.filter(pk=int(note_id)).first() if str(note_id).isdigit() else None
    if note is None:
        raise NotFound("Note")
    return _attach(note, issue, merge_request)


def discussion_ids(*, viewer: User | None, issue: Issue | None = None, merge_request: Any = None) -> list[str]:
    """Discussion ids in the order they started (one query)."""
    rows = (
        _visible(viewer, issue, merge_request)
        .order_by()
        .values("discussion_id")
        .annotate(first=Min("id"))
        .order_by("first")
        .values_list("discussion_id", flat=True)
    )
    return list(rows)


def discussions_for(
    *, viewer: User | None, issue: Issue | None = None, merge_request: Any = None, ids: list[str]
) -> list[Discussion]:
    """The discussions ``ids`` with their notes, oldest note first (one query)."""
    by_id: dict[str, Discussion] = {i: Discussion(id=i, individual_note=True) for i in ids}
    for note in _visible(viewer, issue, merge_request).filter(discussion_id__in=ids).order_by("created_at", "id"):
        _attach(note, issue, merge_request)
        discussion = by_id[note.discussion_id]
        discussion.notes.append(note)
        if note.type != Note.Type.NOTE:
            discussion.individual_note = False
    return [by_id[i] for i in ids if by_id[i].notes]


def discussion_get(
    *, viewer: User | None, issue: Issue | None = None, merge_request: Any = None, discussion_id: str
) -> Discussion:
    found = discussions_for(viewer=viewer, issue=issue, merge_request=merge_request, ids=[discussion_id])
    if not found:
        raise NotFound("Discussion")
    return found[0]


def markdown_html(*, text: str, project: Project, viewer: User | None) -> str:
    """GitLab's ``description_html`` / ``body_html``: the Markdown of an issue, note or merge request
    as safe HTML with references linked (and hidden ones not linked) for ``viewer``. For pages; the
    API returns the Markdown source, as GitLab does."""
    return references.render(text, project=project, viewer=viewer)
