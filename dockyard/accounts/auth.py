"""Who is calling the API: personal access token (three ways to send it), session cookie, and sudo."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from ninja.security import APIKeyHeader

from dockyard.accounts import selectors, services
from dockyard.accounts.models import PersonalAccessToken, User
from dockyard.core import client
from dockyard.core.errors import Forbidden, InsufficientScope, NotFound, Unauthorized

_READ_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass
class Actor:
    """The caller of one API request. ``user`` is None for anonymous callers.

    Always truthy, so ninja treats every request as authenticated and handlers decide what an
    anonymous caller may see (public projects, for one).
    """

    user: User | None
    token: PersonalAccessToken | None = None
    impersonator: User | None = None

    def __bool__(self) -> bool:
        return True


def _bearer(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def _check_scopes(request: HttpRequest, token: PersonalAccessToken) -> None:
    scopes = set(token.scopes)
    if "api" in scopes:
        return
    if request.method in _READ_METHODS:
        if "read_api" in scopes:
            return
        path = request.path_info
        if "read_user" in scopes and (path.startswith("/api/v4/user") or path == "/api/v4/version"):
            return
        raise InsufficientScope(["api", "read_api"])
    raise InsufficientScope(["api"])


def _sudo(request: HttpRequest, user: User, token: PersonalAccessToken | None) -> User:
    target = request.headers.get("Sudo") or request.GET.get("sudo")
    if not target:
        return user
    if token is None or not user.is_admin:
        raise Forbidden("Must be admin to use sudo")
    if "sudo" not in token.scopes:
        raise InsufficientScope(["sudo"])
    found = selectors.user_get(ref=target)
    if found is None or not found.is_active:
        raise NotFound(f"User with ID or username '{target}'")
    return found


class TokenAuth(APIKeyHeader):
    """GitLab's ``PRIVATE-TOKEN`` header, ``Authorization: Bearer`` or ``private_token`` parameter."""

    param_name = "PRIVATE-TOKEN"

    def _get_key(self, request: HttpRequest) -> str | None:
        return (
            request.headers.get("PRIVATE-TOKEN")
            or _bearer(request)
            or request.GET.get("private_token")
            or request.GET.get("access_token")
        )

    def authenticate(self, request: HttpRequest, key: str | None) -> Actor:
        if key is None:
            session_user = getattr(request, "user", None)
            # A signed-in browser may read the API with its session, as in GitLab; writes need a token.
            if session_user is not None and session_user.is_authenticated and request.method in _READ_METHODS:
                return Actor(user=session_user)
            return Actor(user=None)
        found = services.token_authenticate(secret=key)
        if found is None:
            raise Unauthorized()
        user, token = found
        _check_scopes(request, token)
        services.user_touch_activity(user=user)
        acting = _sudo(request, user, token)
        client.bind_user(acting)
        return Actor(user=acting, token=token, impersonator=user if acting is not user else None)


def current_user(request: HttpRequest) -> User | None:
    actor: Actor = request.auth  # type: ignore[attr-defined]
    return actor.user


def require_user(request: HttpRequest) -> User:
    user = current_user(request)
    if user is None:
        raise Unauthorized()
    return user


def require_admin(request: HttpRequest) -> User:
    user = require_user(request)
    if not user.is_admin:
        raise Forbidden()
    return user
