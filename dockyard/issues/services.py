"""All writes on issues, labels, milestones and issue links, with the system notes GitLab records for
each change, and the issue quick actions of comments."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from dockyard.accounts.models import User
from dockyard.core.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed, check
from dockyard.core.human_time import format_duration, parse_duration
from dockyard.events.models import Event
from dockyard.issues import selectors
from dockyard.issues.models import Issue, IssueLink, Label, Milestone
from dockyard.namespaces.models import Namespace
from dockyard.notes import quick_actions
from dockyard.notes import services as notes
from dockyard.notes.models import Note
from dockyard.notifications import services as notifications
from dockyard.permissions import policy
from dockyard.projects.models import Project
from dockyard.projects.services import iid_next
from dockyard.webhooks import services as webhooks
from dockyard.webhooks.payloads import issue as issue_payload
from dockyard.webhooks.payloads import note as note_payload


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "parameter not given", as opposed to an explicit null that clears a field

_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_NAMED_COLORS = {"red": "#ff0000", "green": "#008000", "blue": "#0000ff", "black": "#000000", "white": "#ffffff"}


def _sentence(items: list[str]) -> str:
    """Rails' ``to_sentence``: ``a``, ``a and b``, ``a, b, and c``."""
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _plural(word: str, count: int) -> str:
    return word if count == 1 else f"{word}s"


_HOOK_ACTIONS: dict[str, str] = {
    Event.Action.CREATED: "open",
    Event.Action.CLOSED: "close",
    Event.Action.REOPENED: "reopen",
}


def _event(issue: Issue, actor: User | None, action: str) -> None:
    Event.objects.create(
        project_id=issue.project_id,
        author=actor,
        action=action,
        target_type="Issue",
        target_id=issue.pk,
        target_title=issue.title[:255],
    )
    if action in _HOOK_ACTIONS:
        _issue_hook(issue, actor, _HOOK_ACTIONS[action])
    if action == Event.Action.CREATED:
        notifications.notify(kind="issue_opened", object_id=issue.pk, actor=actor)


def _issue_hook(issue: Issue, actor: User | None, action: str) -> None:
    """Issue Hook deliveries (after commit); confidential issues only reach hooks that asked for them."""
    if actor is None:
        return
    webhooks.hook_event_emit(
        project=issue.project,
        scope="confidential_issue_hooks" if issue.confidential else "issue_hooks",
        payload_builder=lambda base: issue_payload.build(issue=issue, user=actor, action=action, base=base),
    )


def _note(issue: Issue, actor: User | None, body: str) -> None:
    notes.system_note_create(issue=issue, actor=actor, body=body)


# --- labels, milestones and users as issue attributes ------------------------------------------


def _resolve_labels(project: Project, titles: Iterable[str], actor: User, *, create: bool) -> list[Label]:
    """Labels of ``project`` (its own win over its groups') with these titles; missing ones are created as
    project labels when ``create`` is set and the actor may manage labels (GitLab's API does this)."""
    wanted = list(dict.fromkeys(t.strip() for t in titles if t and t.strip()))
    if not wanted:
        return []
    found: dict[str, Label] = {}
    for label in selectors.labels_available(project=project).filter(title__in=wanted).order_by("-project_id"):
        found.setdefault(label.title, label)
        if label.project_id is not None:
            found[label.title] = label
    missing = [t for t in wanted if t not in found]
    if missing and create and policy.can_on_project_issues(actor, "admin_label", project):
        for title in missing:
            found[title] = label_create(actor=actor, project=project, name=title, color=Label.DEFAULT_COLOR)
    return [found[t] for t in wanted if t in found]


def _resolve_users(ids: Iterable[int]) -> list[User]:
    ids = [i for i in ids if i]
    users = {u.pk: u for u in User.objects.filter(pk__in=ids)}
    return [users[i] for i in dict.fromkeys(ids) if i in users]


def _resolve_milestone(project: Project, milestone_id: int | None) -> Milestone | None:
    if not milestone_id:
        return None
    milestone = selectors.milestones_available(project=project).filter(pk=milestone_id).first()
    if milestone is None:
        raise NotFound("Milestone")
    return milestone


def _label_refs(labels: Iterable[Label]) -> str:
    return " ".join(label.reference for label in labels)


