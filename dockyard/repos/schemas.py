"""API shapes for protected branches and tags (GitLab's ``ProtectedBranch``/``ProtectedTag`` entities)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import PlainSerializer

from dockyard.core.urls import absolute
from dockyard.projects.models import Project
from dockyard.repos.git.read import CommitInfo, DiffEntry, DiffStats, RefInfo
from dockyard.repos.models import ProtectedBranch, ProtectedTag, RefAccessLevel
from dockyard.repos.selectors import BranchView


def _level(rule_id: int, level: int) -> list[dict[str, Any]]:
    return [
        {
            "id": rule_id,
            "access_level": level,
            "access_level_description": RefAccessLevel(level).label,
            "deploy_key_id": None,
            "user_id": None,
            "group_id": None,
        }
    ]


class AccessLevelOut(Schema):
    id: int
    access_level: int
    access_level_description: str
    deploy_key_id: int | None
    user_id: int | None
    group_id: int | None


class ProtectedBranchOut(Schema):
    id: int
    name: str
    push_access_levels: list[AccessLevelOut]
    merge_access_levels: list[AccessLevelOut]
    unprotect_access_levels: list[AccessLevelOut]
    allow_force_push: bool
    code_owner_approval_required: bool
    inherited: bool = False

    @staticmethod
    def resolve_push_access_levels(obj: ProtectedBranch) -> list[dict[str, Any]]:
        return _level(obj.id, obj.push_access_level)

    @staticmethod
    def resolve_merge_access_levels(obj: ProtectedBranch) -> list[dict[str, Any]]:
        return _level(obj.id, obj.merge_access_level)

    @staticmethod
    def resolve_unprotect_access_levels(obj: ProtectedBranch) -> list[dict[str, Any]]:
        return _level(obj.id, obj.unprotect_access_level)


class ProtectedBranchIn(Schema):
    name: str
    push_access_level: int | None = None
    merge_access_level: int | None = None
    unprotect_access_level: int | None = None
    allow_force_push: bool = False
    code_owner_approval_required: bool = False


class ProtectedBranchPatch(Schema):
    allow_force_push: bool | None = None
    code_owner_approval_required: bool | None = None
    push_access_level: int | None = None
    merge_access_level: int | None = None


class ProtectedTagOut(Schema):
    name: str
    create_access_levels: list[AccessLevelOut]

    @staticmethod
    def resolve_create_access_levels(obj: ProtectedTag) -> list[dict[str, Any]]:
        return _level(obj.id, obj.create_access_level)


class ProtectedTagIn(Schema):
    name: str
    create_access_level: int | None = None


class HookChanges(Schema):
    project_id: int
    user_id: int
    protocol: str = "http"
    push_options: list[str] = []
    changes: list[dict[str, Any]]


# --- the repository API (tree, files, commits, branches, tags, compare) -----------------------
# Git data is not in the database: the selectors return the git module's dataclasses and these
# schemas give them GitLab's field names. ``web_url`` needs the project, so each git-backed entity is
# built by a small function taking it.


def _git_time(value: dt.datetime) -> str:
    # GitLab shows commit times in the committer's own offset, with milliseconds: 2024-05-01T10:20:30.000+02:00
    return value.isoformat(timespec="milliseconds")


GitTime = Annotated[dt.datetime, PlainSerializer(_git_time, return_type=str)]


class CommitOut(Schema):
    id: str
    short_id: str
    created_at: GitTime
    parent_ids: list[str]
    title: str
    message: str
    author_name: str
    author_email: str
    authored_date: GitTime
    committer_name: str
    committer_email: str
    committed_date: GitTime
    trailers: dict[str, str] = {}
    extended_trailers: dict[str, list[str]] = {}
    web_url: str


def commit_out(commit: CommitInfo, project: Project) -> CommitOut:
    return CommitOut(
        id=commit.id,
        short_id=commit.short_id,
        created_at=commit.committed_date,
        parent_ids=commit.parent_ids,
        title=commit.title,
        message=commit.message,
        author_name=commit.author_name,
        author_email=commit.author_email,
        authored_date=commit.authored_date,
        committer_name=commit.committer_name,
        committer_email=commit.committer_email,
        committed_date=commit.committed_date,
        web_url=absolute(f"{project.full_path}/-/commit/{commit.id}"),
    )


class CommitStatsOut(Schema):
    additions: int
    deletions: int
    total: int


class CommitDetailOut(CommitOut):
    stats: CommitStatsOut | None = None
    status: str | None = None
    project_id: int
    last_pipeline: dict[str, Any] | None = None


def commit_detail_out(commit: CommitInfo, project: Project, stats: DiffStats | None) -> CommitDetailOut:
    base = commit_out(commit, project).model_dump()
    return CommitDetailOut(
        **base,
        stats=CommitStatsOut(additions=stats.additions, deletions=stats.deletions, total=stats.total)
        if stats
        else None,
        project_id=project.id,
    )


class TreeEntryOut(Schema):
    id: str
    name: str
    type: str
    path: str
    mode: str


class FileOut(Schema):
    file_name: str
    file_path: str
    size: int
    encoding: str = "base64"
    content: str | None = None
    content_sha256: str
    ref: str
    blob_id: str
    commit_id: str
    last_commit_id: str
    execute_filemode: bool


class FileWriteOut(Schema):
    file_path: str
    branch: str


class FileCreateIn(Schema):
    branch: str
    commit_message: str
    content: str
    start_branch: str | None = None
    encoding: Literal["text", "base64"] = "text"
    author_email: str | None = None
    author_name: str | None = None
    last_commit_id: str | None = None
    execute_filemode: bool | None = None


class FileDeleteIn(Schema):
    branch: str
    commit_message: str
    start_branch: str | None = None
    author_email: str | None = None
    author_name: str | None = None
    last_commit_id: str | None = None


class BlameCommitOut(Schema):
    id: str
    parent_ids: list[str]
    message: str
    authored_date: GitTime
    author_name: str
    author_email: str
    committed_date: GitTime
    committer_name: str
    committer_email: str


def blame_commit_out(commit: CommitInfo) -> BlameCommitOut:
    return BlameCommitOut(
        id=commit.id,
        parent_ids=commit.parent_ids,
        message=commit.message,
        authored_date=commit.authored_date,
        author_name=commit.author_name,
        author_email=commit.author_email,
        committed_date=commit.committed_date,
        committer_name=commit.committer_name,
        committer_email=commit.committer_email,
    )


class BlameRangeOut(Schema):
    commit: BlameCommitOut
    lines: list[str]


class BlobOut(Schema):
    size: int
    encoding: str = "base64"
    content: str
    sha: str


class CommitActionIn(Schema):
    action: Literal["create", "update", "delete", "move", "chmod"]
    file_path: str
    previous_path: str | None = None
    content: str | None = None
    encoding: Literal["text", "base64"] = "text"
    last_commit_id: str | None = None
    execute_filemode: bool | None = None


class CommitCreateIn(Schema):
    branch: str
    commit_message: str
    actions: list[CommitActionIn]
    start_branch: str | None = None
    start_sha: str | None = None
    author_email: str | None = None
    author_name: str | None = None
    stats: bool = True


class DiffOut(Schema):
    diff: str
    collapsed: bool = False
    too_large: bool = False
    new_path: str
    old_path: str
    a_mode: str
    b_mode: str
    new_file: bool
    renamed_file: bool
    deleted_file: bool
    generated_file: bool = False


def diff_out(entry: DiffEntry) -> DiffOut:
    return DiffOut(
        diff=entry.diff,
        new_path=entry.new_path,
        old_path=entry.old_path,
        a_mode=entry.a_mode,
        b_mode=entry.b_mode,
        new_file=entry.new_file,
        renamed_file=entry.renamed_file,
        deleted_file=entry.deleted_file,
    )


class RefOut(Schema):
    type: str
    name: str


class CompareOut(Schema):
    commit: CommitOut | None
    commits: list[CommitOut]
    diffs: list[DiffOut]
    compare_timeout: bool = False
    compare_same_ref: bool
    web_url: str


class BranchOut(Schema):
    name: str
    commit: CommitOut
    merged: bool
    protected: bool
    developers_can_push: bool
    developers_can_merge: bool
    can_push: bool
    default: bool
    web_url: str


def branch_out(branch: BranchView, project: Project) -> BranchOut:
    return BranchOut(
        name=branch.name,
        commit=commit_out(branch.commit, project),
        merged=branch.merged,
        protected=branch.protected,
        developers_can_push=branch.developers_can_push,
        developers_can_merge=branch.developers_can_merge,
        can_push=branch.can_push,
        default=branch.default,
        web_url=absolute(f"{project.full_path}/-/tree/{branch.name}"),
    )


class BranchCreateIn(Schema):
    branch: str
    ref: str


class TagOut(Schema):
    name: str
    message: str
    target: str
    commit: CommitOut
    release: dict[str, Any] | None = None
    protected: bool
    created_at: GitTime | None = None


def tag_out(tag: RefInfo, project: Project, *, protected: bool) -> TagOut:
    return TagOut(
        name=tag.name,
        message=tag.message,
        target=tag.target,
        commit=commit_out(tag.commit, project),
        protected=protected,
        created_at=tag.created_at,
    )


class TagCreateIn(Schema):
    tag_name: str
    ref: str
    message: str | None = None


class ContributorOut(Schema):
    name: str
    email: str
    commits: int
    additions: int
    deletions: int
