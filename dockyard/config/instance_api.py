"""``/version`` and other instance-level endpoints."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from dockyard import GITLAB_API_VERSION, __version__
from dockyard.accounts.auth import require_user

router = Router(tags=["instance"])


class VersionOut(Schema):
    version: str
    revision: str
    kas: dict[str, object]
    enterprise: bool


@router.get("/version", response=VersionOut)
def version(request: HttpRequest) -> dict[str, object]:
    """The GitLab version whose API Dockyard follows, so clients that gate features on it work."""
    require_user(request)
    return {
        "version": GITLAB_API_VERSION,
        "revision": f"dockyard-{__version__}",
        "kas": {"enabled": False, "externalUrl": None, "version": None},
        "enterprise": False,
    }