def _set_labels(issue: Issue, actor: User, new: list[Label]) -> bool:
    current = list(issue.labels.all())
    added = [lb for lb in new if lb.pk not in {c.pk for c in current}]
    removed = [lb for lb in current if lb.pk not in {n.pk for n in new}]
    if not added and not removed:
        return False
    if removed:
        issue.labels.remove(*removed)
    if added:
        issue.labels.add(*added)
    parts = []
    if added:
        parts.append(f"added {_label_refs(added)} {_plural('label', len(added))}")
    if removed:
        parts.append(f"removed {_label_refs(removed)} {_plural('label', len(removed))}")
    _note(issue, actor, " and ".join(parts))
    return True


def _set_assignees(issue: Issue, actor: User, new: list[User]) -> bool:
    current = list(issue.assignees.all())
    added = [u for u in new if u.pk not in {c.pk for c in current}]
    removed = [u for u in current if u.pk not in {n.pk for n in new}]
    if not added and not removed:
        return False
    if removed:
        issue.assignees.remove(*removed)
    if added:
        issue.assignees.add(*added)
        notifications.notify(kind="issue_assigned", object_id=issue.pk, actor=actor, users=added)
    parts = []
    if added:
        parts.append("assigned to " + _sentence([f"@{u.username}" for u in added]))
    if removed:
        parts.append("unassigned " + _sentence([f"@{u.username}" for u in removed]))
    _note(issue, actor, " and ".join(parts))
    return True


def _set_milestone(issue: Issue, actor: User, milestone: Milestone | None) -> bool:
    if issue.milestone_id == (milestone.pk if milestone else None):
        return False
    old = issue.milestone
    issue.milestone = milestone
    if milestone is not None:
        _note(issue, actor, f"changed milestone to {milestone.reference}")
    else:
        _note(issue, actor, f"removed milestone {old.reference}" if old else "removed milestone")
    return True


def _long_date(day: dt.date) -> str:
    return f"{day.strftime('%B')} {day.day}, {day.year}"


def _set_due_date(issue: Issue, actor: User, due: dt.date | None) -> bool:
    if issue.due_date == due:
        return False
    issue.due_date = due
    _note(issue, actor, f"changed due date to {_long_date(due)}" if due else "removed due date")
    return True


def _set_confidential(issue: Issue, actor: User, confidential: bool) -> bool:
    if issue.confidential == confidential:
        return False
    issue.confidential = confidential
    _note(issue, actor, "made the issue confidential" if confidential else "made the issue visible to everyone")
    return True


def _set_locked(issue: Issue, actor: User, locked: bool) -> bool:
    if issue.discussion_locked == locked:
        return False
    issue.discussion_locked = locked
    _note(issue, actor, f"{'locked' if locked else 'unlocked'} the discussion in this issue")
    return True


def _set_title(issue: Issue, actor: User, title: str) -> bool:
    title = title.strip()
    check({"title": [] if title else ["can't be blank"]})
    check({"title": ["is too long (maximum is 255 characters)"] if len(title) > 255 else []})
    if title == issue.title:
        return False
    _note(issue, actor, f"changed title from **{issue.title}** to **{title}**")
    issue.title = title
    return True


def _set_description(issue: Issue, actor: User, description: str) -> bool:
    if description == issue.description:
        return False
    issue.description = description
    _note(issue, actor, "changed the description")
    return True


def _parse_date(value: str | dt.date | None, name: str = "due_date") -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(f"{name} is invalid") from None


# --- issues -------------------------------------------------------------------------------------


@transaction.atomic
def issue_create(
    *,
    actor: User,
    project: Project,
    title: str | None,
    description: str = "",
    confidential: bool = False,
    assignee_ids: list[int] | None = None,
    milestone_id: int | None = None,
    labels: list[str] | None = None,
    due_date: str | dt.date | None = None,
    discussion_locked: bool = False,
    created_at: dt.datetime | None = None,
) -> Issue:
    """Open an issue. Metadata (labels, milestone, assignees, due date, lock) is kept only from users who
    may manage issues, as GitLab silently drops it for guests."""
    if not policy.can_create_issue(actor, project):
        raise Forbidden()
    if not title or not title.strip():
        raise BadRequest("title is missing")
    check({"title": ["is too long (maximum is 255 characters)"] if len(title.strip()) > 255 else []})
    admin = policy.can_on_project_issues(actor, "admin_issue", project)
    now = timezone.now()
    when = created_at if (created_at and (actor.is_admin or policy.can(actor, "admin_project", project))) else now
    issue = Issue.objects.create(
        project=project,
        iid=iid_next(project=project, usage="issues"),
        title=title.strip(),
        description=description or "",
        author=actor,
        confidential=bool(confidential),
        milestone=_resolve_milestone(project, milestone_id) if admin else None,
        due_date=_parse_date(due_date) if admin else None,
        discussion_locked=bool(discussion_locked) if admin else False,
        created_at=when,
        updated_at=when,
    )
    if admin:
        if labels:
            issue.labels.add(*_resolve_labels(project, labels, actor, create=True))
        if assignee_ids:
            issue.assignees.add(*_resolve_users(assignee_ids))
    _event(issue, actor, Event.Action.CREATED)
    project.last_activity_at = now
    project.save(update_fields=["last_activity_at"])
    return issue


