"""Reads on activity events, shared by the API and the pages: one visibility rule, GitLab's filters."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from dockyard.accounts.models import User
from dockyard.core.errors import BadRequest, NotFound
from dockyard.events.models import AuditEvent, Event
from dockyard.permissions import policy
from dockyard.projects.models import Project

# GitLab's ``action`` filter names (the keys of ``Event.actions``) and the stored actions each covers.
ACTION_FILTERS: dict[str, tuple[str, ...]] = {
    "created": (Event.Action.CREATED,),
    "updated": (Event.Action.UPDATED,),
    "closed": (Event.Action.CLOSED,),
    "reopened": (Event.Action.REOPENED,),
    "pushed": policy.PUSH_EVENT_ACTIONS,
    "commented": (Event.Action.COMMENTED,),
    "merged": (Event.Action.MERGED,),
    "joined": (Event.Action.JOINED,),
    "left": (Event.Action.LEFT,),
    "destroyed": (Event.Action.DESTROYED,),
    "approved": (Event.Action.APPROVED,),
}
# GitLab's ``target_type`` filter names and the target types each covers.
TARGET_FILTERS: dict[str, tuple[str, ...]] = {
    "issue": ("Issue",),
    "merge_request": ("MergeRequest",),
    "note": policy.NOTE_TARGET_TYPES,
    "milestone": ("Milestone",),
    "project": ("Project", ""),
    "snippet": ("Snippet",),
    "user": ("User",),
}


@dataclass(frozen=True)
class EventFilters:
    action: str | None = None
    target_type: str | None = None
    before: dt.date | None = None
    after: dt.date | None = None
    sort: str = "desc"


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _filtered(qs: QuerySet[Event], filters: EventFilters) -> QuerySet[Event]:
    if filters.action:
        if filters.action not in ACTION_FILTERS:
            raise BadRequest("action does not have a valid value")
        qs = qs.filter(action__in=ACTION_FILTERS[filters.action])
    if filters.target_type:
        if filters.target_type.lower() not in TARGET_FILTERS:
            raise BadRequest("target_type does not have a valid value")
        qs = qs.filter(target_type__in=TARGET_FILTERS[filters.target_type.lower()])
    # GitLab: strictly before the start of ``before`` and strictly after the end of ``after``.
    if filters.before:
        qs = qs.filter(created_at__lt=_day_start(filters.before))
    if filters.after:
        qs = qs.filter(created_at__gte=_day_start(filters.after + dt.timedelta(days=1)))
    if filters.sort not in ("asc", "desc"):
        raise BadRequest("sort does not have a valid value")
    order = "id" if filters.sort == "asc" else "-id"
    return qs.select_related("author", "project__namespace").order_by(order)


def event_list(
    *,
    viewer: User | None,
    filters: EventFilters,
    project: Project | None = None,
    author: User | None = None,
    member_of: User | None = None,
) -> QuerySet[Event]:
    """The events ``viewer`` may see, of ``project``, by ``author``, or in the projects ``member_of`` is a
    member of (GitLab's ``/events?scope=all``); the caller has checked that the project itself is visible."""
    qs = Event.objects.filter(policy.event_visibility_condition(viewer))
    if project is not None:
        qs = qs.filter(project=project)
    if author is not None:
        qs = qs.filter(author=author)
    if member_of is not None:
        qs = qs.filter(project_id__in=policy.member_projects(member_of).values("id"))
    return _filtered(qs, filters)


def events_attach_targets(events: list[Event]) -> list[Event]:
    """Load the targets a page of events shows (issue and merge request iids, the notes) in one query per
    kind of target, whatever the number of events."""
    from dockyard.issues.models import Issue
    from dockyard.merge_requests.models import MergeRequest
    from dockyard.notes.models import Note

    ids: dict[str, set[int]] = defaultdict(set)
    for event in events:
        if event.target_id is not None:
            kind = "Note" if event.target_type in policy.NOTE_TARGET_TYPES else event.target_type
            ids[kind].add(event.target_id)
    found: dict[str, dict[int, Any]] = {}
    if ids["Issue"]:
        found["Issue"] = Issue.objects.in_bulk(ids["Issue"])
    if ids["MergeRequest"]:
        found["MergeRequest"] = MergeRequest.objects.in_bulk(ids["MergeRequest"])
    if ids["Note"]:
        notes = Note.objects.select_related("author", "issue", "merge_request").filter(pk__in=ids["Note"])
        found["Note"] = {note.pk: note for note in notes}
    for event in events:
        kind = "Note" if event.target_type in policy.NOTE_TARGET_TYPES else event.target_type
        target = found.get(kind, {}).get(event.target_id) if event.target_id is not None else None
        event.target = target  # type: ignore[attr-defined]  # read by EventOut and the pages
    return events


def audit_event_list(
    *,
    entity_type: str | None = None,
    entity_id: int | None = None,
    created_after: dt.datetime | None = None,
    created_before: dt.datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Audit entries, newest first: of one entity (a project's, a group's) or, for admins, of anything."""
    qs = AuditEvent.objects.all()
    if entity_type:
        qs = qs.filter(entity_type=entity_type)
    if entity_id is not None:
        qs = qs.filter(entity_id=entity_id)
    if created_after:
        qs = qs.filter(created_at__gte=created_after)
    if created_before:
        qs = qs.filter(created_at__lte=created_before)
    return qs.order_by("-id")


def audit_event_get(*, pk: int, entity_type: str | None = None, entity_id: int | None = None) -> AuditEvent:
    event = audit_event_list(entity_type=entity_type, entity_id=entity_id).filter(pk=pk).first()
    if event is None:
        raise NotFound("AuditEvent")
    return event
