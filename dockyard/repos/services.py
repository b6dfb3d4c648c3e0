"""All writes on repositories: creation and removal, protected refs, and what happens after a push."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from dockyard.accounts.models import User
from dockyard.core.errors import BadRequest, Conflict, DockyardError, Forbidden, NotFound, check
from dockyard.core.logging import get_logger
from dockyard.events import services as audit
from dockyard.events.models import Event
from dockyard.permissions import policy
from dockyard.permissions.policy import RefChange
from dockyard.projects.models import Project
from dockyard.repos import git, selectors
from dockyard.repos.git import GitError
from dockyard.repos.git import read as git_read
from dockyard.repos.git.write import (
    ZERO_SHA,
    CommitRefused,
    FileAction,
    RefRaced,
    Signature,
    commit_files,
    commit_initial,
    create_tag_object,
    delete_ref,
    update_ref,
    valid_ref_name,
)
from dockyard.repos.models import LfsObjectProject, ProtectedBranch, ProtectedTag, RefAccessLevel

log = get_logger("dockyard.repos")

README_TEMPLATE = "# {name}\n\n{description}\n"


def repository_create(
    *,
    project: Project,
    actor: User,
    initialize_with_readme: bool = False,
    fork_of: Project | None = None,
    fork_branch: str | None = None,
) -> None:
    """Create the project's bare repository (and a README commit when asked), and protect its default branch.

    A fork (``fork_of``) starts with the source's branches and tags (only ``fork_branch`` when given) and
    may read the source's LFS objects, as in GitLab."""
    if fork_of is not None:
        git.fork_repository(project.id, source_id=fork_of.id, default_branch=project.default_branch, branch=fork_branch)
        oids = LfsObjectProject.objects.filter(project=fork_of).values_list("lfs_object_id", flat=True)
        LfsObjectProject.objects.bulk_create(
            [LfsObjectProject(project=project, lfs_object_id=oid) for oid in oids], ignore_conflicts=True
        )
    else:
        git.init_repository(project.id, default_branch=project.default_branch)
    ProtectedBranch.objects.get_or_create(project=project, name=project.default_branch)
    if initialize_with_readme and fork_of is None:
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
            rule = ProtectedBranch.objects.create(
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
    _ref_audit(rule, "protected_branch_created", "Added protected branch")
    return rule


def _ref_audit(rule: ProtectedBranch | ProtectedTag, event_name: str, message: str) -> None:
    kind = "ProtectedBranch" if isinstance(rule, ProtectedBranch) else "ProtectedTag"
    audit.audit_record(
        event_name=event_name, entity=rule.project, message=f"{message} {rule.name}", target=(kind, rule.pk, rule.name)
    )


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
    _ref_audit(rule, "protected_branch_updated", "Changed protected branch")
    return rule


@transaction.atomic
def protected_branch_delete(*, rule: ProtectedBranch) -> None:
    _ref_audit(rule, "protected_branch_removed", "Unprotected branch")
    rule.delete()


@transaction.atomic
def protected_tag_create(*, project: Project, name: str, create_access_level: int | None = None) -> ProtectedTag:
    check({"name": [] if name.strip() else ["can't be blank"]})
    check(_level_errors(create_access_level=create_access_level))
    try:
        with transaction.atomic():
            tag_rule = ProtectedTag.objects.create(
                project=project,
                name=name,
                create_access_level=RefAccessLevel.MAINTAINER if create_access_level is None else create_access_level,
            )
    except IntegrityError as exc:
        raise Conflict(f"Protected tag '{name}' already exists") from exc
    _ref_audit(tag_rule, "protected_tag_created", "Added protected tag")
    return tag_rule


@transaction.atomic
def protected_tag_delete(*, rule: ProtectedTag) -> None:
    _ref_audit(rule, "protected_tag_removed", "Unprotected tag")
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


# --- the repository API: commits, branches and tags written without a push ------------------------
# Every ref write here is checked by the same policy as a git push (``push_denial``), moves the ref with
# compare-and-swap, and then goes through ``push_process`` so it produces the same event and post-push
# listeners as a push would.

PUSH_INTO_BRANCH_DENIED = "You are not allowed to push into this branch"


def _raced(branch: str) -> DockyardError:
    return DockyardError(f"Could not update {branch}. Please refresh and try again.")


def file_path_valid(path: str) -> bool:
    """GitLab's ``file_path`` rule: relative, no ``..`` segment, no NUL, not empty."""
    if not path or "\x00" in path or path.startswith("/") or path.startswith("\\"):
        return False
    return all(part not in ("..", "") for part in path.rstrip("/").split("/")) and not path.endswith("/")


def file_path_check(path: str, field_name: str = "file_path") -> None:
    if not file_path_valid(path):
        raise BadRequest(f"{field_name} should be a valid file path")


def _signatures(user: User, author_name: str | None, author_email: str | None) -> tuple[Signature, Signature]:
    committer = Signature(user.name or user.username, user.email)
    return Signature(author_name or committer.name, author_email or committer.email), committer


def commit_create(
    *,
    project: Project,
    user: User,
    branch: str,
    message: str,
    actions: list[FileAction],
    start_branch: str | None = None,
    start_sha: str | None = None,
    author_name: str | None = None,
    author_email: str | None = None,
) -> str:
    """Commit ``actions`` to ``branch`` (created from ``start_branch``/``start_sha`` when missing), as the
    files and commits APIs do. Returns the new commit id."""
    if not policy.can(user, "push_code", project):
        raise Forbidden()
    if not branch.strip():
        raise BadRequest("branch is empty")
    if not message.strip():
        raise BadRequest("commit_message is empty")
    if not actions:
        raise BadRequest("actions is empty")
    for act in actions:
        file_path_check(act.path)
        if act.previous_path is not None:
            file_path_check(act.previous_path, "previous_path")
    if not valid_ref_name(f"refs/heads/{branch}"):
        raise DockyardError("Branch name is invalid")
    repo = git_read.Repository(project.id)
    ref = f"refs/heads/{branch}"
    current = repo.ref_target(ref)
    if start_branch and start_sha:
        raise DockyardError("You can't pass both start_branch and start_sha")
    start: str | None
    if current is not None:
        if (start_branch and start_branch != branch) or start_sha:
            raise DockyardError(
                f"A branch called '{branch}' already exists. Switch to that branch in order to make changes"
            )
        start = current
    elif start_branch or start_sha:
        start = repo.resolve(f"refs/heads/{start_branch}") if start_branch else repo.resolve(start_sha)
        if start is None:
            raise DockyardError(f"Invalid reference name: {start_branch or start_sha}")
    elif repo.empty:
        start = None
    else:
        raise DockyardError("You can only create or edit files when you are on a branch")
    old = current or ZERO_SHA
    denial = policy.push_denial(
        user,
        project,
        RefChange(old=old, new="f" * 40, ref=ref),
        protected_branches=selectors.protected_branches(project=project),
        protected_tags=[],
        via_web=True,
    )
    if denial:
        raise Forbidden(PUSH_INTO_BRANCH_DENIED)
    author, committer = _signatures(user, author_name, author_email)
    try:
        new = commit_files(
            project.id,
            branch=branch,
            old=old,
            start=start,
            actions=actions,
            message=message,
            author=author,
            committer=committer,
        )
    except CommitRefused as exc:
        raise DockyardError(str(exc)) from exc
    except RefRaced as exc:
        raise _raced(branch) from exc
    push_process(project=project, user=user, changes=[RefChange(old=old, new=new, ref=ref)], push_options=[])
    return new


def _ref_write_check(*, project: Project, user: User, change: RefChange) -> None:
    denial = policy.push_denial(
        user,
        project,
        change,
        protected_branches=selectors.protected_branches(project=project),
        protected_tags=selectors.protected_tags(project=project),
        via_web=True,  # GitLab's API writes refs as its web interface does
    )
    if denial:
        raise Forbidden(denial)


def branch_create(*, project: Project, user: User, branch: str, ref: str) -> str:
    """Create ``branch`` at ``ref``; returns the commit id it points at."""
    if not policy.can(user, "push_code", project):
        raise Forbidden()
    if not ref.strip():
        raise DockyardError("Ref is missing")
    full = f"refs/heads/{branch}"
    if not branch.strip() or not valid_ref_name(full):
        raise DockyardError("Branch name is invalid")
    repo = git_read.Repository(project.id)
    if repo.ref_target(full) is not None:
        raise DockyardError("Branch already exists")
    sha = repo.resolve(ref)
    if sha is None:
        raise DockyardError(f"Failed to create branch '{branch}': invalid reference name '{ref}'")
    change = RefChange(old=ZERO_SHA, new=sha, ref=full)
    _ref_write_check(project=project, user=user, change=change)
    try:
        update_ref(project.id, full, sha, ZERO_SHA)
    except GitError as exc:
        raise DockyardError("Branch already exists") from exc
    push_process(project=project, user=user, changes=[change], push_options=[])
    return sha


def branch_delete(*, project: Project, user: User, branch: str) -> None:
    if not policy.can(user, "push_code", project):
        raise Forbidden()
    full = f"refs/heads/{branch}"
    old = git_read.Repository(project.id).ref_target(full)
    if old is None:
        raise NotFound("Branch")
    change = RefChange(old=old, new=ZERO_SHA, ref=full)
    _ref_write_check(project=project, user=user, change=change)
    try:
        delete_ref(project.id, full, old)
    except RefRaced as exc:
        raise _raced(branch) from exc
    push_process(project=project, user=user, changes=[change], push_options=[])


def merged_branches_delete(*, project: Project, user: User) -> list[str]:
    """Delete every branch merged into the default branch that is neither the default nor protected.

    GitLab schedules this and answers 202; it is cheap enough here to do before answering."""
    if not policy.can(user, "push_code", project):
        raise Forbidden()
    repo = git_read.Repository(project.id)
    default = repo.default_branch() or project.default_branch
    rules = selectors.protected_branches(project=project)
    branches = {b.name: b.commit.id for b in repo.branches()}
    candidates = [n for n in branches if n != default and not any(r.matches(n) for r in rules)]
    changes = []
    for name in sorted(repo.merged_into(candidates, default)):
        change = RefChange(old=branches[name], new=ZERO_SHA, ref=f"refs/heads/{name}")
        try:
            delete_ref(project.id, change.ref, change.old)
        except RefRaced:
            continue  # moved meanwhile: no longer known to be merged
        changes.append(change)
    if changes:
        push_process(project=project, user=user, changes=changes, push_options=[])
    return [c.branch or "" for c in changes]


def tag_create(*, project: Project, user: User, tag_name: str, ref: str, message: str | None = None) -> None:
    """Create ``tag_name`` at ``ref``: an annotated tag when a message is given, else a lightweight one."""
    if not policy.can(user, "push_code", project):
        raise Forbidden()
    full = f"refs/tags/{tag_name}"
    if not tag_name.strip() or not valid_ref_name(full):
        raise DockyardError("Tag name invalid")
    repo = git_read.Repository(project.id)
    if repo.ref_target(full) is not None:
        raise DockyardError(f"Tag {tag_name} already exists")
    sha = repo.resolve(ref)
    if sha is None:
        raise DockyardError(f"Target {ref} is invalid")
    _ref_write_check(project=project, user=user, change=RefChange(old=ZERO_SHA, new=sha, ref=full))
    target = sha
    if message and message.strip():
        _, tagger = _signatures(user, None, None)
        target = create_tag_object(project.id, name=tag_name, target=sha, message=message.strip(), tagger=tagger)
    try:
        update_ref(project.id, full, target, ZERO_SHA)
    except GitError as exc:
        raise DockyardError(f"Tag {tag_name} already exists") from exc
    push_process(project=project, user=user, changes=[RefChange(ZERO_SHA, target, full)], push_options=[])


def tag_delete(*, project: Project, user: User, tag_name: str) -> None:
    if not policy.can(user, "push_code", project):
        raise Forbidden()
    full = f"refs/tags/{tag_name}"
    old = git_read.Repository(project.id).ref_target(full)
    if old is None:
        raise NotFound("Tag")
    change = RefChange(old=old, new=ZERO_SHA, ref=full)
    _ref_write_check(project=project, user=user, change=change)
    try:
        delete_ref(project.id, full, old)
    except RefRaced as exc:
        raise _raced(tag_name) from exc
    push_process(project=project, user=user, changes=[change], push_options=[])
