"""API shapes for protected branches and tags (GitLab's ``ProtectedBranch``/``ProtectedTag`` entities)."""

from __future__ import annotations

from typing import Any

from ninja import Schema

from dockyard.repos.models import ProtectedBranch, ProtectedTag, RefAccessLevel


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
