"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest

from dockyard import __version__


def site(request: HttpRequest) -> dict[str, object]:
    return {"dockyard_version": __version__}
