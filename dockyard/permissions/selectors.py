"""Reads on memberships shared by the API and the pages."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from dockyard.accounts.models import User
from dockyard.namespaces.models import Namespace
from dockyard.permissions.models import Membership
from dockyard.projects.models import Project

Source = Project | Namespace


def _chain_filter(source: Source, *, inherited: bool) -> Q:
    """Memberships on ``source`` itself, plus (``inherited``) on every group above it."""
    if isinstance(source, Project):
        cond = Q(project=source)
        if inherited and source.namespace.is_group:
            cond |= Q(namespace_id__in=source.namespace.ancestor_ids)
        return cond
    return Q(namespace_id__in=source.ancestor_ids) if inherited else Q(namespace=source)


def _active() -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now().date())


def member_users(
    *, source: Source, inherited: bool, query: str | None = None, user_ids: list[int] | None = None
) -> QuerySet[User]:
    """The users who are members of ``source`` (one row each, however many memberships they hold)."""
    memberships = Membership.objects.filter(_chain_filter(source, inherited=inherited)).filter(_active())
    qs = User.objects.filter(pk__in=memberships.values("user_id"))
    if query:
        qs = qs.filter(Q(username__icontains=query) | Q(name__icontains=query))
    if user_ids:
        qs = qs.filter(pk__in=user_ids)
    return qs.order_by("id")


def memberships_for(*, source: Source, users: list[User], inherited: bool) -> list[Membership]:
    """For each user, the membership that gives them their highest level on ``source`` (one query).

    Its ``namespace`` comes along, so a page can name the group an inherited membership comes from."""
    rows = (
        Membership.objects.filter(_chain_filter(source, inherited=inherited))
        .filter(_active())
        .filter(user__in=users)
        .select_related("user", "created_by", "namespace")
        .order_by("user_id", "-access_level", "id")
    )
    best: dict[int, Membership] = {}
    for row in rows:
        best.setdefault(row.user_id, row)
    return [best[u.pk] for u in users if u.pk in best]
