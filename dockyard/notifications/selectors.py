"""Who gets a notification mail: the ONE place that turns notification levels, participation, mentions and
permissions into a list of recipients, with GitLab's rules.

- ``disabled``: nothing. ``mention``: only being @mentioned. ``participating``: mentions, and what you take
  part in (you opened it, are assigned, were asked to review, it is your pipeline). ``watch``: all that,
  plus every new issue, merge request, comment and merge in the project.
- ``global`` on a project defers to its groups, nearest first, then to the user's global level, which is
  ``participating`` until they change it.
- Nobody is told of their own action; blocked users and anyone who may not read the thing (a confidential
  issue, an internal note, a private project) get nothing.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import reduce

from django.db.models import Q

from dockyard.accounts.models import User
from dockyard.notes.references import REFERENCE
from dockyard.notifications.models import NotificationSetting
from dockyard.permissions import policy
from dockyard.permissions.models import AccessLevel
from dockyard.projects.models import Project

Level = NotificationSetting.Level
DEFAULT_GLOBAL_LEVEL = Level.PARTICIPATING
# What each reason for a mail needs of the recipient's level (GitLab's X-GitLab-NotificationReason).
REASON_LEVELS: dict[str, tuple[str, ...]] = {
    "mentioned": (Level.WATCH, Level.PARTICIPATING, Level.MENTION),
    "assigned": (Level.WATCH, Level.PARTICIPATING),
    "review_requested": (Level.WATCH, Level.PARTICIPATING),
    "participating": (Level.WATCH, Level.PARTICIPATING),
    "watching": (Level.WATCH,),
}


def setting_get(*, user: User, project: Project | None = None, namespace_id: int | None = None) -> str:
    """The level ``user`` set on ``project``, on a group, or (neither given) globally."""
    source = Q(namespace_id=namespace_id) if namespace_id is not None else Q(namespace__isnull=True)
    row = NotificationSetting.objects.filter(source, user=user, project=project).first()
    if row is not None:
        return row.level
    return Level.GLOBAL if project is not None or namespace_id is not None else DEFAULT_GLOBAL_LEVEL


def levels_for(*, user_ids: Iterable[int], project: Project) -> dict[int, str]:
    """Each user's effective level on ``project`` (never ``global``), in one query."""
    ids = set(user_ids)
    ancestors = project.namespace.ancestor_ids
    rows = NotificationSetting.objects.filter(user_id__in=ids).filter(
        Q(project=project) | Q(namespace_id__in=ancestors) | Q(project__isnull=True, namespace__isnull=True)
    )
    # Lower rank wins: the project, then its groups from the nearest up, then the global setting.
    rank = {ns: 1 + len(ancestors) - i for i, ns in enumerate(ancestors)}
    chosen: dict[int, tuple[int, str]] = {}
    for row in rows:
        if row.level == Level.GLOBAL:
            continue
        if row.project_id is not None:
            key = 0
        elif row.namespace_id is not None:
            key = rank[row.namespace_id]
        else:
            key = len(ancestors) + 1
        if row.user_id not in chosen or key < chosen[row.user_id][0]:
            chosen[row.user_id] = (key, row.level)
    return {uid: chosen[uid][1] if uid in chosen else DEFAULT_GLOBAL_LEVEL for uid in ids}


def _watchers(project: Project) -> list[User]:
    """Users whose effective level on ``project`` is ``watch``; a global watcher only of projects they are a
    member of (GitLab's rule), so watching everything never means every public project on the instance."""
    candidates = NotificationSetting.objects.filter(level=Level.WATCH).filter(
        Q(project=project)
        | Q(namespace_id__in=project.namespace.ancestor_ids)
        | Q(project__isnull=True, namespace__isnull=True)
    )
    users = {row.user for row in candidates.select_related("user")}
    levels = levels_for(user_ids=[u.pk for u in users], project=project)
    return [
        u for u in users if levels[u.pk] == Level.WATCH and policy.project_access_level(u, project) >= AccessLevel.GUEST
    ]


def mentioned_users(text: str) -> list[User]:
    """The users ``@mentioned`` in ``text``, in the order of their first mention (usernames match in any case)."""
    names = [m.group("username").lower() for m in REFERENCE.finditer(text or "") if m.group("user")]
    if not names:
        return []
    found = User.objects.filter(reduce(operator.or_, (Q(username__iexact=n) for n in set(names))))
    order = {name: i for i, name in reversed(list(enumerate(names)))}
    return sorted(found, key=lambda user: order[user.username.lower()])


@dataclass(frozen=True)
class Recipient:
    user: User
    reason: str  # mentioned | assigned | review_requested | participating | watching


def recipients(
    *,
    project: Project,
    actor: User | None,
    can_read: Callable[[User], bool],
    mentioned: Iterable[User] = (),
    assigned: Iterable[User] = (),
    review_requested: Iterable[User] = (),
    participants: Iterable[User] = (),
    watchers: bool = False,
) -> list[Recipient]:
    """Everyone to tell, each once, with the strongest reason their level lets through."""
    by_reason: list[tuple[str, Iterable[User]]] = [
        ("mentioned", mentioned),
        ("assigned", assigned),
        ("review_requested", review_requested),
        ("participating", participants),
        ("watching", _watchers(project) if watchers else ()),
    ]
    candidates: dict[int, User] = {}
    for _, users in by_reason:
        for user in users:
            candidates.setdefault(user.pk, user)
    levels = levels_for(user_ids=candidates, project=project)
    chosen: dict[int, Recipient] = {}
    for reason, users in by_reason:
        for user in users:
            if user.pk in chosen or levels[user.pk] not in REASON_LEVELS[reason]:
                continue
            if (actor is not None and user.pk == actor.pk) or not user.is_active or not user.email:
                continue
            if can_read(user):
                chosen[user.pk] = Recipient(user, reason)
    return list(chosen.values())
