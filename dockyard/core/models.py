"""Instance-wide settings an administrator changes at run time (GitLab's application settings)."""

from __future__ import annotations

from django.db import models


class InstanceSetting(models.Model):
    """The one row of instance settings (``pk=1``), read through ``dockyard.core.instance_settings``.

    Only what features need so far; GitLab's names, so ``/application/settings`` can expose them as is.
    """

    allow_local_requests_from_web_hooks_and_services = models.BooleanField(default=False)
    allow_local_requests_from_system_hooks = models.BooleanField(default=True)
    # Hosts, IP addresses and CIDR ranges requests may reach even while local requests are refused.
    outbound_local_requests_allowlist = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "instance settings"
