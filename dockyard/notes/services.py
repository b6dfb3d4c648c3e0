"""All writes on notes: comments, threads, resolution, and the system notes other services record."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from dockyard.accounts.models import User
from dockyard.core.errors import BadRequest
from dockyard.events.models import Event
from dockyard.issues.models import Issue
from dockyard.notes.models import Note, new_discussion_id
from dockyard.notifications import services as notifications
from dockyard.permissions import policy

MAX_BODY = 1_000_000


def _check_body(body: str) -> None:
    if not body or not body.strip():
        raise BadRequest("body is missing")
    if len(body) > MAX_BODY:
        raise BadRequest("body is too long")


def _owner(issue: Issue | None, merge_request: Any) -> tuple[Any, dict[str, Any]]:
    """The noteable (an issue or a merge request) and the Note fields that point at it."""
    if (issue is None) == (merge_request is None):
        raise ValueError("a note needs exactly one of issue, merge_request")
    return (issue, {"issue": issue}) if issue is not None else (merge_request, {"merge_request": merge_request})


@transaction.atomic
def system_note_create(*, issue: Issue | None = None, merge_request: Any = None, actor: User | None, body: str) -> Note:
    """Record a change as GitLab does ("closed", "added ~bug label"): a system note, alone in its discussion."""
    noteable, owner = _owner(issue, merge_request)
    now = timezone.now()
    return Note.objects.create(
        project_id=noteable.project_id, author=actor, body=body, system=True, created_at=now, updated_at=now, **owner
    )


@transaction.atomic
def note_create(
    *,
    issue: Issue | None = None,
    merge_request: Any = None,
    actor: User,
    body: str,
    internal: bool = False,
    discussion_id: str | None = None,
    thread: bool = False,
    created_at: dt.datetime | None = None,
    position: dict[str, Any] | None = None,
) -> Note:
    """A comment. ``thread=True`` starts a resolvable discussion; ``discussion_id`` replies to one;
    ``position`` (merge requests) makes the thread a diff note on a line of a diff version.

    The caller (the noteable's service) has already checked the actor may comment and has executed and
    removed any quick actions from ``body``.
    """
    _check_body(body)
    noteable, owner = _owner(issue, merge_request)
    now = timezone.now()
    kind = Note.Type.NOTE
    if discussion_id is not None:
        first = Note.objects.filter(discussion_id=discussion_id, **owner).order_by("id").first()
        if first is None or first.system:
            raise BadRequest("discussion_id is invalid")
        kind = Note.Type.DISCUSSION if first.type != Note.Type.NOTE else Note.Type.NOTE
        if first.type == Note.Type.NOTE:
            # Replying to an individual note turns it into a thread, as in GitLab.
            Note.objects.filter(pk=first.pk).update(type=Note.Type.DISCUSSION, resolvable=True)
            kind = Note.Type.DISCUSSION
        internal = internal or first.internal
        if first.type == Note.Type.DIFF:
            kind, position = Note.Type.DIFF, first.position
    elif position is not None:
        kind = Note.Type.DIFF
    elif thread:
        kind = Note.Type.DISCUSSION
    note = Note.objects.create(
        project_id=noteable.project_id,
        author=actor,
        body=body,
        internal=internal,
        type=kind,
        resolvable=kind in (Note.Type.DISCUSSION, Note.Type.DIFF),
        discussion_id=discussion_id or new_discussion_id(),
        position=position,
        created_at=created_at or now,
        updated_at=now,
        **owner,
    )
    type(noteable).objects.filter(pk=noteable.pk).update(updated_at=now)
    Event.objects.create(
        project_id=noteable.project_id,
        author=actor,
        action=Event.Action.COMMENTED,
        target_type=note.type or "Note",  # GitLab's note class: Note, DiscussionNote or DiffNote
        target_id=note.pk,
        target_title=noteable.title[:255],
    )
    notifications.notify(kind="note_created", object_id=note.pk, actor=actor)
    return note


@transaction.atomic
def note_update(*, note: Note, body: str | None = None, resolved: bool | None = None, actor: User) -> Note:
    """Edit a comment (its author only) or resolve it (anyone who may edit the issue)."""
    fields = []
    if body is not None:
        policy.authorize_issue(actor, policy.can_on_note(actor, "update_note", note))
        _check_body(body)
        note.body = body
        note.updated_at = timezone.now()
        fields += ["body", "updated_at"]
    if resolved is not None:
        if note.merge_request_id is not None:
            policy.authorize_issue(actor, policy.can_on_merge_request(actor, "resolve_note", note.merge_request))
        else:
            assert note.issue is not None
            policy.authorize_issue(actor, policy.can_on_issue(actor, "update_issue", note.issue))
        if not note.resolvable:
            raise BadRequest("Note is not resolvable")
        note.resolved_at = timezone.now() if resolved else None
        note.resolved_by = actor if resolved else None
        fields += ["resolved_at", "resolved_by"]
    if fields:
        note.save(update_fields=fields)
    return note


@transaction.atomic
def note_delete(*, note: Note, actor: User) -> None:
    """Its author, or a maintainer, deletes a comment; system notes stay."""
    policy.authorize_issue(actor, policy.can_on_note(actor, "delete_note", note))
    note.delete()


@transaction.atomic
def discussion_resolve(
    *, issue: Issue | None = None, merge_request: Any = None, notes: list[Note], actor: User, resolved: bool
) -> list[Note]:
    """Resolve (or unresolve) every resolvable note of a thread."""
    if merge_request is not None:
        policy.authorize_issue(actor, policy.can_on_merge_request(actor, "resolve_note", merge_request))
    else:
        assert issue is not None
        policy.authorize_issue(actor, policy.can_on_issue(actor, "update_issue", issue))
    resolvable = [n for n in notes if n.resolvable]
    if not resolvable:
        raise BadRequest("Discussion is not resolvable")
    now = timezone.now()
    for note in resolvable:
        note.resolved_at = now if resolved else None
        note.resolved_by = actor if resolved else None
    Note.objects.bulk_update(resolvable, ["resolved_at", "resolved_by"])
    return notes
