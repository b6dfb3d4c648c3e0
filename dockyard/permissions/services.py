"""All writes on memberships."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from dockyard.accounts.models import User
from dockyard.core.errors import BadRequest, Conflict, Forbidden, NotFound, check
from dockyard.events import services as audit
from dockyard.namespaces.models import Namespace
from dockyard.permissions import policy
from dockyard.permissions.models import AccessLevel, Membership
from dockyard.projects.models import Project

Source = Project | Namespace

_VALID_LEVELS = {
    AccessLevel.GUEST,
    AccessLevel.PLANNER,
    AccessLevel.REPORTER,
    AccessLevel.DEVELOPER,
    AccessLevel.MAINTAINER,
    AccessLevel.OWNER,
}


def _source_filter(source: Source) -> dict[str, Source]:
    return {"project": source} if isinstance(source, Project) else {"namespace": source}


def _check_level(*, actor: User, source: Source, access_level: int) -> None:
    if access_level not in _VALID_LEVELS:
        raise BadRequest("access_level does not have a valid value")
    # Only owners (or admins) hand out the Owner role, as in GitLab.
    if access_level == AccessLevel.OWNER and not actor.is_admin:
        level = (
            policy.project_access_level(actor, source)
            if isinstance(source, Project)
            else policy.namespace_access_level(actor, source)
        )
        if level < AccessLevel.OWNER:
            raise Forbidden()


@transaction.atomic
def member_add(
    *, actor: User, source: Source, user: User, access_level: int, expires_at: dt.date | None = None
) -> Membership:
    _check_level(actor=actor, source=source, access_level=access_level)
    if Membership.objects.filter(user=user, **_source_filter(source)).exists():
        raise Conflict("Member already exists")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                user=user,
                access_level=access_level,
                expires_at=expires_at,
                created_by=actor,
                **_source_filter(source),
            )
    except IntegrityError as exc:
        raise Conflict("Member already exists") from exc
    policy.forget(user)
    _member_audit(
        "member_created",
        actor=actor,
        source=source,
        user=user,
        message=f"Added member with access level {_level(access_level)}",
    )
    return membership


def _level(level: int) -> str:
    return AccessLevel(level).label if level in AccessLevel.values else str(level)


def _member_audit(
    event_name: str,
    *,
    actor: User,
    source: Source,
    user: User,
    message: str = "",
    change: tuple[str, str, str] | None = None,
) -> None:
    target = ("User", user.pk, user.username)
    audit.audit_record(
        event_name=event_name, entity=source, author=actor, message=message, target=target, change=change
    )


def _direct(source: Source, user: User) -> Membership:
    membership = Membership.objects.filter(user=user, **_source_filter(source)).select_related("user").first()
    if membership is None:
        raise NotFound("Member")
    return membership


def _is_last_owner(source: Source, membership: Membership) -> bool:
    return (
        isinstance(source, Namespace)
        and membership.access_level == AccessLevel.OWNER
        and not Membership.objects.filter(namespace=source, access_level=AccessLevel.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )


@transaction.atomic
def member_update(
    *, actor: User, source: Source, user: User, access_level: int, expires_at: dt.date | None = None
) -> Membership:
    membership = _direct(source, user)
    _check_level(actor=actor, source=source, access_level=access_level)
    if access_level != AccessLevel.OWNER and _is_last_owner(source, membership):
        check({"access_level": ["cannot be changed: a group must keep at least one owner"]})
    if membership.access_level != access_level:
        change = ("access_level", _level(membership.access_level), _level(access_level))
        _member_audit("member_updated", actor=actor, source=source, user=user, change=change)
    membership.access_level = access_level
    if expires_at is not None:
        membership.expires_at = expires_at
    membership.save(update_fields=["access_level", "expires_at"])
    policy.forget(user)
    return membership


@transaction.atomic
def member_remove(*, actor: User, source: Source, user: User) -> None:
    membership = _direct(source, user)
    if _is_last_owner(source, membership):
        raise Forbidden("A group must keep at least one owner")
    membership.delete()
    policy.forget(user)
    _member_audit("member_destroyed", actor=actor, source=source, user=user, message="Removed member")
