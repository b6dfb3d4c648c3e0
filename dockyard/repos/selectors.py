"""Reads on repositories: protected refs, and who may fetch or push over git's HTTP transport."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from dockyard.accounts import selectors as accounts
from dockyard.accounts.models import User
from dockyard.core.errors import DockyardError, NotFound
from dockyard.permissions import policy
from dockyard.permissions.policy import ZERO_SHA, RefChange
from dockyard.projects import selectors as projects
from dockyard.projects.models import Project
from dockyard.repos.git import GitError
from dockyard.repos.git.archive import archive_stream
from dockyard.repos.git.read import (
    BlameRange,
    CommitInfo,
    Comparison,
    Contributor,
    DiffEntry,
    FileBlob,
    LogPage,
    RefInfo,
    Repository,
    TreeEntry,
)
from dockyard.repos.models import ProtectedBranch, ProtectedTag, RefAccessLevel

NOT_FOUND_MESSAGE = "The project you were looking for could not be found or you don't have permission to view it."
# Token scopes that grant git access over HTTP (``api`` covers everything, as in GitLab).
READ_SCOPES = frozenset({"api", "read_repository", "write_repository"})
WRITE_SCOPES = frozenset({"api", "write_repository"})


def protected_branches(*, project: Project) -> list[ProtectedBranch]:
    return list(ProtectedBranch.objects.filter(project=project).order_by("name"))


def protected_tags(*, project: Project) -> list[ProtectedTag]:
    return list(ProtectedTag.objects.filter(project=project).order_by("name"))


@dataclass(frozen=True)
class GitAccess:
    """The answer to one git HTTP request: go ahead (``project``/``user``) or an HTTP status and message."""

    status: int
    message: str = ""
    project: Project | None = None
    user: User | None = None

    @property
    def allowed(self) -> bool:
        return self.status == 200


def _credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, sep, secret = decoded.partition(":")
    return (login, secret) if sep else None


def _authenticate(authorization: str | None, *, write: bool) -> tuple[User | None, bool]:
    """(user, credentials_were_sent). A personal access token works with any username, as in GitLab."""
    creds = _credentials(authorization)
    if creds is None:
        return None, bool(authorization)
    login, secret = creds
    found = accounts.user_authenticate_token_readonly(secret=secret)
    if found is not None:
        user, token = found
        if not set(token.scopes) & (WRITE_SCOPES if write else READ_SCOPES):
            return None, True
        return user, True
    return accounts.user_authenticate_password(login=login, password=secret), True


def git_http_access(*, repository_path: str, authorization: str | None, write: bool) -> GitAccess:
    """Decide a git smart-HTTP request for ``group/project`` (``.git`` already stripped).

    Anonymous callers get 401 unless the project is readable without signing in, so that git asks
    for credentials without learning whether a private project exists; signed-in callers who may not
    see the project get the same 404 as for a missing one.
    """
    creds = _credentials(authorization)
    if creds is not None and creds[0] == JOB_TOKEN_USERNAME:
        return _job_token_access(repository_path=repository_path, secret=creds[1], write=write)
    user, sent = _authenticate(authorization, write=write)
    if sent and user is None:
        return GitAccess(401, "HTTP Basic: Access denied")
    try:
        project = projects.project_get_for(viewer=user, ref=repository_path)
    except NotFound:
        return GitAccess(401 if user is None else 404, NOT_FOUND_MESSAGE)
    if write:
        if user is None:
            return GitAccess(401, "HTTP Basic: Access denied")
        if not policy.can(user, "push_code", project):
            return GitAccess(403, "You are not allowed to push code to this project.")
    elif not policy.can(user, "download_code", project):
        if user is None:
            return GitAccess(401, "HTTP Basic: Access denied")
        return GitAccess(403, "You are not allowed to download code from this project.")
    return GitAccess(200, project=project, user=user)


def protected_branch_list(*, project: Project, search: str | None = None) -> QuerySet[ProtectedBranch]:
    qs = ProtectedBranch.objects.filter(project=project)
    if search:
        qs = qs.filter(name__icontains=search)
    return qs.order_by("name", "id")


def protected_branch_get(*, project: Project, name: str) -> ProtectedBranch | None:
    return ProtectedBranch.objects.filter(project=project, name=name).first()


def protected_tag_list(*, project: Project) -> QuerySet[ProtectedTag]:
    return ProtectedTag.objects.filter(project=project).order_by("name", "id")


def protected_tag_get(*, project: Project, name: str) -> ProtectedTag | None:
    return ProtectedTag.objects.filter(project=project, name=name).first()


def project_by_id(*, project_id: int) -> Project | None:
    """A project by id with no visibility check: for trusted internal callers (the git hooks) only."""
    return Project.objects.select_related("namespace").filter(pk=project_id).first()


# --- the repository API: reads of git data ------------------------------------------------------
# Every function takes the request's one open ``Repository`` (see ``repository_open``). None of them
# queries the database except the protected-ref lists, fetched once per request.


def repository_open(*, project: Project) -> Repository:
    """The project's repository, opened once for the request; 404 when it has none."""
    try:
        return Repository(project.id)
    except GitError:
        raise NotFound("Repository") from None


