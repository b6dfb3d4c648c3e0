"""The signed-in home page and the public explore list."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dockyard.namespaces import selectors as namespaces
from dockyard.permissions.models import AccessLevel
from dockyard.projects import selectors as projects
from dockyard.web.views.common import paginate, signed_in, viewer


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Projects and groups the user is a member of. Anonymous visitors are sent to sign in, as in GitLab."""
    user = signed_in(request)
    project_rows = projects.project_list(viewer=user, membership=True, order_by="last_activity_at")
    group_rows = namespaces.group_list(viewer=user, min_access_level=AccessLevel.GUEST)
    context = {
        "projects": paginate(request, project_rows),
        "groups": paginate(request, group_rows, param="groups_page"),
        "nav": "dashboard",
    }
    return render(request, "web/dashboard/home.html", context)


@require_GET
def explore_projects(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("search", "").strip()
    rows = projects.project_list(viewer=viewer(request), search=search or None, order_by="last_activity_at")
    context = {"projects": paginate(request, rows), "search": search, "nav": "explore"}
    return render(request, "web/dashboard/explore.html", context)
