"""Group pages: the new-group form and a group's overview."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from dockyard.core.errors import DockyardError
from dockyard.core.visibility import Visibility, parse_visibility
from dockyard.namespaces import selectors, services
from dockyard.permissions import policy
from dockyard.projects import selectors as projects
from dockyard.web.views.common import form_errors, not_found_as_404, paginate, signed_in, viewer

LABELS = {"name": "Group name", "path": "Group URL", "parent": "Parent group", "visibility": "Visibility"}
ALIASES = {"visibility_level": "visibility", "parent_id": "parent"}


@login_required
@require_http_methods(["GET", "POST"])
def new(request: HttpRequest) -> HttpResponse:
    actor = signed_in(request)
    data = request.POST if request.method == "POST" else request.GET
    values = {
        "name": data.get("name", "").strip(),
        "path": data.get("path", "").strip(),
        "parent": data.get("parent_id", ""),
        "description": data.get("description", ""),
        "visibility": data.get("visibility", "private"),
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            parent = None
            if values["parent"]:
                parent = selectors.group_get_for(viewer=actor, ref=values["parent"])
                policy.authorize(actor, "create_subgroup", parent)
            group = services.group_create(
                actor=actor,
                name=values["name"],
                path=values["path"],
                parent=parent,
                description=values["description"],
                visibility=parse_visibility(values["visibility"]) or Visibility.PRIVATE,
            )
        except DockyardError as exc:
            errors = form_errors(exc, labels=LABELS, aliases=ALIASES)
        else:
            messages.success(request, f"Group '{group.full_name}' was created.")
            return redirect("web:group", full_path=group.full_path)
    context = {
        "values": values,
        "errors": errors,
        "parents": selectors.namespace_list_creatable(viewer=actor, action="create_subgroup"),
        "visibilities": [v.label for v in Visibility],
        "nav": "new_group",
    }
    return render(request, "web/groups/new.html", context, status=400 if errors else 200)


@require_GET
def show(request: HttpRequest, full_path: str) -> HttpResponse:
    user = viewer(request)
    with not_found_as_404():
        # By path only: /groups/123 is the group named "123", never the group with id 123.
        group = selectors.namespace_get_by_path_for(viewer=user, full_path=full_path)
    if not group.is_group:
        raise Http404("Group Not Found")
    context = {
        "group": group,
        "subgroups": paginate(request, selectors.group_list(viewer=user, parent=group), param="groups_page"),
        "projects": paginate(request, projects.project_list(viewer=user, namespace=group, order_by="name", sort="asc")),
        "can_create_subgroup": policy.can(user, "create_subgroup", group),
        "can_create_project": policy.can(user, "create_projects", group),
        "nav": "group",
    }
    return render(request, "web/groups/show.html", context)
