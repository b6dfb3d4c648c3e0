"""Small presentation filters for the pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from dockyard.permissions import policy

register = template.Library()


@register.filter
def ago(value: dt.datetime | None) -> str:
    """``3 hours ago``; ``just now`` under a minute (``timesince`` would say "0 minutes")."""
    if value is None:
        return ""
    if (timezone.now() - value).total_seconds() < 60:
        return "just now"
    return f"{timesince(value, depth=1)} ago"


@register.simple_tag
def can(user: Any, action: str, obj: Any) -> bool:
    """``{% can user "admin_project" project as allowed %}``: the policy's answer, for showing a link or
    control only to those it would serve. The pages still authorize every request themselves."""
    return policy.can(user if getattr(user, "is_authenticated", False) else None, action, obj)
