"""Reading and changing the instance settings row, and the outbound-request policies they define."""

from __future__ import annotations

import ipaddress

from django.db import transaction

from dockyard.core.errors import ValidationFailed
from dockyard.core.models import InstanceSetting
from dockyard.core.outbound import Policy

_ALLOWLIST_MAX = 1000  # GitLab's limit on outbound_local_requests_whitelist entries


def instance_settings_get() -> InstanceSetting:
    settings, _ = InstanceSetting.objects.get_or_create(pk=1)
    return settings


def _allowlist_errors(entries: list[str]) -> list[str]:
    if len(entries) > _ALLOWLIST_MAX:
        return [f"is too long (maximum is {_ALLOWLIST_MAX} entries)"]
    errors = []
    for entry in entries:
        value = entry.strip()
        if not value or (any(ch in value for ch in " /\\@?#") and not _is_network(value)):
            errors.append(f"{entry!r} is not a valid IP address, CIDR range or domain")
    return errors


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


@transaction.atomic
def instance_settings_update(
    *,
    allow_local_requests_from_web_hooks_and_services: bool | None = None,
    allow_local_requests_from_system_hooks: bool | None = None,
    outbound_local_requests_allowlist: list[str] | None = None,
) -> InstanceSetting:
    settings = InstanceSetting.objects.select_for_update().filter(pk=1).first() or instance_settings_get()
    if outbound_local_requests_allowlist is not None:
        cleaned = list(dict.fromkeys(e.strip() for e in outbound_local_requests_allowlist if e and e.strip()))
        errors = _allowlist_errors(cleaned)
        if errors:
            raise ValidationFailed({"outbound_local_requests_whitelist": errors})
        settings.outbound_local_requests_allowlist = cleaned
    if allow_local_requests_from_web_hooks_and_services is not None:
        settings.allow_local_requests_from_web_hooks_and_services = allow_local_requests_from_web_hooks_and_services
    if allow_local_requests_from_system_hooks is not None:
        settings.allow_local_requests_from_system_hooks = allow_local_requests_from_system_hooks
    settings.save()
    return settings


def outbound_policy(*, system_hooks: bool = False) -> Policy:
    """Where web hooks and integrations (or, with ``system_hooks``, system hooks) may send requests."""
    settings = instance_settings_get()
    allow = (
        settings.allow_local_requests_from_system_hooks
        if system_hooks
        else settings.allow_local_requests_from_web_hooks_and_services
    )
    return Policy(allow_local=allow, allowlist=tuple(settings.outbound_local_requests_allowlist))