def _authorize_update(actor: User, issue: Issue) -> bool:
    """Whether the actor may change the issue's metadata, after checking they may edit it at all."""
    if not policy.can_on_issue(actor, "update_issue", issue):
        policy.authorize_issue(actor, False)
    return policy.can_on_issue(actor, "admin_issue", issue)


@transaction.atomic
def issue_update(
    *,
    actor: User,
    issue: Issue,
    title: str | None = None,
    description: str | None = None,
    state_event: str | None = None,
    labels: list[str] | None = None,
    add_labels: list[str] | None = None,
    remove_labels: list[str] | None = None,
    assignee_ids: list[int] | None = None,
    milestone_id: int | None = UNSET,
    due_date: str | dt.date | None = UNSET,
    confidential: bool | None = None,
    discussion_locked: bool | None = None,
) -> Issue:
    """Change an issue; every change leaves GitLab's system note. Authors and assignees may edit title,
    description, state and confidentiality; labels, milestone, assignees, due date and the discussion
    lock need a reporter (changes they may not make are ignored, as in GitLab)."""
    admin = _authorize_update(actor, issue)
    changed = False
    if state_event is not None and state_event not in ("close", "reopen"):
        raise BadRequest("state_event does not have a valid value")
    if title is not None:
        changed |= _set_title(issue, actor, title)
    if description is not None:
        changed |= _set_description(issue, actor, description)
    if confidential is not None:
        changed |= _set_confidential(issue, actor, bool(confidential))
    if admin:
        project = issue.project
        if labels is not None or add_labels or remove_labels:
            current = list(issue.labels.all())
            new = _resolve_labels(project, labels, actor, create=True) if labels is not None else current
            if add_labels:
                new += [lb for lb in _resolve_labels(project, add_labels, actor, create=True) if lb not in new]
            if remove_labels:
                drop = set(remove_labels)
                new = [lb for lb in new if lb.title not in drop]
            changed |= _set_labels(issue, actor, new)
        if assignee_ids is not None:
            changed |= _set_assignees(issue, actor, _resolve_users(assignee_ids))
        if milestone_id is not UNSET:
            changed |= _set_milestone(issue, actor, _resolve_milestone(project, milestone_id))
        if due_date is not UNSET:
            changed |= _set_due_date(issue, actor, _parse_date(due_date))
        if discussion_locked is not None:
            changed |= _set_locked(issue, actor, bool(discussion_locked))
    if changed:
        issue.updated_at = timezone.now()
        issue.save()
        _issue_hook(issue, actor, "update")
    if state_event == "close":
        issue_close(actor=actor, issue=issue)
    elif state_event == "reopen":
        issue_reopen(actor=actor, issue=issue)
    return issue


@transaction.atomic
def issue_close(*, actor: User | None, issue: Issue, note: str = "closed") -> Issue:
    """Close ``issue`` (no-op when closed). ``note`` is the system note ("closed via commit <sha>")."""
    if not issue.is_open:
        return issue
    now = timezone.now()
    issue.state = Issue.State.CLOSED
    issue.closed_at = now
    issue.closed_by = actor
    issue.updated_at = now
    issue.save(update_fields=["state", "closed_at", "closed_by", "updated_at"])
    _note(issue, actor, note)
    _event(issue, actor, Event.Action.CLOSED)
    return issue


@transaction.atomic
def issue_reopen(*, actor: User, issue: Issue) -> Issue:
    if issue.is_open:
        return issue
    issue.state = Issue.State.OPENED
    issue.closed_at = None
    issue.closed_by = None
    issue.updated_at = timezone.now()
    issue.save(update_fields=["state", "closed_at", "closed_by", "updated_at"])
    _note(issue, actor, "reopened")
    _event(issue, actor, Event.Action.REOPENED)
    return issue


