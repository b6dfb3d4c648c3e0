"""Template tags of the CI/CD pages."""

from __future__ import annotations

from typing import Any

from django import template

from dockyard.permissions import policy

register = template.Library()


@register.simple_tag
def can_ci(user: Any, action: str, project: Any) -> bool:
    """``{% can_ci user "read_pipeline" project as allowed %}``: the CI policy's answer (the ``can`` tag
    knows only the project rules), for showing a link; the pages authorize every request themselves."""
    return policy.can_on_project_ci(user if getattr(user, "is_authenticated", False) else None, action, project)
