"""Issue pages under a project's ``/-/``, with GitLab's URLs: the list (state tabs with counts, filters,
sort, pages), a new issue, one issue (rendered description, the comment thread, close/reopen, the sidebar
that changes labels, assignees, milestone and due date), its edit page, comments and their deletion.

Every read goes through ``dockyard.issues.selectors`` / ``dockyard.notes.selectors`` (which keep
confidential issues from those who may not read them: they answer 404, as a missing issue does) and every
change through ``dockyard.issues.services`` / ``dockyard.notes.services``, which check the policy; a
refused change answers 404 here, as the other pages do. Comments go through ``issue_note_create`` so their
quick actions (``/close``, ``/label ~bug`` …) run. A project with issues turned off has none of these pages.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from dockyard.core.errors import BadRequest, DockyardError
from dockyard.issues import selectors, services
from dockyard.issues.models import Issue
from dockyard.notes import selectors as notes
from dockyard.notes import services as note_services
from dockyard.permissions import policy
from dockyard.projects.models import Project
from dockyard.web.views.common import form_errors, not_found_as_404, paginate, project_for, signed_in, viewer
from dockyard.web.views.noteables import (
    NOT_FOUND,
    assignable,
    entries,
    filtered,
    ids,
    labels_of,
    list_form,
    milestones_of,
    refused,
    render_all,
    state_url,
)

ISSUE_LABELS = {"title": "Title", "description": "Description", "due_date": "Due date"}
# GitLab's ``sort`` values on the issue list, and what the selector orders by.
SORTS: dict[str, tuple[str, str, str]] = {
    "created_date": ("created_at", "desc", "Created date"),
    "created_asc": ("created_at", "asc", "Oldest created"),
    "updated_desc": ("updated_at", "desc", "Updated date"),
    "updated_asc": ("updated_at", "asc", "Oldest updated"),
    "due_date": ("due_date", "asc", "Due date"),
    "priority": ("priority", "desc", "Label priority"),
    "milestone_due_asc": ("milestone_due", "asc", "Milestone due date"),
    "title_asc": ("title", "asc", "Title"),
}
STATES = (("opened", "Open"), ("closed", "Closed"), ("all", "All"))


# --- shared --------------------------------------------------------------------------------------


def _issues_project(request: HttpRequest, namespace_path: str, project_path: str) -> Project:
    """The project if its issue tracker is on (and the viewer may see the project); 404 otherwise."""
    project = project_for(request, namespace_path, project_path)
    if not project.issues_enabled:
        raise Http404(NOT_FOUND)
    return project


def _issue(request: HttpRequest, project: Project, iid: str) -> Issue:
    with not_found_as_404():
        return selectors.issue_get_for(viewer=viewer(request), project=project, iid=iid)


def issues_url(project: Project) -> str:
    return f"/{project.full_path}/-/issues"


def issue_url(issue: Issue) -> str:
    return f"/{issue.project.full_path}/-/issues/{issue.iid}"


def _page(request: HttpRequest, template: str, project: Project, status: int = 200, **extra: Any) -> HttpResponse:
    user = viewer(request)
    context = {
        "project": project,
        "nav": "issues",
        "can_create_issue": policy.can_create_issue(user, project),
        "can_admin_issues": policy.can_on_project_issues(user, "admin_issue", project),
        **extra,
    }
    return render(request, f"web/issues/{template}", context, status=status)


# --- the list ------------------------------------------------------------------------------------


def _filters(request: HttpRequest) -> tuple[selectors.IssueFilters, dict[str, Any]]:
    """GitLab's query parameters (``label_name[]``, ``milestone_title``, ``assignee_username``,
    ``author_username``, ``search``, ``sort``, ``state``) as the selector's filters, and as the form shows them."""
    form = list_form(request, states=dict(STATES), sorts=SORTS)
    order_by, direction, _ = SORTS[form["sort"]]
    state, labels, milestone = form["state"], form["labels"], form["milestone"]
    assignee, author, search = form["assignee"], form["author"], form["search"]
    no_assignee = assignee.lower() == "none"
    filters = selectors.IssueFilters(
        state=None if state == "all" else state,
        labels=labels or None,
        milestone=milestone or None,
        assignee_id="none" if no_assignee else None,
        assignee_username=[assignee] if assignee and not no_assignee else [],
        author_username=author or None,
        search=search or None,
        order_by=order_by,
        sort=direction,
    )
    return filters, form


