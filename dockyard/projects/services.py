"""All writes on projects."""

from __future__ import annotations

from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from dockyard.accounts.models import User
from dockyard.core.errors import (
    BadRequest,
    Conflict,
    DockyardError,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
    check,
)
from dockyard.core.paths import name_errors, path_errors, slugify_path
from dockyard.core.visibility import Visibility
from dockyard.events import services as audit
from dockyard.namespaces.models import Namespace
from dockyard.permissions import policy
from dockyard.permissions.models import AccessLevel, Membership
from dockyard.projects.models import InternalId, Project
from dockyard.repos import git
from dockyard.repos import services as repos
from dockyard.webhooks import services as webhooks

_MAX_TOPICS = 100


def _visibility_errors(visibility: int, namespace: Namespace) -> list[str]:
    if namespace.is_group and visibility > namespace.visibility:
        return [f"{Visibility(visibility).label} is not allowed in a {namespace.visibility_name} group."]
    return []


def _taken_errors(
    namespace: Namespace, *, name: str | None, path: str | None, exclude: Project | None = None
) -> dict[str, list[str]]:
    qs = Project.objects.filter(namespace=namespace)
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    errors: dict[str, list[str]] = {}
    if name is not None and qs.filter(name__iexact=name).exists():
        errors["name"] = ["has already been taken"]
    if path is not None and qs.filter(path__iexact=path).exists():
        errors["path"] = ["has already been taken"]
    return errors


def _clean_topics(topics: list[str] | None) -> list[str] | None:
    if topics is None:
        return None
    cleaned = list(dict.fromkeys(t.strip() for t in topics if t and t.strip()))
    if len(cleaned) > _MAX_TOPICS:
        raise ValidationFailed({"topics": [f"is too long (maximum is {_MAX_TOPICS} topics)"]})
    return cleaned


@transaction.atomic
def project_create(
    *,
    actor: User,
    namespace: Namespace,
    name: str | None = None,
    path: str | None = None,
    description: str = "",
    visibility: int = Visibility.PRIVATE,
    default_branch: str = "",
    topics: list[str] | None = None,
    initialize_with_readme: bool = False,
    forked_from: Project | None = None,
    fork_branch: str | None = None,
    **features: bool | str | int | None,
) -> Project:
    """Create a project in ``namespace``, which the actor must be allowed to create projects in.

    As in GitLab, a missing ``name`` is taken from ``path`` and the other way round.
    """
    if not policy.can(actor, "create_projects", namespace):
        raise Forbidden("You don't have permission to create projects in this namespace.")
    if name is None and path is None:
        raise BadRequest("name, path are missing, at least one parameter must be provided")
    name = name if name is not None else path
    path = path if path is not None else slugify_path(name or "")
    assert name is not None and path is not None
    if namespace.kind == Namespace.Kind.USER and namespace.owner_id == actor.id:
        owned = Project.objects.filter(namespace=namespace).count()
        if owned >= actor.projects_limit and not actor.is_admin:
            raise ValidationFailed({"limit_reached": ["Personal project creation is not allowed."]})
    errors = {
        "name": name_errors(name),
        "path": path_errors(path),
        "visibility_level": _visibility_errors(visibility, namespace),
    }
    check(errors)
    check(_taken_errors(namespace, name=name, path=path))
    now = timezone.now()
    try:
        with transaction.atomic():
            project = Project.objects.create(
                namespace=namespace,
                name=name,
                path=path,
                description=description,
                visibility=visibility,
                default_branch=default_branch or namespace.default_branch or "main",
                topics=_clean_topics(topics) or [],
                creator=actor,
                forked_from=forked_from,
                created_at=now,
                updated_at=now,
                last_activity_at=now,
                **{k: v for k, v in features.items() if v is not None},
            )
    except IntegrityError as exc:
        raise ValidationFailed({"path": ["has already been taken"]}) from exc
    if namespace.owner is not None:
        # GitLab lists the owner of a personal project as its Owner member.
        Membership.objects.create(
            user=namespace.owner, project=project, access_level=AccessLevel.OWNER, created_by=actor
        )
    elif policy.project_access_level(actor, project) < AccessLevel.MAINTAINER:
        # An admin creating a project in someone else's group becomes its maintainer, as in GitLab.
        Membership.objects.create(user=actor, project=project, access_level=AccessLevel.MAINTAINER, created_by=actor)
    policy.forget(actor)
    repos.repository_create(
        project=project,
        actor=actor,
        initialize_with_readme=initialize_with_readme,
        fork_of=forked_from,
        fork_branch=fork_branch,
    )
    webhooks.system_hook_project(event="project_create", project=project)
    return project


