"""All writes on merge requests: creation and edits, diff versions, mergeability, approvals, merging
(merge commit, semi-linear, fast-forward, squash), rebasing, comments with quick actions, and closing the
issues a merged request names.

Every ref write is checked (``policy.push_denial`` for pushes to the source branch, ``policy.merge_denial``
for the target), moved with compare-and-swap, and reported through ``repos.services.push_process`` so it
produces the same events and post-push listeners as a push. Merges into one target branch run one at a
time under a :class:`MergeLock` row lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from dockyard.accounts.models import User
from dockyard.ci import selectors as ci_selectors
from dockyard.ci.models import ACTIVE_STATUSES, Pipeline
from dockyard.core.errors import BadRequest, DockyardError, Forbidden, NotFound, Unauthorized, ValidationFailed, check
from dockyard.events.models import Event
from dockyard.issues import selectors as issue_selectors
from dockyard.issues import services as issue_services
from dockyard.issues.models import Label, Milestone
from dockyard.merge_requests import selectors
from dockyard.merge_requests.models import (
    MergeLock,
    MergeRequest,
    MergeRequestApproval,
    MergeRequestDiff,
    draftless_title,
    is_draft_title,
)
from dockyard.notes import quick_actions
from dockyard.notes import services as notes
from dockyard.notes.models import Note
from dockyard.notifications import services as notifications
from dockyard.permissions import policy
from dockyard.permissions.policy import RefChange
from dockyard.projects import services as project_services
from dockyard.projects.models import Project
from dockyard.projects.services import iid_next
from dockyard.repos import selectors as repo_selectors
from dockyard.repos import services as repos
from dockyard.repos.git import GitError, fetch_commit, is_ancestor
from dockyard.repos.git import merge as git_merge
from dockyard.repos.git import read as git_read
from dockyard.repos.git.write import ZERO_SHA, Signature, update_ref
from dockyard.webhooks import services as webhooks
from dockyard.webhooks.payloads import merge_request as mr_payload
from dockyard.webhooks.payloads import note as note_payload

MERGE_METHODS = ("merge", "rebase_merge", "ff")


class HttpStatus(DockyardError):
    """An answer GitLab gives with a bare status and message (405, 409, 422)."""

    def __init__(self, status: int, message: Any) -> None:
        super().__init__(message)
        self.status = status


def _not_allowed() -> HttpStatus:
    return HttpStatus(405, "405 Method Not Allowed")


def _cannot_merge() -> HttpStatus:
    return HttpStatus(422, "Branch cannot be merged")


def _sha_mismatch(head: str | None) -> HttpStatus:
    return HttpStatus(409, f"SHA does not match HEAD of source branch: {head}")


def _note(mr: MergeRequest, actor: User | None, body: str) -> Note:
    return notes.system_note_create(merge_request=mr, actor=actor, body=body)


_NOTIFICATIONS: dict[str, str] = {
    Event.Action.CREATED: "merge_request_opened",
    Event.Action.MERGED: "merge_request_merged",
}
_HOOK_ACTIONS: dict[str, str] = {
    Event.Action.CREATED: "open",
    Event.Action.CLOSED: "close",
    Event.Action.REOPENED: "reopen",
    Event.Action.MERGED: "merge",
}


def _event(mr: MergeRequest, actor: User | None, action: str) -> None:
    Event.objects.create(
        project_id=mr.project_id,
        author=actor,
        action=action,
        target_type="MergeRequest",
        target_id=mr.pk,
        target_title=mr.title[:255],
    )
    if action in _NOTIFICATIONS:
        notifications.notify(kind=_NOTIFICATIONS[action], object_id=mr.pk, actor=actor)
    if action in _HOOK_ACTIONS:
        _hook(mr, actor, _HOOK_ACTIONS[action])


def _head_sha(mr: MergeRequest) -> str | None:
    latest = selectors.version_latest(merge_request=mr)
    return latest.head_commit_sha if latest is not None else None


def _hook(
    mr: MergeRequest,
    actor: User | None,
    action: str,
    *,
    changes: dict[str, Any] | None = None,
    oldrev: str | None = None,
) -> None:
    """Merge Request Hook deliveries, built from the request as it is when the transaction commits."""
    if actor is None:
        return
    webhooks.hook_event_emit(
        project=mr.project,
        scope="merge_request_hooks",
        payload_builder=lambda base: mr_payload.build(
            mr=mr, user=actor, action=action, base=base, head_sha=_head_sha(mr), changes=changes, oldrev=oldrev
        ),
    )


def _heads(project: Project, *branches: str) -> list[str | None]:
    repo = git_read.Repository(project.id)
    return [repo.ref_target(f"refs/heads/{b}") for b in branches]


def head_ref(mr: MergeRequest) -> str:
    """Where the target repository keeps a fork merge request's source head (GitLab's ref)."""
    return f"refs/merge-requests/{mr.iid}/head"


def _fetch_source(mr: MergeRequest, sha: str) -> None:
    """Make the source commit ``sha`` readable in the target repository, where every diff, merge and
    rebase of the merge request is computed. From a fork its objects are fetched and kept reachable as
    :func:`head_ref`; within one project they are there already."""
    if mr.source_project_id is not None and mr.source_project_id != mr.project_id:
        fetch_commit(mr.project_id, from_project_id=mr.source_project_id, sha=sha, ref=head_ref(mr))


def _branch_heads(mr: MergeRequest, target_branch: str | None = None) -> tuple[str | None, str | None]:
    """``(source head, target head)`` as the branches are now; a deleted source project has no head."""
    (target_head,) = _heads(mr.project, target_branch or mr.target_branch)
    if mr.source_project is None:
        return None, target_head
    (source_head,) = _heads(mr.source_project, mr.source_branch)
    return source_head, target_head


def _mr_heads(mr: MergeRequest, target_branch: str | None = None) -> tuple[str | None, str | None]:
    """:func:`_branch_heads`, the source head's objects made present in the target repository."""
    source_head, target_head = _branch_heads(mr, target_branch)
    if source_head is not None:
        _fetch_source(mr, source_head)
    return source_head, target_head


