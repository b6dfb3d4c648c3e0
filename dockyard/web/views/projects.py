"""Project pages: the new-project form, a project's overview and the fork form."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from dockyard.accounts.models import User
from dockyard.core.errors import DockyardError, NotFound
from dockyard.core.urls import external_base
from dockyard.core.visibility import Visibility, parse_visibility
from dockyard.namespaces import selectors as namespaces
from dockyard.namespaces.models import Namespace
from dockyard.permissions import policy
from dockyard.permissions import selectors as members
from dockyard.projects import selectors, services
from dockyard.web.views import repository
from dockyard.web.views.common import form_errors, not_found_as_404, signed_in, viewer

LABELS = {
    "namespace": "Namespace",
    "name": "Project name",
    "path": "Project slug",
    "description": "Description",
    "visibility": "Visibility",
}
ALIASES = {"visibility_level": "visibility", "namespace_id": "namespace"}


def _project_form(
    request: HttpRequest, actor: User, *, name: str = "", path: str = "", visibility: str = "private"
) -> tuple[list[Namespace], dict[str, str]]:
    """The namespaces ``actor`` may create projects in, and the form's values (given, or these defaults)
    shared by the new-project and fork forms."""
    choices = namespaces.namespace_list_creatable(viewer=actor, action="create_projects")
    data = request.POST if request.method == "POST" else request.GET
    values = {
        "namespace": data.get("namespace_id", "") or (str(choices[0].pk) if choices else ""),
        "name": data.get("name", name).strip(),
        "path": data.get("path", path).strip(),
        "description": data.get("description", ""),
        "visibility": data.get("visibility", visibility),
    }
    return choices, values


@login_required
@require_http_methods(["GET", "POST"])
def new(request: HttpRequest) -> HttpResponse:
    actor = signed_in(request)
    choices, values = _project_form(request, actor)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            namespace = namespaces.namespace_get_for(viewer=actor, ref=values["namespace"] or "0")
            project = services.project_create(
                actor=actor,
                namespace=namespace,
                # An empty slug is derived from the name by the service; an empty name is reported there.
                name=values["name"] if values["name"] or not values["path"] else None,
                path=values["path"] or None,
                description=values["description"],
                visibility=parse_visibility(values["visibility"]) or Visibility.PRIVATE,
            )
        except DockyardError as exc:
            errors = form_errors(exc, labels=LABELS, aliases=ALIASES)
        else:
            messages.success(request, f"Project '{project.name}' was created.")
            return redirect("web:project", namespace_path=namespace.full_path, project_path=project.path)
    context = {
        "values": values,
        "errors": errors,
        "namespaces": choices,
        "visibilities": [v.label for v in Visibility],
        "nav": "new_project",
    }
    return render(request, "web/projects/new.html", context, status=400 if errors else 200)


@require_GET
def show(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    user = viewer(request)
    with not_found_as_404():
        project = selectors.project_get_for(viewer=user, ref=f"{namespace_path}/{project_path}")
    source = project.forked_from
    context = {
        "project": project,
        "forked_from": source if source is not None and policy.can_read_project(user, source) else None,
        "can_fork": user is not None and policy.can(user, "fork_project", project),
        "clone_url": f"{external_base(request)}/{project.full_path}.git",
        "members_count": members.member_users(source=project, inherited=True).count(),
        "nav": "project",
        **repository.overview(request, project),
    }
    return render(request, "web/projects/show.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def fork(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    """GitLab's "Fork project" form: where to (the namespaces the user may create projects in), name,
    slug and visibility, all defaulting to the source's."""
    actor = signed_in(request)
    with not_found_as_404():
        project = selectors.project_get_for(viewer=actor, ref=f"{namespace_path}/{project_path}")
        if not policy.can(actor, "fork_project", project):
            raise NotFound("Project")
    choices, values = _project_form(
        request, actor, name=project.name, path=project.path, visibility=project.visibility_name
    )
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            namespace = namespaces.namespace_get_for(viewer=actor, ref=values["namespace"] or "0")
            fork = services.project_fork(
                actor=actor,
                source=project,
                namespace=namespace,
                name=values["name"] or None,
                path=values["path"] or None,
                visibility=parse_visibility(values["visibility"]),
            )
        except DockyardError as exc:
            errors = form_errors(exc, labels=LABELS, aliases=ALIASES)
        else:
            messages.success(request, f"The project '{project.name}' was forked.")
            return redirect("web:project", namespace_path=namespace.full_path, project_path=fork.path)
    context = {
        "project": project,
        "values": values,
        "errors": errors,
        "namespaces": choices,
        "visibilities": [v.label for v in Visibility if v <= project.visibility],
        "nav": "project",
    }
    return render(request, "web/projects/fork.html", context, status=400 if errors else 200)
