"""Per-request context: correlation id, structured access log, Prometheus metrics, external URL."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import Counter, Histogram

from dockyard.core import client, urls
from dockyard.core.logging import get_logger

REQUESTS = Counter("dockyard_http_requests_total", "HTTP requests served", ["method", "route", "status"])
LATENCY = Histogram(
    "dockyard_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
_REQUEST_ID_RE = re.compile(r"\A[A-Za-z0-9\-_.]{1,128}\Z")
log = get_logger("dockyard.access")


def observe(method: str, route: str, status: int, elapsed: float) -> None:
    """Count and time one request (also used by the native async routes that bypass Django)."""
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(elapsed)


def _route(request: HttpRequest) -> str:
    """The URL pattern, not the path, so metric labels stay few (no ids or names in them)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return "/" + str(match.route) if match.route else (match.view_name or "unknown")


def _api_shape(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """The router answers a wrong method on an API path with plain text; GitLab clients expect JSON."""
    if (
        response.status_code == 405
        and request.path.startswith("/api/")
        and "json" not in response.get("Content-Type", "")
    ):
        shaped = JsonResponse({"message": "405 Method Not Allowed"}, status=405)
        if "Allow" in response:
            shaped["Allow"] = response["Allow"]
        return shaped
    return response


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-Id", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        urls.bind_request(request)
        client.bind_request(request)
        started = time.perf_counter()
        try:
            response = _api_shape(request, self.get_response(request))
        finally:
            client.clear()
        elapsed = time.perf_counter() - started
        route = _route(request)
        observe(request.method or "GET", route, response.status_code, elapsed)
        response["X-Request-Id"] = request_id
        if not request.path.startswith("/-/"):  # health probes would drown the log
            log.info(
                "request",
                method=request.method,
                path=request.path,
                route=route,
                status=response.status_code,
                duration_ms=round(elapsed * 1000, 2),
            )
        return response
