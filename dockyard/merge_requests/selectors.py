"""Reads on merge requests: lists with GitLab's filters, one merge request, its versions and approvals."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from dockyard.accounts.models import User
from dockyard.core.errors import BadRequest, NotFound
from dockyard.core.prepared import Prepared
from dockyard.core.visibility import Visibility
from dockyard.merge_requests.models import MergeRequest, MergeRequestApproval, MergeRequestDiff
from dockyard.namespaces.models import Namespace
from dockyard.notes.models import Note
from dockyard.permissions import policy
from dockyard.permissions.models import AccessLevel
from dockyard.projects.models import Project
from dockyard.repos.git import read as git_read

ORDER = {"created_at": "created_at", "updated_at": "updated_at", "title": "title", "merged_at": "merged_at"}


@dataclass
class MergeRequestFilters:
    state: str | None = None
    labels: list[str] = field(default_factory=list)
    milestone: str | None = None
    author_id: int | None = None
    author_username: str | None = None
    assignee_id: str | None = None
    reviewer_id: str | None = None
    reviewer_username: str | None = None
    search: str | None = None
    source_branch: str | None = None
    target_branch: str | None = None
    wip: str | None = None
    draft: bool | None = None
    iids: list[int] = field(default_factory=list)
    scope: str = "all"
    order_by: str = "created_at"
    sort: str = "desc"
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    updated_after: dt.datetime | None = None
    updated_before: dt.datetime | None = None


def _notes_count() -> Subquery:
    counted = (
        Note.objects.filter(merge_request=OuterRef("pk"), system=False)
        .order_by()
        .values("merge_request")
        .annotate(c=Count("id"))
        .values("c")
    )
    return Subquery(counted, output_field=IntegerField())


def with_details(qs: QuerySet[MergeRequest]) -> QuerySet[MergeRequest]:
    """Everything the merge request entity shows, in a fixed number of queries for any number of rows."""
    head = MergeRequestDiff.objects.filter(merge_request=OuterRef("pk")).order_by("-id")
    return (
        qs.select_related(
            "project__namespace",
            "source_project__namespace",
            "author",
            "merged_by",
            "merge_user",
            "closed_by",
            "milestone__project__namespace",
            "milestone__namespace",
        )
        .prefetch_related("labels", "assignees", "reviewers")
        .annotate(
            user_notes_count=Coalesce(_notes_count(), Value(0)),
            head_sha=Subquery(head.values("head_commit_sha")[:1]),
            base_sha=Subquery(head.values("base_commit_sha")[:1]),
            start_sha=Subquery(head.values("start_commit_sha")[:1]),
        )
    )


def visible_merge_requests(viewer: User | None) -> QuerySet[MergeRequest]:
    projects = policy.visible_projects(viewer).filter(merge_requests_enabled=True)
    active = viewer if viewer is not None and viewer.is_authenticated and viewer.is_active else None
    if active is None or not active.is_admin:
        # Code (and so merge requests) of private projects is for reporters and above.
        readable = Q(visibility__gte=Visibility.INTERNAL)
        if active is not None:
            readable |= policy._projects_at_least(active, AccessLevel.REPORTER)
        projects = projects.filter(readable)
    return MergeRequest.objects.filter(project__in=projects.values("id"))


def merge_request_get_for(*, viewer: User | None, project: Project, iid: int | str) -> MergeRequest:
    """Merge request ``iid`` of ``project`` if ``viewer`` may read it; else 404."""
    try:
        number = int(iid)
    except (TypeError, ValueError):
        raise NotFound("Merge Request") from None
    if not policy.can_read_merge_requests(viewer, project):
        raise NotFound("Merge Request")
    mr = with_details(MergeRequest.objects.filter(project=project, iid=number)).first()
    if mr is None:
        raise NotFound("Merge Request")
    mr.project = project
    if mr.source_project_id == project.id:
        mr.source_project = project
    return mr


def _split(value: list[str] | None) -> list[str]:
    return [p.strip() for item in value or [] for p in str(item).split(",") if p.strip()]


def _filter_users(qs: QuerySet[MergeRequest], relation: str, key: str | None) -> QuerySet[MergeRequest]:
    if not key:
        return qs
    through = getattr(MergeRequest, relation).through.objects
    lowered = str(key).lower()
    if lowered == "none":
        return qs.exclude(id__in=through.values("mergerequest_id"))
    if lowered == "any":
        return qs.filter(id__in=through.values("mergerequest_id"))
    if not lowered.isdigit():
        raise BadRequest(f"{relation[:-1]}_id is invalid")
    return qs.filter(id__in=through.filter(user_id=int(lowered)).values("mergerequest_id"))


def merge_request_list(  # noqa: PLR0915  # one clause per GitLab filter
    *,
    viewer: User | None,
    filters: MergeRequestFilters,
    project: Project | None = None,
    group: Namespace | None = None,
) -> QuerySet[MergeRequest]:
    f = filters
    if project is not None:
        if not policy.can_read_merge_requests(viewer, project):
            raise NotFound("Project")
        qs = MergeRequest.objects.filter(project=project)
    else:
        qs = visible_merge_requests(viewer)
        if group is not None:
            qs = qs.filter(project__namespace__traversal__startswith=group.traversal)
    if f.state not in (None, "", "all"):
        if f.state not in ("opened", "closed", "merged", "locked"):
            raise BadRequest("state does not have a valid value")
        qs = qs.filter(state=f.state)
    if f.scope not in ("all", "created_by_me", "created-by-me", "assigned_to_me", "assigned-to-me", "reviews_for_me"):
        raise BadRequest("scope does not have a valid value")
    if f.scope != "all":
        if viewer is None:
            return qs.none()
        if f.scope.startswith("created"):
            qs = qs.filter(author=viewer)
        elif f.scope.startswith("assigned"):
            qs = _filter_users(qs, "assignees", str(viewer.pk))
        else:
            qs = _filter_users(qs, "reviewers", str(viewer.pk))
    through = MergeRequest.labels.through.objects
    labels = f.labels
    if len(labels) == 1 and labels[0].lower() in ("none", "any"):
        ids = through.values("mergerequest_id")
        qs = qs.exclude(id__in=ids) if labels[0].lower() == "none" else qs.filter(id__in=ids)
    else:
        for title in labels:
            qs = qs.filter(id__in=through.filter(label__title=title).values("mergerequest_id"))
    if f.milestone:
        key = f.milestone.lower()
        if key == "none":
            qs = qs.filter(milestone__isnull=True)
        elif key == "any":
            qs = qs.filter(milestone__isnull=False)
        else:
            qs = qs.filter(milestone__title=f.milestone)
    if f.author_id is not None:
        qs = qs.filter(author_id=f.author_id)
    if f.author_username:
        qs = qs.filter(author__username__iexact=f.author_username)
    qs = _filter_users(qs, "assignees", f.assignee_id)
    qs = _filter_users(qs, "reviewers", f.reviewer_id)
    if f.reviewer_username:
        rows = MergeRequest.reviewers.through.objects.filter(user__username__iexact=f.reviewer_username)
        qs = qs.filter(id__in=rows.values("mergerequest_id"))
    if f.search:
        qs = qs.filter(Q(title__icontains=f.search) | Q(description__icontains=f.search))
    if f.source_branch:
        qs = qs.filter(source_branch=f.source_branch)
    if f.target_branch:
        qs = qs.filter(target_branch=f.target_branch)
    draft = f.draft if f.draft is not None else {"yes": True, "no": False}.get((f.wip or "").lower())
    if draft is not None:
        qs = qs.filter(draft=draft)
    if f.iids:
        qs = qs.filter(iid__in=f.iids)
    for name, lookup in (
        ("created_after", "created_at__gte"),
        ("created_before", "created_at__lte"),
        ("updated_after", "updated_at__gte"),
        ("updated_before", "updated_at__lte"),
    ):
        if (value := getattr(f, name)) is not None:
            qs = qs.filter(**{lookup: value})
    if f.order_by not in ORDER:
        raise BadRequest("order_by does not have a valid value")
    if f.sort not in ("asc", "desc"):
        raise BadRequest("sort does not have a valid value")
    prefix = "-" if f.sort == "desc" else ""
    return with_details(qs).order_by(f"{prefix}{ORDER[f.order_by]}", f"{prefix}id")


def merge_request_statistics(*, viewer: User | None, filters: MergeRequestFilters, project: Project) -> dict[str, int]:
    """Counts per state over the same filters as the list (``state`` ignored), in one query, for the tabs."""
    unstated = MergeRequestFilters(**{**filters.__dict__, "state": None})
    qs = merge_request_list(viewer=viewer, filters=unstated, project=project)
    counts = qs.order_by().aggregate(
        all=Count("id"),
        opened=Count("id", filter=Q(state=MergeRequest.State.OPENED)),
        merged=Count("id", filter=Q(state=MergeRequest.State.MERGED)),
        closed=Count("id", filter=Q(state=MergeRequest.State.CLOSED)),
    )
    return {key: int(counts[key]) for key in ("opened", "merged", "closed", "all")}


def open_count(*, viewer: User | None, project: Project) -> int | None:
    """Open merge requests of ``project`` for the sidebar (None when ``viewer`` may not read them), one query."""
    if not policy.can_read_merge_requests(viewer, project):
        return None
    return MergeRequest.objects.filter(project=project, state=MergeRequest.State.OPENED).count()


def diff_entries(*, project_id: int, base: str | None, head: str | None) -> list[git_read.DiffEntry]:
    """The diff of one version (``base``..``head``), file by file; none when a sha is missing."""
    if not base or not head:
        return []
    comparison = git_read.Repository(project_id).compare(base, head, straight=True)
    return comparison.diffs if comparison else []


def commit_infos(*, project_id: int, start: str | None, head: str | None) -> list[git_read.CommitInfo]:
    """The commits of one version (``start``..``head``), newest first as GitLab lists them."""
    if not start or not head:
        return []
    comparison = git_read.Repository(project_id).compare(start, head, straight=True)
    return list(reversed(comparison.commits)) if comparison else []


def versions(*, merge_request: MergeRequest) -> QuerySet[MergeRequestDiff]:
    """Diff versions, newest first (GitLab's order)."""
    return MergeRequestDiff.objects.filter(merge_request=merge_request).order_by("-id")


def version_latest(*, merge_request: MergeRequest) -> MergeRequestDiff | None:
    return versions(merge_request=merge_request).first()


def version_get(*, merge_request: MergeRequest, version_id: str) -> MergeRequestDiff:
    row = versions(merge_request=merge_request).filter(pk=int(version_id)).first() if version_id.isdigit() else None
    if row is None:
        raise NotFound("Merge Request Diff")
    return row


def approvals(*, merge_request: MergeRequest) -> list[MergeRequestApproval]:
    return list(MergeRequestApproval.objects.filter(merge_request=merge_request).select_related("user").order_by("id"))


def open_for_source(*, project: Project, branch: str) -> QuerySet[MergeRequest]:
    return MergeRequest.objects.filter(source_project=project, source_branch=branch, state=MergeRequest.State.OPENED)


def open_from_branch_names(*, project_id: int, branch: str) -> list[str]:
    """Up to four open merge requests from ``branch``, oldest first, as ``group/project!iid`` (GitLab's
    ``CI_OPEN_MERGE_REQUESTS``; read for every job a runner takes, so compiled once)."""
    return [f"{namespace}/{path}!{iid}" for namespace, path, iid in _OPEN_FROM_BRANCH.all(project_id, branch)]


_OPEN_FROM_BRANCH: Prepared[tuple[str, str, int]] = Prepared(
    lambda project_id, branch: (
        MergeRequest.objects.filter(source_project_id=project_id, source_branch=branch, state=MergeRequest.State.OPENED)
        .order_by("id")
        .values_list("project__namespace__full_path", "project__path", "iid")[:4]
    )
)


def open_for_target(*, project: Project, branch: str) -> QuerySet[MergeRequest]:
    return MergeRequest.objects.filter(project=project, target_branch=branch, state=MergeRequest.State.OPENED)


def unresolved_discussions(*, merge_request: MergeRequest) -> int:
    return Note.objects.filter(merge_request=merge_request, resolvable=True, resolved_at__isnull=True).count()