@transaction.atomic
def issue_delete(*, actor: User, issue: Issue) -> None:
    """Only owners (and admins) delete issues, as in GitLab."""
    policy.authorize_issue(actor, policy.can_on_issue(actor, "destroy_issue", issue))
    issue.delete()


# --- time tracking ------------------------------------------------------------------------------


def _duration(text: str | None) -> int:
    seconds = parse_duration(text or "")
    if seconds is None:
        raise BadRequest("Invalid time duration")  # GitLab's message
    return seconds


def _authorize_time(actor: User, issue: Issue) -> None:
    policy.authorize_issue(actor, policy.can_on_issue(actor, "admin_issue", issue))


@transaction.atomic
def issue_set_time_estimate(*, actor: User, issue: Issue, duration: str | None) -> Issue:
    _authorize_time(actor, issue)
    seconds = _duration(duration)
    if seconds < 0:
        raise BadRequest("Invalid time duration")
    if seconds != issue.time_estimate:
        issue.time_estimate = seconds
        issue.save(update_fields=["time_estimate"])
        human = format_duration(seconds)
        _note(issue, actor, f"changed time estimate to {human}" if human else "removed time estimate")
    return issue


@transaction.atomic
def issue_reset_time_estimate(*, actor: User, issue: Issue) -> Issue:
    _authorize_time(actor, issue)
    if issue.time_estimate:
        issue.time_estimate = 0
        issue.save(update_fields=["time_estimate"])
        _note(issue, actor, "removed time estimate")
    return issue


@transaction.atomic
def issue_add_spent_time(*, actor: User, issue: Issue, duration: str | None) -> Issue:
    """Add (or, with a negative duration, subtract) spent time; the total never goes below zero."""
    _authorize_time(actor, issue)
    seconds = _duration(duration)
    if seconds == 0:
        return issue
    issue.total_time_spent = max(issue.total_time_spent + seconds, 0)
    issue.save(update_fields=["total_time_spent"])
    human = format_duration(abs(seconds))
    _note(issue, actor, f"added {human} of time spent" if seconds > 0 else f"subtracted {human} of time spent")
    return issue


@transaction.atomic
def issue_reset_spent_time(*, actor: User, issue: Issue) -> Issue:
    _authorize_time(actor, issue)
    if issue.total_time_spent:
        issue.total_time_spent = 0
        issue.save(update_fields=["total_time_spent"])
        _note(issue, actor, "removed time spent")
    return issue


# --- links --------------------------------------------------------------------------------------

LINK_NOTE = {"relates_to": "related to", "blocks": "blocking", "is_blocked_by": "blocked by"}
LINK_NOTE_OTHER = {"relates_to": "related to", "blocks": "blocked by", "is_blocked_by": "blocking"}


def _issue_ref(issue: Issue, from_project: Project) -> str:
    if issue.project_id == from_project.id:
        return f"#{issue.iid}"
    return f"{issue.project.full_path}#{issue.iid}"


@transaction.atomic
def issue_link_create(*, actor: User, issue: Issue, target: Issue, link_type: str = "relates_to") -> IssueLink:
    """Link two issues (the actor must be allowed to edit the source and read the target)."""
    if link_type not in LINK_NOTE:
        raise BadRequest("link_type does not have a valid value")
    policy.authorize_issue(actor, policy.can_on_issue(actor, "update_issue", issue))
    if target.pk == issue.pk:
        raise BadRequest("Cannot link an issue to itself")  # kept by the check constraint too
    if IssueLink.objects.filter(Q(source=issue, target=target) | Q(source=target, target=issue)).exists():
        raise Conflict("Issue(s) already assigned")
    source, dest, stored = issue, target, link_type
    if link_type == "is_blocked_by":
        source, dest, stored = target, issue, IssueLink.Type.BLOCKS
    try:
        with transaction.atomic():
            link = IssueLink.objects.create(source=source, target=dest, link_type=stored)
    except IntegrityError as exc:
        raise Conflict("Issue(s) already assigned") from exc
    _note(issue, actor, f"marked this issue as {LINK_NOTE[link_type]} {_issue_ref(target, issue.project)}")
    _note(target, actor, f"marked this issue as {LINK_NOTE_OTHER[link_type]} {_issue_ref(issue, target.project)}")
    return link


