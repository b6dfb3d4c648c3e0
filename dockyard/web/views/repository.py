"""Repository pages under a project's ``/-/``: files (tree, blob, raw, blame), commits, one commit's diff,
branches and tags, with GitLab's URLs (``/group/project/-/tree/feature/x/src``).

Every page: the project as the viewer may see it, then ``download_code`` (both 404 alike), then git reads
through ``dockyard.repos.selectors``. Database queries do not depend on the size of the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from dockyard.accounts.models import User
from dockyard.core import markdown
from dockyard.core.errors import DockyardError, NotFound
from dockyard.permissions import policy
from dockyard.projects import selectors as projects
from dockyard.projects.models import Project
from dockyard.repos import selectors
from dockyard.repos import services as repos
from dockyard.repos.git.read import CommitInfo, FileBlob, Repository, TreeEntry
from dockyard.web import code
from dockyard.web.views.common import not_found_as_404, paginate, viewer

COMMITS_PER_PAGE = 20
MARKDOWN_EXTENSIONS = frozenset({"md", "markdown", "mdown", "mkd"})
NOT_FOUND = "Not Found"


# --- shared --------------------------------------------------------------------------------------


def _readable(request: HttpRequest, namespace_path: str, project_path: str) -> tuple[Project, User | None]:
    """The project if the viewer may read its code; 404 for missing, invisible and code-hidden alike."""
    user = viewer(request)
    with not_found_as_404():
        project = projects.project_get_for(viewer=user, ref=f"{namespace_path}/{project_path}")
    if not policy.can(user, "download_code", project):
        raise Http404(NOT_FOUND)
    return project, user


def _open(project: Project) -> Repository:
    with not_found_as_404():
        return selectors.repository_open(project=project)


def _split(repo: Repository, rest: str) -> tuple[str, str]:
    with not_found_as_404():
        return selectors.repository_split_ref(repo=repo, rest=rest)


def project_url(project: Project) -> str:
    return f"/{project.full_path}"


def repo_url(project: Project, action: str, ref: str = "", path: str = "") -> str:
    """``/<project>/-/<action>/<ref>/<path>``, each part URL-quoted but keeping its slashes."""
    url = f"{project_url(project)}/-/{action}"
    for part in (ref, path.strip("/")):
        if part:
            url += "/" + quote(part, safe="/")
    return url


@dataclass(frozen=True)
class Crumb:
    name: str
    url: str


def _crumbs(project: Project, ref: str, path: str) -> list[Crumb]:
    crumbs = [Crumb(project.path, repo_url(project, "tree", ref))]
    parts = [p for p in path.strip("/").split("/") if p]
    for i, part in enumerate(parts):
        crumbs.append(Crumb(part, repo_url(project, "tree", ref, "/".join(parts[: i + 1]))))
    return crumbs


def _page(
    request: HttpRequest, template: str, project: Project, nav: str, status: int = 200, **extra: object
) -> HttpResponse:
    return render(request, f"web/repository/{template}", {"project": project, "nav": nav, **extra}, status=status)


def _switcher(repo: Repository, *, ref: str, destination: str, path: str) -> dict[str, object]:
    branches, tags = selectors.repository_ref_names(repo=repo)
    return {"branches": branches, "tags": tags, "ref": ref, "destination": destination, "path": path}


# --- the project page's repository part ----------------------------------------------------------


def overview(request: HttpRequest, project: Project) -> dict[str, object]:
    """What the project page shows of the repository: the README, or how to push a first commit."""
    user = viewer(request)
    context: dict[str, object] = {
        "can_read_code": policy.can(user, "download_code", project),
        "can_push": policy.can(user, "push_code", project),
    }
    if not context["can_read_code"]:
        return context
    try:
        repo = selectors.repository_open(project=project)
    except NotFound:
        return {**context, "repository_empty": True}
    ref = repo.default_branch()
    if repo.empty or ref is None:
        return {**context, "repository_empty": True}
    readme = selectors.repository_readme(repo=repo, ref=ref)
    context.update(
        default_ref=ref,
        files_url=repo_url(project, "tree", ref),
        commits_url=repo_url(project, "commits", ref),
        readme=readme,
        readme_html=_render_text(readme) if readme is not None else "",
        readme_url=repo_url(project, "blob", ref, readme.path) if readme is not None else "",
    )
    return context


def _render_text(blob: FileBlob) -> SafeString:
    """A README or Markdown file as sanitised HTML; other text as a preformatted block."""
    if code.is_binary(blob.data[: code.MAX_INLINE_BYTES]) or blob.size > code.MAX_INLINE_BYTES:
        return mark_safe("")
    text = blob.data.decode("utf-8")
    if code.extension(blob.name) in MARKDOWN_EXTENSIONS:
        return mark_safe(markdown.render(text))  # sanitised by nh3 inside render()
    return mark_safe(f'<pre class="readme-plain">{markdown.escape(text)}</pre>')  # escaped


# --- files ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    entry: TreeEntry
    url: str
    commit: CommitInfo | None
    commit_url: str


@require_GET
def tree(request: HttpRequest, namespace_path: str, project_path: str, rest: str = "") -> HttpResponse:
    project, _ = _readable(request, namespace_path, project_path)
    repo = _open(project)
    if not rest.strip("/"):
        default = repo.default_branch()
        if default is None:
            return redirect(project_url(project))
        return redirect(repo_url(project, "tree", default))
    ref, path = _split(repo, rest)
    with not_found_as_404():
        entries = selectors.repository_tree(repo=repo, ref=ref, path=path, recursive=False)
        commit = selectors.repository_commit(repo=repo, ref=ref)
    last = selectors.repository_tree_last_commits(repo=repo, commit_id=commit.id, path=path, entries=entries)
    rows = [
        Row(
            entry=e,
            url=repo_url(project, "tree" if e.type == "tree" else "blob", ref, e.path),
            commit=last.get(e.name),
            commit_url=repo_url(project, "commit", last[e.name].id) if e.name in last else "",
        )
        for e in entries
    ]
    readme = selectors.repository_readme(repo=repo, ref=ref) if not path else None
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    return _page(
        request,
        "tree.html",
        project,
        "files",
        rows=rows,
        commit=commit,
        commit_url=repo_url(project, "commit", commit.id),
        history_url=repo_url(project, "commits", ref, path),
        parent_url=repo_url(project, "tree", ref, parent) if path else "",
        crumbs=_crumbs(project, ref, path),
        switcher=_switcher(repo, ref=ref, destination="tree", path=path),
        readme=readme,
        readme_html=_render_text(readme) if readme is not None else "",
        path=path,
        ref=ref,
    )


def _file(
    request: HttpRequest, namespace_path: str, project_path: str, rest: str
) -> tuple[Project, Repository, str, FileBlob, str, str]:
    project, _ = _readable(request, namespace_path, project_path)
    repo = _open(project)
    ref, path = _split(repo, rest)
    if not path:
        raise Http404(NOT_FOUND)
    with not_found_as_404():
        blob, commit_id, last_commit_id = selectors.repository_file(repo=repo, ref=ref, path=path)
    return project, repo, ref, blob, commit_id, last_commit_id


@require_GET
def blob(request: HttpRequest, namespace_path: str, project_path: str, rest: str) -> HttpResponse:
    project, repo, ref, file, _commit_id, last_commit_id = _file(request, namespace_path, project_path, rest)
    too_large = file.size > code.MAX_INLINE_BYTES
    binary = not too_large and code.is_binary(file.data)
    lines: list[str] = []
    rendered: SafeString | str = ""
    text = "" if too_large or binary else file.data.decode("utf-8")
    is_markdown = code.extension(file.name) in MARKDOWN_EXTENSIONS
    if text and is_markdown and request.GET.get("plain") != "1":
        rendered = _render_text(file)
    elif text:
        lines = code.highlight_lines(file.name, text)
    image = binary and code.extension(file.name) in code.IMAGE_TYPES
    last_commit = selectors.repository_commit(repo=repo, ref=last_commit_id)
    return _page(
        request,
        "blob.html",
        project,
        "files",
        file=file,
        lines=lines,
        rendered=rendered,
        is_markdown=is_markdown,
        language=code.language(file.name, text) if text else "",
        line_count=len(lines) or text.count("\n") + (0 if text.endswith("\n") or not text else 1),
        too_large=too_large,
        binary=binary,
        image=image,
        last_commit=last_commit,
        last_commit_url=repo_url(project, "commit", last_commit.id),
        raw_url=repo_url(project, "raw", ref, file.path),
        blame_url=repo_url(project, "blame", ref, file.path),
        history_url=repo_url(project, "commits", ref, file.path),
        blob_url=repo_url(project, "blob", ref, file.path),
        crumbs=_crumbs(project, ref, file.path),
        switcher=_switcher(repo, ref=ref, destination="blob", path=file.path),
        ref=ref,
    )


@require_GET
def raw(request: HttpRequest, namespace_path: str, project_path: str, rest: str) -> HttpResponse:
    """The file's bytes. Never as HTML: text is text/plain, and whatever a browser could run as a page
    (HTML, SVG, XML, or text that looks like them) is a download, behind a sandboxing CSP as well."""
    _, _, _, file, _, _ = _file(request, namespace_path, project_path, rest)
    how = code.raw_response(file.name, file.data)
    response = HttpResponse(file.data, content_type=how.content_type)
    disposition = "attachment" if how.attachment else "inline"
    response["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(file.name, safe='')}"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    response["Cache-Control"] = "private, no-cache"
    return response


@dataclass(frozen=True)
class BlameRow:
    commit: CommitInfo
    commit_url: str
    lines: list[tuple[int, str]]


@require_GET
def blame(request: HttpRequest, namespace_path: str, project_path: str, rest: str) -> HttpResponse:
    project, repo, ref, file, commit_id, _ = _file(request, namespace_path, project_path, rest)
    too_large = file.size > code.MAX_INLINE_BYTES
    binary = not too_large and code.is_binary(file.data)
    groups: list[BlameRow] = []
    if not too_large and not binary:
        highlighted = code.highlight_lines(file.name, file.data.decode("utf-8"))
        number = 1
        for found in selectors.repository_blame(repo=repo, commit_id=commit_id, path=file.path, start=None, end=None):
            numbered = [
                (n, highlighted[n - 1] if n <= len(highlighted) else "")
                for n in range(number, number + len(found.lines))
            ]
            number += len(found.lines)
            groups.append(BlameRow(found.commit, repo_url(project, "commit", found.commit.id), numbered))
    return _page(
        request,
        "blame.html",
        project,
        "files",
        file=file,
        groups=groups,
        too_large=too_large,
        binary=binary,
        raw_url=repo_url(project, "raw", ref, file.path),
        blob_url=repo_url(project, "blob", ref, file.path),
        history_url=repo_url(project, "commits", ref, file.path),
        crumbs=_crumbs(project, ref, file.path),
        switcher=_switcher(repo, ref=ref, destination="blame", path=file.path),
        ref=ref,
    )


@require_GET
def switch_ref(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    """The ref switcher's target (a plain GET form): the same place at another branch or tag."""
    project, _ = _readable(request, namespace_path, project_path)
    ref = request.GET.get("ref", "").strip()
    destination = request.GET.get("destination", "tree")
    if destination not in {"tree", "blob", "blame", "commits"}:
        destination = "tree"
    if not ref:
        raise Http404(NOT_FOUND)
    return redirect(repo_url(project, destination, ref, request.GET.get("path", "")))


