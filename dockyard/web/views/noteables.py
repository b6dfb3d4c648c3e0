"""What the issue and merge request pages share: the thread's Markdown rendered with its references
resolved in one batch, the choices of the sidebar forms, the list's state tabs, and how a refused change
answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe

from dockyard.accounts.models import User
from dockyard.core import markdown
from dockyard.core.errors import DockyardError, Forbidden, Unauthorized
from dockyard.issues import selectors as issue_selectors
from dockyard.issues.models import Label, Milestone
from dockyard.notes import references
from dockyard.notes.models import Note
from dockyard.permissions import policy
from dockyard.permissions import selectors as members
from dockyard.projects.models import Project

NOT_FOUND = "Not Found"


def refused(exc: DockyardError) -> bool:
    """A change the policy refused: the pages answer it with a 404, as they do for what one may not see."""
    return isinstance(exc, (Forbidden, Unauthorized))


@dataclass
class Entry:
    """One note of a thread as the page shows it."""

    note: Note
    html: SafeString
    can_delete: bool


def render_all(texts: list[str], project: Project, user: User | None) -> list[SafeString]:
    """Markdown with references for every text of the page, the references resolved in ONE batch (a
    query per kind of reference for the whole thread, not per note): what ``notes.selectors.markdown_html``
    does for one text."""
    refs = references.resolve("\n".join(texts), project=project, viewer=user)
    link = references.linker(refs)
    return [mark_safe(markdown.render(text, linker=link)) for text in texts]  # sanitised by markdown.render


def entries(thread: list[Note], html: list[SafeString], project: Project, user: User | None) -> list[Entry]:
    """The notes with their rendered bodies and whether ``user`` may delete each."""
    for note in thread:
        note.project = project  # the policy's per-project lookups stay cached on this one instance
    return [
        Entry(note=note, html=body, can_delete=policy.can_on_note(user, "delete_note", note))
        for note, body in zip(thread, html, strict=True)
    ]


def labels_of(project: Project) -> list[Label]:
    return list(issue_selectors.labels_available(project=project).order_by("title", "id"))


def milestones_of(project: Project) -> list[Milestone]:
    return list(issue_selectors.milestone_list(project=project, include_ancestors=True, state="active"))


def assignable(project: Project) -> list[User]:
    return list(members.member_users(source=project, inherited=True))


def ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.strip().isdigit()]


def state_url(request: HttpRequest, state: str) -> str:
    """The list's URL for another state tab, its filters kept and its page reset."""
    query = request.GET.copy()
    query.pop("page", None)
    query["state"] = state
    return f"?{query.urlencode()}"


def list_form(request: HttpRequest, *, states: Mapping[str, str], sorts: Mapping[str, Any]) -> dict[str, Any]:
    """The list's filter form from GitLab's query parameters (``state``, ``label_name[]``,
    ``milestone_title``, ``assignee_username``, ``reviewer_username``, ``author_username``, ``search``,
    ``sort``); unknown states and sorts fall back to the first one."""
    get = request.GET
    state = get.get("state", "")
    sort = get.get("sort", "")
    return {
        "state": state if state in states else next(iter(states)),
        "labels": [v for v in get.getlist("label_name[]") + get.getlist("label_name") if v],
        "milestone": get.get("milestone_title", "").strip(),
        "assignee": get.get("assignee_username", "").strip().lstrip("@"),
        "reviewer": get.get("reviewer_username", "").strip().lstrip("@"),
        "author": get.get("author_username", "").strip().lstrip("@"),
        "search": get.get("search", "").strip(),
        "sort": sort if sort in sorts else next(iter(sorts)),
    }


def filtered(form: Mapping[str, Any]) -> bool:
    """Whether the form narrows the list (beyond its state tab)."""
    return any(form[k] for k in ("labels", "milestone", "assignee", "reviewer", "author", "search"))
