"""GitLab's ``Event`` entity (``lib/api/entities/event.rb``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema

from dockyard.accounts.schemas import UserBasic
from dockyard.core.schema import GlDateTime
from dockyard.events.models import AuditEvent, Event
from dockyard.notes.schemas import NoteOut


class EventQuery(Schema):
    action: str | None = None
    target_type: str | None = None
    before: dt.date | None = None
    after: dt.date | None = None
    sort: str = "desc"
    scope: str | None = None


class EventOut(Schema):
    id: int
    project_id: int | None
    action_name: str
    target_id: int | None
    target_iid: int | None
    target_type: str | None
    author_id: int | None
    target_title: str | None
    created_at: GlDateTime
    note: NoteOut | None = None
    author: UserBasic | None
    push_data: dict[str, Any] | None = None
    author_username: str | None
    imported: bool = False
    imported_from: str = "none"

    @staticmethod
    def resolve_target_type(obj: Event) -> str | None:
        return obj.target_type or None

    @staticmethod
    def resolve_target_title(obj: Event) -> str | None:
        return obj.target_title or None

    @staticmethod
    def resolve_target_iid(obj: Event) -> int | None:
        target = getattr(obj, "target", None)
        if target is None:
            return None
        return int(getattr(target, "iid", target.pk))

    @staticmethod
    def resolve_note(obj: Event) -> Any:
        target = getattr(obj, "target", None)
        return target if obj.target_type in ("Note", "DiffNote", "DiscussionNote") else None

    @staticmethod
    def resolve_author_username(obj: Event) -> str | None:
        return obj.author.username if obj.author is not None else None


class AuditEventQuery(Schema):
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    entity_type: str | None = None
    entity_id: int | None = None


class AuditEventOut(Schema):
    """GitLab's ``AuditEvent`` entity."""

    id: int
    author_id: int
    entity_id: int | None
    entity_type: str
    event_name: str
    details: dict[str, Any]
    created_at: GlDateTime

    @staticmethod
    def resolve_author_id(obj: AuditEvent) -> int:
        return obj.author_id if obj.author_id is not None else -1  # GitLab's id for "no user"
