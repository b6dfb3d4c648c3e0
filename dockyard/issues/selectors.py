"""Reads on issues, labels, milestones and issue links, shared by the API and the pages.

Every issue read applies ``policy.issue_visibility_condition`` so confidential issues never leak through
a list, a count, a search or a reference.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, IntegerField, Min, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from dockyard.accounts.models import User
from dockyard.core.errors import BadRequest, NotFound
from dockyard.issues.models import Issue, IssueLink, Label, Milestone
from dockyard.namespaces.models import Namespace
from dockyard.notes.models import Note
from dockyard.permissions import policy
from dockyard.projects.models import Project

ISSUE_ORDER = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "due_date": "due_date",
    "title": "title",
    "priority": "label_priority",
    "label_priority": "label_priority",
    "milestone_due": "milestone__due_date",
    "relative_position": "id",
    "popularity": "created_at",
    "weight": "created_at",
}
NULLABLE_ORDER = {"due_date", "label_priority", "milestone__due_date"}


@dataclass
class IssueFilters:
    """The filters GitLab's issue lists take (``GET /projects/:id/issues`` and friends)."""

    state: str | None = None
    labels: list[str] | None = None
    milestone: str | None = None
    assignee_id: str | None = None
    assignee_username: list[str] = field(default_factory=list)
    author_id: int | None = None
    author_username: str | None = None
    search: str | None = None
    search_in: str | None = None
    iids: list[int] = field(default_factory=list)
    confidential: bool | None = None
    scope: str = "all"
    order_by: str = "created_at"
    sort: str = "desc"
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    updated_after: dt.datetime | None = None
    updated_before: dt.datetime | None = None
    due_date: str | None = None


def _notes_count() -> Subquery:
    counted = (
        Note.objects.filter(issue=OuterRef("pk"), system=False)
        .order_by()
        .values("issue")
        .annotate(c=Count("id"))
        .values("c")
    )
    return Subquery(counted, output_field=IntegerField())


def with_details(qs: QuerySet[Issue]) -> QuerySet[Issue]:
    """Everything the issue entity shows, loaded in a fixed number of queries for any number of rows."""
    return (
        qs.select_related(
            "project__namespace", "author", "closed_by", "milestone__project__namespace", "milestone__namespace"
        )
        .prefetch_related("labels", "assignees")
        .annotate(user_notes_count=Coalesce(_notes_count(), Value(0)))
    )


def issue_get_for(*, viewer: User | None, project: Project, iid: int | str) -> Issue:
    """Issue ``iid`` of ``project`` if ``viewer`` may read it; else 404, whether it exists or not."""
    try:
        number = int(iid)
    except (TypeError, ValueError):
        raise NotFound("Issue") from None
    issue = (
        with_details(Issue.objects.filter(project=project, iid=number))
        .filter(policy.issue_visibility_condition(viewer, project=project))
        .first()
    )
    if issue is None:
        raise NotFound("Issue")
    issue.project = project  # the caller's instance carries the cached permission lookups
    return issue


