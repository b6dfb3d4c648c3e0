"""All writes on groups."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone

from dockyard.accounts.models import User
from dockyard.core.errors import Forbidden, ValidationFailed, check
from dockyard.core.paths import name_errors, path_errors
from dockyard.core.visibility import Visibility
from dockyard.events import services as audit
from dockyard.namespaces.models import Namespace
from dockyard.permissions.models import AccessLevel, Membership
from dockyard.projects.models import Project
from dockyard.repos import services as repos
from dockyard.webhooks import services as webhooks

MAX_DEPTH = 20  # GitLab's limit on nesting


def _path_taken(full_path: str, *, exclude: Namespace | None = None) -> bool:
    qs = Namespace.objects.filter(full_path__iexact=full_path)
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return qs.exists()


def _visibility_errors(visibility: int, parent: Namespace | None) -> list[str]:
    if parent is not None and visibility > parent.visibility:
        return [
            f"{Visibility(visibility).label} is not allowed since the parent group has a "
            f"{parent.visibility_name} visibility."
        ]
    return []


@transaction.atomic
def group_create(
    *,
    actor: User,
    name: str,
    path: str,
    parent: Namespace | None = None,
    description: str = "",
    visibility: int = Visibility.PRIVATE,
    request_access_enabled: bool = True,
) -> Namespace:
    """Create a group (top-level or a subgroup of ``parent``); its creator becomes its owner."""
    if parent is None and not (actor.can_create_group or actor.is_admin):
        raise Forbidden("You don't have permission to create groups.")
    full_path = f"{parent.full_path}/{path}" if parent else path
    errors = {
        "name": name_errors(name),
        "path": path_errors(path, top_level=parent is None),
        "visibility_level": _visibility_errors(visibility, parent),
    }
    if not errors["path"] and _path_taken(full_path):
        errors["path"] = ["has already been taken"]
    if parent is not None and len(parent.ancestor_ids) >= MAX_DEPTH:
        errors["parent_id"] = ["has too deep level of nesting"]
    check(errors)
    try:
        with transaction.atomic():
            group = Namespace.objects.create(
                kind=Namespace.Kind.GROUP,
                name=name,
                path=path,
                full_path=full_path,
                full_name=f"{parent.full_name} / {name}" if parent else name,
                parent=parent,
                description=description,
                visibility=visibility,
                request_access_enabled=request_access_enabled,
            )
    except IntegrityError as exc:
        raise ValidationFailed({"path": ["has already been taken"]}) from exc
    group.traversal = f"{parent.traversal if parent else '/'}{group.id}/"
    group.save(update_fields=["traversal"])
    Membership.objects.create(user=actor, namespace=group, access_level=AccessLevel.OWNER, created_by=actor)
    webhooks.system_hook_group(event="group_create", group=group)
    return group


@transaction.atomic
def group_update(
    *,
    group: Namespace,
    name: str | None = None,
    path: str | None = None,
    description: str | None = None,
    visibility: int | None = None,
    request_access_enabled: bool | None = None,
    default_branch: str | None = None,
) -> Namespace:
    errors: dict[str, list[str]] = {}
    if name is not None:
        errors["name"] = name_errors(name)
    if path is not None and path != group.path:
        errors["path"] = path_errors(path, top_level=group.parent_id is None)
        prefix = f"{group.parent.full_path}/" if group.parent else ""
        if not errors["path"] and _path_taken(prefix + path, exclude=group):
            errors["path"] = ["has already been taken"]
    if visibility is not None:
        errors["visibility_level"] = _visibility_errors(visibility, group.parent)
        if visibility < group.visibility:
            more_open = Namespace.objects.filter(
                traversal__startswith=group.traversal, visibility__gt=visibility
            ).exclude(pk=group.pk)
            if (
                more_open.exists()
                or Project.objects.filter(
                    namespace__traversal__startswith=group.traversal, visibility__gt=visibility
                ).exists()
            ):
                errors["visibility_level"] = [
                    f"{Visibility(visibility).label} is not allowed since there are sub-groups or projects "
                    "with higher visibility."
                ]
    check(errors)
    old_full_path, old_full_name = group.full_path, group.full_name
    if name is not None:
        group.name = name
        group.full_name = f"{group.parent.full_name} / {name}" if group.parent else name
    if path is not None:
        group.path = path
        group.full_path = f"{group.parent.full_path}/{path}" if group.parent else path
    for attr, value in (
        ("description", description),
        ("visibility", visibility),
        ("request_access_enabled", request_access_enabled),
        ("default_branch", default_branch),
    ):
        if value is not None:
            setattr(group, attr, value)
    old_visibility = Namespace.objects.values_list("visibility", flat=True).get(pk=group.pk)
    group.updated_at = timezone.now()
    group.save()
    if group.full_path != old_full_path or group.full_name != old_full_name:
        _rewrite_descendant_paths(group, old_full_path, old_full_name)
    if old_visibility != group.visibility:
        change = ("visibility", Visibility(old_visibility).label, Visibility(group.visibility).label)
        audit.audit_record(event_name="group_visibility_level_updated", entity=group, message="", change=change)
    return group


def _rewrite_descendant_paths(group: Namespace, old_full_path: str, old_full_name: str) -> None:
    """Rewrite ``full_path``/``full_name`` of every descendant in one statement each (no per-row loop)."""
    descendants = Namespace.objects.filter(traversal__startswith=group.traversal).exclude(pk=group.pk)
    descendants.update(
        full_path=Concat(Value(group.full_path), Substr(F("full_path"), len(old_full_path) + 1)),
        full_name=Concat(Value(group.full_name), Substr(F("full_name"), len(old_full_name) + 1)),
    )


@transaction.atomic
def group_delete(*, group: Namespace) -> None:
    """Delete a group with its subgroups and projects (their repositories go once this commits)."""
    project_ids = list(
        Project.objects.filter(namespace__traversal__startswith=group.traversal).values_list("id", flat=True)
    )
    repos.repositories_remove_on_commit(project_ids=project_ids)
    webhooks.system_hook_group(event="group_destroy", group=group)
    group.delete()