@transaction.atomic
def issue_link_delete(*, actor: User, issue: Issue, link: IssueLink) -> None:
    policy.authorize_issue(actor, policy.can_on_issue(actor, "update_issue", issue))
    other = link.target if link.source_id == issue.id else link.source
    link.delete()
    _note(issue, actor, f"removed the relation with {_issue_ref(other, issue.project)}")
    _note(other, actor, f"removed the relation with {_issue_ref(issue, other.project)}")


# --- comments and quick actions -----------------------------------------------------------------


def _execute(actor: User, issue: Issue, command: quick_actions.Command) -> str | None:
    """Run one quick action through the same services as the API; a summary line, or None when the
    actor may not run it (GitLab then ignores the command)."""
    name, arg = command.name, command.arg
    can_admin = policy.can_on_issue(actor, "admin_issue", issue)
    can_edit = policy.can_on_issue(actor, "update_issue", issue)
    if name in ("close", "reopen"):
        if not can_edit:
            return None
        issue_update(actor=actor, issue=issue, state_event=name)
        return "Closed this issue." if name == "close" else "Reopened this issue."
    if name == "title" and can_edit and arg:
        issue_update(actor=actor, issue=issue, title=arg)
        return f'Changed the title to "{arg}".'
    if name == "confidential" and can_edit:
        issue_update(actor=actor, issue=issue, confidential=True)
        return "Made this issue confidential."
    if not can_admin:
        return None
    return _execute_admin(actor, issue, command)


def _execute_admin(actor: User, issue: Issue, command: quick_actions.Command) -> str | None:
    """The quick actions that need a reporter: labels, assignees, milestone, due date, time, lock."""
    name, arg = command.name, command.arg
    if name in ("label", "unlabel", "relabel"):
        titles = quick_actions.label_titles(arg)
        if name == "label":
            issue_update(actor=actor, issue=issue, add_labels=titles)
        elif name == "relabel":
            issue_update(actor=actor, issue=issue, labels=titles)
        else:
            issue_update(actor=actor, issue=issue, labels=[] if not titles else None, remove_labels=titles or None)
        return f"{name.capitalize()}ed {arg}." if arg else "Removed all labels."
    if name in ("assign", "unassign"):
        names = [actor.username if n == "me" else n for n in quick_actions.usernames(arg)]
        users = list(User.objects.filter(username__in=names)) if names else []
        current = list(issue.assignees.all())
        if name == "assign":
            new = current + [u for u in users if u not in current]
        else:
            new = [u for u in current if u not in users] if users else []
        issue_update(actor=actor, issue=issue, assignee_ids=[u.pk for u in new])
        return f"{name.capitalize()}ed {arg}."
    if name == "milestone":
        title = quick_actions.milestone_title(arg)
        milestone = selectors.milestones_available(project=issue.project).filter(title=title).first()
        if milestone is None:
            return None
        issue_update(actor=actor, issue=issue, milestone_id=milestone.pk)
        return f"Set the milestone to {milestone.reference}."
    if name == "remove_milestone":
        issue_update(actor=actor, issue=issue, milestone_id=None)
        return "Removed the milestone."
    if name == "due":
        due = _natural_date(arg)
        if due is None:
            return None
        issue_update(actor=actor, issue=issue, due_date=due)
        return f"Set the due date to {_long_date(due)}."
    if name == "remove_due_date":
        issue_update(actor=actor, issue=issue, due_date=None)
        return "Removed the due date."
    if name == "estimate":
        issue_set_time_estimate(actor=actor, issue=issue, duration=arg)
        return f"Set time estimate to {arg}."
    if name == "remove_estimate":
        issue_reset_time_estimate(actor=actor, issue=issue)
        return "Removed time estimate."
    if name == "spend":
        duration = arg.split()[0] if arg else ""
        issue_add_spent_time(actor=actor, issue=issue, duration=duration)
        return f"Added {duration} spent time."
    if name == "remove_time_spent":
        issue_reset_spent_time(actor=actor, issue=issue)
        return "Removed spent time."
    if name in ("lock", "unlock"):
        issue_update(actor=actor, issue=issue, discussion_locked=name == "lock")
        return "Locked the discussion." if name == "lock" else "Unlocked the discussion."
    return None