def repository_tree(*, repo: Repository, ref: str | None, path: str, recursive: bool) -> list[TreeEntry]:
    entries = repo.tree(ref or repo.default_branch() or "HEAD", path, recursive=recursive)
    if entries is None:
        raise NotFound("Tree")
    return entries


def repository_file(*, repo: Repository, ref: str | None, path: str) -> tuple[FileBlob, str, str]:
    """(file, commit id of ``ref``, id of the last commit that changed the file)."""
    found = repo.file(ref or repo.default_branch() or "HEAD", path)
    if found is None:
        if repo.resolve(ref or "HEAD") is None:
            raise NotFound("Commit")
        raise NotFound("File")
    blob, commit_id = found
    return blob, commit_id, repo.last_commit_for_path(commit_id, blob.path) or commit_id


def repository_blob(*, repo: Repository, sha: str) -> bytes:
    data = repo.blob(sha)
    if data is None:
        raise NotFound("Blob")
    return data


def repository_commit(*, repo: Repository, ref: str) -> CommitInfo:
    commit = repo.commit(ref)
    if commit is None:
        raise NotFound("Commit")
    return commit


def repository_commit_diff(*, repo: Repository, ref: str) -> list[DiffEntry]:
    diffs = repo.commit_diff(ref)
    if diffs is None:
        raise NotFound("Commit")
    return diffs


def repository_commit_refs(*, repo: Repository, ref: str, kind: str) -> list[tuple[str, str]]:
    commit = repository_commit(repo=repo, ref=ref)
    return repo.refs_containing(commit.id, branches=kind in {"branch", "all"}, tags=kind in {"tag", "all"})


def repository_compare(*, repo: Repository, base: str, head: str, straight: bool) -> Comparison:
    comparison = repo.compare(base, head, straight=straight)
    if comparison is None:
        raise NotFound("Ref")
    return comparison


@dataclass(frozen=True)
class BranchView:
    """A branch as the branches API shows it: git's data plus what the project's rules say about it."""

    name: str
    commit: CommitInfo
    merged: bool
    protected: bool
    developers_can_push: bool
    developers_can_merge: bool
    can_push: bool
    default: bool


def _branch_views(
    *, repo: Repository, project: Project, viewer: User | None, branches: list[RefInfo]
) -> list[BranchView]:
    rules = protected_branches(project=project)
    default = repo.default_branch() or project.default_branch
    merged = repo.merged_into([b.name for b in branches], default)
    views = []
    for branch in branches:
        matching = [r for r in rules if r.matches(branch.name)]
        change = RefChange(old=branch.commit.id, new=branch.commit.id, ref=f"refs/heads/{branch.name}")
        denial = policy.push_denial(viewer, project, change, protected_branches=rules, protected_tags=[])
        views.append(
            BranchView(
                name=branch.name,
                commit=branch.commit,
                merged=branch.name in merged,
                protected=bool(matching),
                developers_can_push=any(r.push_access_level == RefAccessLevel.DEVELOPER for r in matching),
                developers_can_merge=any(r.merge_access_level == RefAccessLevel.DEVELOPER for r in matching),
                can_push=denial is None,
                default=branch.name == default,
            )
        )
    return views


def branch_list(
    *, repo: Repository, project: Project, viewer: User | None, search: str | None = None
) -> list[BranchView]:
    """Branches by name; ``search`` matches a substring, ``^prefix`` or ``suffix$`` (GitLab's forms)."""
    branches = repo.branches()
    if search:
        if search.startswith("^"):
            branches = [b for b in branches if b.name.startswith(search[1:])]
        elif search.endswith("$"):
            branches = [b for b in branches if b.name.endswith(search[:-1])]
        else:
            branches = [b for b in branches if search.lower() in b.name.lower()]
    return _branch_views(repo=repo, project=project, viewer=viewer, branches=branches)