PROJECT_FEATURES = (
    "issues_enabled",
    "merge_requests_enabled",
    "wiki_enabled",
    "jobs_enabled",
    "snippets_enabled",
    "lfs_enabled",
    "request_access_enabled",
    # merge request settings
    "merge_method",
    "approvals_before_merge",
    "only_allow_merge_if_all_discussions_are_resolved",
    "mr_default_target_self",
    "only_allow_merge_if_pipeline_succeeds",
    "allow_merge_on_skipped_pipeline",
    # CI/CD settings
    "auto_cancel_pending_pipelines",
)
MERGE_METHODS = ("merge", "rebase_merge", "ff")


@transaction.atomic
def project_update(
    *,
    project: Project,
    actor: User,
    name: str | None = None,
    path: str | None = None,
    description: str | None = None,
    visibility: int | None = None,
    default_branch: str | None = None,
    topics: list[str] | None = None,
    **features: bool | str | int | None,
) -> Project:
    old_visibility = project.visibility
    errors: dict[str, list[str]] = {}
    if name is not None:
        errors["name"] = name_errors(name)
    if path is not None:
        errors["path"] = path_errors(path)
    if visibility is not None and visibility != project.visibility:
        if not policy.can(actor, "change_visibility", project):
            raise Forbidden()
        errors["visibility_level"] = _visibility_errors(visibility, project.namespace)
    check(errors)
    check(_taken_errors(project.namespace, name=name, path=path, exclude=project))
    for attr, value in (
        ("name", name),
        ("path", path),
        ("description", description),
        ("visibility", visibility),
        ("default_branch", default_branch),
        ("topics", _clean_topics(topics)),
    ):
        if value is not None:
            setattr(project, attr, value)
    for key, value in features.items():
        if key not in PROJECT_FEATURES:
            raise BadRequest(f"{key} does not have a valid value")
        if key == "merge_method" and value is not None and value not in MERGE_METHODS:
            raise BadRequest("merge_method does not have a valid value")
        if key == "auto_cancel_pending_pipelines" and value not in (None, "enabled", "disabled"):
            raise BadRequest("auto_cancel_pending_pipelines does not have a valid value")
        if key == "approvals_before_merge" and value is not None and int(value) < 0:
            raise BadRequest("approvals_before_merge does not have a valid value")
        if value is not None:
            setattr(project, key, value)
    project.updated_at = timezone.now()
    try:
        with transaction.atomic():
            project.save()
    except IntegrityError as exc:
        raise ValidationFailed({"path": ["has already been taken"]}) from exc
    if old_visibility != project.visibility:
        change = ("visibility", Visibility(old_visibility).label, Visibility(project.visibility).label)
        audit.audit_record(
            event_name="project_visibility_level_updated", entity=project, author=actor, message="", change=change
        )
    return project


@transaction.atomic
def project_set_archived(*, project: Project, archived: bool) -> Project:
    project.archived = archived
    project.updated_at = timezone.now()
    project.save(update_fields=["archived", "updated_at"])
    return project


@transaction.atomic
def project_delete(*, project: Project) -> None:
    """Delete a project and, once committed, its repository. Its forks stay, with repositories of their
    own, and no longer name it as their source."""
    repos.repositories_remove_on_commit(project_ids=[project.id])
    webhooks.system_hook_project(event="project_destroy", project=project)
    source_id = project.forked_from_id
    _fork_detached(project, None)
    project.delete()
    if source_id is not None:
        _forks_count_refresh(source_id)


# --- forks ------------------------------------------------------------------------------------------


class ForkConflict(ValidationFailed):
    """The fork cannot be made as asked (a name or path taken, the project limit): GitLab answers 409."""

    status = 409


ForkDetachListener = Callable[[Project, User | None], None]
_fork_detach_listeners: list[ForkDetachListener] = []


def on_fork_detach(listener: ForkDetachListener) -> ForkDetachListener:
    """Register a function to run, inside the transaction, when a project leaves its fork network (its
    fork relation removed, or the project deleted): merge requests use it to close those it opened."""
    _fork_detach_listeners.append(listener)
    return listener


def _fork_detached(project: Project, actor: User | None) -> None:
    for listener in _fork_detach_listeners:
        listener(project, actor)


def _forks_count_refresh(project_id: int) -> None:
    """GitLab's cached ``forks_count``: recounted, never incremented, so it cannot drift."""
    Project.objects.filter(pk=project_id).update(forks_count=Project.objects.filter(forked_from_id=project_id).count())


