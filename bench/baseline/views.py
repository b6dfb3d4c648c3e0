"""Two views: one that touches nothing, one that does a single ORM query."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest, JsonResponse


def trivial(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


def orm(request: HttpRequest) -> JsonResponse:
    user = User.objects.filter(pk=1).first()
    if user is None:
        return JsonResponse({"message": "404 Not found"}, status=404)
    return JsonResponse({"id": user.pk, "username": user.username, "email": user.email})
