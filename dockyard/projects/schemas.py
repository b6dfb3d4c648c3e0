"""API shapes for projects (GitLab's ``BasicProjectDetails`` / ``Project`` entities)."""

from __future__ import annotations

from typing import Any

from ninja import Field, Schema
from pydantic import RootModel

from dockyard.accounts.auth import current_user
from dockyard.accounts.schemas import UserBasic
from dockyard.core.schema import GlDateTime
from dockyard.core.urls import absolute, external_base
from dockyard.namespaces.schemas import NamespaceOut
from dockyard.permissions import policy
from dockyard.projects.models import Project


def _feature(enabled: bool) -> str:
    return "enabled" if enabled else "disabled"


class ProjectIdentity(Schema):
    """GitLab's ``ProjectIdentity``: enough to name a project next to something of it (a runner's jobs)."""

    id: int
    description: str | None
    name: str
    name_with_namespace: str
    path: str
    path_with_namespace: str
    created_at: GlDateTime

    @staticmethod
    def resolve_description(obj: Project) -> str | None:
        return obj.description or None

    @staticmethod
    def resolve_name_with_namespace(obj: Project) -> str:
        return obj.full_name

    @staticmethod
    def resolve_path_with_namespace(obj: Project) -> str:
        return obj.full_path


class ProjectSimple(ProjectIdentity):
    default_branch: str | None
    tag_list: list[str]
    topics: list[str]
    ssh_url_to_repo: str
    http_url_to_repo: str
    web_url: str
    readme_url: str | None = None
    forks_count: int = 0
    avatar_url: str | None = None
    star_count: int = 0
    last_activity_at: GlDateTime
    visibility: str
    namespace: NamespaceOut

    @staticmethod
    def resolve_default_branch(obj: Project) -> str | None:
        return obj.default_branch or None

    @staticmethod
    def resolve_tag_list(obj: Project) -> list[str]:
        return list(obj.topics)

    @staticmethod
    def resolve_ssh_url_to_repo(obj: Project) -> str:
        host = external_base().split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        return f"git@{host}:{obj.full_path}.git"

    @staticmethod
    def resolve_http_url_to_repo(obj: Project) -> str:
        return absolute(f"{obj.full_path}.git")

    @staticmethod
    def resolve_web_url(obj: Project) -> str:
        return absolute(obj.full_path)

    @staticmethod
    def resolve_visibility(obj: Project) -> str:
        return obj.visibility_name


