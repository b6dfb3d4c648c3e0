"""GitLab's visibility levels. Stored as integers so "at most as open as the parent" is a comparison."""

from __future__ import annotations

from django.db import models

from dockyard.core.errors import BadRequest


class Visibility(models.IntegerChoices):
    PRIVATE = 0, "private"
    INTERNAL = 10, "internal"
    PUBLIC = 20, "public"

    @classmethod
    def from_name(cls, name: str) -> Visibility:
        for member in cls:
            if member.label == name:
                return member
        raise ValueError(name)


def parse_visibility(name: str | None) -> int | None:
    """``"private"`` → 0 etc.; anything else is GitLab's parameter error."""
    if name is None:
        return None
    try:
        return int(Visibility.from_name(name))
    except ValueError:
        raise BadRequest("visibility does not have a valid value") from None
