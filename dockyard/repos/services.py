"""All writes on repositories: creation and removal, protected refs, and what happens after a push."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from dockyard.accounts.models import User
from dockyard.core.errors import BadRequest, Conflict, check
from dockyard.core.logging import get_logger
from dockyard.events.models import Event
from dockyard.permissions.policy import RefChange
from dockyard.projects.models import Project
from dockyard.repos import git
from dockyard.repos.git.write import Signature, commit_initial
from dockyard.repos.models import ProtectedBranch, ProtectedTag, RefAccessLevel

log = get_logger("dockyard.repos")

README_TEMPLATE = "# {name}\n\n{description}\n"


def repository_create(*, project: Project, actor: User, initialize_with_readme: bool = False) -> None:
    """Create the project's bare repository (and a README commit when asked), and protect its default branch."""
    git.init_repository(project.id, default_branch=project.default_branch)
    ProtectedBranch.objects.get_or_create(project=project, name=project.default_branch)
    if initialize_with_readme:
        commit_initial(
            project.id,
            branch=project.default_branch,
            files={"README.md": README_TEMPLATE.format(name=project.name, description=project.description).encode()},
            message="Initial commit",
            author=Signature(actor.name, actor.email),
        )


def repositories_remove_on_commit(*, project_ids: list[int]) -> None:
    """Remove repositories once the transaction deleting their projects has committed."""

    def remove() -> None:
        for project_id in project_ids:
            git.remove_repository(project_id)

    transaction.on_commit(remove)


# --- protected branches and tags --------------------------------------------------------------

_LEVELS = {level.value for level in RefAccessLevel}


def _level_errors(**levels: int | None) -> dict[str, list[str]]:
    return {name: ["does not have a valid value"] for name, v in levels.items() if v is not None and v not in _LEVELS}


@transaction.atomic
def protected_branch_create(
    *,
    project: Project,
    name: str,
    push_access_level: int | None = None,
    merge_access_level: int | None = None,
    unprotect_access_level: int | None = None,
    allow_force_push: bool = False,
    code_owner_approval_required: bool = False,
) -> ProtectedBranch:
    check({"name": [] if name.strip() else ["can't be blank"]})
    check(
        _level_errors(
            push_access_level=push_access_level,
            merge_access_level=merge_access_level,
            unprotect_access_level=unprotect_access_level,
        )
    )
    try:
        with transaction.atomic():
            return ProtectedBranch.objects.create(
                project=project,
                name=name,
                push_access_level=RefAccessLevel.MAINTAINER if push_access_level is None else push_access_level,
                merge_access_level=RefAccessLevel.MAINTAINER if merge_access_level is None else merge_access_level,
                unprotect_access_level=(
                    RefAccessLevel.MAINTAINER if unprotect_access_level is None else unprotect_access_level
                ),
                allow_force_push=allow_force_push,
                code_owner_approval_required=code_owner_approval_required,
            )
    except IntegrityError as exc:
        raise Conflict(f"Protected branch '{name}' already exists") from exc


@transaction.atomic
def protected_branch_update(
    *,
    rule: ProtectedBranch,
    allow_force_push: bool | None = None,
    push_access_level: int | None = None,
    merge_access_level: int | None = None,
    code_owner_approval_required: bool | None = None,
) -> ProtectedBranch:
    check(_level_errors(push_access_level=push_access_level, merge_access_level=merge_access_level))
    for attr, value in (
        ("allow_force_push", allow_force_push),
        ("push_access_level", push_access_level),
        ("merge_access_level", merge_access_level),
        ("code_owner_approval_required", code_owner_approval_required),
    ):
        if value is not None:
            setattr(rule, attr, value)
    rule.save()
    return rule


@transaction.atomic
def protected_branch_delete(*, rule: ProtectedBranch) -> None:
    rule.delete()