def _natural_date(text: str) -> dt.date | None:
    """``2024-05-01``, ``today``, ``tomorrow``, ``in 3 days``/``in 2 weeks``."""
    text = text.strip().lower()
    today = timezone.now().date()
    if text == "today":
        return today
    if text == "tomorrow":
        return today + dt.timedelta(days=1)
    if match := re.fullmatch(r"in (\d+) (day|days|week|weeks)", text):
        days = int(match.group(1)) * (7 if match.group(2).startswith("week") else 1)
        return today + dt.timedelta(days=days)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


@dataclass
class CommandsOnly:
    """A comment that held nothing but quick actions: they ran, nothing was stored (the API answers 202)."""

    summary: list[str]
    changes: dict[str, Any]


@transaction.atomic
def issue_note_create(
    *,
    actor: User,
    issue: Issue,
    body: str,
    internal: bool = False,
    discussion_id: str | None = None,
    thread: bool = False,
    created_at: dt.datetime | None = None,
) -> Note | CommandsOnly:
    """Comment on an issue: run the quick actions it holds, then store what remains of it
    (:class:`CommandsOnly` when nothing remains)."""
    policy.authorize_issue(actor, policy.can_on_issue(actor, "create_note", issue))
    if internal and not policy.can_on_project_issues(actor, "read_internal_note", issue.project):
        raise Forbidden()
    if not body or not body.strip():
        raise BadRequest("body is missing")
    parsed = quick_actions.parse(body, kind="issue")
    summary = [line for line in (_execute(actor, issue, c) for c in parsed.commands) if line]
    if parsed.commands and not parsed.body:
        return CommandsOnly(summary, {c.name: c.arg or True for c in parsed.commands})
    note = notes.note_create(
        issue=issue,
        actor=actor,
        body=parsed.body,
        internal=internal,
        discussion_id=discussion_id,
        thread=thread,
        created_at=created_at if created_at and actor.is_admin else None,
    )
    webhooks.hook_event_emit(
        project=issue.project,
        scope="confidential_note_hooks" if note_payload.is_confidential(note) else "note_hooks",
        payload_builder=lambda base: note_payload.build(note=note, user=actor, action="create", base=base),
    )
    return note


# --- closing from commits -----------------------------------------------------------------------


@transaction.atomic
def issues_close_by_commits(*, project: Project, actor: User | None, commits: list[tuple[str, str]]) -> list[Issue]:
    """Close the issues that commit messages (``(sha, message)``, oldest first) say they close, each with
    the system note "closed via commit <sha>". Only issues the pusher may edit are closed."""
    closed: list[Issue] = []
    for sha, message in commits:
        for issue in selectors.closing_issue_references(message, project, viewer=actor):
            if not issue.is_open or issue in closed:
                continue
            if actor is not None and not policy.can_on_issue(actor, "update_issue", issue):
                continue
            issue_close(actor=actor, issue=issue, note=f"closed via commit {sha}")
            closed.append(issue)
    return closed


# --- labels -------------------------------------------------------------------------------------


def _color(value: str | None) -> str:
    color = (value or "").strip()
    color = _NAMED_COLORS.get(color.lower(), color)
    if not _COLOR.match(color):
        raise ValidationFailed({"color": ["must be a valid color code"]})
    return color.lower()


def _label_owner(project: Project | None, group: Namespace | None) -> dict[str, Any]:
    return {"project": project} if project is not None else {"namespace": group}


@transaction.atomic
def label_create(
    *,
    actor: User,
    project: Project | None = None,
    group: Namespace | None = None,
    name: str | None,
    color: str | None,
    description: str | None = None,
    priority: int | None = None,
) -> Label:
    allowed = (
        policy.can_on_project_issues(actor, "admin_label", project)
        if project is not None
        else group is not None and policy.can_in_group(actor, "admin_label", group)
    )
    policy.authorize_issue(actor, allowed)
    if not name or not name.strip():
        raise BadRequest("name is missing")
    if color is None:
        raise BadRequest("color is missing")
    owner = _label_owner(project, group)
    if Label.objects.filter(title=name.strip(), **owner).exists():
        raise Conflict("Label already exists")
    try:
        with transaction.atomic():
            return Label.objects.create(
                title=name.strip(),
                color=_color(color),
                description=description or "",
                priority=priority if project is not None else None,
                **owner,
            )
    except IntegrityError as exc:
        raise Conflict("Label already exists") from exc


