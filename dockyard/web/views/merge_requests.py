"""Merge request pages under a project's ``/-/``, with GitLab's URLs: the list (Open/Merged/Closed/All tabs
with counts, filters, sort, pages) and one merge request's Overview (rendered description, threads with
replies and resolve/unresolve, the comment form, approvals, the merge widget, close/reopen, draft toggle,
the sidebar's forms). The Commits and Changes tabs and the compare → new page are in
``merge_request_changes``.

Reads go through ``dockyard.merge_requests.selectors`` and ``dockyard.notes.selectors`` (what the viewer
may not read answers 404, as a missing merge request does); every change goes through
``dockyard.merge_requests.services`` (comments through ``merge_request_note_create``, so their quick actions
run exactly as through the API). A change the policy refuses answers 404 here, as the other pages do; a
merge that is not possible now (draft, conflicts, stale head) comes back to the page with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from dockyard.accounts.models import User
from dockyard.core.errors import BadRequest, DockyardError
from dockyard.merge_requests import selectors, services
from dockyard.merge_requests.models import MergeRequest
from dockyard.notes import selectors as notes
from dockyard.notes import services as note_services
from dockyard.notes.models import Note
from dockyard.permissions import policy
from dockyard.projects.models import Project
from dockyard.web.views.common import not_found_as_404, paginate, project_for, signed_in, viewer
from dockyard.web.views.noteables import (
    NOT_FOUND,
    Entry,
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

# GitLab's ``sort`` values on the merge request list, and what the selector orders by.
SORTS: dict[str, tuple[str, str, str]] = {
    "created_date": ("created_at", "desc", "Created date"),
    "created_asc": ("created_at", "asc", "Oldest created"),
    "updated_desc": ("updated_at", "desc", "Updated date"),
    "updated_asc": ("updated_at", "asc", "Oldest updated"),
    "merged_at_desc": ("merged_at", "desc", "Merged date"),
    "title_asc": ("title", "asc", "Title"),
}
STATES = (("opened", "Open"), ("merged", "Merged"), ("closed", "Closed"), ("all", "All"))
MERGE_METHODS = {
    "merge": "Merge commit",
    "rebase_merge": "Merge commit with semi-linear history",
    "ff": "Fast-forward merge",
}
# ``detailed_merge_status`` in words, for the merge widget.
STATUS_WORDS = {
    "mergeable": "Ready to merge!",
    "unchecked": "Checking whether this merge request can be merged…",
    "checking": "Checking whether this merge request can be merged…",
    "draft_status": "Merge blocked: this merge request is a draft. Mark it as ready to merge it.",
    "not_approved": "Merge blocked: it needs more approvals.",
    "discussions_not_resolved": "Merge blocked: all threads must be resolved.",
    "conflict": "Merge blocked: the source branch has conflicts with the target branch.",
    "need_rebase": "Merge blocked: the source branch must be rebased onto the target branch.",
    "ci_must_pass": "Merge blocked: the pipeline must succeed.",
    "ci_still_running": "Merge blocked: the pipeline is still running.",
    "commits_status": "Merge blocked: the source or target branch no longer exists.",
    "not_open": "This merge request is not open.",
}


# --- shared --------------------------------------------------------------------------------------


def mr_project(request: HttpRequest, namespace_path: str, project_path: str) -> Project:
    """The project if its merge requests are on and the viewer may read them (its code); 404 otherwise."""
    project = project_for(request, namespace_path, project_path)
    if not policy.can_read_merge_requests(viewer(request), project):
        raise Http404(NOT_FOUND)
    return project


def mr_get(request: HttpRequest, project: Project, iid: str) -> MergeRequest:
    with not_found_as_404():
        return selectors.merge_request_get_for(viewer=viewer(request), project=project, iid=iid)


def mrs_url(project: Project) -> str:
    return f"/{project.full_path}/-/merge_requests"


def mr_url(mr: MergeRequest) -> str:
    return f"/{mr.project.full_path}/-/merge_requests/{mr.iid}"


def mr_page(request: HttpRequest, template: str, project: Project, status: int = 200, **extra: Any) -> HttpResponse:
    context = {
        "project": project,
        "nav": "merge_requests",
        "can_create_mr": policy.can_create_merge_request(viewer(request), project),
        **extra,
    }
    return render(request, f"web/merge_requests/{template}", context, status=status)


def header(request: HttpRequest, mr: MergeRequest, tab: str) -> dict[str, Any]:
    """What every tab of one merge request shows above its content (the counts are the latest version's)."""
    version = selectors.version_latest(merge_request=mr)
    return {
        "mr": mr,
        "url": mr_url(mr),
        "tab": tab,
        "version": version,
        "commits_count": version.commits_count if version else 0,
        "changes_count": version.real_size if version else "0",
        "can_update": policy.can_on_merge_request(viewer(request), "update_merge_request", mr),
    }


# --- the list ------------------------------------------------------------------------------------


def _filters(request: HttpRequest) -> tuple[selectors.MergeRequestFilters, dict[str, Any]]:
    """GitLab's query parameters (``label_name[]``, ``milestone_title``, ``assignee_username``,
    ``reviewer_username``, ``author_username``, ``search``, ``sort``, ``state``) as the selector's filters."""
    form = list_form(request, states=dict(STATES), sorts=SORTS)
    state = form["state"]
    order_by, direction, _ = SORTS[form["sort"]]
    assignee_id = None
    if form["assignee"]:
        if form["assignee"].lower() == "none":
            assignee_id = "none"
        else:
            user = User.objects.filter(username__iexact=form["assignee"]).only("id").first()
            assignee_id = str(user.pk) if user else "0"
    filters = selectors.MergeRequestFilters(
        state=None if state == "all" else state,
        labels=form["labels"],
        milestone=form["milestone"] or None,
        assignee_id=assignee_id,
        reviewer_username=form["reviewer"] or None,
        author_username=form["author"] or None,
        search=form["search"] or None,
        order_by=order_by,
        sort=direction,
    )
    return filters, form


@require_http_methods(["GET", "HEAD"])
def index(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    project = mr_project(request, namespace_path, project_path)
    user = viewer(request)
    filters, form = _filters(request)
    try:
        counts = selectors.merge_request_statistics(viewer=user, filters=filters, project=project)
        listing = paginate(request, selectors.merge_request_list(viewer=user, filters=filters, project=project))
        rows = listing.items
    except BadRequest:
        counts, listing, rows = dict.fromkeys(dict(STATES), 0), None, []
    tabs = [
        {"state": key, "title": title, "count": counts[key], "url": state_url(request, key)} for key, title in STATES
    ]
    return mr_page(
        request,
        "index.html",
        project,
        tabs=tabs,
        form=form,
        filtered=filtered(form),
        listing=listing,
        merge_requests=[(mr, f"{mrs_url(project)}/{mr.iid}") for mr in rows],
        labels=labels_of(project),
        milestones=milestones_of(project),
        sorts=[(key, title) for key, (_, _, title) in SORTS.items()],
    )


# --- one merge request: overview -----------------------------------------------------------------


@dataclass
class Thread:
    """A discussion as the overview shows it: its notes, and what may be done with it."""

    id: str
    entries: list[Entry]
    resolvable: bool
    resolved: bool
    position: dict[str, Any] | None

    @property
    def first(self) -> Entry:
        return self.entries[0]

    @property
    def anchor(self) -> str:
        return f"discussion_{self.id}"


def threads_of(request: HttpRequest, mr: MergeRequest, *, extra_texts: list[str]) -> tuple[list[Thread], list[Any]]:
    """Every discussion ``viewer`` may read with its notes rendered, and ``extra_texts`` rendered in the
    same batch (the description): a fixed number of queries however many notes there are."""
    user = viewer(request)
    discussion_ids = notes.discussion_ids(viewer=user, merge_request=mr)
    discussions = notes.discussions_for(viewer=user, merge_request=mr, ids=discussion_ids)
    flat: list[Note] = [n for d in discussions for n in d.notes]
    html = render_all(extra_texts + [n.body for n in flat], mr.project, user)
    rendered = iter(entries(flat, html[len(extra_texts) :], mr.project, user))
    threads = []
    for d in discussions:
        thread_entries = [next(rendered) for _ in d.notes]
        resolvable = [n for n in d.notes if n.resolvable]
        threads.append(
            Thread(
                id=d.id,
                entries=thread_entries,
                resolvable=bool(resolvable),
                resolved=bool(resolvable) and all(n.resolved for n in resolvable),
                position=d.notes[0].position,
            )
        )
    return threads, html[: len(extra_texts)]


def _approvals(user: User | None, mr: MergeRequest) -> dict[str, Any]:
    rows = selectors.approvals(merge_request=mr)
    required = mr.project.approvals_before_merge
    approved_by_me = user is not None and any(r.user_id == user.pk for r in rows)
    return {
        "by": [r.user for r in rows],
        "required": required,
        "left": max(0, required - len(rows)),
        "approved_by_me": approved_by_me,
        "can_approve": bool(
            user is not None
            and not approved_by_me
            and mr.is_open
            and policy.can_on_merge_request(user, "approve_merge_request", mr)
        ),
    }


@require_http_methods(["GET", "HEAD"])
def show(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    project = mr_project(request, namespace_path, project_path)
    user = viewer(request)
    mr = mr_get(request, project, iid)
    if mr.is_open and mr.detailed_merge_status in ("unchecked", "checking"):
        # The background check has not run yet: the widget answers now rather than say "checking".
        services.status_refresh(mr)
    threads, (description_html,) = threads_of(request, mr, extra_texts=[mr.description])
    admin = policy.can_on_merge_request(user, "admin_merge_request", mr)
    labels, assignees, reviewers = list(mr.labels.all()), list(mr.assignees.all()), list(mr.reviewers.all())
    chosen = {lb.pk for lb in labels}
    people = assignable(project) if admin else []
    can_merge = mr.is_open and services.can_be_merged_by(user, mr)
    base = mr_url(mr)
    return mr_page(
        request,
        "show.html",
        project,
        **header(request, mr, "overview"),
        description_html=description_html,
        threads=threads,
        approvals=_approvals(user, mr),
        status_words=STATUS_WORDS.get(mr.detailed_merge_status, mr.detailed_merge_status),
        merge_method=MERGE_METHODS.get(project.merge_method, project.merge_method),
        can_merge=can_merge,
        mergeable=mr.detailed_merge_status == "mergeable",
        can_rebase=can_merge and mr.detailed_merge_status == "need_rebase",
        can_comment=policy.can_on_merge_request(user, "create_note", mr),
        can_resolve=policy.can_on_merge_request(user, "resolve_note", mr),
        can_admin=admin,
        mr_labels=labels,
        mr_assignees=assignees,
        mr_reviewers=reviewers,
        label_choices=[(lb, lb.pk in chosen) for lb in labels_of(project)] if admin else [],
        assignee_choices=[(u, u in assignees) for u in people],
        reviewer_choices=[(u, u in reviewers) for u in people],
        milestones=milestones_of(project) if admin else [],
        update_url=f"{base}/update",
        notes_url=f"{base}/notes",
        list_url=mrs_url(project),
    )


# --- changes from the overview -------------------------------------------------------------------


def _act(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> tuple[User, MergeRequest]:
    actor = signed_in(request)
    project = mr_project(request, namespace_path, project_path)
    return actor, mr_get(request, project, iid)


def _run(request: HttpRequest, mr: MergeRequest, change: Any, done: str, *, to: str | None = None) -> HttpResponse:
    """Run one service call; a refusal is a 404, any other domain error comes back as a message."""
    try:
        change()
    except DockyardError as exc:
        if refused(exc):
            raise Http404(NOT_FOUND) from exc
        message = exc.message
        messages.error(request, " ".join(map(str, message)) if isinstance(message, list) else str(message))
    else:
        if done:
            messages.success(request, done)
    return redirect(to or mr_url(mr))


@login_required
@require_POST
def comment(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    """A comment, a reply (``discussion_id``) or a line comment (``position`` fields), with quick actions."""
    actor, mr = _act(request, namespace_path, project_path, iid)
    post = request.POST
    body = post.get("note", "")
    back = post.get("back", "")
    to = back if back.startswith(f"{mr_url(mr)}/") else mr_url(mr)
    if not body.strip():
        messages.error(request, "The comment is empty.")
        return redirect(to)
    position = None
    if post.get("new_path") or post.get("old_path"):
        position = {
            key: post.get(key) or None
            for key in ("base_sha", "start_sha", "head_sha", "old_path", "new_path", "old_line", "new_line")
        }
    try:
        result = services.merge_request_note_create(
            actor=actor,
            mr=mr,
            body=body,
            discussion_id=post.get("discussion_id") or None,
            thread=position is not None,
            position=position,
        )
    except DockyardError as exc:
        if refused(exc):
            raise Http404(NOT_FOUND) from exc
        messages.error(request, str(exc.message))
        return redirect(to)
    if isinstance(result, services.CommandsOnly):
        messages.success(request, " ".join(result.summary) or "The quick actions were applied.")
        return redirect(to)
    return redirect(f"{to.split('#')[0]}#note_{result.pk}")


@login_required
@require_POST
def note_delete(request: HttpRequest, namespace_path: str, project_path: str, iid: str, nid: str) -> HttpResponse:
    actor, mr = _act(request, namespace_path, project_path, iid)
    with not_found_as_404():
        note = notes.note_get(viewer=actor, merge_request=mr, note_id=nid)
    note.merge_request = mr
    return _run(request, mr, lambda: note_services.note_delete(note=note, actor=actor), "The comment was deleted.")


@login_required
@require_POST
def resolve(request: HttpRequest, namespace_path: str, project_path: str, iid: str, discussion_id: str) -> HttpResponse:
    actor, mr = _act(request, namespace_path, project_path, iid)
    with not_found_as_404():
        discussion = notes.discussion_get(viewer=actor, merge_request=mr, discussion_id=discussion_id)
    resolved = request.POST.get("resolved") == "1"

    def change() -> None:
        note_services.discussion_resolve(merge_request=mr, notes=discussion.notes, actor=actor, resolved=resolved)
        services.discussion_resolved(mr)

    back = request.POST.get("back", "")
    to = back if back.startswith(f"{mr_url(mr)}/") else f"{mr_url(mr)}#note_{discussion.notes[0].pk}"
    return _run(request, mr, change, "The thread was resolved." if resolved else "The thread was reopened.", to=to)


@login_required
@require_POST
def approve(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    actor, mr = _act(request, namespace_path, project_path, iid)
    sha = request.POST.get("sha") or None
    return _run(request, mr, lambda: services.approve(actor=actor, mr=mr, sha=sha), "You approved this merge request.")


@login_required
@require_POST
def unapprove(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    actor, mr = _act(request, namespace_path, project_path, iid)
    return _run(request, mr, lambda: services.unapprove(actor=actor, mr=mr), "You revoked your approval.")


@login_required
@require_POST
def merge(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    """The Merge button: the shown head as the ``sha`` guard, so nothing pushed since is merged unseen."""
    actor, mr = _act(request, namespace_path, project_path, iid)
    post = request.POST
    options = services.MergeOptions(
        sha=post.get("sha") or None,
        squash=post.get("squash") == "on",
        should_remove_source_branch=post.get("should_remove_source_branch") == "on",
    )
    return _run(request, mr, lambda: services.merge(actor=actor, mr=mr, options=options), f"Merged !{mr.iid}.")


@login_required
@require_POST
def rebase(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    actor, mr = _act(request, namespace_path, project_path, iid)

    def change() -> None:
        services.rebase(actor=actor, mr=mr)
        if mr.merge_error:
            raise BadRequest(mr.merge_error)

    return _run(request, mr, change, "The source branch was rebased.")


def _update(request: HttpRequest, namespace_path: str, project_path: str, iid: str, **changes: Any) -> HttpResponse:
    actor, mr = _act(request, namespace_path, project_path, iid)
    done = {"close": "Closed", "reopen": "Reopened"}.get(changes.get("state_event", ""), "Updated")
    return _run(request, mr, lambda: services.merge_request_update(actor=actor, mr=mr, **changes), f"{done} !{mr.iid}.")


@login_required
@require_POST
def close(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    return _update(request, namespace_path, project_path, iid, state_event="close")


@login_required
@require_POST
def reopen(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    return _update(request, namespace_path, project_path, iid, state_event="reopen")


@login_required
@require_POST
def toggle_draft(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    """ "Mark as draft" / "Mark as ready": GitLab keeps the draft state in the title's prefix."""
    actor, mr = _act(request, namespace_path, project_path, iid)
    title = services.draft_title(mr.title, not mr.draft)
    return _run(request, mr, lambda: services.merge_request_update(actor=actor, mr=mr, title=title), "")


@login_required
@require_POST
def update(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    """One of the sidebar's small forms: ``field`` says which (labels, assignees, reviewers, milestone)."""
    post = request.POST
    field = post.get("field", "")
    if field == "labels":
        return _update(request, namespace_path, project_path, iid, labels=post.getlist("labels"))
    if field in ("assignees", "reviewers"):
        key = "assignee_ids" if field == "assignees" else "reviewer_ids"
        return _update(request, namespace_path, project_path, iid, **{key: ids(post.getlist(key))})
    if field == "milestone":
        value = post.get("milestone_id", "")
        return _update(request, namespace_path, project_path, iid, milestone_id=int(value) if value.isdigit() else None)
    raise Http404(NOT_FOUND)
