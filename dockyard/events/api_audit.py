"""``/audit_events`` (admins), ``/projects/:id/audit_events`` (maintainers), ``/groups/:id/audit_events`` (owners)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from dockyard.accounts.auth import require_admin, require_user
from dockyard.core.pagination import paginate
from dockyard.events import selectors
from dockyard.events.models import AuditEvent
from dockyard.events.schemas import AuditEventOut, AuditEventQuery
from dockyard.namespaces import selectors as namespace_selectors
from dockyard.permissions import policy
from dockyard.projects import selectors as project_selectors

router = Router(tags=["audit_events"])


def _list(query: AuditEventQuery, entity_type: str | None, entity_id: int | None) -> QuerySet[AuditEvent]:
    return selectors.audit_event_list(
        entity_type=entity_type,
        entity_id=entity_id,
        created_after=query.created_after,
        created_before=query.created_before,
    )


@router.get("/audit_events", response=list[AuditEventOut])
def list_instance(request: HttpRequest, response: HttpResponse, query: Query[AuditEventQuery]) -> list[AuditEvent]:
    require_admin(request)
    return paginate(request, response, _list(query, query.entity_type, query.entity_id))


@router.get("/audit_events/{audit_event_id}", response=AuditEventOut)
def get_instance(request: HttpRequest, audit_event_id: int) -> AuditEvent:
    require_admin(request)
    return selectors.audit_event_get(pk=audit_event_id)


def _project_id(request: HttpRequest, project_id: str) -> int:
    user = require_user(request)
    project = project_selectors.project_get_for(viewer=user, ref=project_id)
    policy.authorize(user, "admin_project", project)
    return project.pk


def _group_id(request: HttpRequest, group_id: str) -> int:
    user = require_user(request)
    group = namespace_selectors.group_get_for(viewer=user, ref=group_id)
    policy.authorize(user, "admin_group", group)
    return group.pk


@router.get("/projects/{project_id}/audit_events", response=list[AuditEventOut])
def list_project(
    request: HttpRequest, response: HttpResponse, project_id: str, query: Query[AuditEventQuery]
) -> list[AuditEvent]:
    return paginate(request, response, _list(query, "Project", _project_id(request, project_id)))


@router.get("/projects/{project_id}/audit_events/{audit_event_id}", response=AuditEventOut)
def get_project(request: HttpRequest, project_id: str, audit_event_id: int) -> AuditEvent:
    return selectors.audit_event_get(
        pk=audit_event_id, entity_type="Project", entity_id=_project_id(request, project_id)
    )


@router.get("/groups/{group_id}/audit_events", response=list[AuditEventOut])
def list_group(
    request: HttpRequest, response: HttpResponse, group_id: str, query: Query[AuditEventQuery]
) -> list[AuditEvent]:
    return paginate(request, response, _list(query, "Group", _group_id(request, group_id)))


@router.get("/groups/{group_id}/audit_events/{audit_event_id}", response=AuditEventOut)
def get_group(request: HttpRequest, group_id: str, audit_event_id: int) -> AuditEvent:
    return selectors.audit_event_get(pk=audit_event_id, entity_type="Group", entity_id=_group_id(request, group_id))