def _sentence(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


# --- attributes -----------------------------------------------------------------------------------


def _resolve_labels(project: Project, titles: Iterable[str], actor: User) -> list[Label]:
    wanted = list(dict.fromkeys(t.strip() for t in titles if t and t.strip()))
    if not wanted:
        return []
    found: dict[str, Label] = {}
    for label in issue_selectors.labels_available(project=project).filter(title__in=wanted).order_by("-project_id"):
        if label.title not in found or label.project_id is not None:
            found[label.title] = label
    for title in wanted:
        if title not in found and policy.can_on_project_issues(actor, "admin_label", project):
            found[title] = issue_services.label_create(
                actor=actor, project=project, name=title, color=Label.DEFAULT_COLOR
            )
    return [found[t] for t in wanted if t in found]


def _resolve_users(ids: Iterable[int] | None) -> list[User]:
    wanted = [i for i in ids or [] if i]
    users = {u.pk: u for u in User.objects.filter(pk__in=wanted)}
    return [users[i] for i in dict.fromkeys(wanted) if i in users]


def _resolve_milestone(project: Project, milestone_id: int | None) -> Milestone | None:
    if not milestone_id:
        return None
    milestone = issue_selectors.milestones_available(project=project).filter(pk=milestone_id).first()
    if milestone is None:
        raise NotFound("Milestone")
    return milestone


def _set_users(mr: MergeRequest, actor: User, relation: str, new: list[User]) -> bool:
    manager = getattr(mr, relation)
    current = list(manager.all())
    added = [u for u in new if u.pk not in {c.pk for c in current}]
    removed = [u for u in current if u.pk not in {n.pk for n in new}]
    if not added and not removed:
        return False
    if removed:
        manager.remove(*removed)
    if added:
        manager.add(*added)
        kind = "merge_request_assigned" if relation == "assignees" else "merge_request_review_requested"
        notifications.notify(kind=kind, object_id=mr.pk, actor=actor, users=added)
    parts = []
    if relation == "assignees":
        if added:
            parts.append("assigned to " + _sentence([f"@{u.username}" for u in added]))
        if removed:
            parts.append("unassigned " + _sentence([f"@{u.username}" for u in removed]))
    else:
        if added:
            parts.append("requested review from " + _sentence([f"@{u.username}" for u in added]))
        if removed:
            parts.append("removed review request for " + _sentence([f"@{u.username}" for u in removed]))
    _note(mr, actor, " and ".join(parts))
    return True


def _set_labels(mr: MergeRequest, actor: User, new: list[Label]) -> bool:
    current = list(mr.labels.all())
    added = [lb for lb in new if lb.pk not in {c.pk for c in current}]
    removed = [lb for lb in current if lb.pk not in {n.pk for n in new}]
    if not added and not removed:
        return False
    if removed:
        mr.labels.remove(*removed)
    if added:
        mr.labels.add(*added)
    parts = []
    if added:
        parts.append(f"added {' '.join(lb.reference for lb in added)} label{'s' if len(added) > 1 else ''}")
    if removed:
        parts.append(f"removed {' '.join(lb.reference for lb in removed)} label{'s' if len(removed) > 1 else ''}")
    _note(mr, actor, " and ".join(parts))
    return True


def _set_title(mr: MergeRequest, actor: User, title: str) -> bool:
    title = title.strip()
    check({"title": [] if title else ["can't be blank"]})
    check({"title": ["is too long (maximum is 255 characters)"] if len(title) > 255 else []})
    if title == mr.title:
        return False
    was_draft, now_draft = is_draft_title(mr.title), is_draft_title(title)
    if draftless_title(title) != draftless_title(mr.title):
        _note(mr, actor, f"changed title from **{mr.title}** to **{title}**")
    if was_draft != now_draft:
        _note(mr, actor, f"marked this merge request as **{'draft' if now_draft else 'ready'}**")
    mr.title = title
    mr.draft = now_draft
    return True


# --- diff versions and mergeability ------------------------------------------------------------------


def diff_version_create(mr: MergeRequest, *, source_head: str, target_head: str) -> MergeRequestDiff:
    """Record a version of the diff: the source head against the target branch as it is now."""
    repo = git_read.Repository(mr.project_id)
    base = repo.merge_base([target_head, source_head])
    base_sha = base.id if base is not None else target_head
    comparison = repo.compare(target_head, source_head, straight=True)
    changed = len(repo.compare(base_sha, source_head, straight=True).diffs) if comparison else 0  # type: ignore[union-attr]
    return MergeRequestDiff.objects.create(
        merge_request=mr,
        base_commit_sha=base_sha,
        head_commit_sha=source_head,
        start_commit_sha=target_head,
        commits_count=len(comparison.commits) if comparison else 0,
        real_size=str(changed),
    )


def _git_state(mr: MergeRequest, source_head: str | None, target_head: str | None) -> tuple[str, bool, bool]:
    """``(merge_status, has_conflicts, need_rebase)`` of the branches at these heads."""
    if source_head is None or target_head is None:
        return MergeRequest.MergeStatus.CANNOT_BE_MERGED, False, False
    result = git_merge.merge_tree(mr.project_id, target_head, source_head)
    need_rebase = mr.project.merge_method in ("rebase_merge", "ff") and not is_ancestor(
        mr.project_id, target_head, source_head
    )
    if not result.clean:
        return MergeRequest.MergeStatus.CANNOT_BE_MERGED, True, need_rebase
    return MergeRequest.MergeStatus.CAN_BE_MERGED, False, need_rebase


def _approvals_left(mr: MergeRequest) -> int:
    required = mr.project.approvals_before_merge
    return max(0, required - MergeRequestApproval.objects.filter(merge_request=mr).count())


def _approved(mr: MergeRequest) -> bool:
    """Every required approval given, and at least one (GitLab's ``approved?``, for the hook actions)."""
    count = MergeRequestApproval.objects.filter(merge_request=mr).count()
    return count > 0 and count >= mr.project.approvals_before_merge


# Pipeline statuses that are still on their way to an end (GitLab's ``Ci::HasStatus::ACTIVE_STATUSES``).
ACTIVE_PIPELINE_STATUSES = ACTIVE_STATUSES


def head_pipeline(mr: MergeRequest, source_head: str | None = None) -> Pipeline | None:
    if source_head is None:
        latest = selectors.version_latest(merge_request=mr)
        source_head = latest.head_commit_sha if latest is not None else None
    return ci_selectors.pipeline_head_for_merge_request(mr=mr, sha=source_head)


def _ci_blocker(mr: MergeRequest, source_head: str | None) -> str | None:
    """ "Pipelines must succeed": ``ci_still_running`` while the head pipeline runs, ``ci_must_pass`` when
    there is none or it did not pass (a skipped one passes only where the project allows it)."""
    project = mr.project
    if not project.only_allow_merge_if_pipeline_succeeds:
        return None
    pipeline = head_pipeline(mr, source_head)
    if pipeline is None:
        return "ci_must_pass"
    if pipeline.status in ACTIVE_PIPELINE_STATUSES:
        return "ci_still_running"
    if pipeline.status == "success" or (pipeline.status == "skipped" and project.allow_merge_on_skipped_pipeline):
        return None
    return "ci_must_pass"


def _detailed(
    mr: MergeRequest, *, has_conflicts: bool, need_rebase: bool, branch_missing: bool, source_head: str | None = None
) -> str:
    """GitLab's ``detailed_merge_status``: the first check that blocks the merge, or ``mergeable``."""
    if not mr.is_open:
        return "not_open"
    if mr.draft:
        return "draft_status"
    if branch_missing:
        return "commits_status"
    if mr.project.only_allow_merge_if_all_discussions_are_resolved and selectors.unresolved_discussions(
        merge_request=mr
    ):
        return "discussions_not_resolved"
    if blocker := _ci_blocker(mr, source_head):
        return blocker
    if _approvals_left(mr) > 0:
        return "not_approved"
    if has_conflicts:
        return "conflict"
    if need_rebase:
        return "need_rebase"
    return "mergeable"


def status_refresh(mr: MergeRequest) -> MergeRequest:
    """Recompute ``merge_status``, ``has_conflicts`` and ``detailed_merge_status`` now."""
    if not mr.is_open:
        MergeRequest.objects.filter(pk=mr.pk).update(detailed_merge_status="not_open")
        mr.detailed_merge_status = "not_open"
        return mr
    source_head, target_head = _mr_heads(mr)
    status, conflicts, need_rebase = _git_state(mr, source_head, target_head)
    detailed = _detailed(
        mr,
        has_conflicts=conflicts,
        need_rebase=need_rebase,
        branch_missing=source_head is None or target_head is None,
        source_head=source_head,
    )
    with transaction.atomic():
        # A branch moved while this ran: the push or rebase that moved it marked the request unchecked
        # (after moving it, under this row's lock) and queued a recheck, so a stale answer must not land
        # on top of that mark.
        list(MergeRequest.objects.select_for_update().filter(pk=mr.pk).values_list("pk", flat=True))
        if _branch_heads(mr) != (source_head, target_head):
            return mr
        MergeRequest.objects.filter(pk=mr.pk).update(
            merge_status=status, has_conflicts=conflicts, detailed_merge_status=detailed
        )
    mr.merge_status, mr.has_conflicts, mr.detailed_merge_status = status, conflicts, detailed
    return mr


def mark_unchecked(mr: MergeRequest) -> None:
    """A push moved a branch: the status is unknown until the background check runs."""
    MergeRequest.objects.filter(pk=mr.pk, state=MergeRequest.State.OPENED).update(
        merge_status=MergeRequest.MergeStatus.UNCHECKED, detailed_merge_status="unchecked"
    )


# Set by ``dockyard.merge_requests.tasks`` (the layer above): queues the background mergeability check.
schedule_check: Callable[[int], Any] | None = None
# Set by ``dockyard.merge_requests.tasks``: queues a merge request pipeline (merge request id, user id).
schedule_pipeline: Callable[[int, int | None], Any] | None = None


def _enqueue_pipeline(mr: MergeRequest, actor: User | None) -> None:
    """Opening a merge request or pushing to its source branch may run a merge request pipeline."""
    mr_id, user_id, schedule = mr.pk, actor.pk if actor is not None else None, schedule_pipeline
    if schedule is not None:
        transaction.on_commit(lambda: schedule(mr_id, user_id))


def _enqueue_check(mr: MergeRequest) -> None:
    mr_id, schedule = mr.pk, schedule_check
    if schedule is not None:
        transaction.on_commit(lambda: schedule(mr_id))
    else:
        transaction.on_commit(lambda: status_refresh(MergeRequest.objects.select_related("project").get(pk=mr_id)))


@transaction.atomic
def source_branch_pushed(*, mr: MergeRequest, actor: User | None, old: str, new: str) -> None:
    """New commits on the source branch: a new diff version, the "added N commits" note, approvals
    reset (GitLab's "Reset approvals on push" default), and a status recheck."""
    latest = selectors.version_latest(merge_request=mr)
    if latest is not None and latest.head_commit_sha == new:
        return
    (target_head,) = _heads(mr.project, mr.target_branch)
    if target_head is None:
        return
    _fetch_source(mr, new)
    diff_version_create(mr, source_head=new, target_head=target_head)
    repo = git_read.Repository(mr.project_id)
    since = latest.head_commit_sha if latest is not None else target_head
    comparison = repo.compare(since, new, straight=True) if since != ZERO_SHA else None
    added = comparison.commits if comparison is not None else []
    if added and latest is not None and is_ancestor(mr.project_id, latest.head_commit_sha, new):
        count = len(added)
        lines = "\n".join(f"* {c.short_id} - {c.title}" for c in added[-10:])
        _note(mr, actor, f"added {count} commit{'s' if count != 1 else ''}\n\n{lines}")
    elif latest is not None:
        _note(mr, actor, "force-pushed the source branch")
    if MergeRequestApproval.objects.filter(merge_request=mr).delete()[0]:
        _note(mr, None, "reset approvals from all users")
    MergeRequest.objects.filter(pk=mr.pk).update(updated_at=timezone.now())
    mark_unchecked(mr)
    _enqueue_check(mr)
    _enqueue_pipeline(mr, actor)
    _hook(mr, actor, "update", oldrev=latest.head_commit_sha if latest is not None else None)


# --- create, update, close, delete -----------------------------------------------------------------


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _fork_network_root(project: Project) -> int:
    seen: set[int] = set()
    while project.forked_from_id is not None and project.pk not in seen:
        seen.add(project.pk)
        project = Project.objects.only("id", "forked_from_id").get(pk=project.forked_from_id)
    return project.pk


@transaction.atomic
def merge_request_create(  # GitLab's checks, in GitLab's order
    *,
    actor: User,
    project: Project,
    target_project: Project | None = None,
    source_branch: str | None,
    target_branch: str | None,
    title: str | None,
    description: str = "",
    assignee_ids: list[int] | None = None,
    reviewer_ids: list[int] | None = None,
    labels: list[str] | None = None,
    milestone_id: int | None = None,
    remove_source_branch: bool | None = None,
    squash: bool | None = None,
) -> MergeRequest:
    """Open a merge request from ``source_branch`` of ``project`` into ``target_branch`` of
    ``target_project`` (``project`` itself by default, or a project of the same fork network). It lives,
    and is numbered, in the target project."""
    source_project = project
    project = target_project or project
    if project.pk != source_project.pk and _fork_network_root(project) != _fork_network_root(source_project):
        raise ValidationFailed({"validate_fork": ["Source project is not a fork of the target project"]})
    if not policy.can_create_merge_request(actor, project, source_project=source_project):
        raise Forbidden()
    for name, value in (("title", title), ("source_branch", source_branch), ("target_branch", target_branch)):
        if not value or not str(value).strip():
            raise BadRequest(f"{name} is missing")
    assert title is not None and source_branch is not None and target_branch is not None
    check({"title": ["is too long (maximum is 255 characters)"] if len(title.strip()) > 255 else []})
    if source_branch == target_branch and project.pk == source_project.pk:
        raise HttpStatus(422, ["You can't use same project/branch for source and target"])
    (source_head,) = _heads(source_project, source_branch)
    (target_head,) = _heads(project, target_branch)
    missing = [
        f'{kind} branch "{name}" does not exist'
        for kind, name, head in (("Source", source_branch, source_head), ("Target", target_branch, target_head))
        if head is None
    ]
    if missing:
        raise HttpStatus(422, missing)
    assert source_head is not None and target_head is not None
    other = selectors.open_for_source(project=source_project, branch=source_branch).order_by("iid").first()
    if other is not None:
        raise HttpStatus(409, [f"Another open merge request already exists for this source branch: !{other.iid}"])
    now = timezone.now()
    mr = MergeRequest.objects.create(
        project=project,
        iid=iid_next(project=project, usage="merge_requests"),
        source_project=source_project,
        source_branch=source_branch,
        target_branch=target_branch,
        title=title.strip(),
        description=description or "",
        author=actor,
        draft=is_draft_title(title),
        milestone=_resolve_milestone(project, milestone_id),
        force_remove_source_branch=bool(remove_source_branch),
        squash=bool(squash),
        created_at=now,
        updated_at=now,
    )
    if labels:
        mr.labels.add(*_resolve_labels(project, labels, actor))
    if assignee_ids:
        mr.assignees.add(*_resolve_users(assignee_ids))
    if reviewer_ids:
        mr.reviewers.add(*_resolve_users(reviewer_ids))
    _fetch_source(mr, source_head)
    diff_version_create(mr, source_head=source_head, target_head=target_head)
    _event(mr, actor, Event.Action.CREATED)
    project.last_activity_at = now
    project.save(update_fields=["last_activity_at"])
    _enqueue_check(mr)
    _enqueue_pipeline(mr, actor)
    return mr


def _authorize_update(actor: User, mr: MergeRequest) -> bool:
    policy.authorize_issue(actor, policy.can_on_merge_request(actor, "update_merge_request", mr))
    return policy.can_on_merge_request(actor, "admin_merge_request", mr)


UNSET: Any = object()


_UPDATE_FIELDS = [
    "title", "draft", "description", "target_branch", "force_remove_source_branch", "squash", "milestone",
    "discussion_locked", "updated_at",
]  # fmt: skip


@transaction.atomic
def merge_request_update(  # noqa: PLR0915  # one branch per GitLab parameter
    *,
    actor: User,
    mr: MergeRequest,
    title: str | None = None,
    description: str | None = None,
    target_branch: str | None = None,
    state_event: str | None = None,
    labels: list[str] | None = None,
    add_labels: list[str] | None = None,
    remove_labels: list[str] | None = None,
    assignee_ids: list[int] | None = None,
    reviewer_ids: list[int] | None = None,
    milestone_id: int | None = UNSET,
    remove_source_branch: bool | None = None,
    squash: bool | None = None,
    discussion_locked: bool | None = None,
) -> MergeRequest:
    admin = _authorize_update(actor, mr)
    before = mr_payload.snapshot(mr) if webhooks.hooks_may_exist(project_id=mr.project_id) else None
    if state_event is not None and state_event not in ("close", "reopen"):
        raise BadRequest("state_event does not have a valid value")
    if mr.state == MergeRequest.State.MERGED and (target_branch is not None or state_event is not None):
        raise HttpStatus(422, {"base": ["Cannot change the state or target branch of a merged merge request"]})
    changed = recheck = False
    if title is not None:
        changed |= _set_title(mr, actor, title)
        recheck = True
    if description is not None and description != mr.description:
        mr.description = description
        _note(mr, actor, "changed the description")
        changed = True
    if target_branch is not None and target_branch != mr.target_branch:
        if target_branch == mr.source_branch:
            raise HttpStatus(422, ["You can't use same project/branch for source and target"])
        source_head, target_head = _mr_heads(mr, target_branch)
        if target_head is None:
            raise HttpStatus(422, [f'Target branch "{target_branch}" does not exist'])
        _note(mr, actor, f"changed target branch from `{mr.target_branch}` to `{target_branch}`")
        mr.target_branch = target_branch
        if source_head is not None:
            mr.save(update_fields=["target_branch"])
            diff_version_create(mr, source_head=source_head, target_head=target_head)
        changed = recheck = True
    if remove_source_branch is not None:
        mr.force_remove_source_branch = bool(remove_source_branch)
        changed = True
    if squash is not None:
        mr.squash = bool(squash)
        changed = True
    if admin:
        if labels is not None or add_labels or remove_labels:
            current = list(mr.labels.all())
            new = _resolve_labels(mr.project, labels, actor) if labels is not None else current
            if add_labels:
                new += [lb for lb in _resolve_labels(mr.project, add_labels, actor) if lb not in new]
            if remove_labels:
                new = [lb for lb in new if lb.title not in set(remove_labels)]
            changed |= _set_labels(mr, actor, new)
        if assignee_ids is not None:
            changed |= _set_users(mr, actor, "assignees", _resolve_users(assignee_ids))
        if reviewer_ids is not None:
            changed |= _set_users(mr, actor, "reviewers", _resolve_users(reviewer_ids))
        if milestone_id is not UNSET:
            milestone = _resolve_milestone(mr.project, milestone_id)
            if mr.milestone_id != (milestone.pk if milestone else None):
                mr.milestone = milestone
                _note(mr, actor, f"changed milestone to {milestone.reference}" if milestone else "removed milestone")
                changed = True
        if discussion_locked is not None and bool(discussion_locked) != mr.discussion_locked:
            mr.discussion_locked = bool(discussion_locked)
            _note(mr, actor, f"{'locked' if discussion_locked else 'unlocked'} the discussion in this merge request")
            changed = True
    if changed:
        mr.updated_at = timezone.now()
        # Only the fields an update edits: a full save would write back a stale merge status, state or head
        # that a background check or a push recorded since this object was read.
        mr.save(update_fields=_UPDATE_FIELDS)
        if before is not None:
            _hook(mr, actor, "update", changes=mr_payload.changes(before, mr_payload.snapshot(mr)))
    if state_event == "close":
        merge_request_close(actor=actor, mr=mr)
    elif state_event == "reopen":
        merge_request_reopen(actor=actor, mr=mr)
    elif recheck:
        status_refresh(mr)
    return mr


@transaction.atomic
def merge_request_close(*, actor: User | None, mr: MergeRequest) -> MergeRequest:
    if not mr.is_open:
        return mr
    now = timezone.now()
    mr.state, mr.closed_at, mr.closed_by, mr.updated_at = MergeRequest.State.CLOSED, now, actor, now
    mr.detailed_merge_status = "not_open"
    mr.save(update_fields=["state", "closed_at", "closed_by", "updated_at", "detailed_merge_status"])
    _note(mr, actor, "closed")
    _event(mr, actor, Event.Action.CLOSED)
    return mr


@project_services.on_fork_detach
def merge_requests_close_from_fork(project: Project, actor: User | None) -> None:
    """A fork left its network (unlinked or deleted): its open merge requests into other projects are
    closed, as GitLab does, rather than left pointing at a branch they can no longer follow."""
    opened = MergeRequest.objects.filter(source_project=project, state=MergeRequest.State.OPENED)
    for mr in opened.exclude(project=project).select_related("project"):
        merge_request_close(actor=actor, mr=mr)


@transaction.atomic
def merge_request_reopen(*, actor: User, mr: MergeRequest) -> MergeRequest:
    if mr.state != MergeRequest.State.CLOSED:
        return mr
    source_head, target_head = _mr_heads(mr)
    if source_head is None or target_head is None:
        raise HttpStatus(422, ["Cannot reopen: a branch of this merge request no longer exists"])
    other = (
        selectors.open_for_source(project=mr.source_project, branch=mr.source_branch).exclude(pk=mr.pk).first()
        if mr.source_project is not None
        else None
    )
    if other is not None:
        raise HttpStatus(409, [f"Another open merge request already exists for this source branch: !{other.iid}"])
    mr.state, mr.closed_at, mr.closed_by, mr.updated_at = MergeRequest.State.OPENED, None, None, timezone.now()
    mr.save(update_fields=["state", "closed_at", "closed_by", "updated_at"])
    latest = selectors.version_latest(merge_request=mr)
    if latest is None or latest.head_commit_sha != source_head:
        diff_version_create(mr, source_head=source_head, target_head=target_head)
    _note(mr, actor, "reopened")
    _event(mr, actor, Event.Action.REOPENED)
    status_refresh(mr)
    return mr


@transaction.atomic
def merge_request_delete(*, actor: User, mr: MergeRequest) -> None:
    policy.authorize_issue(actor, policy.can_on_merge_request(actor, "destroy_merge_request", mr))
    mr.delete()


# --- approvals --------------------------------------------------------------------------------------


def _check_sha(mr: MergeRequest, sha: str | None) -> None:
    if sha:
        latest = selectors.version_latest(merge_request=mr)
        head = latest.head_commit_sha if latest is not None else None
        if head != sha:
            raise _sha_mismatch(head)


@transaction.atomic
def approve(*, actor: User, mr: MergeRequest, sha: str | None = None) -> MergeRequest:
    """Approve as ``actor``: 403 when they may not approve at all (reporters), 401 when they may not
    approve this one (its author, or already approved), 409 when ``sha`` is not the reviewed head."""
    if not policy.can_on_merge_request(actor, "update_merge_request", mr):
        policy.authorize_issue(actor, False)
    _check_sha(mr, sha)
    if not mr.is_open or not policy.can_on_merge_request(actor, "approve_merge_request", mr):
        raise Unauthorized()
    try:
        with transaction.atomic():
            MergeRequestApproval.objects.create(merge_request=mr, user=actor)
    except IntegrityError:
        raise Unauthorized() from None
    _note(mr, actor, "approved this merge request")
    _event(mr, actor, Event.Action.APPROVED)
    status_refresh(mr)
    # GitLab: "approved" once no approval is missing any more, "approval" for one more approval.
    _hook(mr, actor, "approved" if _approved(mr) else "approval")
    return mr


@transaction.atomic
def unapprove(*, actor: User, mr: MergeRequest) -> MergeRequest:
    if not policy.can_on_merge_request(actor, "update_merge_request", mr):
        policy.authorize_issue(actor, False)
    was_approved = _approved(mr)
    if not MergeRequestApproval.objects.filter(merge_request=mr, user=actor).delete()[0]:
        raise NotFound()
    _note(mr, actor, "unapproved this merge request")
    status_refresh(mr)
    _hook(mr, actor, "unapproved" if was_approved and not _approved(mr) else "unapproval")
    return mr


# --- merging ----------------------------------------------------------------------------------------


def can_be_merged_by(user: User | None, mr: MergeRequest) -> bool:
    if user is None or not policy.can_read_merge_requests(user, mr.project):
        return False
    rules = repo_selectors.protected_branches(project=mr.project)
    return policy.merge_denial(user, mr.project, mr.target_branch, protected_branches=rules) is None


def _lock_branch(project: Project, branch: str) -> None:
    """Serialise merges into ``branch``: the lock row is held until the caller's transaction ends."""
    MergeLock.objects.get_or_create(project=project, branch=branch)
    MergeLock.objects.select_for_update().get(project=project, branch=branch)


def default_merge_message(mr: MergeRequest) -> str:
    """GitLab's default merge commit template."""
    closes = issue_selectors.closing_issue_references(mr.description, mr.project)
    lines = [f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'", "", mr.title]
    if closes:
        lines += ["", "Closes " + ", ".join(f"#{i.iid}" for i in closes if i.project_id == mr.project_id)]
    lines += ["", f"See merge request {mr.project.full_path}!{mr.iid}"]
    return "\n".join(lines)


@dataclass
class MergeOptions:
    sha: str | None = None
    merge_commit_message: str | None = None
    squash_commit_message: str | None = None
    squash: bool | None = None
    should_remove_source_branch: bool | None = None
    # ``merge_when_pipeline_succeeds``/``auto_merge``: wait for a running head pipeline instead.
    auto_merge: bool = False

    def params(self) -> dict[str, Any]:
        """What auto-merge keeps to merge with later."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "auto_merge" and v is not None}


@transaction.atomic
def merge(*, actor: User, mr: MergeRequest, options: MergeOptions) -> MergeRequest:  # noqa: PLR0915
    """Merge now, with the project's merge method, or answer as GitLab does: 401 (may not merge into the
    target), 405 (not open, draft, not approved, discussions open, rebase needed), 422 (conflicts), 409
    (``sha`` is not the source head)."""
    if not can_be_merged_by(actor, mr):
        raise Unauthorized()
    project = mr.project
    _lock_branch(project, mr.target_branch)
    source_project = mr.source_project
    mr.refresh_from_db()
    mr.project, mr.source_project = project, source_project
    source_head, target_head = _mr_heads(mr)
    latest = selectors.version_latest(merge_request=mr)
    if mr.is_open and source_head is not None and (latest is None or latest.head_commit_sha != source_head):
        source_branch_pushed(mr=mr, actor=None, old=latest.head_commit_sha if latest else ZERO_SHA, new=source_head)
    status_refresh(mr)
    squash = mr.squash if options.squash is None else bool(options.squash)
    if options.auto_merge and mr.detailed_merge_status in ("mergeable", "ci_still_running"):
        pipeline = head_pipeline(mr, source_head)
        if pipeline is not None and pipeline.status in ACTIVE_PIPELINE_STATUSES:
            _check_sha(mr, options.sha)
            return _auto_merge_enable(actor=actor, mr=mr, options=options, pipeline=pipeline)
    if mr.detailed_merge_status not in ("mergeable", "conflict"):
        raise _not_allowed()
    if mr.has_conflicts or source_head is None or target_head is None:
        raise _cannot_merge()
    _check_sha(mr, options.sha)
    committer = Signature(actor.name or actor.username, actor.email)
    head = source_head
    squash_sha = None
    if squash:
        repo = git_read.Repository(project.id)
        comparison = repo.compare(target_head, source_head, straight=True)
        commits = comparison.commits if comparison is not None else []
        single = len(commits) == 1 and not options.squash_commit_message
        if single:
            squash_sha = source_head  # one commit and no new message: GitLab keeps it as it is
        elif commits:
            base = repo.merge_base([target_head, source_head])
            squash_sha = git_merge.commit_tree(
                project.id,
                tree=git_merge.tree_of(project.id, source_head),
                parents=[base.id] if base is not None else [],
                message=options.squash_commit_message or mr.title,
                author=committer,
                committer=committer,
            )
            head = squash_sha
    merge_sha: str | None
    if project.merge_method == "ff":
        if not is_ancestor(project.id, target_head, head):
            raise _not_allowed()
        new_target, merge_sha = head, None
    else:
        if project.merge_method == "rebase_merge" and not is_ancestor(project.id, target_head, source_head):
            raise _not_allowed()
        result = git_merge.merge_tree(project.id, target_head, head)
        if not result.clean or result.tree is None:
            raise _cannot_merge()
        merge_sha = git_merge.commit_tree(
            project.id,
            tree=result.tree,
            parents=[target_head, head],
            message=options.merge_commit_message or default_merge_message(mr),
            author=committer,
            committer=committer,
        )
        new_target = merge_sha
    ref = f"refs/heads/{mr.target_branch}"
    try:
        update_ref(project.id, ref, new_target, target_head)
    except GitError as exc:
        raise _cannot_merge() from exc
    now = timezone.now()
    mr.state, mr.merged_by, mr.merged_at, mr.updated_at = MergeRequest.State.MERGED, actor, now, now
    mr.merge_commit_sha, mr.squash_commit_sha, mr.squash = merge_sha, squash_sha, squash
    mr.detailed_merge_status, mr.merge_error = "not_open", None
    mr.merge_when_pipeline_succeeds = False
    if options.should_remove_source_branch is not None:
        mr.should_remove_source_branch = bool(options.should_remove_source_branch)
    mr.save()
    _note(mr, actor, "merged")
    _event(mr, actor, Event.Action.MERGED)
    if mr.target_branch == project.default_branch:
        _close_issues(mr, actor, source_head)
    repos.push_process(
        project=project, user=actor, changes=[RefChange(old=target_head, new=new_target, ref=ref)], push_options=[]
    )
    remove = (
        mr.should_remove_source_branch if mr.should_remove_source_branch is not None else mr.force_remove_source_branch
    )
    if remove and source_project is not None:
        with contextlib.suppress(DockyardError):  # protected, moved meanwhile, or not theirs: GitLab leaves it
            repos.branch_delete(project=source_project, user=actor, branch=mr.source_branch)
    return mr


def _auto_merge_enable(*, actor: User, mr: MergeRequest, options: MergeOptions, pipeline: Pipeline) -> MergeRequest:
    if mr.merge_when_pipeline_succeeds and mr.merge_user_id == actor.pk:
        return mr
    mr.merge_when_pipeline_succeeds, mr.merge_user, mr.merge_params = True, actor, options.params()
    mr.merge_error = None
    mr.save(update_fields=["merge_when_pipeline_succeeds", "merge_user", "merge_params", "merge_error"])
    _note(mr, actor, f"enabled an automatic merge when the pipeline for {pipeline.sha} succeeds")
    return mr


@transaction.atomic
def auto_merge_cancel(*, actor: User, mr: MergeRequest) -> MergeRequest:
    """``POST …/cancel_merge_when_pipeline_succeeds``: 401 for who may not merge (its author may
    cancel too), 406 when no automatic merge is set."""
    if not (can_be_merged_by(actor, mr) or mr.author_id == actor.pk):
        raise Unauthorized()
    if not mr.merge_when_pipeline_succeeds or not mr.is_open:
        raise HttpStatus(406, "Can't cancel the automatic merge")
    mr.merge_when_pipeline_succeeds, mr.merge_user, mr.merge_params = False, None, {}
    mr.save(update_fields=["merge_when_pipeline_succeeds", "merge_user", "merge_params"])
    _note(mr, actor, "canceled the automatic merge")
    return mr


def auto_merge_process(*, mr: MergeRequest) -> MergeRequest:
    """The head pipeline finished: merge as whoever set the automatic merge when it passed. A merge that
    is refused then (conflicts, a blocker, the branch moved) ends the automatic merge with a note."""
    if not mr.is_open or not mr.merge_when_pipeline_succeeds or mr.merge_user is None:
        return mr
    pipeline = head_pipeline(mr)
    if pipeline is None or pipeline.status in ACTIVE_PIPELINE_STATUSES:
        return mr
    passed = pipeline.status == "success" or (
        pipeline.status == "skipped" and mr.project.allow_merge_on_skipped_pipeline
    )
    if not passed:
        return mr  # GitLab keeps waiting: a retried pipeline that passes still merges
    options = MergeOptions(**{k: v for k, v in mr.merge_params.items() if k in MergeOptions.__dataclass_fields__})
    try:
        with transaction.atomic():
            merge(actor=mr.merge_user, mr=mr, options=options)
    except DockyardError as exc:
        reason = exc.args[0] if exc.args and isinstance(exc.args[0], str) else "the merge request cannot be merged"
        MergeRequest.objects.filter(pk=mr.pk).update(
            merge_when_pipeline_succeeds=False, merge_error=reason, merge_params={}
        )
        _note(mr, None, f"aborted the automatic merge because {reason[:1].lower()}{reason[1:]}")
    return mr


def _close_issues(mr: MergeRequest, actor: User, source_head: str) -> None:
    """Issues the description or the commits say they close ("Closes #12"), closed "via merge request"."""
    texts = [mr.description]
    comparison = git_read.Repository(mr.project_id).compare(
        selectors.version_latest(merge_request=mr).start_commit_sha,  # type: ignore[union-attr]
        source_head,
        straight=True,
    )
    texts += [c.message for c in (comparison.commits if comparison else [])]
    seen: set[int] = set()
    for text in texts:
        for issue in issue_selectors.closing_issue_references(text, mr.project, viewer=actor):
            if issue.pk in seen or not issue.is_open:
                continue
            seen.add(issue.pk)
            if not policy.can_on_issue(actor, "update_issue", issue):
                continue
            ref = f"!{mr.iid}" if issue.project_id == mr.project_id else f"{mr.project.full_path}!{mr.iid}"
            issue_services.issue_close(actor=actor, issue=issue, note=f"closed via merge request {ref}")


@transaction.atomic
def rebase(*, actor: User, mr: MergeRequest) -> MergeRequest:
    """Rebase the source branch onto the target branch now (GitLab queues it; it is quick here). A
    conflict leaves the branch alone and sets ``merge_error``.

    The new commits are made in the target repository (where both branches' objects are) and, for a
    merge request from a fork, fetched into the fork, whose branch is the one rewritten (as in GitLab)."""
    project = mr.source_project
    source_head, target_head = _mr_heads(mr)
    if project is None or source_head is None:
        raise Forbidden("Source branch does not exist")
    if target_head is None:
        raise Forbidden("Target branch does not exist")
    ref = f"refs/heads/{mr.source_branch}"
    denial = policy.push_denial(
        actor,
        project,
        RefChange(old=source_head, new="f" * 40, ref=ref, forced=True),
        protected_branches=repo_selectors.protected_branches(project=project),
        protected_tags=[],
        via_web=True,
    )
    if denial or not mr.is_open:
        raise Forbidden("Cannot push to source branch" if denial else "This merge request is not open")
    committer = Signature(actor.name or actor.username, actor.email)
    new = git_merge.rebase(mr.project_id, onto=target_head, upstream=target_head, head=source_head, committer=committer)
    if new is None:
        mr.merge_error = "Rebase failed: Rebase locally, resolve all conflicts, then push the branch."
        mr.save(update_fields=["merge_error"])
        return mr
    mr.merge_error = None
    mr.save(update_fields=["merge_error"])
    if new == source_head:
        return mr
    try:
        if project.pk != mr.project_id:
            fetch_commit(project.id, from_project_id=mr.project_id, sha=new)
        update_ref(project.id, ref, new, source_head)
    except GitError:
        mr.merge_error = "Rebase failed: the source branch moved meanwhile. Try again."
        mr.save(update_fields=["merge_error"])
        return mr
    repos.push_process(
        project=project,
        user=actor,
        changes=[RefChange(old=source_head, new=new, ref=ref, forced=True)],
        push_options=[],
    )
    source_branch_pushed(mr=mr, actor=actor, old=source_head, new=new)
    return mr


# --- comments and quick actions --------------------------------------------------------------------


def draft_title(title: str, draft: bool) -> str:
    return f"Draft: {draftless_title(title)}" if draft else draftless_title(title)


def _execute(actor: User, mr: MergeRequest, command: quick_actions.Command) -> str | None:  # noqa: PLR0915
    name, arg = command.name, command.arg
    can_edit = policy.can_on_merge_request(actor, "update_merge_request", mr)
    if name == "approve":
        if not policy.can_on_merge_request(actor, "approve_merge_request", mr):
            return None
        try:
            approve(actor=actor, mr=mr)
        except DockyardError:
            return None
        return "Approved the current merge request."
    if name == "unapprove":
        try:
            unapprove(actor=actor, mr=mr)
        except DockyardError:
            return None
        return "Unapproved the current merge request."
    if name == "merge":
        try:
            merge(actor=actor, mr=mr, options=MergeOptions())
        except DockyardError:
            return None
        return "Merged this merge request."
    if name == "rebase":
        try:
            rebase(actor=actor, mr=mr)
        except DockyardError:
            return None
        return "Scheduled a rebase of branch."
    if not can_edit:
        return None
    if name in ("draft", "ready"):
        merge_request_update(actor=actor, mr=mr, title=draft_title(mr.title, name == "draft"))
        return "Marked this merge request as a draft." if name == "draft" else "Marked this merge request as ready."
    if name in ("close", "reopen"):
        merge_request_update(actor=actor, mr=mr, state_event=name)
        return "Closed this merge request." if name == "close" else "Reopened this merge request."
    if name == "title" and arg:
        merge_request_update(actor=actor, mr=mr, title=arg)
        return f'Changed the title to "{arg}".'
    if not policy.can_on_merge_request(actor, "admin_merge_request", mr):
        return None
    if name in ("assign", "unassign", "assign_reviewer", "unassign_reviewer"):
        relation = "reviewers" if name.endswith("reviewer") else "assignees"
        names = [actor.username if n == "me" else n for n in quick_actions.usernames(arg)]
        users = list(User.objects.filter(username__in=names)) if names else []
        current = list(getattr(mr, relation).all())
        if name.startswith("assign"):
            new = current + [u for u in users if u not in current]
        else:
            new = [u for u in current if u not in users] if users else []
        ids = [u.pk for u in new]
        if relation == "reviewers":
            merge_request_update(actor=actor, mr=mr, reviewer_ids=ids)
            return f"Assigned {arg} as reviewer." if name.startswith("assign") else f"Removed reviewer {arg}."
        merge_request_update(actor=actor, mr=mr, assignee_ids=ids)
        return f"{name.capitalize()}ed {arg}."
    if name in ("label", "unlabel", "relabel"):
        titles = quick_actions.label_titles(arg)
        if name == "label":
            merge_request_update(actor=actor, mr=mr, add_labels=titles)
        elif name == "relabel":
            merge_request_update(actor=actor, mr=mr, labels=titles)
        else:
            merge_request_update(actor=actor, mr=mr, labels=[] if not titles else None, remove_labels=titles or None)
        return f"{name.capitalize()}ed {arg}." if arg else "Removed all labels."
    if name == "milestone":
        title = quick_actions.milestone_title(arg)
        milestone = issue_selectors.milestones_available(project=mr.project).filter(title=title).first()
        if milestone is None:
            return None
        merge_request_update(actor=actor, mr=mr, milestone_id=milestone.pk)
        return f"Set the milestone to {milestone.reference}."
    if name == "remove_milestone":
        merge_request_update(actor=actor, mr=mr, milestone_id=None)
        return "Removed the milestone."
    if name in ("lock", "unlock"):
        merge_request_update(actor=actor, mr=mr, discussion_locked=name == "lock")
        return "Locked the discussion." if name == "lock" else "Unlocked the discussion."
    return None


for _name, *_aliases in (
    ("approve",),
    ("unapprove",),
    ("merge",),
    ("rebase",),
    ("draft", "wip"),
    ("ready",),
    ("close",),
    ("reopen",),
    ("title",),
    ("assign",),
    ("unassign",),
    ("assign_reviewer", "reviewer", "request_review"),
    ("unassign_reviewer", "remove_reviewer"),
    ("label", "labels"),
    ("unlabel", "remove_label"),
    ("relabel",),
    ("milestone",),
    ("remove_milestone",),
    ("lock",),
    ("unlock",),
):
    quick_actions.register("merge_request", _name, *_aliases)


def _validate_position(mr: MergeRequest, position: dict[str, Any]) -> dict[str, Any]:
    """GitLab's text diff position: the shas of one diff version, a path of its diff, and a line."""
    if position.get("position_type", "text") != "text":
        raise BadRequest("position_type does not have a valid value")
    shas = (position.get("base_sha"), position.get("start_sha"), position.get("head_sha"))
    if not all(shas):
        raise BadRequest("position is invalid: base_sha, start_sha and head_sha are required")
    version = mr.diffs.filter(head_commit_sha=position["head_sha"]).first()
    if version is None:
        raise BadRequest('Note {:line_code=>["can\'t be blank", "must be a valid line code"]}')
    new_path = position.get("new_path") or position.get("old_path")
    old_path = position.get("old_path") or new_path
    if not new_path:
        raise BadRequest("position is invalid: new_path is required")
    repo = git_read.Repository(mr.project_id)
    comparison = repo.compare(str(position["base_sha"]), str(position["head_sha"]), straight=True)
    paths = {p for d in (comparison.diffs if comparison else []) for p in (d.new_path, d.old_path)}
    if new_path not in paths or old_path not in paths:
        raise BadRequest('Note {:line_code=>["can\'t be blank", "must be a valid line code"]}')

    def line(value: Any) -> int | None:
        return int(value) if value not in (None, "") else None

    new_line, old_line = line(position.get("new_line")), line(position.get("old_line"))
    if new_line is None and old_line is None:
        raise BadRequest('Note {:line_code=>["can\'t be blank", "must be a valid line code"]}')
    return {
        "base_sha": str(shas[0]),
        "start_sha": str(shas[1]),
        "head_sha": str(shas[2]),
        "old_path": old_path,
        "new_path": new_path,
        "position_type": "text",
        "old_line": old_line,
        "new_line": new_line,
        "line_range": position.get("line_range"),
    }


@dataclass
class CommandsOnly:
    summary: list[str]
    changes: dict[str, Any]


@transaction.atomic
def merge_request_note_create(
    *,
    actor: User,
    mr: MergeRequest,
    body: str,
    internal: bool = False,
    discussion_id: str | None = None,
    thread: bool = False,
    position: dict[str, Any] | None = None,
    created_at: dt.datetime | None = None,
) -> Note | CommandsOnly:
    """Comment on a merge request (reporters, and anyone who may read it when signed in): run its quick
    actions, then store what remains; ``position`` starts a diff thread on a line."""
    policy.authorize_issue(actor, policy.can_on_merge_request(actor, "create_note", mr))
    if internal and not policy.can_on_project_issues(actor, "read_internal_note", mr.project):
        raise Forbidden()
    if not body or not body.strip():
        raise BadRequest("body is missing")
    parsed = quick_actions.parse(body, kind="merge_request")
    summary = [line for line in (_execute(actor, mr, c) for c in parsed.commands) if line]
    if parsed.commands and not parsed.body:
        return CommandsOnly(summary, {c.name: c.arg or True for c in parsed.commands})
    note = notes.note_create(
        merge_request=mr,
        actor=actor,
        body=parsed.body,
        internal=internal,
        discussion_id=discussion_id,
        thread=thread,
        position=_validate_position(mr, position) if position and discussion_id is None else None,
        created_at=created_at if created_at and actor.is_admin else None,
    )
    if note.resolvable and mr.project.only_allow_merge_if_all_discussions_are_resolved:
        status_refresh(mr)
    webhooks.hook_event_emit(
        project=mr.project,
        scope="confidential_note_hooks" if note_payload.is_confidential(note) else "note_hooks",
        payload_builder=lambda base: note_payload.build(
            note=note, user=actor, action="create", base=base, head_sha=_head_sha(mr)
        ),
    )
    return note


def discussion_resolved(mr: MergeRequest) -> None:
    """After a thread is resolved or unresolved: discussions may block the merge."""
    if mr.project.only_allow_merge_if_all_discussions_are_resolved:
        status_refresh(mr)
