"""``/projects/:id/merge_requests/:iid/notes`` and ``/discussions``: comments and threads on merge requests,
including diff threads positioned on a line of a diff version, with GitLab's paths."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router

from dockyard.accounts.auth import current_user, require_user
from dockyard.accounts.models import User
from dockyard.core.errors import NotFound
from dockyard.core.pagination import page_params, paginate, set_page_headers
from dockyard.merge_requests import selectors as mr_selectors
from dockyard.merge_requests import services
from dockyard.merge_requests.models import MergeRequest
from dockyard.notes import selectors
from dockyard.notes import services as note_services
from dockyard.notes.models import Note
from dockyard.notes.schemas import CommandsOut, DiscussionOut, DiscussionResolveIn, NoteCreateIn, NoteOut, NoteUpdateIn
from dockyard.projects import selectors as project_selectors

router = Router(tags=["merge_request_notes"])

MR = "/projects/{project_id}/merge_requests/{mr_iid}"


def _mr(request: HttpRequest, project_id: str, mr_iid: str) -> tuple[User | None, MergeRequest]:
    viewer = current_user(request)
    project = project_selectors.project_get_for(viewer=viewer, ref=project_id)
    mr = mr_selectors.merge_request_get_for(viewer=viewer, project=project, iid=mr_iid)
    return viewer, mr


def _create(
    actor: User, mr: MergeRequest, payload: NoteCreateIn, *, discussion_id: str | None = None, thread: bool = False
) -> tuple[int, Any]:
    note = services.merge_request_note_create(
        actor=actor,
        mr=mr,
        body=payload.body or "",
        internal=payload.internal or payload.confidential,
        discussion_id=discussion_id or payload.discussion_id,
        thread=thread,
        position=payload.position,
        created_at=payload.created_at,
    )
    if isinstance(note, services.CommandsOnly):
        return 202, {"commands_changes": note.changes, "summary": note.summary}
    note.merge_request = mr
    return 201, note


@router.get(f"{MR}/notes", response=list[NoteOut])
def list_notes(
    request: HttpRequest,
    response: HttpResponse,
    project_id: str,
    mr_iid: str,
    *,
    sort: str = "desc",
    order_by: str = "created_at",
) -> list[Note]:
    viewer, mr = _mr(request, project_id, mr_iid)
    qs = selectors.note_list(viewer=viewer, merge_request=mr, order_by=order_by, sort=sort)
    rows: list[Note] = paginate(request, response, qs)
    for note in rows:
        note.merge_request = mr
    return rows


@router.get(f"{MR}/notes/{{note_id}}", response=NoteOut)
def get_note(request: HttpRequest, project_id: str, mr_iid: str, note_id: str) -> Note:
    viewer, mr = _mr(request, project_id, mr_iid)
    return selectors.note_get(viewer=viewer, merge_request=mr, note_id=note_id)


@router.post(f"{MR}/notes", response={201: NoteOut, 202: CommandsOut})
def create_note(request: HttpRequest, project_id: str, mr_iid: str, payload: NoteCreateIn) -> tuple[int, Any]:
    actor = require_user(request)
    _, mr = _mr(request, project_id, mr_iid)
    return _create(actor, mr, payload)


@router.put(f"{MR}/notes/{{note_id}}", response=NoteOut)
def update_note(request: HttpRequest, project_id: str, mr_iid: str, note_id: str, payload: NoteUpdateIn) -> Note:
    actor = require_user(request)
    _, mr = _mr(request, project_id, mr_iid)
    note = selectors.note_get(viewer=actor, merge_request=mr, note_id=note_id)
    note = note_services.note_update(note=note, body=payload.body, resolved=payload.resolved, actor=actor)
    if payload.resolved is not None:
        services.discussion_resolved(mr)
    return note


@router.delete(f"{MR}/notes/{{note_id}}", response={204: None})
def delete_note(request: HttpRequest, project_id: str, mr_iid: str, note_id: str) -> tuple[int, None]:
    actor = require_user(request)
    _, mr = _mr(request, project_id, mr_iid)
    note_services.note_delete(note=selectors.note_get(viewer=actor, merge_request=mr, note_id=note_id), actor=actor)
    return 204, None


@router.get(f"{MR}/discussions", response=list[DiscussionOut])
def list_discussions(
    request: HttpRequest, response: HttpResponse, project_id: str, mr_iid: str
) -> list[selectors.Discussion]:
    viewer, mr = _mr(request, project_id, mr_iid)
    ids = selectors.discussion_ids(viewer=viewer, merge_request=mr)
    page, per_page = page_params(request)
    chosen = ids[(page - 1) * per_page : page * per_page]
    set_page_headers(request, response, page=page, per_page=per_page, total=len(ids), rows=len(chosen))
    return selectors.discussions_for(viewer=viewer, merge_request=mr, ids=chosen)


@router.get(f"{MR}/discussions/{{discussion_id}}", response=DiscussionOut)
def get_discussion(request: HttpRequest, project_id: str, mr_iid: str, discussion_id: str) -> Any:
    viewer, mr = _mr(request, project_id, mr_iid)
    return selectors.discussion_get(viewer=viewer, merge_request=mr, discussion_id=discussion_id)


@router.post(f"{MR}/discussions", response={201: DiscussionOut, 202: CommandsOut})
def create_discussion(request: HttpRequest, project_id: str, mr_iid: str, payload: NoteCreateIn) -> tuple[int, Any]:
    actor = require_user(request)
    _, mr = _mr(request, project_id, mr_iid)
    status, note = _create(actor, mr, payload, thread=True)
    if status != 201:
        return status, note
    return 201, selectors.discussion_get(viewer=actor, merge_request=mr, discussion_id=note.discussion_id)


@router.post(f"{MR}/discussions/{{discussion_id}}/notes", response={201: NoteOut, 202: CommandsOut})
def add_discussion_note(
    request: HttpRequest, project_id: str, mr_iid: str, discussion_id: str, payload: NoteCreateIn
) -> tuple[int, Any]:
    actor = require_user(request)
    _, mr = _mr(request, project_id, mr_iid)
    selectors.discussion_get(viewer=actor, merge_request=mr, discussion_id=discussion_id)
    return _create(actor, mr, payload, discussion_id=discussion_id)


@router.put(f"{MR}/discussions/{{discussion_id}}", response=DiscussionOut)
def resolve_discussion(
    request: HttpRequest, project_id: str, mr_iid: str, discussion_id: str, payload: DiscussionResolveIn
) -> selectors.Discussion:
    actor = require_user(request)
    _, mr = _mr(request, project_id, mr_iid)
    discussion = selectors.discussion_get(viewer=actor, merge_request=mr, discussion_id=discussion_id)
    note_services.discussion_resolve(merge_request=mr, notes=discussion.notes, actor=actor, resolved=payload.resolved)
    services.discussion_resolved(mr)
    return discussion


@router.put(f"{MR}/discussions/{{discussion_id}}/notes/{{note_id}}", response=NoteOut)
def update_discussion_note(
    request: HttpRequest, project_id: str, mr_iid: str, discussion_id: str, note_id: str, *, payload: NoteUpdateIn
) -> Note:
    actor = require_user(request)
    _, mr = _mr(request, project_id, mr_iid)
    note = selectors.note_get(viewer=actor, merge_request=mr, note_id=note_id)
    if note.discussion_id != discussion_id:
        raise NotFound("Note")
    note = note_services.note_update(note=note, body=payload.body, resolved=payload.resolved, actor=actor)
    if payload.resolved is not None:
        services.discussion_resolved(mr)
    return note


@router.delete(f"{MR}/discussions/{{discussion_id}}/notes/{{note_id}}", response={204: None})
def delete_discussion_note(
    request: HttpRequest, project_id: str, mr_iid: str, discussion_id: str, note_id: str
) -> tuple[int, None]:
    actor = require_user(request)
    _, mr = _mr(request, project_id, mr_iid)
    note = selectors.note_get(viewer=actor, merge_request=mr, note_id=note_id)
    if note.discussion_id != discussion_id:
        raise NotFound("Note")
    note_services.note_delete(note=note, actor=actor)
    return 204, None
