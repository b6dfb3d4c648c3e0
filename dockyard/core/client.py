"""Who is asking, for the record: the client address and the signed-in user of the current request.

Bound once per request (the request middleware resets both; authentication sets the user), so the audit
log can say who did something from where without every service taking the request as an argument.
Outside a request (the worker, the CLI) both are None.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest

_ip: ContextVar[str | None] = ContextVar("dockyard_client_ip", default=None)
_user: ContextVar[Any] = ContextVar("dockyard_client_user", default=None)


def bind_request(request: HttpRequest) -> None:
    # Dockyard trusts no X-Forwarded-For (see the admin guide), so the peer address is the client's.
    _ip.set(request.META.get("REMOTE_ADDR") or None)
    _user.set(None)


def clear() -> None:
    """Forget both once the request is answered: whatever runs next on this thread is no request's."""
    _ip.set(None)
    _user.set(None)


def bind_user(user: Any) -> None:
    """The authenticated user (a ``dockyard.accounts.models.User``) of this request."""
    _user.set(user)


def client_ip() -> str | None:
    return _ip.get()


def client_user() -> Any:
    return _user.get()
