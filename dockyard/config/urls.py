"""Django's URL map. Git smart HTTP, the registry and long-poll runner paths bypass Django in the
ASGI router (``dockyard.config.asgi``); everything else arrives here."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path

from dockyard.config.api import api
from dockyard.core import health


def api_not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """GitLab's catch-all for unknown API routes."""
    return JsonResponse({"error": "404 Not Found"}, status=404)


urlpatterns = [
    path("-/health", health.health),
    path("-/liveness", health.liveness),
    path("-/readiness", health.readiness),
    path("-/metrics", health.metrics),
    path("api/v4/", api.urls),
    re_path(r"^api/(?P<rest>.*)$", api_not_found),
    path("", include("dockyard.web.urls")),
]
