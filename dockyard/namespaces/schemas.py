"""API shapes for groups and namespaces (GitLab's ``Group`` and ``Namespace`` entities)."""

from __future__ import annotations

from ninja import Schema

from dockyard.core.schema import GlDateTime
from dockyard.core.urls import absolute
from dockyard.namespaces.models import Namespace


class GroupOut(Schema):
    id: int
    web_url: str
    name: str
    path: str
    description: str
    visibility: str
    share_with_group_lock: bool = False
    require_two_factor_authentication: bool = False
    two_factor_grace_period: int = 48
    project_creation_level: str = "maintainer"
    auto_devops_enabled: bool | None = None
    subgroup_creation_level: str = "maintainer"
    emails_disabled: bool = False
    emails_enabled: bool = True
    mentions_disabled: bool | None = None
    lfs_enabled: bool
    default_branch: str | None
    default_branch_protection: int = 2
    avatar_url: str | None = None
    request_access_enabled: bool
    full_name: str
    full_path: str
    created_at: GlDateTime
    parent_id: int | None
    organization_id: int = 1
    shared_runners_setting: str = "enabled"
    ldap_cn: str | None = None
    ldap_access: str | None = None
    marked_for_deletion_on: str | None = None

    @staticmethod
    def resolve_web_url(obj: Namespace) -> str:
        return absolute(f"groups/{obj.full_path}")

    @staticmethod
    def resolve_visibility(obj: Namespace) -> str:
        return obj.visibility_name

    @staticmethod
    def resolve_default_branch(obj: Namespace) -> str | None:
        return obj.default_branch or None


class NamespaceOut(Schema):
    id: int
    name: str
    path: str
    kind: str
    full_path: str
    parent_id: int | None
    avatar_url: str | None = None
    web_url: str

    @staticmethod
    def resolve_web_url(obj: Namespace) -> str:
        return absolute(obj.full_path if obj.kind == Namespace.Kind.USER else f"groups/{obj.full_path}")


class GroupCreateIn(Schema):
    name: str
    path: str
    parent_id: int | None = None
    description: str = ""
    visibility: str = "private"
    request_access_enabled: bool = True


class GroupUpdateIn(Schema):
    name: str | None = None
    path: str | None = None
    description: str | None = None
    visibility: str | None = None
    request_access_enabled: bool | None = None
    default_branch: str | None = None
