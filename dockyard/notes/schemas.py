"""API shapes for notes and discussions (GitLab's ``Note`` and ``Discussion`` entities)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema

from dockyard.accounts.schemas import UserBasic
from dockyard.core.schema import GlDateTime
from dockyard.notes.models import Note


class NoteOut(Schema):
    id: int
    type: str | None
    body: str
    attachment: str | None = None
    author: UserBasic | None
    created_at: GlDateTime
    updated_at: GlDateTime
    system: bool
    noteable_id: int | None
    noteable_type: str
    project_id: int
    resolvable: bool
    resolved: bool | None = None
    resolved_by: UserBasic | None = None
    resolved_at: GlDateTime | None = None
    confidential: bool
    internal: bool
    noteable_iid: int | None
    commands_changes: dict[str, Any] = {}
    position: dict[str, Any] | None = None

    @staticmethod
    def resolve_type(obj: Note) -> str | None:
        return obj.type or None

    @staticmethod
    def resolve_resolved(obj: Note) -> bool | None:
        return obj.resolved if obj.resolvable else None

    @staticmethod
    def resolve_confidential(obj: Note) -> bool:
        return obj.internal

    @staticmethod
    def resolve_noteable_iid(obj: Note) -> int | None:
        if obj.merge_request_id is not None:
            return int(obj.merge_request.iid)  # type: ignore[union-attr]
        return obj.issue.iid if obj.issue is not None else None


class DiscussionOut(Schema):
    id: str
    individual_note: bool
    notes: list[NoteOut]


class NoteCreateIn(Schema):
    body: str | None = None
    internal: bool = False
    confidential: bool = False  # the older name of ``internal``
    created_at: dt.datetime | None = None
    discussion_id: str | None = None
    position: dict[str, Any] | None = None  # merge requests: a diff position starts a diff thread


class NoteUpdateIn(Schema):
    body: str | None = None
    resolved: bool | None = None


class DiscussionResolveIn(Schema):
    resolved: bool


class CommandsOut(Schema):
    commands_changes: dict[str, Any]
    summary: list[str]