# --- commits -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitRow:
    commit: CommitInfo
    url: str
    tree_url: str


@require_GET
def commits(request: HttpRequest, namespace_path: str, project_path: str, rest: str = "") -> HttpResponse:
    project, _ = _readable(request, namespace_path, project_path)
    repo = _open(project)
    if not rest.strip("/"):
        default = repo.default_branch()
        if default is None:
            return redirect(project_url(project))
        return redirect(repo_url(project, "commits", default))
    ref, path = _split(repo, rest)
    raw_page = request.GET.get("page", "1")
    number = int(raw_page) if raw_page.isdigit() and int(raw_page) > 0 else 1
    with not_found_as_404():
        log = selectors.repository_log(
            repo=repo, ref=ref, path=path, offset=(number - 1) * COMMITS_PER_PAGE, limit=COMMITS_PER_PAGE
        )
    pages = max(1, -(-log.total // COMMITS_PER_PAGE))

    def page_url(n: int) -> str:
        query = request.GET.copy()
        query["page"] = str(n)
        return f"?{query.urlencode()}"

    rows = [
        CommitRow(c, repo_url(project, "commit", c.id), repo_url(project, "tree", c.id, path if path else ""))
        for c in log.commits
    ]
    return _page(
        request,
        "commits.html",
        project,
        "commits",
        rows=rows,
        total=log.total,
        number=number,
        pages=pages,
        prev_url=page_url(number - 1) if number > 1 else None,
        next_url=page_url(number + 1) if number < pages else None,
        crumbs=_crumbs(project, ref, path),
        switcher=_switcher(repo, ref=ref, destination="commits", path=path),
        path=path,
        ref=ref,
    )


@require_GET
def commit(request: HttpRequest, namespace_path: str, project_path: str, sha: str) -> HttpResponse:
    project, _ = _readable(request, namespace_path, project_path)
    repo = _open(project)
    with not_found_as_404():
        info = selectors.repository_commit(repo=repo, ref=sha)
        entries = selectors.repository_commit_diff(repo=repo, ref=info.id)
    files = code.file_diffs(entries)
    blob_urls = {
        f.anchor: repo_url(project, "blob", info.id if f.status != "deleted" else info.parent_ids[0], f.path)
        for f in files
        if f.status != "deleted" or info.parent_ids
    }
    body = info.message.split("\n", 1)[1].strip() if "\n" in info.message.strip() else ""
    return _page(
        request,
        "commit.html",
        project,
        "commits",
        commit=info,
        body=body,
        files=[(f, blob_urls.get(f.anchor, "")) for f in files],
        additions=sum(f.additions for f in files),
        deletions=sum(f.deletions for f in files),
        parents=[(p[:8], repo_url(project, "commit", p)) for p in info.parent_ids],
        tree_url=repo_url(project, "tree", info.id),
    )


# --- branches and tags ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def branches(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    project, user = _readable(request, namespace_path, project_path)
    if request.method == "POST":
        return _branch_delete(request, project)
    repo = _open(project)
    search = request.GET.get("search", "").strip()
    views = selectors.branch_list(repo=repo, project=project, viewer=user, search=search or None)
    # The default branch first, then the most recently updated, as GitLab lists them.
    views.sort(key=lambda b: (not b.default, -b.commit.committed_date.timestamp(), b.name))
    listing = paginate(request, views)
    deletable = selectors.branch_deletable_names(project=project, viewer=user, names=[b.name for b in listing.items])
    rows = [
        {
            "branch": b,
            "url": repo_url(project, "tree", b.name),
            "commit_url": repo_url(project, "commit", b.commit.id),
            "commits_url": repo_url(project, "commits", b.name),
            "deletable": b.name in deletable,
        }
        for b in listing.items
    ]
    return _page(request, "branches.html", project, "branches", rows=rows, listing=listing, search=search)


def _branch_delete(request: HttpRequest, project: Project) -> HttpResponse:
    """Delete through the service the API uses: the same rules (protected, default branch) apply."""
    actor = viewer(request)
    if actor is None:
        raise Http404(NOT_FOUND)
    name = request.POST.get("branch", "")
    try:
        repos.branch_delete(project=project, user=actor, branch=name)
    except NotFound:
        messages.error(request, f"Branch '{name}' was not found.")
    except DockyardError as exc:
        reason = str(exc.message).removeprefix("403 Forbidden").removeprefix(" - ")
        messages.error(request, reason or "You are not allowed to delete this branch.")
    else:
        messages.success(request, f"Branch '{name}' was deleted.")
    search = request.POST.get("search", "")
    return redirect(repo_url(project, "branches") + (f"?{urlencode({'search': search})}" if search else ""))


@require_GET
def tags(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    project, _ = _readable(request, namespace_path, project_path)
    repo = _open(project)
    search = request.GET.get("search", "").strip()
    listing = paginate(request, selectors.tag_list(repo=repo, search=search or None))
    protected = selectors.tag_protected_names(project=project, names=[t.name for t in listing.items])
    rows = [
        {
            "tag": t,
            "url": repo_url(project, "tree", t.name),
            "commit_url": repo_url(project, "commit", t.commit.id),
            "protected": t.name in protected,
        }
        for t in listing.items
    ]
    return _page(request, "tags.html", project, "tags", rows=rows, listing=listing, search=search)
