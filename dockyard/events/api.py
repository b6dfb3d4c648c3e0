"""``/events``, ``/users/:id/events`` and ``/projects/:id/events`` (GitLab's Events API)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from dockyard.accounts import selectors as account_selectors
from dockyard.accounts.auth import current_user, require_user
from dockyard.core.errors import NotFound
from dockyard.core.pagination import paginate
from dockyard.events import selectors
from dockyard.events.models import Event
from dockyard.events.schemas import EventOut, EventQuery
from dockyard.projects import selectors as project_selectors

router = Router(tags=["events"])


def _filters(query: EventQuery) -> selectors.EventFilters:
    return selectors.EventFilters(
        action=query.action, target_type=query.target_type, before=query.before, after=query.after, sort=query.sort
    )


def _page(request: HttpRequest, response: HttpResponse, qs: QuerySet[Event]) -> list[Event]:
    return selectors.events_attach_targets(paginate(request, response, qs))


@router.get("/events", response=list[EventOut])
def list_events(request: HttpRequest, response: HttpResponse, query: Query[EventQuery]) -> list[Event]:
    user = require_user(request)
    if query.scope == "all":
        qs = selectors.event_list(viewer=user, filters=_filters(query), member_of=user)
    else:
        qs = selectors.event_list(viewer=user, filters=_filters(query), author=user)
    return _page(request, response, qs)


@router.get("/users/{user_id}/events", response=list[EventOut])
def list_user_events(
    request: HttpRequest, response: HttpResponse, user_id: str, query: Query[EventQuery]
) -> list[Event]:
    author = account_selectors.user_get(ref=user_id)
    if author is None:
        raise NotFound("User")
    qs = selectors.event_list(viewer=current_user(request), filters=_filters(query), author=author)
    return _page(request, response, qs)


@router.get("/projects/{project_id}/events", response=list[EventOut])
def list_project_events(
    request: HttpRequest, response: HttpResponse, project_id: str, query: Query[EventQuery]
) -> list[Event]:
    viewer = current_user(request)
    project = project_selectors.project_get_for(viewer=viewer, ref=project_id)
    qs = selectors.event_list(viewer=viewer, filters=_filters(query), project=project)
    return _page(request, response, qs)
