"""GitLab's health endpoints and the Prometheus scrape endpoint."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def health(request: HttpRequest) -> HttpResponse:
    """Liveness of the web process itself, as GitLab's ``/-/health`` (plain text)."""
    return HttpResponse("GitLab OK", content_type="text/plain")


def liveness(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readiness(request: HttpRequest) -> JsonResponse:
    """Ready when the database answers (GitLab's shape: a status per check)."""
    checks = {"master_check": [{"status": "ok"}]}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        db = {"status": "ok"}
    except Exception as exc:  # any database failure means "not ready", whatever its class
        db = {"status": "failed", "message": exc.__class__.__name__}
    checks["db_check"] = [db]
    ok = db["status"] == "ok"
    return JsonResponse({"status": "ok" if ok else "failed", **checks}, status=200 if ok else 503)


def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