def branch_get(*, repo: Repository, project: Project, viewer: User | None, name: str) -> BranchView:
    branch = repo.branch(name)
    if branch is None:
        raise NotFound("Branch")
    return _branch_views(repo=repo, project=project, viewer=viewer, branches=[branch])[0]


def tag_list(
    *, repo: Repository, search: str | None = None, order_by: str = "updated", sort: str = "desc"
) -> list[RefInfo]:
    tags = repo.tags()
    if search:
        if search.startswith("^"):
            tags = [t for t in tags if t.name.startswith(search[1:])]
        elif search.endswith("$"):
            tags = [t for t in tags if t.name.endswith(search[:-1])]
        else:
            tags = [t for t in tags if search.lower() in t.name.lower()]
    if order_by == "name":
        tags.sort(key=lambda t: t.name, reverse=sort == "desc")
    else:
        tags.sort(key=lambda t: (t.commit.committed_date, t.name), reverse=sort == "desc")
    return tags


def tag_get(*, repo: Repository, name: str) -> RefInfo:
    tag = repo.tag(name)
    if tag is None:
        raise NotFound("Tag")
    return tag


def tag_protected_names(*, project: Project, names: list[str]) -> set[str]:
    rules = protected_tags(project=project)
    return {name for name in names if any(rule.matches(name) for rule in rules)}


def repository_contributors(*, repo: Repository, ref: str | None, order_by: str, sort: str) -> list[Contributor]:
    contributors = repo.contributors(ref or repo.default_branch() or "HEAD")
    if contributors is None:
        raise NotFound()
    if order_by == "name":
        contributors.sort(key=lambda c: c.name)
    elif order_by == "email":
        contributors.sort(key=lambda c: c.email)
    else:
        contributors.sort(key=lambda c: c.commits)
    if sort == "desc":
        contributors.reverse()
    return contributors


def repository_merge_base(*, repo: Repository, refs: list[str]) -> CommitInfo:
    if len(refs) < 2:
        raise DockyardError("Provide at least 2 refs")
    shas = [repo.resolve(ref) for ref in refs]
    unknown = [ref for ref, sha in zip(refs, shas, strict=True) if sha is None]
    if unknown:
        noun = "ref" if len(unknown) == 1 else "refs"
        raise DockyardError(f"Could not find {noun}: {', '.join(unknown)}")
    base = repo.merge_base([s for s in shas if s is not None])
    if base is None:
        raise NotFound("Merge Base")
    return base


def repository_blame(
    *, repo: Repository, commit_id: str, path: str, start: int | None, end: int | None
) -> list[BlameRange]:
    return repo.blame(commit_id, path, start=start, end=end)


def repository_archive(
    *, repo: Repository, project: Project, ref: str | None, path: str | None, fmt: str
) -> tuple[str, Iterator[bytes]]:
    """(file name without extension, the archive's bytes as git writes them) for ``ref`` (default branch)."""
    ref = ref or repo.default_branch() or "HEAD"
    sha = repo.resolve(ref)
    if sha is None:
        raise NotFound("File")
    name = f"{project.path}-{ref.replace('/', '-')}-{sha}"
    if path:
        name += "-" + path.strip("/").replace("/", "-")
    return name, archive_stream(project.id, sha=sha, fmt=fmt, prefix=name, path=path)


# --- CI job tokens as git credentials -----------------------------------------------------------
# ``gitlab-ci-token:<job token>`` clones the job's own project while the job runs, with the read access
# of the user who started the pipeline. The CI app owns job tokens and registers its check here at
# start-up (repos cannot import ci: ci builds on repos).

JOB_TOKEN_USERNAME = "gitlab-ci-token"
JobTokenCheck = Callable[[str], "tuple[User, int] | None"]
_job_token_checks: list[JobTokenCheck] = []


CommitPipelineLookup = Callable[[Project, str, "User | None"], "dict[str, Any] | None"]
_commit_pipeline_lookups: list[CommitPipelineLookup] = []


def register_commit_pipeline_lookup(lookup: CommitPipelineLookup) -> None:
    """``lookup(project, sha, viewer)`` answers the commit's latest pipeline as GitLab's ``PipelineBasic``
    (or None), for the commit API's ``last_pipeline``; CI registers it, so repos need not import CI."""
    if lookup not in _commit_pipeline_lookups:
        _commit_pipeline_lookups.append(lookup)


