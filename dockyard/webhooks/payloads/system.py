"""System hook payloads for users, projects and groups (``doc/administration/system_hooks.md``)."""

from __future__ import annotations

from typing import Any

from dockyard.accounts.models import User
from dockyard.core.visibility import Visibility
from dockyard.namespaces.models import Namespace
from dockyard.permissions.models import AccessLevel, Membership
from dockyard.projects.models import Project
from dockyard.webhooks.payloads.common import iso


def user_event(event_name: str, user: User) -> dict[str, Any]:
    """``user_create`` / ``user_destroy``."""
    return {
        "created_at": iso(user.created_at),
        "updated_at": iso(user.created_at),
        "email": user.email,
        "event_name": event_name,
        "name": user.name,
        "username": user.username,
        "user_id": user.id,
    }


def _owners(project: Project) -> tuple[str, str, list[dict[str, str]]]:
    namespace = project.namespace
    if namespace.owner is not None:
        owner = namespace.owner
        return owner.name, owner.email, [{"name": owner.name, "email": owner.email}]
    owners = Membership.objects.filter(namespace_id__in=namespace.ancestor_ids, access_level=AccessLevel.OWNER)
    people = [{"name": m.user.name, "email": m.user.email} for m in owners.select_related("user").order_by("id")]
    return namespace.name, "", people


def project_event(event_name: str, project: Project) -> dict[str, Any]:
    """``project_create`` / ``project_destroy``."""
    owner_name, owner_email, owners = _owners(project)
    return {
        "created_at": iso(project.created_at),
        "updated_at": iso(project.updated_at),
        "event_name": event_name,
        "name": project.name,
        "owner_email": owner_email,
        "owner_name": owner_name,
        "owners": owners,
        "path": project.path,
        "path_with_namespace": project.full_path,
        "project_id": project.id,
        "project_namespace_id": project.namespace_id,
        "project_visibility": Visibility(project.visibility).label.lower(),
    }


def group_event(event_name: str, group: Namespace) -> dict[str, Any]:
    """``group_create`` / ``group_destroy``."""
    return {
        "created_at": iso(group.created_at),
        "updated_at": iso(group.updated_at),
        "event_name": event_name,
        "name": group.name,
        "path": group.path,
        "group_id": group.id,
    }