@transaction.atomic
def project_fork(
    *,
    actor: User,
    source: Project,
    namespace: Namespace | None = None,
    name: str | None = None,
    path: str | None = None,
    description: str | None = None,
    visibility: int | None = None,
    mr_default_target_self: bool | None = None,
    branch: str | None = None,
) -> Project:
    """Fork ``source`` into ``namespace`` (the actor's own by default): a new project with its own
    repository holding the source's branches and tags (only ``branch`` when given) and its settings.

    The fork is never more visible than its source or its group. Answers as GitLab: 404 when the actor
    may not fork (or see) the source, "Source Branch" or "Target Namespace" not found, 409 when a name or
    path is taken."""
    if not policy.can(actor, "fork_project", source):
        raise NotFound("Project")
    if branch and not git.ref_exists(source.id, f"refs/heads/{branch}"):
        raise NotFound("Source Branch")
    namespace = namespace if namespace is not None else actor.namespace
    if not policy.can(actor, "create_projects", namespace):
        raise NotFound("Target Namespace")
    ceilings = [source.visibility] + ([namespace.visibility] if namespace.is_group else [])
    level = min([visibility if visibility is not None else source.visibility, *ceilings])
    try:
        fork = project_create(
            actor=actor,
            namespace=namespace,
            name=name if name else (None if path else source.name),
            path=path if path else (None if name else source.path),
            description=source.description if description is None else description,
            visibility=level,
            default_branch=branch or source.default_branch,
            topics=list(source.topics),
            forked_from=source,
            fork_branch=branch or None,
            mr_default_target_self=bool(mr_default_target_self),
            **{f: getattr(source, f) for f in PROJECT_FEATURES if f != "mr_default_target_self"},
        )
    except ValidationFailed as exc:
        raise ForkConflict(exc.errors) from exc
    _forks_count_refresh(source.id)
    return fork


@transaction.atomic
def project_fork_link(*, actor: User, project: Project, source: Project) -> Project:
    """Mark an existing project as forked from ``source`` (owners of ``project``; they must be allowed to
    fork ``source`` into ``project``'s namespace)."""
    policy.authorize(actor, "admin_fork_relation", project)
    if not policy.can(actor, "fork_project", source):
        raise Forbidden()
    if not policy.can(actor, "create_projects", project.namespace):
        raise Unauthorized("401 Unauthorized - Target Namespace")
    if project.forked_from_id is not None:
        raise Conflict("Project already forked")
    if source.pk == project.pk:
        raise DockyardError("Target project cannot be equal to source project")
    project.forked_from = source
    project.save(update_fields=["forked_from"])
    _forks_count_refresh(source.id)
    return project


@transaction.atomic
def project_fork_unlink(*, actor: User, project: Project) -> bool:
    """Forget where ``project`` was forked from (owners); False when it was not a fork."""
    policy.authorize(actor, "admin_fork_relation", project)
    source_id = project.forked_from_id
    if source_id is None:
        return False
    project.forked_from = None
    project.save(update_fields=["forked_from"])
    _fork_detached(project, actor)
    _forks_count_refresh(source_id)
    return True


@transaction.atomic
def iid_next(*, project: Project | None = None, usage: str, namespace: Namespace | None = None) -> int:
    """The next internal id of ``usage`` (``"issues"``, ``"merge_requests"``, ``"milestones"``) in a
    project (or, for group milestones, a group).

    Call it inside the transaction that creates the record: the counter row stays locked until that
    transaction ends, so concurrent creations get consecutive, unique values, and a rolled-back creation
    gives its value back. On PostgreSQL the UPDATE takes the row lock; on SQLite writers are serialised
    by ``BEGIN IMMEDIATE``. The first use inserts the row; a concurrent first insert loses on the unique
    constraint and then increments the winner's row.
    """
    if (project is None) == (namespace is None):
        raise ValueError("iid_next needs exactly one of project, namespace")
    owner: dict[str, Project | Namespace | None] = (
        {"project": project} if project is not None else {"namespace": namespace}
    )
    rows = InternalId.objects.filter(usage=usage, **owner)
    if not rows.update(last_value=F("last_value") + 1):
        try:
            with transaction.atomic():
                InternalId.objects.create(usage=usage, last_value=1, **owner)
                return 1
        except IntegrityError:
            rows.update(last_value=F("last_value") + 1)
    return int(rows.values_list("last_value", flat=True).get())
