"""GitLab's repository API: ``/projects/:id/repository/{tree,files,blobs,commits,compare,branches,tags,
archive,contributors,merge_base}``.

File paths and ref names containing ``/`` arrive URL-encoded (``%2F``) and stay one path segment until a
handler ``unquote``s them. Reads open the repository once per request and go through the selectors;
writes go through the services, which check the push policy, move refs with compare-and-swap and record
the push.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from typing import Any
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Router
from pydantic import ValidationError

from dockyard.accounts.auth import current_user, require_user
from dockyard.core.errors import BadRequest, NotFound
from dockyard.core.pagination import keyset_list, page_params, paginate_list, set_page_headers
from dockyard.core.schema import Message
from dockyard.core.urls import absolute
from dockyard.permissions import policy
from dockyard.projects import selectors as project_selectors
from dockyard.projects.models import Project
from dockyard.repos import selectors, services
from dockyard.repos.git.archive import FORMATS as ARCHIVE_FORMATS
from dockyard.repos.git.read import FileBlob, Repository, TreeEntry
from dockyard.repos.git.write import FileAction
from dockyard.repos.schemas import (
    BlameRangeOut,
    BlobOut,
    BranchCreateIn,
    BranchOut,
    CommitCreateIn,
    CommitDetailOut,
    CommitOut,
    CompareOut,
    ContributorOut,
    DiffOut,
    FileCreateIn,
    FileDeleteIn,
    FileOut,
    FileWriteOut,
    RefOut,
    TagCreateIn,
    TagOut,
    TreeEntryOut,
    blame_commit_out,
    branch_out,
    commit_detail_out,
    commit_out,
    diff_out,
    tag_out,
)

router = Router(tags=["repository"])

P = "/projects/{project_id}/repository"


def _readable(request: HttpRequest, project_id: str) -> tuple[Project, Repository]:
    project = project_selectors.project_get_for(viewer=current_user(request), ref=project_id)
    policy.authorize(current_user(request), "download_code", project)
    return project, selectors.repository_open(project=project)


def _writable(request: HttpRequest, project_id: str) -> Project:
    user = require_user(request)
    project = project_selectors.project_get_for(viewer=user, ref=project_id)
    policy.authorize(user, "push_code", project)
    return project


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.lower() in {"1", "true", "yes", "on"}


def _content(text: str | None, encoding: str) -> bytes | None:
    if text is None:
        return None
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=False)
        except (binascii.Error, ValueError):
            raise BadRequest("content is invalid") from None
    return text.encode()


# --- tree ------------------------------------------------------------------------------------


@router.get(f"{P}/tree", response=list[TreeEntryOut])
def repository_tree(
    request: HttpRequest,
    response: HttpResponse,
    project_id: str,
    *,
    ref: str | None = None,
    path: str = "",
    recursive: bool = False,
) -> list[TreeEntry]:
    _, repo = _readable(request, project_id)
    entries = selectors.repository_tree(repo=repo, ref=ref, path=path, recursive=recursive)
    if request.GET.get("pagination") == "keyset":
        # GitLab's page_token is opaque to clients that follow the Link; a path is unique in a tree.
        return keyset_list(request, response, entries, key="path", cursor="page_token")
    return paginate_list(request, response, entries)


# --- files -----------------------------------------------------------------------------------


def _file_headers(response: HttpResponse, blob: FileBlob, ref: str, commit_id: str, last_commit_id: str) -> None:
    response["X-Gitlab-Blob-Id"] = blob.id
    response["X-Gitlab-Commit-Id"] = commit_id
    response["X-Gitlab-Content-Sha256"] = hashlib.sha256(blob.data).hexdigest()
    response["X-Gitlab-Encoding"] = "base64"
    response["X-Gitlab-Execute-Filemode"] = "true" if blob.executable else "false"
    response["X-Gitlab-File-Name"] = blob.name
    response["X-Gitlab-File-Path"] = blob.path
    response["X-Gitlab-Last-Commit-Id"] = last_commit_id
    response["X-Gitlab-Ref"] = ref
    response["X-Gitlab-Size"] = str(blob.size)


def _file(
    request: HttpRequest, project_id: str, file_path: str, ref: str | None
) -> tuple[Repository, FileBlob, str, str]:
    path = unquote(file_path)
    services.file_path_check(path)
    _, repo = _readable(request, project_id)
    return repo, *selectors.repository_file(repo=repo, ref=ref, path=path)


@router.get(f"{P}/files/{{file_path}}", response=FileOut)
def file_get(request: HttpRequest, response: HttpResponse, project_id: str, file_path: str, ref: str) -> FileOut:
    _, blob, commit_id, last = _file(request, project_id, file_path, ref)
    _file_headers(response, blob, ref, commit_id, last)
    return FileOut(
        file_name=blob.name,
        file_path=blob.path,
        size=blob.size,
        content=base64.b64encode(blob.data).decode(),
        content_sha256=hashlib.sha256(blob.data).hexdigest(),
        ref=ref,
        blob_id=blob.id,
        commit_id=commit_id,
        last_commit_id=last,
        execute_filemode=blob.executable,
    )


@router.api_operation(["HEAD"], f"{P}/files/{{file_path}}")
def file_head(request: HttpRequest, project_id: str, file_path: str, ref: str) -> HttpResponse:
    _, blob, commit_id, last = _file(request, project_id, file_path, ref)
    response = HttpResponse(status=200, content_type="application/json")
    _file_headers(response, blob, ref, commit_id, last)
    return response


@router.get(f"{P}/files/{{file_path}}/raw")
def file_raw(request: HttpRequest, project_id: str, file_path: str, ref: str | None = None) -> HttpResponse:
    _, blob, commit_id, last = _file(request, project_id, file_path, ref)
    response = _raw(blob.data)
    _file_headers(response, blob, ref or "", commit_id, last)
    return response


def _raw(data: bytes) -> HttpResponse:
    try:
        data.decode("utf-8")
        content_type = "text/plain; charset=utf-8"
    except UnicodeDecodeError:
        content_type = "application/octet-stream"
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "no-cache"
    return response


@router.get(f"{P}/files/{{file_path}}/blame", response=list[BlameRangeOut])
def file_blame(
    request: HttpRequest, response: HttpResponse, project_id: str, file_path: str, ref: str
) -> list[BlameRangeOut]:
    repo, blob, commit_id, last = _file(request, project_id, file_path, ref)
    start, end = request.GET.get("range[start]"), request.GET.get("range[end]")
    bounds: list[int | None] = []
    for name, raw in (("range[start]", start), ("range[end]", end)):
        if raw is None:
            bounds.append(None)
        elif not raw.isdigit() or int(raw) < 1:
            raise BadRequest(f"{name} does not have a valid value")
        else:
            bounds.append(int(raw))
    if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
        raise BadRequest("range[start] must be less than or equal to range[end]")
    _file_headers(response, blob, ref, commit_id, last)
    ranges = selectors.repository_blame(repo=repo, commit_id=commit_id, path=blob.path, start=bounds[0], end=bounds[1])
    return [BlameRangeOut(commit=blame_commit_out(r.commit), lines=r.lines) for r in ranges]


def _file_action(action: str, path: str, payload: FileCreateIn | FileDeleteIn) -> FileAction:
    content = _content(payload.content, payload.encoding) if isinstance(payload, FileCreateIn) else None
    return FileAction(
        action=action,
        path=path,
        content=content,
        execute_filemode=payload.execute_filemode if isinstance(payload, FileCreateIn) else None,
        last_commit_id=payload.last_commit_id,
    )


def _file_write(
    request: HttpRequest, project_id: str, file_path: str, action: str, payload: FileCreateIn | FileDeleteIn
) -> FileWriteOut:
    path = unquote(file_path)
    services.file_path_check(path)
    project = _writable(request, project_id)
    services.commit_create(
        project=project,
        user=require_user(request),
        branch=payload.branch,
        message=payload.commit_message,
        actions=[_file_action(action, path, payload)],
        start_branch=payload.start_branch,
        author_name=payload.author_name,
        author_email=payload.author_email,
    )
    return FileWriteOut(file_path=path, branch=payload.branch)


@router.post(f"{P}/files/{{file_path}}", response={201: FileWriteOut})
def file_create(
    request: HttpRequest, project_id: str, file_path: str, payload: FileCreateIn
) -> tuple[int, FileWriteOut]:
    return 201, _file_write(request, project_id, file_path, "create", payload)


@router.put(f"{P}/files/{{file_path}}", response=FileWriteOut)
def file_update(request: HttpRequest, project_id: str, file_path: str, payload: FileCreateIn) -> FileWriteOut:
    return _file_write(request, project_id, file_path, "update", payload)


def _delete_params(request: HttpRequest) -> FileDeleteIn:
    """DELETE parameters from the query string (python-gitlab) or a JSON/form body (GitLab's curl examples);
    ninja reads a body schema only when a body was sent."""
    data: dict[str, Any] = {k: v for k, v in request.GET.items() if k != "private_token"}
    if request.body:
        if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            data.update(request.POST.items())
        else:
            try:
                body = json.loads(request.body)
            except (ValueError, UnicodeDecodeError):
                raise BadRequest("The request body is not valid JSON") from None
            if isinstance(body, dict):
                data.update(body)
    try:
        return FileDeleteIn.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'])} {'is missing' if err['type'] == 'missing' else 'is invalid'}"
            for err in exc.errors()
        ]
        raise BadRequest(", ".join(problems)) from None


@router.delete(f"{P}/files/{{file_path}}", response={204: None})
def file_delete(request: HttpRequest, project_id: str, file_path: str) -> tuple[int, None]:
    _file_write(request, project_id, file_path, "delete", _delete_params(request))
    return 204, None


# --- blobs -----------------------------------------------------------------------------------


@router.get(f"{P}/blobs/{{sha}}", response=BlobOut)
def blob_get(request: HttpRequest, project_id: str, sha: str) -> BlobOut:
    _, repo = _readable(request, project_id)
    data = selectors.repository_blob(repo=repo, sha=sha)
    return BlobOut(size=len(data), content=base64.b64encode(data).decode(), sha=sha)


@router.get(f"{P}/blobs/{{sha}}/raw")
def blob_raw(request: HttpRequest, project_id: str, sha: str) -> HttpResponse:
    _, repo = _readable(request, project_id)
    return _raw(selectors.repository_blob(repo=repo, sha=sha))


# --- commits ---------------------------------------------------------------------------------


def _iso(name: str, value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} is invalid") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@router.get(f"{P}/commits", response=list[CommitOut])
def commit_list(request: HttpRequest, response: HttpResponse, project_id: str) -> list[CommitOut]:
    project, repo = _readable(request, project_id)
    page, per_page = page_params(request)
    log = repo.log(
        request.GET.get("ref_name") or repo.default_branch() or "HEAD",
        path=request.GET.get("path") or None,
        since=_iso("since", request.GET.get("since")),
        until=_iso("until", request.GET.get("until")),
        all_refs=_bool(request.GET.get("all")),
        offset=(page - 1) * per_page,
        limit=per_page,
    )
    set_page_headers(request, response, page=page, per_page=per_page, total=log.total, rows=len(log.commits))
    return [commit_out(c, project) for c in log.commits]


@router.post(f"{P}/commits", response={201: CommitDetailOut})
def commit_create(request: HttpRequest, project_id: str, payload: CommitCreateIn) -> tuple[int, CommitDetailOut]:
    project = _writable(request, project_id)
    actions = [
        FileAction(
            action=a.action,
            path=a.file_path,
            previous_path=a.previous_path,
            content=_content(a.content, a.encoding),
            execute_filemode=a.execute_filemode,
            last_commit_id=a.last_commit_id,
        )
        for a in payload.actions
    ]
    sha = services.commit_create(
        project=project,
        user=require_user(request),
        branch=payload.branch,
        message=payload.commit_message,
        actions=actions,
        start_branch=payload.start_branch,
        start_sha=payload.start_sha,
        author_name=payload.author_name,
        author_email=payload.author_email,
    )
    repo = selectors.repository_open(project=project)
    commit = selectors.repository_commit(repo=repo, ref=sha)
    stats = repo.commit_stats(sha) if payload.stats else None
    return 201, commit_detail_out(commit, project, stats)


@router.get(f"{P}/commits/{{sha}}", response=CommitDetailOut)
def commit_get(request: HttpRequest, project_id: str, sha: str) -> CommitDetailOut:
    project, repo = _readable(request, project_id)
    commit = selectors.repository_commit(repo=repo, ref=unquote(sha))
    stats = repo.commit_stats(commit.id) if _bool(request.GET.get("stats"), default=True) else None
    out = commit_detail_out(commit, project, stats)
    out.last_pipeline = selectors.commit_last_pipeline(project=project, sha=commit.id, viewer=current_user(request))
    out.status = out.last_pipeline["status"] if out.last_pipeline else None
    return out


@router.get(f"{P}/commits/{{sha}}/diff", response=list[DiffOut])
def commit_diff(request: HttpRequest, response: HttpResponse, project_id: str, sha: str) -> list[DiffOut]:
    _, repo = _readable(request, project_id)
    diffs = selectors.repository_commit_diff(repo=repo, ref=unquote(sha))
    return [diff_out(d) for d in paginate_list(request, response, diffs)]


@router.get(f"{P}/commits/{{sha}}/refs", response=list[RefOut])
def commit_refs(
    request: HttpRequest, response: HttpResponse, project_id: str, sha: str, type: str = "all"
) -> list[RefOut]:
    if type not in {"branch", "tag", "all"}:
        raise BadRequest("type does not have a valid value")
    _, repo = _readable(request, project_id)
    refs = selectors.repository_commit_refs(repo=repo, ref=unquote(sha), kind=type)
    return [RefOut(type=kind, name=name) for kind, name in paginate_list(request, response, refs)]


# --- compare, contributors, merge base -------------------------------------------------------


@router.get(f"{P}/compare", response=CompareOut)
def compare(request: HttpRequest, project_id: str) -> CompareOut:
    base, head = request.GET.get("from"), request.GET.get("to")
    missing = [name for name, value in (("from", base), ("to", head)) if not value]
    if missing:
        raise BadRequest(", ".join(f"{name} is missing" for name in missing))
    assert base is not None and head is not None
    project, repo = _readable(request, project_id)
    result = selectors.repository_compare(repo=repo, base=base, head=head, straight=_bool(request.GET.get("straight")))
    commits = [commit_out(c, project) for c in result.commits]
    return CompareOut(
        commit=commits[-1] if commits else None,
        commits=commits,
        diffs=[diff_out(d) for d in result.diffs],
        compare_same_ref=result.same,
        web_url=absolute(f"{project.full_path}/-/compare/{base}...{head}"),
    )


@router.get(f"{P}/contributors", response=list[ContributorOut])
def contributors(
    request: HttpRequest,
    response: HttpResponse,
    project_id: str,
    *,
    ref: str | None = None,
    order_by: str = "commits",
    sort: str = "asc",
) -> list[Any]:
    if order_by not in {"email", "name", "commits"}:
        raise BadRequest("order_by does not have a valid value")
    if sort not in {"asc", "desc"}:
        raise BadRequest("sort does not have a valid value")
    _, repo = _readable(request, project_id)
    found = selectors.repository_contributors(repo=repo, ref=ref, order_by=order_by, sort=sort)
    return paginate_list(request, response, found)


@router.get(f"{P}/merge_base", response=CommitOut)
def merge_base(request: HttpRequest, project_id: str) -> CommitOut:
    refs = [r for raw in (request.GET.getlist("refs[]") or request.GET.getlist("refs")) for r in raw.split(",") if r]
    if not refs:
        raise BadRequest("refs is missing")
    project, repo = _readable(request, project_id)
    return commit_out(selectors.repository_merge_base(repo=repo, refs=refs), project)


# --- archive ---------------------------------------------------------------------------------


def _archive(request: HttpRequest, project_id: str, fmt: str) -> StreamingHttpResponse:
    if fmt not in ARCHIVE_FORMATS:
        raise NotFound()
    project, repo = _readable(request, project_id)
    path = request.GET.get("path") or None
    if path is not None and not services.file_path_valid(path.strip("/")):
        raise NotFound("File")
    name, chunks = selectors.repository_archive(
        repo=repo, project=project, ref=request.GET.get("sha") or None, path=path, fmt=fmt
    )
    response = StreamingHttpResponse(chunks, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    response["Content-Transfer-Encoding"] = "binary"
    return response


@router.get(f"{P}/archive")
def archive(request: HttpRequest, project_id: str) -> StreamingHttpResponse:
    return _archive(request, project_id, request.GET.get("format") or "tar.gz")


@router.get(f"{P}/archive.{{fmt}}")
def archive_with_format(request: HttpRequest, project_id: str, fmt: str) -> StreamingHttpResponse:
    return _archive(request, project_id, fmt)


# --- branches --------------------------------------------------------------------------------


@router.get(f"{P}/branches", response=list[BranchOut])
def branch_list(
    request: HttpRequest, response: HttpResponse, project_id: str, search: str | None = None
) -> list[BranchOut]:
    project, repo = _readable(request, project_id)
    branches = selectors.branch_list(repo=repo, project=project, viewer=current_user(request), search=search)
    return [branch_out(b, project) for b in paginate_list(request, response, branches)]


@router.get(f"{P}/branches/{{branch}}", response=BranchOut)
def branch_get(request: HttpRequest, project_id: str, branch: str) -> BranchOut:
    project, repo = _readable(request, project_id)
    view = selectors.branch_get(repo=repo, project=project, viewer=current_user(request), name=unquote(branch))
    return branch_out(view, project)


@router.api_operation(["HEAD"], f"{P}/branches/{{branch}}")
def branch_head(request: HttpRequest, project_id: str, branch: str) -> HttpResponse:
    _, repo = _readable(request, project_id)
    return HttpResponse(status=204 if repo.branch(unquote(branch)) is not None else 404)


@router.post(f"{P}/branches", response={201: BranchOut})
def branch_create(request: HttpRequest, project_id: str, payload: BranchCreateIn) -> tuple[int, BranchOut]:
    project = _writable(request, project_id)
    user = require_user(request)
    services.branch_create(project=project, user=user, branch=payload.branch, ref=payload.ref)
    repo = selectors.repository_open(project=project)
    return 201, branch_out(selectors.branch_get(repo=repo, project=project, viewer=user, name=payload.branch), project)


@router.delete(f"{P}/branches/{{branch}}", response={204: None})
def branch_delete(request: HttpRequest, project_id: str, branch: str) -> tuple[int, None]:
    project = _writable(request, project_id)
    services.branch_delete(project=project, user=require_user(request), branch=unquote(branch))
    return 204, None


@router.delete(f"{P}/merged_branches", response={202: Message})
def merged_branches_delete(request: HttpRequest, project_id: str) -> tuple[int, dict[str, str]]:
    project = _writable(request, project_id)
    services.merged_branches_delete(project=project, user=require_user(request))
    return 202, {"message": "202 Accepted"}


# --- tags ------------------------------------------------------------------------------------


@router.get(f"{P}/tags", response=list[TagOut])
def tag_list(
    request: HttpRequest,
    response: HttpResponse,
    project_id: str,
    *,
    search: str | None = None,
    order_by: str = "updated",
    sort: str = "desc",
) -> list[TagOut]:
    if order_by not in {"name", "updated", "version"}:
        raise BadRequest("order_by does not have a valid value")
    if sort not in {"asc", "desc"}:
        raise BadRequest("sort does not have a valid value")
    project, repo = _readable(request, project_id)
    tags = paginate_list(request, response, selectors.tag_list(repo=repo, search=search, order_by=order_by, sort=sort))
    protected = selectors.tag_protected_names(project=project, names=[t.name for t in tags])
    return [tag_out(t, project, protected=t.name in protected) for t in tags]


@router.get(f"{P}/tags/{{tag_name}}", response=TagOut)
def tag_get(request: HttpRequest, project_id: str, tag_name: str) -> TagOut:
    project, repo = _readable(request, project_id)
    tag = selectors.tag_get(repo=repo, name=unquote(tag_name))
    protected = selectors.tag_protected_names(project=project, names=[tag.name])
    return tag_out(tag, project, protected=tag.name in protected)


@router.post(f"{P}/tags", response={201: TagOut})
def tag_create(request: HttpRequest, project_id: str, payload: TagCreateIn) -> tuple[int, TagOut]:
    project = _writable(request, project_id)
    services.tag_create(
        project=project, user=require_user(request), tag_name=payload.tag_name, ref=payload.ref, message=payload.message
    )
    repo = selectors.repository_open(project=project)
    tag = selectors.tag_get(repo=repo, name=payload.tag_name)
    protected = selectors.tag_protected_names(project=project, names=[tag.name])
    return 201, tag_out(tag, project, protected=tag.name in protected)


@router.delete(f"{P}/tags/{{tag_name}}", response={204: None})
def tag_delete(request: HttpRequest, project_id: str, tag_name: str) -> tuple[int, None]:
    project = _writable(request, project_id)
    services.tag_delete(project=project, user=require_user(request), tag_name=unquote(tag_name))
    return 204, None
