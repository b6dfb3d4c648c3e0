"""``/notification_settings``, ``/projects/:id/notification_settings``, ``/groups/:id/notification_settings``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from dockyard.accounts.auth import require_user
from dockyard.core.errors import ValidationFailed
from dockyard.namespaces import selectors as namespace_selectors
from dockyard.namespaces.models import Namespace
from dockyard.notifications import selectors, services
from dockyard.notifications.schemas import GlobalSettingOut, SettingIn, SourceSettingOut
from dockyard.projects import selectors as project_selectors
from dockyard.projects.models import Project

router = Router(tags=["notification_settings"])


@router.get("/notification_settings", response=GlobalSettingOut)
def get_global(request: HttpRequest) -> dict[str, Any]:
    user = require_user(request)
    return {"level": selectors.setting_get(user=user), "notification_email": user.email}


@router.put("/notification_settings", response=GlobalSettingOut)
def update_global(request: HttpRequest, payload: SettingIn) -> dict[str, Any]:
    user = require_user(request)
    if payload.notification_email is not None and payload.notification_email.lower() != user.email.lower():
        # Dockyard keeps one (verified) address per user, and GitLab only accepts a verified one here.
        raise ValidationFailed({"notification_email": ["must be an email you have verified"]})
    if payload.level is not None:
        services.setting_update(user=user, level=payload.level)
    return {"level": selectors.setting_get(user=user), "notification_email": user.email}


def _project(request: HttpRequest, project_id: str) -> Project:
    return project_selectors.project_get_for(viewer=require_user(request), ref=project_id)


def _group(request: HttpRequest, group_id: str) -> Namespace:
    return namespace_selectors.group_get_for(viewer=require_user(request), ref=group_id)


@router.get("/projects/{project_id}/notification_settings", response=SourceSettingOut)
def get_project(request: HttpRequest, project_id: str) -> dict[str, Any]:
    project = _project(request, project_id)
    return {"level": selectors.setting_get(user=require_user(request), project=project)}


@router.put("/projects/{project_id}/notification_settings", response=SourceSettingOut)
def update_project(request: HttpRequest, project_id: str, payload: SettingIn) -> dict[str, Any]:
    user, project = require_user(request), _project(request, project_id)
    if payload.level is not None:
        services.setting_update(user=user, level=payload.level, project=project)
    return {"level": selectors.setting_get(user=user, project=project)}


@router.get("/groups/{group_id}/notification_settings", response=SourceSettingOut)
def get_group(request: HttpRequest, group_id: str) -> dict[str, Any]:
    group = _group(request, group_id)
    return {"level": selectors.setting_get(user=require_user(request), namespace_id=group.pk)}


@router.put("/groups/{group_id}/notification_settings", response=SourceSettingOut)
def update_group(request: HttpRequest, group_id: str, payload: SettingIn) -> dict[str, Any]:
    user, group = require_user(request), _group(request, group_id)
    if payload.level is not None:
        services.setting_update(user=user, level=payload.level, namespace=group)
    return {"level": selectors.setting_get(user=user, namespace_id=group.pk)}
