"""Absolute URLs for links clients follow (Link headers, ``web_url``, clone URLs).

python-gitlab compares these with the URL it was configured with, so they come from
``DOCKYARD_EXTERNAL_URL`` when set, else from the scheme and host of the request being served
(recorded by ``RequestContextMiddleware``, so serializers need no request object).
"""

from __future__ import annotations

from contextvars import ContextVar

from django.http import HttpRequest

from dockyard.config.env import ENV

_base: ContextVar[str] = ContextVar("dockyard_external_base", default="http://localhost")


def bind_request(request: HttpRequest) -> None:
    if not ENV.external_url:
        _base.set(f"{request.scheme}://{request.get_host()}")


def bind_base(base: str) -> None:
    """For handlers outside Django (``config.asgi``'s native routes): the base they computed."""
    _base.set(base)


def external_base(request: HttpRequest | None = None) -> str:
    if ENV.external_url:
        return ENV.external_url
    if request is not None:
        return f"{request.scheme}://{request.get_host()}"
    return _base.get()


def absolute(path: str) -> str:
    return f"{external_base()}/{path.lstrip('/')}"