@transaction.atomic
def protected_tag_create(*, project: Project, name: str, create_access_level: int | None = None) -> ProtectedTag:
    check({"name": [] if name.strip() else ["can't be blank"]})
    check(_level_errors(create_access_level=create_access_level))
    try:
        with transaction.atomic():
            return ProtectedTag.objects.create(
                project=project,
                name=name,
                create_access_level=RefAccessLevel.MAINTAINER if create_access_level is None else create_access_level,
            )
    except IntegrityError as exc:
        raise Conflict(f"Protected tag '{name}' already exists") from exc


@transaction.atomic
def protected_tag_delete(*, rule: ProtectedTag) -> None:
    rule.delete()


# --- after a push -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Push:
    """A completed push (or API ref write), handed to every listener after the transaction commits."""

    project_id: int
    user_id: int | None
    changes: tuple[RefChange, ...]
    push_options: tuple[str, ...] = ()
    commit_counts: dict[str, int] = field(default_factory=dict)


PushListener = Callable[[Push], None]
_push_listeners: list[PushListener] = []


def on_push(listener: PushListener) -> PushListener:
    """Register a function to run after every push commits (webhooks, pipelines, merge requests...).

    This is THE hook later features attach to; listeners run after the push's transaction committed
    and must queue their own work rather than do slow work inline.
    """
    _push_listeners.append(listener)
    return listener


def _notify(push: Push) -> None:
    for listener in list(_push_listeners):
        try:
            listener(push)
        except Exception:  # one broken listener must not stop the others
            log.exception("push_listener_failed", listener=getattr(listener, "__name__", repr(listener)))


def _push_data(project: Project, change: RefChange, count: int) -> dict[str, object]:
    """GitLab's ``push_data`` of a push event."""
    is_tag = change.tag is not None
    return {
        "commit_count": count,
        "action": "created" if change.created else "removed" if change.deleted else "pushed",
        "ref_type": "tag" if is_tag else "branch",
        "commit_from": None if change.created else change.old,
        "commit_to": None if change.deleted else change.new,
        "ref": change.tag if is_tag else change.branch or change.ref,
        "ref_count": None,
        "commit_title": None if change.deleted else git.commit_title(project.id, change.new)[:70] or None,
    }


@transaction.atomic
def push_process(*, project: Project, user: User | None, changes: list[RefChange], push_options: list[str]) -> Push:
    """Record a push: an event per ref, the default branch of a first push, the activity time; then
    hand it to the listeners once committed. Safe to call again for the same push (it only appends
    events), so a retried post-receive never loses one."""
    counts: dict[str, int] = {}
    events = []
    for change in changes:
        count = 0 if change.deleted else git.commit_count(project.id, change.old, change.new, ref=change.ref)
        counts[change.ref] = count
        action = (
            Event.Action.PUSHED_NEW
            if change.created
            else Event.Action.REMOVED
            if change.deleted
            else Event.Action.PUSHED_TO
        )
        events.append(Event(project=project, author=user, action=action, push_data=_push_data(project, change, count)))
    Event.objects.bulk_create(events)
    fields = ["last_activity_at"]
    project.last_activity_at = timezone.now()
    if git.default_branch_of(project.id) is None:
        # A first push that did not create the default branch: its first branch becomes the default.
        created = [c.branch for c in changes if c.branch and not c.deleted]
        if created:
            git.set_default_branch(project.id, created[0])
            project.default_branch = created[0]
            fields.append("default_branch")
    project.save(update_fields=fields)
    push = Push(
        project_id=project.id,
        user_id=user.pk if user else None,
        changes=tuple(changes),
        push_options=tuple(push_options),
        commit_counts=counts,
    )
    transaction.on_commit(lambda: _notify(push))
    return push


def changes_from_hook(raw: list[dict[str, object]]) -> list[RefChange]:
    out = []
    for item in raw:
        old, new, ref = str(item.get("oldrev", "")), str(item.get("newrev", "")), str(item.get("ref", ""))
        if len(old) != 40 or len(new) != 40 or not ref.startswith("refs/"):
            raise BadRequest("changes is invalid")
        out.append(RefChange(old=old, new=new, ref=ref, forced=bool(item.get("forced"))))
    return out
