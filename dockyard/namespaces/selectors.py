"""Reads on namespaces and groups shared by the API and the pages."""

from __future__ import annotations

from urllib.parse import unquote

from django.db.models import Q, QuerySet

from dockyard.accounts.models import User
from dockyard.core.errors import NotFound
from dockyard.namespaces.models import Namespace
from dockyard.permissions import policy


def _by_ref(qs: QuerySet[Namespace], ref: str | int) -> Namespace | None:
    ref = unquote(str(ref))
    if ref.isdigit():
        return qs.filter(pk=int(ref)).first()
    return qs.filter(full_path__iexact=ref.strip("/")).first()


def group_get_for(*, viewer: User | None, ref: str | int) -> Namespace:
    """The group ``ref`` (id or full path) if ``viewer`` may see it; else 404, whether it exists or not."""
    group = _by_ref(Namespace.objects.filter(kind=Namespace.Kind.GROUP).select_related("parent"), ref)
    if group is None or not policy.can_read_namespace(viewer, group):
        raise NotFound("Group")
    return group


def namespace_get_for(*, viewer: User | None, ref: str | int) -> Namespace:
    ns = _by_ref(Namespace.objects.select_related("owner"), ref)
    if ns is None or not policy.can_read_namespace(viewer, ns):
        raise NotFound("Namespace")
    return ns


def group_list(
    *,
    viewer: User | None,
    search: str | None = None,
    owned: bool = False,
    min_access_level: int | None = None,
    top_level_only: bool = False,
    parent: Namespace | None = None,
    order_by: str = "name",
    sort: str = "asc",
) -> QuerySet[Namespace]:
    qs = policy.visible_namespaces(viewer)
    if parent is not None:
        qs = qs.filter(parent=parent)
    if top_level_only:
        qs = qs.filter(parent__isnull=True)
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(path__icontains=search))
    if viewer is not None and (owned or min_access_level):
        level = 50 if owned else int(min_access_level or 0)
        mine = policy.member_namespaces(viewer)
        qs = qs.filter(pk__in=[ns.pk for ns in mine if policy.namespace_access_level(viewer, ns) >= level])
    field = {"name": "name", "path": "path", "id": "id", "similarity": "name"}.get(order_by, "name")
    if field == "name":
        field = "full_name"
    return qs.select_related("parent").order_by(f"-{field}" if sort == "desc" else field, "id")


def namespace_list(*, viewer: User, search: str | None = None, owned_only: bool = False) -> QuerySet[Namespace]:
    """Namespaces the viewer can create projects in (their own and groups they belong to); all for admins."""
    if viewer.is_admin and not owned_only:
        qs = Namespace.objects.all()
    else:
        qs = Namespace.objects.filter(Q(owner=viewer) | Q(pk__in=policy.member_namespaces(viewer).values("pk")))
    if search:
        qs = qs.filter(Q(path__icontains=search) | Q(name__icontains=search))
    return qs.select_related("owner").order_by("id")


def namespace_get_by_path_for(*, viewer: User | None, full_path: str) -> Namespace:
    """The namespace (user or group) at ``full_path`` if ``viewer`` may see it; else 404.

    Unlike :func:`namespace_get_for`, an all-digit path is a path, never an id: pages address
    namespaces by path only, and ``/123`` must mean the user or group named ``123``.
    """
    ns = Namespace.objects.select_related("owner", "parent").filter(full_path__iexact=full_path.strip("/")).first()
    if ns is None or not policy.can_read_namespace(viewer, ns):
        raise NotFound("Namespace")
    return ns


def namespace_list_creatable(*, viewer: User, action: str = "create_projects") -> list[Namespace]:
    """Namespaces where ``viewer`` may do ``action`` (``create_projects`` or ``create_subgroup``), by path.

    Candidates come from :func:`namespace_list` (one query); the level check uses the viewer's
    memberships, which the policy loads once, so this stays two queries however many rows match.
    """
    qs = namespace_list(viewer=viewer)
    if action == "create_subgroup":
        qs = qs.filter(kind=Namespace.Kind.GROUP)
    return sorted(
        (ns for ns in qs if policy.can(viewer, action, ns)),
        key=lambda ns: (ns.kind != Namespace.Kind.USER or ns.owner_id != viewer.pk, ns.full_path.lower()),
    )
