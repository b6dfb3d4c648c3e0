"""Template tags of the merge request pages."""

from __future__ import annotations

from typing import Any

from django import template

from dockyard.merge_requests import selectors

register = template.Library()


@register.simple_tag
def open_merge_requests_count(user: Any, project: Any) -> int | None:
    """``{% open_merge_requests_count user project as n %}``: the open merge requests of ``project`` for the
    sidebar, in one query; None when ``user`` may not read them (the entry is then left out)."""
    viewer = user if getattr(user, "is_authenticated", False) else None
    return selectors.open_count(viewer=viewer, project=project)
