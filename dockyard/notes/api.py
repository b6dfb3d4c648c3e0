"""``/projects/:id/issues/:iid/notes`` and ``/discussions`` (merge requests mount the same handlers later)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router

from dockyard.accounts.auth import current_user, require_user
from dockyard.accounts.models import User
from dockyard.core.errors import NotFound
from dockyard.core.pagination import page_params, paginate, set_page_headers
from dockyard.issues import selectors as issue_selectors
from dockyard.issues import services as issue_services
from dockyard.issues.models import Issue
from dockyard.notes import selectors, services
from dockyard.notes.models import Note
from dockyard.notes.schemas import CommandsOut, DiscussionOut, NoteCreateIn, NoteOut, NoteUpdateIn
from dockyard.projects import selectors as project_selectors

router = Router(tags=["notes"])

ISSUE = "/projects/{project_id}/issues/{issue_iid}"


def _issue(request: HttpRequest, project_id: str, issue_iid: str) -> tuple[User | None, Issue]:
    viewer = current_user(request)
    project = project_selectors.project_get_for(viewer=viewer, ref=project_id)
    return viewer, issue_selectors.issue_get_for(viewer=viewer, project=project, iid=issue_iid)


def _create(
    actor: User, issue: Issue, payload: NoteCreateIn, *, discussion_id: str | None = None, thread: bool = False
) -> tuple[int, Any]:
    note = issue_services.issue_note_create(
        actor=actor,
        issue=issue,
        body=payload.body or "",
        internal=payload.internal or payload.confidential,
        discussion_id=discussion_id or payload.discussion_id,
        thread=thread,
        created_at=payload.created_at,
    )
    if isinstance(note, issue_services.CommandsOnly):
        return 202, {"commands_changes": note.changes, "summary": note.summary}
    note.issue = issue
    return 201, note


@router.get(f"{ISSUE}/notes", response=list[NoteOut])
def list_notes(
    request: HttpRequest,
    response: HttpResponse,
    project_id: str,
    issue_iid: str,
    *,
    sort: str = "desc",
    order_by: str = "created_at",
) -> list[Note]:
    viewer, issue = _issue(request, project_id, issue_iid)
    rows: list[Note] = paginate(
        request, response, selectors.note_list(viewer=viewer, issue=issue, order_by=order_by, sort=sort)
    )
    for note in rows:
        note.issue = issue
    return rows


@router.get(f"{ISSUE}/notes/{{note_id}}", response=NoteOut)
def get_note(request: HttpRequest, project_id: str, issue_iid: str, note_id: str) -> Note:
    viewer, issue = _issue(request, project_id, issue_iid)
    return selectors.note_get(viewer=viewer, issue=issue, note_id=note_id)


@router.post(f"{ISSUE}/notes", response={201: NoteOut, 202: CommandsOut})
def create_note(request: HttpRequest, project_id: str, issue_iid: str, payload: NoteCreateIn) -> tuple[int, Any]:
    actor = require_user(request)
    _, issue = _issue(request, project_id, issue_iid)
    return _create(actor, issue, payload)


@router.put(f"{ISSUE}/notes/{{note_id}}", response=NoteOut)
def update_note(request: HttpRequest, project_id: str, issue_iid: str, note_id: str, payload: NoteUpdateIn) -> Note:
    actor = require_user(request)
    _, issue = _issue(request, project_id, issue_iid)
    note = selectors.note_get(viewer=actor, issue=issue, note_id=note_id)
    return services.note_update(note=note, body=payload.body, actor=actor)


@router.delete(f"{ISSUE}/notes/{{note_id}}", response={204: None})
def delete_note(request: HttpRequest, project_id: str, issue_iid: str, note_id: str) -> tuple[int, None]:
    actor = require_user(request)
    _, issue = _issue(request, project_id, issue_iid)
    services.note_delete(note=selectors.note_get(viewer=actor, issue=issue, note_id=note_id), actor=actor)
    return 204, None


# --- discussions --------------------------------------------------------------------------------


@router.get(f"{ISSUE}/discussions", response=list[DiscussionOut])
def list_discussions(
    request: HttpRequest, response: HttpResponse, project_id: str, issue_iid: str
) -> list[selectors.Discussion]:
    viewer, issue = _issue(request, project_id, issue_iid)
    ids = selectors.discussion_ids(viewer=viewer, issue=issue)
    page, per_page = page_params(request)
    chosen = ids[(page - 1) * per_page : page * per_page]
    set_page_headers(request, response, page=page, per_page=per_page, total=len(ids), rows=len(chosen))
    return selectors.discussions_for(viewer=viewer, issue=issue, ids=chosen)


@router.get(f"{ISSUE}/discussions/{{discussion_id}}", response=DiscussionOut)
def get_discussion(request: HttpRequest, project_id: str, issue_iid: str, discussion_id: str) -> Any:
    viewer, issue = _issue(request, project_id, issue_iid)
    return selectors.discussion_get(viewer=viewer, issue=issue, discussion_id=discussion_id)


@router.post(f"{ISSUE}/discussions", response={201: DiscussionOut, 202: CommandsOut})
def create_discussion(request: HttpRequest, project_id: str, issue_iid: str, payload: NoteCreateIn) -> tuple[int, Any]:
    actor = require_user(request)
    _, issue = _issue(request, project_id, issue_iid)
    status, note = _create(actor, issue, payload, thread=True)
    if status != 201:
        return status, note
    return 201, selectors.discussion_get(viewer=actor, issue=issue, discussion_id=note.discussion_id)


@router.post(f"{ISSUE}/discussions/{{discussion_id}}/notes", response={201: NoteOut, 202: CommandsOut})
def add_discussion_note(
    request: HttpRequest, project_id: str, issue_iid: str, discussion_id: str, payload: NoteCreateIn
) -> tuple[int, Any]:
    actor = require_user(request)
    _, issue = _issue(request, project_id, issue_iid)
    selectors.discussion_get(viewer=actor, issue=issue, discussion_id=discussion_id)
    return _create(actor, issue, payload, discussion_id=discussion_id)


@router.put(f"{ISSUE}/discussions/{{discussion_id}}", response=DiscussionOut)
def resolve_discussion(
    request: HttpRequest, project_id: str, issue_iid: str, discussion_id: str, resolved: bool
) -> selectors.Discussion:
    actor = require_user(request)
    _, issue = _issue(request, project_id, issue_iid)
    discussion = selectors.discussion_get(viewer=actor, issue=issue, discussion_id=discussion_id)
    services.discussion_resolve(issue=issue, notes=discussion.notes, actor=actor, resolved=resolved)
    return discussion


@router.put(f"{ISSUE}/discussions/{{discussion_id}}/notes/{{note_id}}", response=NoteOut)
def update_discussion_note(
    request: HttpRequest, project_id: str, issue_iid: str, discussion_id: str, note_id: str, *, payload: NoteUpdateIn
) -> Note:
    actor = require_user(request)
    _, issue = _issue(request, project_id, issue_iid)
    note = selectors.note_get(viewer=actor, issue=issue, note_id=note_id)
    if note.discussion_id != discussion_id:
        raise NotFound("Note")
    return services.note_update(note=note, body=payload.body, resolved=payload.resolved, actor=actor)


@router.delete(f"{ISSUE}/discussions/{{discussion_id}}/notes/{{note_id}}", response={204: None})
def delete_discussion_note(
    request: HttpRequest, project_id: str, issue_iid: str, discussion_id: str, note_id: str
) -> tuple[int, None]:
    actor = require_user(request)
    _, issue = _issue(request, project_id, issue_iid)
    note = selectors.note_get(viewer=actor, issue=issue, note_id=note_id)
    if note.discussion_id != discussion_id:
        raise NotFound("Note")
    services.note_delete(note=note, actor=actor)
    return 204, None
