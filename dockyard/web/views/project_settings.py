"""A project's settings: ``/<project>/-/edit`` (general, archive, delete) and ``/-/settings/repository``
(protected branches and tags). Maintainers and above see them; everyone else gets 404, as in GitLab."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from dockyard.core.errors import DockyardError, ValidationFailed
from dockyard.core.visibility import Visibility, parse_visibility
from dockyard.permissions import policy
from dockyard.projects import services
from dockyard.projects.models import Project
from dockyard.repos import selectors as repos
from dockyard.repos import services as repos_services
from dockyard.repos.models import RefAccessLevel
from dockyard.web.views.common import form_errors, project_for, require, signed_in

LABELS = {
    "name": "Project name",
    "path": "Path",
    "description": "Description",
    "visibility": "Visibility",
    "topics": "Topics",
    "default_branch": "Default branch",
}
ALIASES = {"visibility_level": "visibility"}
FEATURES = [
    ("issues_enabled", "Issues", "Plan and track work in the project's issue tracker."),
    ("merge_requests_enabled", "Merge requests", "Propose, review and merge changes."),
    ("wiki_enabled", "Wiki", "Pages of documentation beside the code."),
    ("jobs_enabled", "CI/CD", "Run pipelines from .gitlab-ci.yml."),
    ("snippets_enabled", "Snippets", "Share pieces of code and text."),
    ("lfs_enabled", "Git Large File Storage (LFS)", "Keep large files outside the repository history."),
    ("request_access_enabled", "Users can request access", "Let non-members ask to join."),
]
REF_LEVELS = [(level.value, level.label) for level in RefAccessLevel]


def _url(project: Project, tail: str = "edit") -> str:
    return f"/{project.full_path}/-/{tail}"


def _branch_names(project: Project) -> list[str]:
    """The branches to offer as default branch; the current default stays a choice even before it exists."""
    try:
        repo = repos.repository_open(project=project)
        names = [branch.name for branch in repos.branch_list(repo=repo, project=project, viewer=None)]
    except DockyardError:
        names = []
    if project.default_branch and project.default_branch not in names:
        names.insert(0, project.default_branch)
    return names


def _values(project: Project) -> dict[str, object]:
    values: dict[str, object] = {
        "name": project.name,
        "path": project.path,
        "description": project.description,
        "visibility": Visibility(project.visibility).label,
        "topics": ", ".join(project.topics or []),
        "default_branch": project.default_branch,
    }
    values.update({key: getattr(project, key) for key, _, _ in FEATURES})
    return values


def _edit_page(
    request: HttpRequest,
    project: Project,
    *,
    values: dict[str, object],
    errors: dict[str, list[str]],
    remove_error: str | None = None,
) -> HttpResponse:
    actor = signed_in(request)
    context = {
        "project": project,
        "values": values,
        "errors": errors,
        "branches": _branch_names(project),
        "visibilities": [v.label for v in Visibility],
        "can_change_visibility": policy.can(actor, "change_visibility", project),
        "can_archive": policy.can(actor, "archive_project", project),
        "can_remove": policy.can(actor, "remove_project", project),
        "features": [(key, label, hint, values[key]) for key, label, hint in FEATURES],
        "remove_error": remove_error,
        "nav": "settings",
    }
    return render(request, "web/project_settings/edit.html", context, status=400 if errors or remove_error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    actor = signed_in(request)
    project = project_for(request, namespace_path, project_path)
    require(actor, "admin_project", project)
    can_change_visibility = policy.can(actor, "change_visibility", project)
    values = _values(project)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data = request.POST
        values = {
            "name": data.get("name", "").strip(),
            "path": data.get("path", "").strip(),
            "description": data.get("description", ""),
            "visibility": data.get("visibility", values["visibility"])
            if can_change_visibility
            else values["visibility"],
            "topics": data.get("topics", ""),
            "default_branch": data.get("default_branch", "").strip(),
            **{key: data.get(key) == "on" for key, _, _ in FEATURES},
        }
        try:
            visibility = parse_visibility(str(values["visibility"]))
            if visibility is None:
                raise ValidationFailed({"visibility": ["is not a valid choice"]})
            branches = _branch_names(project)
            if values["default_branch"] not in branches:
                raise ValidationFailed({"default_branch": ["is not a branch of this project"]})
            project = services.project_update(
                project=project,
                actor=actor,
                name=str(values["name"]),
                path=str(values["path"]),
                description=str(values["description"]),
                visibility=visibility,
                default_branch=str(values["default_branch"]),
                topics=str(values["topics"]).split(","),
                **{key: bool(values[key]) for key, _, _ in FEATURES},
            )
        except DockyardError as exc:
            errors = form_errors(exc, labels=LABELS, aliases=ALIASES)
            project.refresh_from_db()  # the sidebar and headings show the saved project, not the rejected input
        else:
            messages.success(request, f"Project '{project.name}' was successfully updated.")
            return redirect(_url(project))
    return _edit_page(request, project, values=values, errors=errors)


@require_POST
@login_required
def archive(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    return _set_archived(request, namespace_path, project_path, archived=True)


@require_POST
@login_required
def unarchive(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    return _set_archived(request, namespace_path, project_path, archived=False)


def _set_archived(request: HttpRequest, namespace_path: str, project_path: str, *, archived: bool) -> HttpResponse:
    project = project_for(request, namespace_path, project_path)
    require(signed_in(request), "archive_project", project)
    services.project_set_archived(project=project, archived=archived)
    messages.success(request, f"Project '{project.name}' was {'archived' if archived else 'unarchived'}.")
    return redirect(_url(project))


@require_POST
@login_required
def remove(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    actor = signed_in(request)
    project = project_for(request, namespace_path, project_path)
    require(actor, "remove_project", project)
    if request.POST.get("confirm_path", "").strip() != project.full_path:
        # The page again, with the error beside the confirmation field.
        error = (
            f"Type {project.full_path} to confirm."
            if request.POST.get("confirm_path")
            else "Enter the project path to confirm."
        )
        return _edit_page(request, project, values=_values(project), errors={}, remove_error=error)
    name, namespace = project.name, project.namespace
    services.project_delete(project=project)
    messages.success(request, f"Project '{name}' was deleted.")
    if namespace.is_group:
        return redirect("web:group", full_path=namespace.full_path)
    return redirect("web:home")


# --- protected branches and tags ------------------------------------------------------------------


def _level(raw: str | None, field: str) -> int:
    try:
        level = int(raw or "")
    except ValueError:
        level = -1
    if level not in {value for value, _ in REF_LEVELS}:
        raise ValidationFailed({field: ["is not a valid choice"]})
    return level


def _repository_page(
    request: HttpRequest,
    project: Project,
    *,
    branch_values: dict[str, object] | None = None,
    tag_values: dict[str, object] | None = None,
    branch_errors: dict[str, list[str]] | None = None,
    tag_errors: dict[str, list[str]] | None = None,
) -> HttpResponse:
    default_level = str(RefAccessLevel.MAINTAINER.value)
    context = {
        "project": project,
        "branch_rules": repos.protected_branch_list(project=project),
        "tag_rules": repos.protected_tag_list(project=project),
        "levels": REF_LEVELS,
        "branches": _branch_names(project),
        "branch_values": branch_values
        or {
            "name": "",
            "push_access_level": default_level,
            "merge_access_level": default_level,
            "allow_force_push": False,
        },
        "tag_values": tag_values or {"name": "", "create_access_level": default_level},
        "branch_errors": branch_errors or {},
        "tag_errors": tag_errors or {},
        "nav": "repository_settings",
    }
    status = 400 if branch_errors or tag_errors else 200
    return render(request, "web/project_settings/repository.html", context, status=status)


def _refs_project(request: HttpRequest, namespace_path: str, project_path: str) -> Project:
    project = project_for(request, namespace_path, project_path)
    require(signed_in(request), "admin_protected_refs", project)
    return project


@login_required
@require_http_methods(["GET"])
def repository(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    return _repository_page(request, _refs_project(request, namespace_path, project_path))


@require_POST
@login_required
def protect_branch(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    project = _refs_project(request, namespace_path, project_path)
    data = request.POST
    values: dict[str, object] = {
        "name": data.get("name", "").strip(),
        "push_access_level": data.get("push_access_level", ""),
        "merge_access_level": data.get("merge_access_level", ""),
        "allow_force_push": data.get("allow_force_push") == "on",
    }
    try:
        errors: dict[str, list[str]] = {}
        levels: dict[str, int] = {}
        for field in ("push_access_level", "merge_access_level"):
            try:
                levels[field] = _level(str(values[field]), field)
            except ValidationFailed as exc:
                errors.update(exc.errors)
        if errors:
            raise ValidationFailed(errors)
        rule = repos_services.protected_branch_create(
            project=project,
            name=str(values["name"]),
            allow_force_push=bool(values["allow_force_push"]),
            push_access_level=levels["push_access_level"],
            merge_access_level=levels["merge_access_level"],
        )
    except DockyardError as exc:
        labels = {"name": "Branch", "push_access_level": "Allowed to push", "merge_access_level": "Allowed to merge"}
        errors = form_errors(exc, labels=labels)
        if "form" in errors and "already exists" in " ".join(errors["form"]):
            errors = {"name": errors.pop("form")}
        return _repository_page(request, project, branch_values=values, branch_errors=errors)
    messages.success(request, f"Protected branch {rule.name}.")
    return redirect(_url(project, "settings/repository"))


@require_POST
@login_required
def unprotect_branch(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    project = _refs_project(request, namespace_path, project_path)
    rule = repos.protected_branch_get(project=project, name=request.POST.get("name", ""))
    if rule is None:
        messages.error(request, "That branch is not protected.")
    else:
        repos_services.protected_branch_delete(rule=rule)
        messages.success(request, f"Unprotected branch {rule.name}.")
    return redirect(_url(project, "settings/repository"))


@require_POST
@login_required
def protect_tag(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    project = _refs_project(request, namespace_path, project_path)
    values: dict[str, object] = {
        "name": request.POST.get("name", "").strip(),
        "create_access_level": request.POST.get("create_access_level", ""),
    }
    try:
        level = _level(str(values["create_access_level"]), "create_access_level")
        rule = repos_services.protected_tag_create(project=project, name=str(values["name"]), create_access_level=level)
    except DockyardError as exc:
        errors = form_errors(exc, labels={"name": "Tag", "create_access_level": "Allowed to create"})
        if "form" in errors and "already exists" in " ".join(errors["form"]):
            errors = {"name": errors.pop("form")}
        return _repository_page(request, project, tag_values=values, tag_errors=errors)
    messages.success(request, f"Protected tag {rule.name}.")
    return redirect(_url(project, "settings/repository"))


@require_POST
@login_required
def unprotect_tag(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    project = _refs_project(request, namespace_path, project_path)
    rule = repos.protected_tag_get(project=project, name=request.POST.get("name", ""))
    if rule is None:
        messages.error(request, "That tag is not protected.")
    else:
        repos_services.protected_tag_delete(rule=rule)
        messages.success(request, f"Unprotected tag {rule.name}.")
    return redirect(_url(project, "settings/repository"))
