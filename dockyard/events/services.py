"""Writes on the activity record: the audit log of security-relevant actions.

Each action is recorded once, by the service that performs it, inside its transaction (a refused or
rolled-back change leaves no entry). The author defaults to the signed-in user of the request and the
address to the request's client (``dockyard.core.client``).
"""

from __future__ import annotations

from typing import Any

from dockyard.accounts.models import User
from dockyard.core import client
from dockyard.events.models import AuditEvent
from dockyard.namespaces.models import Namespace
from dockyard.projects.models import Project

INSTANCE = "Gitlab::Audit::InstanceScope"  # GitLab's entity type for instance-wide settings


def _entity(entity: Project | Namespace | User | None) -> tuple[str, int | None, str]:
    if isinstance(entity, Project):
        return "Project", entity.pk, entity.full_path
    if isinstance(entity, Namespace):
        if entity.is_group:
            return "Group", entity.pk, entity.full_path
        return "User", entity.owner_id, entity.full_path
    if isinstance(entity, User):
        return "User", entity.pk, entity.username
    return INSTANCE, 1, "gitlab_instance"


def audit_record(
    *,
    event_name: str,
    entity: Project | Namespace | User | None,
    message: str,
    target: tuple[str, int | None, str] | None = None,
    author: User | None = None,
    author_name: str | None = None,
    change: tuple[str, Any, Any] | None = None,
) -> AuditEvent:
    """Record ``event_name`` on ``entity`` (None: the instance). ``target`` is ``(type, id, details)``;
    ``change`` is ``(what, from, to)``, GitLab's ``change``/``from``/``to``."""
    author = author if author is not None else client.client_user()
    entity_type, entity_id, entity_path = _entity(entity)
    target_type, target_id, target_details = target or ("", None, "")
    name = author_name if author_name is not None else (author.name or author.username if author else "(system)")
    ip = client.client_ip()
    details: dict[str, Any] = {"custom_message": message} if change is None else {}
    if change is not None:
        details.update(change=change[0], **{"from": change[1], "to": change[2]})
    details.update(
        author_name=name,
        author_email=author.email if author is not None else None,
        target_id=target_id,
        target_type=target_type or None,
        target_details=target_details or None,
        ip_address=ip,
        entity_path=entity_path,
    )
    return AuditEvent.objects.create(
        author=author,
        author_name=name[:255],
        entity_type=entity_type,
        entity_id=entity_id,
        entity_path=entity_path[:255],
        event_name=event_name,
        target_type=target_type,
        target_id=target_id,
        target_details=target_details[:255],
        ip_address=ip,
        details=details,
    )
