"""What a merge request changes, as pages: its Commits and Changes tabs (file tree, inline or side-by-side
diff highlighted as the repository pages highlight code, line comments and the diff threads at their
lines), and "compare branches → new merge request".

Line comments work without script: a line's "Comment" link reloads the tab with the form under that line
(``?line=<file>:<line key>``), and the form posts to the same comment handler as the overview, with the
position (the version's shas, the paths, the old/new line) that the API's ``position`` carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from dockyard.core.errors import DockyardError, NotFound
from dockyard.merge_requests import selectors, services
from dockyard.permissions import policy
from dockyard.projects.models import Project
from dockyard.repos import selectors as repos
from dockyard.repos.git.read import CommitInfo
from dockyard.web import code
from dockyard.web.views.common import form_errors, signed_in, viewer
from dockyard.web.views.merge_requests import (
    Thread,
    header,
    mr_get,
    mr_page,
    mr_project,
    mr_url,
    threads_of,
)
from dockyard.web.views.noteables import NOT_FOUND, assignable, ids, labels_of, milestones_of

VIEWS = ("inline", "parallel")
MR_LABELS = {"title": "Title", "description": "Description"}


@dataclass
class Row:
    """A row of a diff as the Changes tab shows it: the line (or the old/new pair side by side), the threads
    positioned at it, and whether the comment form opens under it."""

    line: code.DiffLine | None
    pair: tuple[code.DiffLine | None, code.DiffLine | None] | None
    key: str
    threads: list[Thread] = field(default_factory=list)
    commenting: bool = False
    comment_url: str = ""
    old_line: int | None = None  # the position a comment here gets
    new_line: int | None = None


@dataclass
class File:
    diff: code.FileDiff
    rows: list[Row]
    index: int


def _commit_rows(project: Project, commits: list[CommitInfo]) -> list[tuple[CommitInfo, str]]:
    return [(c, f"/{project.full_path}/-/commit/{c.id}") for c in commits]


# --- the Commits tab -----------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD"])
def commits(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    project = mr_project(request, namespace_path, project_path)
    mr = mr_get(request, project, iid)
    listed = selectors.commit_infos(
        project_id=project.pk, start=getattr(mr, "start_sha", None), head=getattr(mr, "head_sha", None)
    )
    return mr_page(
        request, "commits.html", project, **header(request, mr, "commits"), commits=_commit_rows(project, listed)
    )


# --- the Changes tab -----------------------------------------------------------------------------


def _position_key(position: dict[str, Any]) -> str:
    new, old = position.get("new_line"), position.get("old_line")
    return f"n{new}" if new is not None else f"o{old}"


def _rows(
    f: code.FileDiff, index: int, *, parallel: bool, threads: dict[tuple[str, str], list[Thread]], line: str, base: str
) -> list[Row]:
    rows: list[Row] = []
    items: list[Any] = code.side_by_side(f.lines) if parallel else f.lines
    for item in items:
        if parallel:
            old, new = item
            anchor = new if new is not None else old
            row = Row(line=None, pair=item, key=anchor.key if anchor is not None else "")
            keys = {x.key for x in item if x is not None and x.kind in ("add", "del", "context")}
        else:
            anchor = item
            row = Row(line=item, pair=None, key=item.key)
            keys = {item.key} if item.kind in ("add", "del", "context") else set()
        if keys and anchor is not None:
            row.new_line = anchor.new
            row.old_line = anchor.old if anchor.kind != "add" else None
            for key in sorted(keys):
                row.threads += threads.get((f.new_path, key), []) + (
                    threads.get((f.old_path, key), []) if f.old_path != f.new_path else []
                )
            row.commenting = line == f"{index}:{row.key}"
            row.comment_url = f"{base}&{urlencode({'line': f'{index}:{row.key}'})}#{f.anchor}-{row.key}"
        rows.append(row)
    return rows


@require_http_methods(["GET", "HEAD"])
def diffs(request: HttpRequest, namespace_path: str, project_path: str, iid: str) -> HttpResponse:
    project = mr_project(request, namespace_path, project_path)
    user = viewer(request)
    mr = mr_get(request, project, iid)
    view = request.GET.get("view", "inline")
    if view not in VIEWS:
        view = "inline"
    top = header(request, mr, "changes")
    version = top["version"]
    files = code.file_diffs(
        selectors.diff_entries(
            project_id=project.pk,
            base=version.base_commit_sha if version else None,
            head=version.head_commit_sha if version else None,
        ),
        highlighted=True,
    )
    by_path = {f.path: f for f in files}
    threads, _ = threads_of(request, mr, extra_texts=[])
    at_lines: dict[tuple[str, str], list[Thread]] = {}
    for thread in threads:
        position = thread.position
        if position and version is not None and position.get("head_sha") == version.head_commit_sha:
            at_lines.setdefault((position.get("new_path") or "", _position_key(position)), []).append(thread)
    url = mr_url(mr)
    base = f"{url}/diffs?{urlencode({'view': view})}"
    can_comment = policy.can_on_merge_request(user, "create_note", mr)
    line = request.GET.get("line", "") if can_comment else ""
    shown = [
        File(diff=f, rows=_rows(f, i, parallel=view == "parallel", threads=at_lines, line=line, base=base), index=i)
        for i, f in enumerate(files)
    ]
    return mr_page(
        request,
        "diffs.html",
        project,
        **top,
        files=shown,
        tree=[
            (depth, name, by_path[path].anchor if path else None) for depth, name, path in code.file_tree(list(by_path))
        ],
        view=view,
        additions=sum(f.additions for f in files),
        deletions=sum(f.deletions for f in files),
        back=base,
        can_comment=can_comment,
        can_resolve=policy.can_on_merge_request(user, "resolve_note", mr),
        notes_url=f"{url}/notes",
        inline_url=f"{url}/diffs?view=inline",
        parallel_url=f"{url}/diffs?view=parallel",
    )


# --- compare branches → new merge request ----------------------------------------------------------


def _humanize(branch: str) -> str:
    """GitLab's title for a merge request of several commits: the branch name as words."""
    words = branch.rsplit("/", 1)[-1].replace("-", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else branch


def _branches(request: HttpRequest) -> tuple[str, str]:
    get = request.POST if request.method == "POST" else request.GET
    source = get.get("source_branch") or get.get("merge_request[source_branch]") or ""
    target = get.get("target_branch") or get.get("merge_request[target_branch]") or ""
    return source.strip(), target.strip()


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def new(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    """Choose the branches (a GET form), see their commits and diff, then fill the form and create."""
    actor = signed_in(request)
    project = mr_project(request, namespace_path, project_path)
    if not policy.can_create_merge_request(actor, project):
        raise Http404(NOT_FOUND)
    repo = repos.repository_open(project=project)
    branch_names, _ = repos.repository_ref_names(repo=repo)
    source, target = _branches(request)
    target = target or project.default_branch or ""
    comparison = None
    problem = ""
    if source and target:
        if source == target:
            problem = "Choose two different branches."
        elif source not in branch_names or target not in branch_names:
            problem = "Choose existing branches."
        else:
            try:
                comparison = repos.repository_compare(repo=repo, base=target, head=source, straight=False)
            except NotFound:
                problem = "Choose existing branches."
            if comparison is not None and not comparison.commits:
                problem = f"{source} has no commits that {target} lacks: there is nothing to merge."
    # Whoever may open a merge request is a developer: they may also set its labels, people and milestone.
    commits = list(reversed(comparison.commits)) if comparison else []
    values: dict[str, Any] = {
        "title": commits[0].title if len(commits) == 1 else _humanize(source),
        "description": commits[0].message.split("\n", 1)[1].strip()
        if len(commits) == 1 and "\n" in commits[0].message
        else "",
        "draft": False,
        "labels": [],
        "assignee_ids": [],
        "reviewer_ids": [],
        "milestone_id": "",
        "remove_source_branch": True,
        "squash": False,
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and comparison is not None and not problem:
        post = request.POST
        values = {
            "title": post.get("title", "").strip(),
            "description": post.get("description", ""),
            "draft": post.get("draft") == "on",
            "labels": post.getlist("labels"),
            "assignee_ids": ids(post.getlist("assignee_ids")),
            "reviewer_ids": ids(post.getlist("reviewer_ids")),
            "milestone_id": post.get("milestone_id", ""),
            "remove_source_branch": post.get("remove_source_branch") == "on",
            "squash": post.get("squash") == "on",
        }
        if not values["title"]:
            errors = {"title": ["Title can't be blank"]}
        else:
            title = services.draft_title(values["title"], True) if values["draft"] else values["title"]
            try:
                mr = services.merge_request_create(
                    actor=actor,
                    project=project,
                    source_branch=source,
                    target_branch=target,
                    title=title,
                    description=values["description"],
                    assignee_ids=values["assignee_ids"] or None,
                    reviewer_ids=values["reviewer_ids"] or None,
                    labels=values["labels"] or None,
                    milestone_id=int(values["milestone_id"]) if values["milestone_id"].isdigit() else None,
                    remove_source_branch=values["remove_source_branch"],
                    squash=values["squash"],
                )
            except DockyardError as exc:
                errors = form_errors(exc, labels=MR_LABELS)
                if isinstance(exc.message, list):
                    errors["form"] = [str(m) for m in exc.message]
            else:
                messages.success(request, f"Merge request !{mr.iid} was created.")
                return redirect(mr_url(mr))
    elif request.method == "POST":
        messages.error(request, problem or "Choose the source and target branches.")
        return redirect(
            f"/{project.full_path}/-/merge_requests/new?{urlencode({'source_branch': source, 'target_branch': target})}"
        )
    files = code.file_diffs(comparison.diffs, highlighted=True) if comparison else []
    return mr_page(
        request,
        "new.html",
        project,
        status=400 if errors else 200,
        branches=branch_names,
        source=source,
        target=target,
        problem=problem,
        compared=comparison is not None and not problem,
        commits=_commit_rows(project, commits),
        files=[
            File(diff=f, rows=[Row(line=x, pair=None, key=x.key) for x in f.lines], index=i)
            for i, f in enumerate(files)
        ],
        additions=sum(f.additions for f in files),
        deletions=sum(f.deletions for f in files),
        values=values,
        errors=errors,
        labels=labels_of(project),
        milestones=milestones_of(project),
        assignable=assignable(project) if comparison is not None else [],
    )