class ProjectOut(ProjectSimple):
    links: dict[str, str] = Field(..., serialization_alias="_links")
    owner: UserBasic | None
    empty_repo: bool = True
    archived: bool
    container_registry_image_prefix: str | None = None
    packages_enabled: bool = True
    issues_enabled: bool
    merge_requests_enabled: bool
    wiki_enabled: bool
    jobs_enabled: bool
    snippets_enabled: bool
    container_registry_enabled: bool = False
    lfs_enabled: bool
    request_access_enabled: bool
    issues_access_level: str
    repository_access_level: str = "enabled"
    merge_requests_access_level: str
    wiki_access_level: str
    builds_access_level: str
    snippets_access_level: str
    pages_access_level: str = "disabled"
    shared_runners_enabled: bool = True
    creator_id: int | None
    forked_from_project: ProjectSimple | None = None
    mr_default_target_self: bool | None = None
    import_status: str = "none"
    open_issues_count: int = 0
    ci_default_git_depth: int = 20
    public_jobs: bool = True
    build_timeout: int = 3600
    ci_config_path: str | None = None
    only_allow_merge_if_pipeline_succeeds: bool
    allow_merge_on_skipped_pipeline: bool
    only_allow_merge_if_all_discussions_are_resolved: bool = False
    remove_source_branch_after_merge: bool = True
    merge_method: str = "merge"
    approvals_before_merge: int = 0
    auto_cancel_pending_pipelines: str = "enabled"
    squash_option: str = "default_off"
    marked_for_deletion_at: str | None = None
    marked_for_deletion_on: str | None = None
    updated_at: GlDateTime
    shared_with_groups: list[Any] = []
    permissions: dict[str, Any] | None = None

    @staticmethod
    def resolve_links(obj: Project) -> dict[str, str]:
        api = absolute(f"api/v4/projects/{obj.id}")
        return {
            "self": api,
            "issues": f"{api}/issues",
            "merge_requests": f"{api}/merge_requests",
            "repo_branches": f"{api}/repository/branches",
            "labels": f"{api}/labels",
            "events": f"{api}/events",
            "members": f"{api}/members",
            "cluster_agents": f"{api}/cluster_agents",
        }

    @staticmethod
    def resolve_owner(obj: Project) -> Any:
        return obj.namespace.owner if obj.namespace.kind == "user" else None

    @staticmethod
    def resolve_issues_access_level(obj: Project) -> str:
        return _feature(obj.issues_enabled)

    @staticmethod
    def resolve_merge_requests_access_level(obj: Project) -> str:
        return _feature(obj.merge_requests_enabled)

    @staticmethod
    def resolve_wiki_access_level(obj: Project) -> str:
        return _feature(obj.wiki_enabled)

    @staticmethod
    def resolve_builds_access_level(obj: Project) -> str:
        return _feature(obj.jobs_enabled)

    @staticmethod
    def resolve_snippets_access_level(obj: Project) -> str:
        return _feature(obj.snippets_enabled)

    @staticmethod
    def resolve_forked_from_project(obj: Project, context: dict[str, Any] | None) -> Project | None:
        # Shown only to those who may see the source, as in GitLab.
        source = obj.forked_from
        request = (context or {}).get("request")
        viewer = current_user(request) if request is not None else None
        return source if source is not None and policy.can_read_project(viewer, source) else None

    @staticmethod
    def resolve_mr_default_target_self(obj: Project) -> bool | None:
        return obj.mr_default_target_self if obj.forked_from_id else None

    @staticmethod
    def resolve_permissions(obj: Project) -> dict[str, Any] | None:
        # Filled in by the single-project GET (``project_permissions``); absent from lists, as in GitLab.
        return getattr(obj, "api_permissions", None)


class ProjectUpdateIn(Schema):
    name: str | None = None
    path: str | None = None
    description: str | None = None
    visibility: str | None = None
    default_branch: str | None = None
    topics: list[str] | None = None
    tag_list: list[str] | None = None
    issues_enabled: bool | None = None
    merge_requests_enabled: bool | None = None
    wiki_enabled: bool | None = None
    jobs_enabled: bool | None = None
    snippets_enabled: bool | None = None
    lfs_enabled: bool | None = None
    request_access_enabled: bool | None = None
    merge_method: str | None = None
    approvals_before_merge: int | None = None
    only_allow_merge_if_all_discussions_are_resolved: bool | None = None
    auto_cancel_pending_pipelines: str | None = None
    mr_default_target_self: bool | None = None
    only_allow_merge_if_pipeline_succeeds: bool | None = None
    allow_merge_on_skipped_pipeline: bool | None = None


class ProjectCreateIn(ProjectUpdateIn):
    namespace_id: int | str | None = None
    description: str = ""
    visibility: str = "private"
    initialize_with_readme: bool = False


class ProjectForkIn(Schema):
    namespace_id: int | None = None
    namespace_path: str | None = None
    namespace: int | str | None = None  # deprecated in GitLab: an id or a path
    name: str | None = None
    path: str | None = None
    description: str | None = None
    visibility: str | None = None
    mr_default_target_self: bool | None = None
    branches: str | None = None


class ProjectRows(RootModel[list[ProjectOut | ProjectSimple]]):
    """A project list: full entities, or ``simple=true`` ones. (A root model, so ninja serialises the
    already-built schemas instead of re-reading them as ORM objects.)"""
