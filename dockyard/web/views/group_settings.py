"""A group's settings at ``/groups/<path>/-/edit``: name, path, description, visibility, and deletion.
Owners (and admins) see it; everyone else gets 404, as in GitLab."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from dockyard.core.errors import DockyardError, ValidationFailed
from dockyard.core.visibility import Visibility, parse_visibility
from dockyard.namespaces import services
from dockyard.namespaces.models import Namespace
from dockyard.permissions import policy
from dockyard.web.views.common import form_errors, group_for, require, signed_in

LABELS = {"name": "Group name", "path": "Group URL", "description": "Description", "visibility": "Visibility"}
ALIASES = {"visibility_level": "visibility"}


def _values(group: Namespace) -> dict[str, str]:
    return {
        "name": group.name,
        "path": group.path,
        "description": group.description,
        "visibility": Visibility(group.visibility).label,
    }


def _page(
    request: HttpRequest,
    group: Namespace,
    *,
    values: dict[str, str],
    errors: dict[str, list[str]],
    remove_error: str | None = None,
) -> HttpResponse:
    context = {
        "group": group,
        "values": values,
        "errors": errors,
        "visibilities": [v.label for v in Visibility],
        "can_remove": policy.can(signed_in(request), "remove_group", group),
        "remove_error": remove_error,
        "path_prefix": f"{group.parent.full_path}/" if group.parent else "",
        "nav": "settings",
    }
    return render(request, "web/group_settings/edit.html", context, status=400 if errors or remove_error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, full_path: str) -> HttpResponse:
    group = group_for(request, full_path)
    require(signed_in(request), "admin_group", group)
    if request.method != "POST":
        return _page(request, group, values=_values(group), errors={})
    values = {
        "name": request.POST.get("name", "").strip(),
        "path": request.POST.get("path", "").strip(),
        "description": request.POST.get("description", ""),
        "visibility": request.POST.get("visibility", ""),
    }
    try:
        visibility = parse_visibility(values["visibility"])
        if visibility is None:
            raise ValidationFailed({"visibility": ["is not a valid choice"]})
        group = services.group_update(
            group=group,
            name=values["name"],
            path=values["path"],
            description=values["description"],
            visibility=visibility,
        )
    except DockyardError as exc:
        group.refresh_from_db()
        return _page(request, group, values=values, errors=form_errors(exc, labels=LABELS, aliases=ALIASES))
    messages.success(request, f"Group '{group.name}' was successfully updated.")
    return redirect(f"/groups/{group.full_path}/-/edit")


@require_POST
@login_required
def remove(request: HttpRequest, full_path: str) -> HttpResponse:
    group = group_for(request, full_path)
    require(signed_in(request), "remove_group", group)
    if request.POST.get("confirm_path", "").strip() != group.full_path:
        error = (
            f"Type {group.full_path} to confirm."
            if request.POST.get("confirm_path")
            else "Enter the group path to confirm."
        )
        return _page(request, group, values=_values(group), errors={}, remove_error=error)
    name, parent = group.full_name, group.parent
    services.group_delete(group=group)
    messages.success(request, f"Group '{name}' was deleted.")
    if parent is not None:
        return redirect("web:group", full_path=parent.full_path)
    return redirect("web:home")