@require_http_methods(["GET", "HEAD"])
def index(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    project = _issues_project(request, namespace_path, project_path)
    user = viewer(request)
    filters, form = _filters(request)
    try:
        counts = selectors.issue_statistics(viewer=user, filters=filters, project=project)
        listing = paginate(request, selectors.issue_list(viewer=user, filters=filters, project=project))
        rows = listing.items
    except BadRequest:
        counts, listing, rows = {"opened": 0, "closed": 0, "all": 0}, None, []
    tabs = [
        {"state": key, "title": title, "count": counts[key], "url": state_url(request, key)} for key, title in STATES
    ]
    return _page(
        request,
        "index.html",
        project,
        tabs=tabs,
        form=form,
        filtered=filtered(form),
        listing=listing,
        issues=[(issue, issue_url(issue)) for issue in rows],
        labels=labels_of(project),
        milestones=milestones_of(project),
        sorts=[(key, title) for key, (_, _, title) in SORTS.items()],
    )


# --- new and edit --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def new(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    actor = signed_in(request)
    project = _issues_project(request, namespace_path, project_path)
    if not policy.can_create_issue(actor, project):
        raise Http404(NOT_FOUND)
    admin = policy.can_on_project_issues(actor, "admin_issue", project)
    values: dict[str, Any] = {
        "title": "",
        "description": "",
        "labels": [],
        "assignee_ids": [],
        "milestone_id": "",
        "due_date": "",
        "confidential": False,
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        post = request.POST
        values = {
            "title": post.get("title", ""),
            "description": post.get("description", ""),
            "labels": post.getlist("labels"),
            "assignee_ids": ids(post.getlist("assignee_ids")),
            "milestone_id": post.get("milestone_id", ""),
            "due_date": post.get("due_date", "").strip(),
            "confidential": post.get("confidential") == "on",
        }
        if not values["title"].strip():
            errors = {"title": ["Title can't be blank"]}
        else:
            try:
                issue = services.issue_create(
                    actor=actor,
                    project=project,
                    title=values["title"],
                    description=values["description"],
                    confidential=values["confidential"],
                    labels=values["labels"] or None,
                    assignee_ids=values["assignee_ids"] or None,
                    milestone_id=int(values["milestone_id"]) if values["milestone_id"].isdigit() else None,
                    due_date=values["due_date"] or None,
                )
            except DockyardError as exc:
                errors = form_errors(exc, labels=ISSUE_LABELS)
            else:
                messages.success(request, f"Issue #{issue.iid} was created.")
                return redirect(issue_url(issue))
    return _page(
        request,
        "new.html",
        project,
        status=400 if errors else 200,
        values=values,
        errors=errors,
        admin=admin,
        labels=labels_of(project) if admin else [],
        milestones=milestones_of(project) if admin else [],
        assignable=assignable(project) if admin else [],
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def edit(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    actor = signed_in(request)
    project = _issues_project(request, namespace_path, project_path)
    issue = _issue(request, project, iid)
    if not policy.can_on_issue(actor, "update_issue", issue):
        raise Http404(NOT_FOUND)
    values: dict[str, Any] = {
        "title": issue.title,
        "description": issue.description,
        "confidential": issue.confidential,
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        post = request.POST
        values = {
            "title": post.get("title", ""),
            "description": post.get("description", ""),
            "confidential": post.get("confidential") == "on",
        }
        if not values["title"].strip():
            errors = {"title": ["Title can't be blank"]}
        else:
            try:
                services.issue_update(
                    actor=actor,
                    issue=issue,
                    title=values["title"],
                    description=values["description"],
                    confidential=values["confidential"],
                )
            except DockyardError as exc:
                errors = form_errors(exc, labels=ISSUE_LABELS)
            else:
                messages.success(request, "The issue was saved.")
                return redirect(issue_url(issue))
    return _page(
        request,
        "edit.html",
        project,
        status=400 if errors else 200,
        issue=issue,
        values=values,
        errors=errors,
        can_delete=policy.can_on_issue(actor, "destroy_issue", issue),
    )


@login_required
@require_POST
def delete(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    actor = signed_in(request)
    project = _issues_project(request, namespace_path, project_path)
    issue = _issue(request, project, iid)
    try:
        services.issue_delete(actor=actor, issue=issue)
    except DockyardError as exc:
        if refused(exc):
            raise Http404(NOT_FOUND) from exc
        raise
    messages.success(request, f"Issue #{issue.iid} was deleted.")
    return redirect(issues_url(project))


# --- one issue -----------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD"])
def show(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    project = _issues_project(request, namespace_path, project_path)
    user = viewer(request)
    issue = _issue(request, project, iid)
    discussion_ids = notes.discussion_ids(viewer=user, issue=issue)
    thread = [note for d in notes.discussions_for(viewer=user, issue=issue, ids=discussion_ids) for note in d.notes]
    html = render_all([issue.description] + [n.body for n in thread], project, user)
    admin = policy.can_on_issue(user, "admin_issue", issue)
    labels = list(issue.labels.all())
    assignees = list(issue.assignees.all())
    chosen_labels = {label.pk for label in labels}
    chosen_assignees = {u.pk for u in assignees}
    return _page(
        request,
        "show.html",
        project,
        issue=issue,
        url=issue_url(issue),
        update_url=f"{issue_url(issue)}/update",
        notes_url=f"{issue_url(issue)}/notes",
        list_url=issues_url(project),
        description_html=html[0],
        entries=entries(thread, html[1:], project, user),
        issue_labels=labels,
        issue_assignees=assignees,
        can_update=policy.can_on_issue(user, "update_issue", issue),
        can_admin=admin,
        can_comment=policy.can_on_issue(user, "create_note", issue),
        label_choices=[(lb, lb.pk in chosen_labels) for lb in labels_of(project)] if admin else [],
        assignee_choices=[(u, u.pk in chosen_assignees) for u in assignable(project)] if admin else [],
        milestones=milestones_of(project) if admin else [],
    )


@login_required
@require_POST
def comment(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    actor = signed_in(request)
    project = _issues_project(request, namespace_path, project_path)
    issue = _issue(request, project, iid)
    body = request.POST.get("note", "")
    if not body.strip():
        messages.error(request, "The comment is empty.")
        return redirect(issue_url(issue))
    try:
        result = services.issue_note_create(actor=actor, issue=issue, body=body)
    except DockyardError as exc:
        if refused(exc):
            raise Http404(NOT_FOUND) from exc
        messages.error(request, str(exc.message))
        return redirect(issue_url(issue))
    if isinstance(result, services.CommandsOnly):
        messages.success(request, " ".join(result.summary) or "The quick actions were applied.")
        return redirect(issue_url(issue))
    return redirect(f"{issue_url(issue)}#note_{result.pk}")


@login_required
@require_POST
def note_delete(request: HttpRequest, namespace_path: str, project_path: str, iid: str, nid: str) -> HttpResponse:
    actor = signed_in(request)
    project = _issues_project(request, namespace_path, project_path)
    issue = _issue(request, project, iid)
    with not_found_as_404():
        note = notes.note_get(viewer=actor, issue=issue, note_id=nid)
    try:
        note_services.note_delete(note=note, actor=actor)
    except DockyardError as exc:
        if refused(exc):
            raise Http404(NOT_FOUND) from exc
        raise
    messages.success(request, "The comment was deleted.")
    return redirect(issue_url(issue))


def _state_change(request: HttpRequest, namespace_path: str, project_path: str, iid: str, event: str) -> HttpResponse:
    actor = signed_in(request)
    project = _issues_project(request, namespace_path, project_path)
    issue = _issue(request, project, iid)
    try:
        services.issue_update(actor=actor, issue=issue, state_event=event)
    except DockyardError as exc:
        if refused(exc):
            raise Http404(NOT_FOUND) from exc
        raise
    messages.success(request, f"Issue #{issue.iid} was {'closed' if event == 'close' else 'reopened'}.")
    return redirect(issue_url(issue))


@login_required
@require_POST
def close(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    return _state_change(request, namespace_path, project_path, iid, "close")


@login_required
@require_POST
def reopen(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    return _state_change(request, namespace_path, project_path, iid, "reopen")


def _date(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise BadRequest("Due date is not a date") from None
    return value


@login_required
@require_POST
def update(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    """One of the sidebar's small forms: ``field`` says which (labels, assignees, milestone, due_date)."""
    actor = signed_in(request)
    project = _issues_project(request, namespace_path, project_path)
    issue = _issue(request, project, iid)
    if not policy.can_on_issue(actor, "admin_issue", issue):
        raise Http404(NOT_FOUND)
    post = request.POST
    field = post.get("field", "")
    try:
        if field == "labels":
            services.issue_update(actor=actor, issue=issue, labels=post.getlist("labels"))
        elif field == "assignees":
            services.issue_update(actor=actor, issue=issue, assignee_ids=ids(post.getlist("assignee_ids")))
        elif field == "milestone":
            value = post.get("milestone_id", "")
            services.issue_update(actor=actor, issue=issue, milestone_id=int(value) if value.isdigit() else None)
        elif field == "due_date":
            services.issue_update(actor=actor, issue=issue, due_date=_date(post.get("due_date", "")))
        else:
            raise BadRequest("Nothing to change")
    except DockyardError as exc:
        if refused(exc):
            raise Http404(NOT_FOUND) from exc
        messages.error(request, str(exc.message))
    else:
        messages.success(request, "The issue was updated.")
    return redirect(issue_url(issue))