def commit_last_pipeline(*, project: Project, sha: str, viewer: User | None) -> dict[str, Any] | None:
    return next((p for p in (lookup(project, sha, viewer) for lookup in _commit_pipeline_lookups) if p), None)


def register_job_token_check(check: JobTokenCheck) -> None:
    """``check(secret)`` answers (the job's user, the job's project id) for a running job's token."""
    if check not in _job_token_checks:
        _job_token_checks.append(check)


def _job_token_access(*, repository_path: str, secret: str, write: bool) -> GitAccess:
    found = next((r for r in (check(secret) for check in _job_token_checks) if r is not None), None)
    if found is None:
        return GitAccess(401, "HTTP Basic: Access denied")
    user, project_id = found
    try:
        project = projects.project_get_for(viewer=user, ref=repository_path)
    except NotFound:
        return GitAccess(404, NOT_FOUND_MESSAGE)
    if project.id != project_id:
        # GitLab's job token scope: by default a job reaches only its own project.
        return GitAccess(403, "Insufficient permissions to access this project with a CI/CD job token.")
    if write:
        return GitAccess(403, "You are not allowed to push code to this project.")
    if not policy.can(user, "download_code", project):
        return GitAccess(403, "You are not allowed to download code from this project.")
    return GitAccess(200, project=project, user=user)


# --- the repository pages -----------------------------------------------------------------------
# Reads the pages need beyond the API's. Like the API's, they query the database only for the
# protected-ref rules, once per request, however many files, commits or branches there are.

README_NAMES = ("README.md", "README.markdown", "README", "README.txt", "README.rst")


def repository_split_ref(*, repo: Repository, rest: str) -> tuple[str, str]:
    """Split ``feature/x/src/app.py`` into (ref, path) as GitLab does: the longest prefix that names a
    branch or tag wins; else the first segment, if it names a commit. 404 when nothing matches."""
    segments = rest.strip("/").split("/")
    for cut in range(len(segments), 0, -1):
        candidate = "/".join(segments[:cut])
        if repo.ref_target(f"refs/heads/{candidate}") or repo.ref_target(f"refs/tags/{candidate}"):
            return candidate, "/".join(segments[cut:])
    first = segments[0]
    if 7 <= len(first) <= 40 and all(c in "0123456789abcdefABCDEF" for c in first) and repo.resolve(first):
        return first, "/".join(segments[1:])
    raise NotFound("Ref")


def repository_ref_names(*, repo: Repository) -> tuple[list[str], list[str]]:
    """(branches, tags) by name, for a ref switcher."""
    return repo.ref_names()


def repository_log(*, repo: Repository, ref: str, path: str | None, offset: int, limit: int) -> LogPage:
    """One page of the history of ``ref`` (limited to ``path``), newest first, and its total length."""
    if repo.resolve(ref) is None:
        raise NotFound("Commit")
    return repo.log(ref, path=path or None, offset=offset, limit=limit)


def repository_tree_last_commits(
    *, repo: Repository, commit_id: str, path: str, entries: list[TreeEntry]
) -> dict[str, CommitInfo]:
    """Entry name → the last commit that changed it, in one walk of history (not one per entry)."""
    if not entries:
        return {}
    return repo.last_commits_for_entries(commit_id, path, [e.name for e in entries])


def repository_readme(*, repo: Repository, ref: str) -> FileBlob | None:
    """The README at the root of ``ref`` (GitLab's preference: Markdown first), if there is one."""
    entries = repo.tree(ref, "", recursive=False) or []
    by_name = {e.name.lower(): e for e in entries if e.type == "blob"}
    for name in README_NAMES:
        entry = by_name.get(name.lower())
        if entry is not None:
            found = repo.file(ref, entry.path)
            return found[0] if found else None
    return None


def branch_deletable_names(*, project: Project, viewer: User | None, names: list[str]) -> set[str]:
    """Which of the branches ``names`` ``viewer`` may delete from the web (the rule ``branch_delete`` applies)."""
    if viewer is None or not policy.can(viewer, "push_code", project):
        return set()
    rules = protected_branches(project=project)
    deletable = set()
    for name in names:
        # Any non-zero old id: the rules look only at the ref and at whether it is being deleted.
        change = RefChange(old="f" * 40, new=ZERO_SHA, ref=f"refs/heads/{name}")
        denial = policy.push_denial(viewer, project, change, protected_branches=rules, protected_tags=[], via_web=True)
        if denial is None:
            deletable.add(name)
    return deletable