def _split(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def _user_id(ref: str) -> int | None:
    row = User.objects.filter(username__iexact=ref).values_list("id", flat=True).first()
    return int(row) if row is not None else None


def _filter_labels(qs: QuerySet[Issue], labels: list[str]) -> QuerySet[Issue]:
    through = Issue.labels.through.objects
    if len(labels) == 1 and labels[0].lower() == "none":
        return qs.exclude(id__in=through.values("issue_id"))
    if len(labels) == 1 and labels[0].lower() == "any":
        return qs.filter(id__in=through.values("issue_id"))
    for title in labels:
        qs = qs.filter(id__in=through.filter(label__title=title).values("issue_id"))
    return qs


def _filter_milestone(qs: QuerySet[Issue], milestone: str) -> QuerySet[Issue]:
    key = milestone.lower()
    today = timezone.now().date()
    if key == "none":
        return qs.filter(milestone__isnull=True)
    if key == "any":
        return qs.filter(milestone__isnull=False)
    if key == "upcoming":
        return qs.filter(milestone__due_date__gt=today, milestone__state=Milestone.State.ACTIVE)
    if key == "started":
        return qs.filter(milestone__start_date__lte=today, milestone__state=Milestone.State.ACTIVE)
    return qs.filter(milestone__title=milestone)


def _filter_assignees(qs: QuerySet[Issue], assignee_id: str | None, usernames: list[str]) -> QuerySet[Issue]:
    through = Issue.assignees.through.objects
    if assignee_id:
        key = str(assignee_id).lower()
        if key == "none":
            qs = qs.exclude(id__in=through.values("issue_id"))
        elif key == "any":
            qs = qs.filter(id__in=through.values("issue_id"))
        elif key.isdigit():
            qs = qs.filter(id__in=through.filter(user_id=int(key)).values("issue_id"))
        else:
            raise BadRequest("assignee_id is invalid")
    for username in usernames:
        qs = qs.filter(id__in=through.filter(user__username__iexact=username).values("issue_id"))
    return qs


def _filter_due_date(qs: QuerySet[Issue], key: str) -> QuerySet[Issue]:
    today = timezone.now().date()
    ranges: dict[str, Q] = {
        "0": Q(due_date__isnull=True),
        "any": Q(due_date__isnull=False),
        "overdue": Q(due_date__lt=today),
        "today": Q(due_date=today),
        "tomorrow": Q(due_date=today + dt.timedelta(days=1)),
        "week": Q(due_date__gte=today, due_date__lte=today + dt.timedelta(days=7)),
        "month": Q(due_date__gte=today, due_date__lte=today + dt.timedelta(days=31)),
    }
    if key not in ranges:
        raise BadRequest("due_date does not have a valid value")
    return qs.filter(ranges[key])


def _filter_scope(qs: QuerySet[Issue], viewer: User | None, scope: str) -> QuerySet[Issue]:
    if scope not in ("all", "created_by_me", "created-by-me", "assigned_to_me", "assigned-to-me"):
        raise BadRequest("scope does not have a valid value")
    if scope == "all":
        return qs
    if viewer is None:
        return qs.none()
    if scope.startswith("created"):
        return qs.filter(author=viewer)
    return qs.filter(id__in=Issue.assignees.through.objects.filter(user_id=viewer.id).values("issue_id"))


def _filtered(qs: QuerySet[Issue], viewer: User | None, f: IssueFilters, *, with_state: bool) -> QuerySet[Issue]:
    if with_state and f.state not in (None, "all", ""):
        if f.state not in ("opened", "closed"):
            raise BadRequest("state does not have a valid value")
        qs = qs.filter(state=f.state)
    qs = _filter_scope(qs, viewer, f.scope)
    if f.labels:
        qs = _filter_labels(qs, f.labels)
    if f.milestone:
        qs = _filter_milestone(qs, f.milestone)
    qs = _filter_assignees(qs, f.assignee_id, f.assignee_username)
    if f.author_id is not None:
        qs = qs.filter(author_id=f.author_id)
    if f.author_username:
        qs = qs.filter(author__username__iexact=f.author_username)
    if f.search:
        where = set(_split(f.search_in)) or {"title", "description"}
        cond = Q()
        if "title" in where:
            cond |= Q(title__icontains=f.search)
        if "description" in where:
            cond |= Q(description__icontains=f.search)
        qs = qs.filter(cond)
    if f.iids:
        qs = qs.filter(iid__in=f.iids)
    if f.confidential is not None:
        qs = qs.filter(confidential=f.confidential)
    for attr, lookup in (
        ("created_after", "created_at__gte"),
        ("created_before", "created_at__lte"),
        ("updated_after", "updated_at__gte"),
        ("updated_before", "updated_at__lte"),
    ):
        if (value := getattr(f, attr)) is not None:
            qs = qs.filter(**{lookup: value})
    if f.due_date:
        qs = _filter_due_date(qs, f.due_date)
    return qs


def _ordered(qs: QuerySet[Issue], order_by: str, sort: str) -> QuerySet[Issue]:
    if order_by not in ISSUE_ORDER:
        raise BadRequest("order_by does not have a valid value")
    if sort not in ("asc", "desc"):
        raise BadRequest("sort does not have a valid value")
    key = ISSUE_ORDER[order_by]
    if key == "label_priority":
        qs = qs.annotate(label_priority=Min("labels__priority"))
        sort = "asc" if order_by in ("priority", "label_priority") and sort == "desc" else sort
    expr = F(key).asc(nulls_last=True) if sort == "asc" else F(key).desc(nulls_last=True)
    if key not in NULLABLE_ORDER:
        expr = F(key).asc() if sort == "asc" else F(key).desc()
    return qs.order_by(expr, "-id" if sort == "desc" else "id")


def issue_base(
    *, viewer: User | None, project: Project | None = None, group: Namespace | None = None
) -> QuerySet[Issue]:
    """The issues ``viewer`` may read: of one project, of a group's projects (subgroups included), or of
    every project they may see."""
    if project is not None:
        qs = Issue.objects.filter(project=project)
    else:
        projects = policy.visible_projects(viewer).filter(issues_enabled=True)
        if group is not None:
            projects = projects.filter(namespace__traversal__startswith=group.traversal)
        qs = Issue.objects.filter(project__in=projects.values("id"))
    return qs.filter(policy.issue_visibility_condition(viewer, project=project))


def issue_list(
    *,
    viewer: User | None,
    filters: IssueFilters,
    project: Project | None = None,
    group: Namespace | None = None,
) -> QuerySet[Issue]:
    qs = _filtered(issue_base(viewer=viewer, project=project, group=group), viewer, filters, with_state=True)
    return with_details(_ordered(qs, filters.order_by, filters.sort))


def issue_statistics(
    *,
    viewer: User | None,
    filters: IssueFilters,
    project: Project | None = None,
    group: Namespace | None = None,
) -> dict[str, int]:
    """Counts per state over the same filters as the list (``state`` ignored), in one query."""
    qs = _filtered(issue_base(viewer=viewer, project=project, group=group), viewer, filters, with_state=False)
    counts = qs.order_by().aggregate(
        all=Count("id"),
        opened=Count("id", filter=Q(state=Issue.State.OPENED)),
        closed=Count("id", filter=Q(state=Issue.State.CLOSED)),
    )
    return {"all": counts["all"], "closed": counts["closed"], "opened": counts["opened"]}


# --- labels -------------------------------------------------------------------------------------


def _ancestor_groups(namespace: Namespace) -> list[int]:
    return namespace.ancestor_ids if namespace.is_group else []


def labels_available(*, project: Project) -> QuerySet[Label]:
    """Labels usable in ``project``: its own and those of every group above it."""
    return Label.objects.filter(Q(project=project) | Q(namespace_id__in=_ancestor_groups(project.namespace)))


def _with_counts(qs: QuerySet[Label], viewer: User | None, issues: Q) -> QuerySet[Label]:
    visible = policy.issue_visibility_condition(viewer, prefix="issues__") & issues
    return qs.annotate(
        open_issues_count=Count("issues", filter=visible & Q(issues__state=Issue.State.OPENED), distinct=True),
        closed_issues_count=Count("issues", filter=visible & Q(issues__state=Issue.State.CLOSED), distinct=True),
    )


def label_list_for_project(
    *,
    viewer: User | None,
    project: Project,
    with_counts: bool = False,
    include_ancestor_groups: bool = True,
    search: str | None = None,
) -> QuerySet[Label]:
    qs = labels_available(project=project) if include_ancestor_groups else Label.objects.filter(project=project)
    if search:
        qs = qs.filter(title__icontains=search)
    if with_counts:
        qs = _with_counts(qs, viewer, Q(issues__project=project))
    return qs.select_related("project").order_by("title", "id")


def label_list_for_group(
    *,
    viewer: User | None,
    group: Namespace,
    with_counts: bool = False,
    include_ancestor_groups: bool = True,
    include_descendant_groups: bool = False,
    search: str | None = None,
) -> QuerySet[Label]:
    cond = Q(namespace=group)
    if include_ancestor_groups:
        cond |= Q(namespace_id__in=group.ancestor_ids)
    if include_descendant_groups:
        cond |= Q(namespace__traversal__startswith=group.traversal)
    qs = Label.objects.filter(cond)
    if search:
        qs = qs.filter(title__icontains=search)
    if with_counts:
        projects = policy.visible_projects(viewer).filter(namespace__traversal__startswith=group.traversal)
        qs = _with_counts(qs, viewer, Q(issues__project__in=projects.values("id")))
    return qs.select_related("project").order_by("title", "id")


def _label_by_ref(qs: QuerySet[Label], ref: str) -> Label | None:
    from urllib.parse import unquote

    ref = unquote(str(ref))
    if ref.isdigit():
        found = qs.filter(pk=int(ref)).first()
        if found is not None:
            return found
    return qs.filter(title=ref).first()


def label_get_for_project(*, project: Project, ref: str, own_only: bool = False) -> Label:
    qs = Label.objects.filter(project=project) if own_only else labels_available(project=project)
    label = _label_by_ref(qs.select_related("project"), ref)
    if label is None:
        raise NotFound("Label")
    return label


def label_get_for_group(*, group: Namespace, ref: str) -> Label:
    label = _label_by_ref(Label.objects.filter(namespace=group), ref)
    if label is None:
        raise NotFound("Label")
    return label


# --- milestones ---------------------------------------------------------------------------------


def milestones_available(*, project: Project) -> QuerySet[Milestone]:
    return Milestone.objects.filter(Q(project=project) | Q(namespace_id__in=_ancestor_groups(project.namespace)))


def milestone_list(
    *,
    project: Project | None = None,
    group: Namespace | None = None,
    include_ancestors: bool = False,
    state: str | None = None,
    title: str | None = None,
    search: str | None = None,
    iids: list[int] | None = None,
) -> QuerySet[Milestone]:
    if project is not None:
        qs = milestones_available(project=project) if include_ancestors else Milestone.objects.filter(project=project)
    else:
        assert group is not None
        ids = group.ancestor_ids if include_ancestors else [group.id]
        qs = Milestone.objects.filter(namespace_id__in=ids)
    if state:
        if state not in ("active", "closed"):
            raise BadRequest("state does not have a valid value")
        qs = qs.filter(state=state)
    if title:
        qs = qs.filter(title=title)
    if search:
        qs = qs.filter(Q(title__icontains=search) | Q(description__icontains=search))
    if iids:
        qs = qs.filter(iid__in=iids)
    return qs.select_related("project__namespace", "namespace").order_by("-due_date", "-id")


def milestone_get(*, project: Project | None = None, group: Namespace | None = None, milestone_id: str) -> Milestone:
    if not str(milestone_id).isdigit():
        raise NotFound("Milestone")
    owner: dict[str, Any] = {"project": project} if project is not None else {"namespace": group}
    found = (
        Milestone.objects.filter(pk=int(milestone_id), **owner)
        .select_related("project__namespace", "namespace")
        .first()
    )
    if found is None:
        raise NotFound("Milestone")
    return found


def milestone_issues(*, viewer: User | None, milestone: Milestone) -> QuerySet[Issue]:
    if milestone.project_id is not None:
        qs = issue_base(viewer=viewer, project=milestone.project)
    else:
        assert milestone.namespace is not None
        qs = issue_base(viewer=viewer, group=milestone.namespace)
    return with_details(qs.filter(milestone=milestone).order_by("-created_at", "-id"))


def milestone_progress(*, viewer: User | None, milestone: Milestone) -> dict[str, int]:
    """Closed and total issues the viewer may see, and the percentage done (GitLab's progress bar)."""
    counts = (
        milestone_issues(viewer=viewer, milestone=milestone)
        .order_by()
        .aggregate(total=Count("id"), closed=Count("id", filter=Q(state=Issue.State.CLOSED)))
    )
    total, closed = counts["total"], counts["closed"]
    return {"total": total, "closed": closed, "percent": (closed * 100 // total) if total else 0}


# --- links --------------------------------------------------------------------------------------


@dataclass
class LinkedIssue:
    """An issue seen from the other end of a link, with the link's id and type as seen from here."""

    issue: Issue
    link: IssueLink
    link_type: str


def issue_links(*, viewer: User | None, issue: Issue) -> list[LinkedIssue]:
    """Issues linked to ``issue`` that ``viewer`` may read, oldest link first."""
    links = list(
        IssueLink.objects.filter(Q(source=issue) | Q(target=issue)).order_by("created_at", "id").select_related()
    )
    other_ids = {link.target_id if link.source_id == issue.id else link.source_id for link in links}
    visible = policy.visible_projects(viewer).values("id")
    others = {
        i.id: i
        for i in with_details(Issue.objects.filter(id__in=other_ids, project__in=visible)).filter(
            policy.issue_visibility_condition(viewer)
        )
    }
    out = []
    for link in links:
        outgoing = link.source_id == issue.id
        other = others.get(link.target_id if outgoing else link.source_id)
        if other is None:
            continue
        kind = link.link_type
        if kind == IssueLink.Type.BLOCKS and not outgoing:
            kind = "is_blocked_by"
        out.append(LinkedIssue(issue=other, link=link, link_type=kind))
    return out


def issue_link_get(*, issue: Issue, link_id: str) -> IssueLink:
    link = None
    if str(link_id).isdigit():
        link = (
            IssueLink.objects.filter(Q(source=issue) | Q(target=issue), pk=int(link_id))
            .select_related("source__project__namespace", "target__project__namespace")
            .first()
        )
    if link is None:
        raise NotFound("Not")  # GitLab answers "404 Not found" here
    return link


# --- closing patterns ---------------------------------------------------------------------------

# GitLab's default closing pattern: a keyword (close/fix/resolve/implement in their forms), an optional
# colon, then one or more issue references separated by commas, "and" or spaces.
_KEYWORD = r"(?:[Cc]los(?:e|es|ed|ing)|[Ff]ix(?:|es|ed|ing)|[Rr]esolv(?:e|es|ed|ing)|[Ii]mplement(?:|s|ed|ing))"
_ISSUE_REF = r"(?:[\w.\-/]+)?#\d+|https?://\S+/-/issues/\d+"
CLOSING_PATTERN = re.compile(
    rf"\b{_KEYWORD}:?\s+(?:(?:issues?\s+)?(?:{_ISSUE_REF})(?:\s*,?\s*(?:and\s+)?))+",
)
_REF_IN_CLOSING = re.compile(
    r"(?:(?P<path>[\w.\-]+(?:/[\w.\-]+)+)?#(?P<iid>\d+))"
    r"|(?:https?://[^/\s]+/(?P<urlpath>[\w.\-/]+?)/-/issues/(?P<urliid>\d+))"
)


def closing_issue_references(text: str, project: Project, *, viewer: User | None = None) -> list[Issue]:
    """Issues ``text`` says it closes ("Closes #12", "fixes #3, #4", "Resolves group/project#5",
    "Implements https://host/group/project/-/issues/7"), in order, without duplicates.

    Merge requests and pushes to the default branch call this. With ``viewer`` only issues they may read
    are returned; references to other projects resolve only within projects the viewer may see.
    """
    wanted: list[tuple[str | None, int]] = []
    for match in CLOSING_PATTERN.finditer(text or ""):
        for ref in _REF_IN_CLOSING.finditer(match.group(0)):
            path = ref.group("path") or ref.group("urlpath")
            iid = int(ref.group("iid") or ref.group("urliid"))
            wanted.append((path.lower() if path else None, iid))
    if not wanted:
        return []
    paths = {p for p, _ in wanted if p and p != project.full_path.lower()}
    projects: dict[str, Project] = {project.full_path.lower(): project}
    if paths:
        cond = Q()
        for path in paths:
            ns, _, name = path.rpartition("/")
            cond |= Q(namespace__full_path__iexact=ns, path__iexact=name)
        for p in policy.visible_projects(viewer).filter(cond).select_related("namespace"):
            projects[p.full_path.lower()] = p
    by_key: dict[tuple[int, int], None] = {}
    for path, iid in wanted:
        target = projects.get(path or project.full_path.lower())
        if target is not None:
            by_key.setdefault((target.id, iid), None)
    cond = Q()
    for project_id, iid in by_key:
        cond |= Q(project_id=project_id, iid=iid)
    qs = Issue.objects.filter(cond).select_related("project__namespace")
    if viewer is not None:
        qs = qs.filter(policy.issue_visibility_condition(viewer))
    found = {(i.project_id, i.iid): i for i in qs}
    return [found[key] for key in by_key if key in found]
