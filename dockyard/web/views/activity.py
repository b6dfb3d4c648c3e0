"""Activity feeds on pages: a project's ``/-/activity`` and the recent activity on a user's profile. Both
read ``dockyard.events.selectors``, which keeps events of what the viewer may not see out of the feed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dockyard.accounts.models import User
from dockyard.events import selectors
from dockyard.events.models import Event
from dockyard.issues.models import Issue
from dockyard.permissions import policy
from dockyard.web.views.common import Listing, paginate, project_for, viewer

# The ``action`` filter tabs of GitLab's project activity page.
TABS = (
    ("", "All"),
    ("pushed", "Push events"),
    ("merged", "Merge events"),
    ("created", "Issue events"),
    ("commented", "Comments"),
)


@dataclass(frozen=True)
class EventRow:
    """One line of a feed: "<author> <action_name> <target> at <project>"."""

    event: Event
    target: str
    url: str | None


def _on(base: str, noteable: Any, title: str, anchor: str = "") -> tuple[str, str]:
    """The words and link of an issue or merge request (``noteable``) a feed line points at."""
    if isinstance(noteable, Issue):
        return f"issue #{noteable.iid} {title}", f"{base}/-/issues/{noteable.iid}{anchor}"
    return f"merge request !{noteable.iid} {title}", f"{base}/-/merge_requests/{noteable.iid}{anchor}"


def _row(event: Event) -> EventRow:
    project = event.project
    base = f"/{project.full_path}" if project is not None else ""
    target = getattr(event, "target", None)
    if event.push_data:
        ref = event.push_data.get("ref") or ""
        url = None if event.action == Event.Action.REMOVED else f"{base}/-/commits/{ref}"
        return EventRow(event, f"{event.push_data.get('ref_type', 'branch')} {ref}", url)
    if target is not None and event.target_type in ("Issue", "MergeRequest"):
        return EventRow(event, *_on(base, target, event.target_title))
    if target is not None and event.target_type in policy.NOTE_TARGET_TYPES:
        noteable = target.issue if target.issue is not None else target.merge_request
        return EventRow(event, *_on(base, noteable, event.target_title, f"#note_{target.pk}"))
    return EventRow(event, event.target_title or (project.name if project is not None else ""), base or None)


def feed(request: HttpRequest, qs: QuerySet[Event], *, param: str = "page") -> tuple[Listing, list[EventRow]]:
    """One page of a feed with each event's words and link; a fixed number of queries per page."""
    listing = paginate(request, qs, param=param)
    events = selectors.events_attach_targets(listing.items)
    return listing, [_row(event) for event in events]


@require_GET
def project_activity(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    project = project_for(request, namespace_path, project_path)
    action = request.GET.get("event_filter", "")
    if action not in dict(TABS):
        action = ""
    filters = selectors.EventFilters(action=action or None)
    listing, rows = feed(request, selectors.event_list(viewer=viewer(request), filters=filters, project=project))
    tabs = [{"action": key, "title": title, "url": f"?event_filter={key}" if key else "?"} for key, title in TABS]
    context = {"project": project, "nav": "activity", "listing": listing, "rows": rows, "tabs": tabs, "action": action}
    return render(request, "web/events/project_activity.html", context)


def user_feed(request: HttpRequest, user: User) -> tuple[Listing, list[EventRow]]:
    qs = selectors.event_list(viewer=viewer(request), filters=selectors.EventFilters(), author=user)
    return feed(request, qs, param="activity_page")
