"""Reads on projects shared by the API and the pages."""

from __future__ import annotations

import json
from urllib.parse import unquote

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from dockyard.accounts.models import User
from dockyard.core.errors import BadRequest, NotFound
from dockyard.core.visibility import Visibility
from dockyard.namespaces.models import Namespace
from dockyard.permissions import policy
from dockyard.projects.models import Project

ORDER_FIELDS = {
    "id": "id",
    "name": "name",
    "path": "path",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "last_activity_at": "last_activity_at",
    "similarity": "name",
}


def project_get_for(*, viewer: User | None, ref: str | int) -> Project:
    """The project ``ref`` (id or URL-encoded full path) if ``viewer`` may see it; else 404."""
    ref = unquote(str(ref))
    qs = Project.objects.select_related("namespace", "namespace__owner", "forked_from__namespace")
    if ref.isdigit():
        project = qs.filter(pk=int(ref)).first()
    else:
        ns_path, _, path = ref.strip("/").rpartition("/")
        project = qs.filter(namespace__full_path__iexact=ns_path, path__iexact=path).first() if ns_path else None
    if project is None or not policy.can_read_project(viewer, project):
        raise NotFound("Project")
    return project


def project_list(
    *,
    viewer: User | None,
    namespace: Namespace | None = None,
    forked_from: Project | None = None,
    include_subgroups: bool = False,
    owned: bool = False,
    membership: bool = False,
    starred: bool = False,
    search: str | None = None,
    visibility: str | None = None,
    archived: bool | None = None,
    topic: str | None = None,
    min_access_level: int | None = None,
    order_by: str = "created_at",
    sort: str = "desc",
) -> QuerySet[Project]:
    qs = policy.visible_projects(viewer)
    if forked_from is not None:
        qs = qs.filter(forked_from=forked_from)
    if namespace is not None:
        if include_subgroups:
            qs = qs.filter(namespace__traversal__startswith=namespace.traversal)
        else:
            qs = qs.filter(namespace=namespace)
    if viewer is not None:
        if owned:
            qs = qs.filter(Q(namespace__owner=viewer) | Q(creator=viewer))
        if membership or min_access_level:
            qs = qs.filter(pk__in=policy.member_projects(viewer).values("pk"))
        if min_access_level:
            # Few rows pass the membership filter; the level check needs each one's inheritance chain.
            ids = [
                p.pk
                for p in qs.select_related("namespace")
                if policy.project_access_level(viewer, p) >= min_access_level
            ]
            qs = qs.filter(pk__in=ids)
    elif owned or membership or starred:
        return Project.objects.none()
    if starred:
        qs = qs.none()  # stars are later work; an honest empty list rather than every project
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(path__icontains=search) | Q(description__icontains=search))
    if visibility:
        try:
            qs = qs.filter(visibility=Visibility.from_name(visibility))
        except ValueError:
            raise BadRequest("visibility does not have a valid value") from None
    if archived is not None:
        qs = qs.filter(archived=archived)
    if topic:
        # Portable exact-element match: JSON containment lookups are not available on SQLite.
        qs = qs.annotate(topics_text=Cast("topics", TextField()))
        for name in (t.strip() for t in topic.split(",") if t.strip()):
            qs = qs.filter(topics_text__contains=json.dumps(name))
    if order_by not in ORDER_FIELDS:
        raise BadRequest("order_by does not have a valid value")
    if sort not in ("asc", "desc"):
        raise BadRequest("sort does not have a valid value")
    field = ORDER_FIELDS[order_by]
    return qs.select_related("namespace", "namespace__owner", "forked_from__namespace").order_by(
        f"-{field}" if sort == "desc" else field, "-id" if sort == "desc" else "id"
    )
