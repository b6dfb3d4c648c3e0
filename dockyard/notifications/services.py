"""Writes on notification settings, and the one entry point the other apps call when something worth a
mail happened: ``notify`` queues the mail task once the transaction commits (so a rolled-back change
mails nobody and no request ever waits for SMTP)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from dockyard.accounts.models import User
from dockyard.config.env import ENV
from dockyard.core.errors import BadRequest
from dockyard.core.urls import external_base
from dockyard.namespaces.models import Namespace
from dockyard.notifications import tasks
from dockyard.notifications.models import NotificationSetting
from dockyard.projects.models import Project


def notify(*, kind: str, object_id: int, actor: User | None, users: Iterable[User] = ()) -> None:
    """Queue the ``kind`` notification (a key of ``tasks.BUILDERS``) about object ``object_id``; ``users``
    are the people newly assigned or asked to review. Nothing is queued when no SMTP server is set up."""
    if kind not in tasks.BUILDERS:
        raise ValueError(f"unknown notification {kind!r}")
    if not ENV.smtp_host:
        return
    base = external_base()
    actor_id = actor.pk if actor is not None else None
    user_ids = [u.pk for u in users]
    transaction.on_commit(lambda: tasks.notification_send.enqueue(kind, object_id, actor_id, base, user_ids))


@transaction.atomic
def setting_update(
    *, user: User, level: str, project: Project | None = None, namespace: Namespace | None = None
) -> str:
    """Set ``user``'s level globally, or on ``project`` or ``namespace`` (a group). ``global`` is only
    for a project or a group: the global setting itself needs a real level."""
    allowed = NotificationSetting.Level.values
    if project is None and namespace is None:
        allowed = [v for v in allowed if v != NotificationSetting.Level.GLOBAL]
    if level not in allowed:
        raise BadRequest("level does not have a valid value")
    NotificationSetting.objects.update_or_create(
        user=user, project=project, namespace=namespace, defaults={"level": level}
    )
    return level
