"""A user's public profile at ``/<username>``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from dockyard.namespaces import selectors as namespaces
from dockyard.projects import selectors as projects
from dockyard.web.views import activity
from dockyard.web.views.common import not_found_as_404, paginate, signed_in, viewer


@require_GET
def show(request: HttpRequest, username: str) -> HttpResponse:
    user = viewer(request)
    with not_found_as_404():
        namespace = namespaces.namespace_get_by_path_for(viewer=user, full_path=username)
    if namespace.is_group:
        # Top-level groups share the namespace of user names; their pages live under /groups/.
        return redirect("web:group", full_path=namespace.full_path)
    rows = projects.project_list(viewer=user, namespace=namespace, order_by="last_activity_at")
    assert namespace.owner is not None  # a user namespace always has its owner
    listing, events = activity.user_feed(request, namespace.owner)
    context = {
        "profile_user": namespace.owner,
        "namespace": namespace,
        "projects": paginate(request, rows),
        "listing": listing,
        "rows": events,
    }
    return render(request, "web/profile/show.html", context)


@require_GET
@login_required
def mine(request: HttpRequest) -> HttpResponse:
    return redirect("web:profile", username=signed_in(request).username)