@transaction.atomic
def label_update(
    *,
    actor: User,
    label: Label,
    new_name: str | None = None,
    color: str | None = None,
    description: str | None = None,
    priority: int | None = UNSET,
) -> Label:
    _authorize_label(actor, label)
    if new_name is None and color is None and description is None and priority is UNSET:
        raise BadRequest("new_name, color, description, priority are missing, at least one parameter must be provided")
    if new_name is not None:
        if not new_name.strip():
            raise ValidationFailed({"title": ["can't be blank"]})
        clash = Label.objects.filter(title=new_name.strip(), project=label.project, namespace=label.namespace).exclude(
            pk=label.pk
        )
        if clash.exists():
            raise ValidationFailed({"title": ["has already been taken"]})
        label.title = new_name.strip()
    if color is not None:
        label.color = _color(color)
    if description is not None:
        label.description = description
    if priority is not UNSET and label.project_id is not None:
        label.priority = priority
    label.updated_at = timezone.now()
    label.save()
    return label


def _authorize_label(actor: User, label: Label) -> None:
    if label.project_id is not None:
        assert label.project is not None
        allowed = policy.can_on_project_issues(actor, "admin_label", label.project)
    else:
        assert label.namespace is not None
        allowed = policy.can_in_group(actor, "admin_label", label.namespace)
    policy.authorize_issue(actor, allowed)


@transaction.atomic
def label_delete(*, actor: User, label: Label) -> None:
    _authorize_label(actor, label)
    label.delete()


# --- milestones ---------------------------------------------------------------------------------


def _authorize_milestone(actor: User, project: Project | None, group: Namespace | None) -> None:
    if project is not None:
        allowed = policy.can_on_project_issues(actor, "admin_milestone", project)
    else:
        assert group is not None
        allowed = policy.can_in_group(actor, "admin_milestone", group)
    policy.authorize_issue(actor, allowed)


def _dates_check(start: dt.date | None, due: dt.date | None) -> None:
    if start and due and due < start:
        raise ValidationFailed({"due_date": ["must be greater than start date"]})


@transaction.atomic
def milestone_create(
    *,
    actor: User,
    project: Project | None = None,
    group: Namespace | None = None,
    title: str | None,
    description: str | None = None,
    start_date: str | None = None,
    due_date: str | None = None,
) -> Milestone:
    _authorize_milestone(actor, project, group)
    if not title or not title.strip():
        raise BadRequest("title is missing")
    owner = _label_owner(project, group)
    if Milestone.objects.filter(title=title.strip(), **owner).exists():
        raise ValidationFailed({"title": ["already being used for another group or project milestone."]})
    start, due = _parse_date(start_date, "start_date"), _parse_date(due_date)
    _dates_check(start, due)
    iid = iid_next(project=project, usage="milestones") if project else iid_next(namespace=group, usage="milestones")
    return Milestone.objects.create(
        iid=iid,
        title=title.strip(),
        description=description or "",
        start_date=start,
        due_date=due,
        **owner,
    )


@transaction.atomic
def milestone_update(
    *,
    actor: User,
    milestone: Milestone,
    title: str | None = None,
    description: str | None = None,
    start_date: str | None = UNSET,
    due_date: str | None = UNSET,
    state_event: str | None = None,
) -> Milestone:
    _authorize_milestone(actor, milestone.project, milestone.namespace)
    if title is not None:
        if not title.strip():
            raise ValidationFailed({"title": ["can't be blank"]})
        clash = Milestone.objects.filter(
            title=title.strip(), project=milestone.project, namespace=milestone.namespace
        ).exclude(pk=milestone.pk)
        if clash.exists():
            raise ValidationFailed({"title": ["already being used for another group or project milestone."]})
        milestone.title = title.strip()
    if description is not None:
        milestone.description = description
    if start_date is not UNSET:
        milestone.start_date = _parse_date(start_date, "start_date")
    if due_date is not UNSET:
        milestone.due_date = _parse_date(due_date)
    _dates_check(milestone.start_date, milestone.due_date)
    if state_event is not None:
        if state_event not in ("close", "activate"):
            raise BadRequest("state_event does not have a valid value")
        milestone.state = Milestone.State.CLOSED if state_event == "close" else Milestone.State.ACTIVE
    milestone.updated_at = timezone.now()
    milestone.save()
    return milestone


@transaction.atomic
def milestone_delete(*, actor: User, milestone: Milestone) -> None:
    _authorize_milestone(actor, milestone.project, milestone.namespace)
    milestone.delete()
