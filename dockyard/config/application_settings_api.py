"""``GET/PUT /application/settings`` (admins): the instance settings Dockyard has so far, GitLab's names.

Only the outbound-request settings exist yet; other GitLab settings are not stored and not answered.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from dockyard.accounts.auth import require_admin
from dockyard.core import instance_settings
from dockyard.core.models import InstanceSetting
from dockyard.core.schema import GlDateTime
from dockyard.events import services as audit

router = Router(tags=["application settings"])


class ApplicationSettingsOut(Schema):
    id: int
    allow_local_requests_from_web_hooks_and_services: bool
    allow_local_requests_from_system_hooks: bool
    outbound_local_requests_whitelist: list[str]
    updated_at: GlDateTime

    @staticmethod
    def resolve_outbound_local_requests_whitelist(obj: InstanceSetting) -> list[str]:
        return list(obj.outbound_local_requests_allowlist)


class ApplicationSettingsIn(Schema):
    allow_local_requests_from_web_hooks_and_services: bool | None = None
    allow_local_requests_from_system_hooks: bool | None = None
    # GitLab's API name, and the raw form its admin page posts (comma, space or newline separated).
    outbound_local_requests_whitelist: list[str] | str | None = None
    outbound_local_requests_allowlist_raw: str | None = None


def _split(value: list[str] | str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [part for item in items for part in item.replace(",", " ").replace(";", " ").split()]


@router.get("/application/settings", response=ApplicationSettingsOut)
def settings_get(request: HttpRequest) -> InstanceSetting:
    require_admin(request)
    return instance_settings.instance_settings_get()


@router.put("/application/settings", response=ApplicationSettingsOut)
def settings_update(request: HttpRequest, payload: ApplicationSettingsIn) -> InstanceSetting:
    require_admin(request)
    allowlist: Any = payload.outbound_local_requests_whitelist
    if payload.outbound_local_requests_allowlist_raw is not None:
        allowlist = payload.outbound_local_requests_allowlist_raw
    updated = instance_settings.instance_settings_update(
        allow_local_requests_from_web_hooks_and_services=payload.allow_local_requests_from_web_hooks_and_services,
        allow_local_requests_from_system_hooks=payload.allow_local_requests_from_system_hooks,
        outbound_local_requests_allowlist=_split(allowlist) if allowlist is not None else None,
    )
    # core may not import the audit log (it depends on no domain app); this handler is the one writer.
    changed = ", ".join(sorted(payload.dict(exclude_unset=True)))
    audit.audit_record(event_name="application_setting_updated", entity=None, message=f"Changed {changed}")
    return updated
