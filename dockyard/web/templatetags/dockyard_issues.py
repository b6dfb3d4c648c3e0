"""Template tags of the issue pages."""

from __future__ import annotations

from typing import Any

from django import template

from dockyard.issues import selectors

register = template.Library()


@register.simple_tag
def open_issues_count(user: Any, project: Any) -> int:
    """``{% open_issues_count user project as n %}``: the open issues ``user`` may read in ``project``
    (confidential ones they may not read left out), in one query, for the sidebar."""
    viewer = user if getattr(user, "is_authenticated", False) else None
    return selectors.issue_statistics(viewer=viewer, filters=selectors.IssueFilters(), project=project)["opened"]
