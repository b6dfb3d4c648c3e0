"""The one permission module. Every API handler, page and (later) git operation asks here.

Rules follow GitLab's: a membership on a group applies to every subgroup and project beneath it and
the highest level wins; admins may do anything; what a user may not *see* must look missing (404),
which is why callers use :func:`visible_projects` / :func:`can` and never test memberships themselves.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING, Any, Literal

from django.db.models import Q, QuerySet
from django.utils import timezone

from dockyard.core.errors import Forbidden, Unauthorized
from dockyard.core.visibility import Visibility
from dockyard.namespaces.models import Namespace
from dockyard.permissions.models import AccessLevel, Membership
from dockyard.projects.models import Project
from dockyard.repos.models import ProtectedBranch, ProtectedTag

if TYPE_CHECKING:
    from dockyard.accounts.models import User

ProjectAction = Literal[
    "read_project",
    "read_members",
    "admin_project",  # edit settings
    "archive_project",
    "remove_project",
    "admin_project_member",
    "change_visibility",
    "download_code",
    "push_code",
    "fork_project",
    "admin_fork_relation",
]
GroupAction = Literal[
    "read_group",
    "admin_group",
    "remove_group",
    "create_subgroup",
    "create_projects",
    "admin_group_member",
]

# The lowest access level each action needs.
PROJECT_RULES: dict[str, int] = {
    "read_project": AccessLevel.GUEST,
    "read_members": AccessLevel.GUEST,
    "admin_project": AccessLevel.MAINTAINER,
    "archive_project": AccessLevel.MAINTAINER,
    "admin_project_member": AccessLevel.MAINTAINER,
    "change_visibility": AccessLevel.OWNER,
    "remove_project": AccessLevel.OWNER,
    "download_code": AccessLevel.REPORTER,
    "push_code": AccessLevel.DEVELOPER,
    "admin_protected_refs": AccessLevel.MAINTAINER,
    # POST /projects/:id/fork/:from and DELETE /projects/:id/fork: owners, as in GitLab.
    "admin_fork_relation": AccessLevel.OWNER,
}
GROUP_RULES: dict[str, int] = {
    "read_group": AccessLevel.GUEST,
    "admin_group": AccessLevel.OWNER,
    "remove_group": AccessLevel.OWNER,
    "create_subgroup": AccessLevel.MAINTAINER,
    "create_projects": AccessLevel.MAINTAINER,
    "admin_group_member": AccessLevel.OWNER,
}


@dataclass
class MemberIndex:
    """A user's direct memberships, loaded once per user object (one query) and reused."""

    namespaces: dict[int, int] = field(default_factory=dict)
    projects: dict[int, int] = field(default_factory=dict)
    traversals: list[str] = field(default_factory=list)


def _active(user: User | None) -> User | None:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return user


def member_index(user: User) -> MemberIndex:
    cached: MemberIndex | None = getattr(user, "_member_index", None)
    if cached is not None:
        return cached
    index = MemberIndex()
    today = timezone.now().date()
    rows = (
        Membership.objects.filter(user=user)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=today))
        .values_list("namespace_id", "project_id", "access_level", "namespace__traversal")
    )
    for ns_id, project_id, level, traversal in rows:
        if ns_id is not None:
            index.namespaces[ns_id] = level
            index.traversals.append(traversal)
        else:
            index.projects[project_id] = level
    user._member_index = index  # type: ignore[attr-defined]  # per-request cache on the user object
    return index


def forget(user: User) -> None:
    """Drop the cached memberships after they change within the same request."""
    if hasattr(user, "_member_index"):
        del user._member_index


def namespace_access_level(user: User | None, namespace: Namespace) -> int:
    """The user's effective membership level on a group, inherited from its ancestors."""
    user = _active(user)
    if user is None:
        return AccessLevel.NO_ACCESS
    if namespace.kind == Namespace.Kind.USER:
        return AccessLevel.OWNER if namespace.owner_id == user.id else AccessLevel.NO_ACCESS
    levels = member_index(user).namespaces
    return max((levels.get(i, 0) for i in namespace.ancestor_ids), default=0)


def project_access_level(user: User | None, project: Project) -> int:
    """The user's effective membership level on a project: direct, or inherited through groups."""
    user = _active(user)
    if user is None:
        return AccessLevel.NO_ACCESS
    index = member_index(user)
    level = index.projects.get(project.id, 0)
    namespace = project.namespace
    if namespace.kind == Namespace.Kind.USER:
        if namespace.owner_id == user.id:
            level = max(level, AccessLevel.OWNER)
    else:
        level = max([level, *(index.namespaces.get(i, 0) for i in namespace.ancestor_ids)])
    return level


def _visible_by_level(user: User | None, visibility: int) -> bool:
    if visibility == Visibility.PUBLIC:
        return True
    return visibility == Visibility.INTERNAL and _active(user) is not None and not _active(user).external  # type: ignore[union-attr]


def can_read_project(user: User | None, project: Project) -> bool:
    active = _active(user)
    if active is not None and active.is_admin:
        return True
    return _visible_by_level(user, project.visibility) or project_access_level(user, project) >= AccessLevel.GUEST


def can(user: User | None, action: str, obj: Project | Namespace) -> bool:
    """Whether ``user`` may do ``action`` on ``obj``. Admins may do everything."""
    active = _active(user)
    if isinstance(obj, Project):
        if action in {"read_project", "read_members"}:
            return can_read_project(active, obj)
        if action == "download_code" and obj.visibility >= Visibility.INTERNAL:
            # Open projects share their code with everyone who may see them, guests included.
            return can_read_project(active, obj)
        if active is None:
            return False
        if action == "fork_project":
            # Anyone signed in who may read the code may fork it (where the fork goes is checked apart).
            return can(active, "download_code", obj)
        if active.is_admin:
            return True
        return project_access_level(active, obj) >= PROJECT_RULES[action]
    if action == "read_group":
        return can_read_namespace(active, obj)
    if active is None:
        return False
    if active.is_admin:
        return True
    if obj.kind == Namespace.Kind.USER:
        # A user's own namespace: they may create projects there and nothing else applies.
        return action == "create_projects" and obj.owner_id == active.id
    return namespace_access_level(active, obj) >= GROUP_RULES[action]


def can_read_namespace(user: User | None, namespace: Namespace) -> bool:
    active = _active(user)
    if active is not None and active.is_admin:
        return True
    if namespace.kind == Namespace.Kind.USER:
        return True  # user namespaces are as public as user profiles
    if _visible_by_level(active, namespace.visibility):
        return True
    if active is None:
        return False
    return visible_namespaces(active).filter(pk=namespace.pk).exists()


def visible_projects(user: User | None) -> QuerySet[Project]:
    """Every project ``user`` may see. A filter, so lists stay one query however many rows match."""
    active = _active(user)
    qs = Project.objects.all()
    if active is None:
        return qs.filter(visibility=Visibility.PUBLIC)
    if active.is_admin:
        return qs
    index = member_index(active)
    cond = Q(id__in=list(index.projects)) | Q(namespace__owner_id=active.id)
    cond |= Q(visibility=Visibility.PUBLIC) if active.external else Q(visibility__gte=Visibility.INTERNAL)
    if index.traversals:
        cond |= Q(namespace__in=_subtree_ids(index.traversals))
    return qs.filter(cond)


def member_projects(user: User) -> QuerySet[Project]:
    """Projects ``user`` is a member of, directly, through a group, or by owning the namespace."""
    index = member_index(user)
    cond = Q(id__in=list(index.projects)) | Q(namespace__owner_id=user.id)
    if index.traversals:
        cond |= Q(namespace__in=_subtree_ids(index.traversals))
    return Project.objects.filter(cond)


def visible_namespaces(user: User | None) -> QuerySet[Namespace]:
    """Every group ``user`` may see: open enough, or related to one of the user's memberships.

    GitLab shows a member of a subgroup or of a project the groups above it as well.
    """
    active = _active(user)
    groups = Namespace.objects.filter(kind=Namespace.Kind.GROUP)
    if active is None:
        return groups.filter(visibility=Visibility.PUBLIC)
    if active.is_admin:
        return groups
    index = member_index(active)
    cond = Q(visibility=Visibility.PUBLIC) if active.external else Q(visibility__gte=Visibility.INTERNAL)
    if index.traversals:
        cond |= Q(id__in=_subtree_ids(index.traversals))
        cond |= Q(id__in=_ancestor_ids(index.traversals))
    if index.projects:
        project_traversals = Namespace.objects.filter(projects__id__in=list(index.projects)).values_list(
            "traversal", flat=True
        )
        cond |= Q(id__in=_ancestor_ids(list(project_traversals)))
    return groups.filter(cond)


def member_namespaces(user: User) -> QuerySet[Namespace]:
    """Groups ``user`` is a member of, directly or through an ancestor group."""
    index = member_index(user)
    if not index.traversals:
        return Namespace.objects.none()
    return Namespace.objects.filter(kind=Namespace.Kind.GROUP, id__in=_subtree_ids(index.traversals))


def _subtree_ids(traversals: list[str]) -> QuerySet[Namespace, Any]:
    cond = reduce(operator.or_, (Q(traversal__startswith=t) for t in traversals))
    return Namespace.objects.filter(cond).values("id")


def _ancestor_ids(traversals: list[str]) -> list[int]:
    return sorted({int(part) for t in traversals for part in t.strip("/").split("/") if part})


def authorize(user: User | None, action: str, obj: Project | Namespace) -> None:
    """Raise 403 unless ``user`` may do ``action``. Call after the object was found *visible*
    (a 404 for invisible objects comes from the selectors, so 403 never reveals existence)."""
    if can(user, action, obj):
        return
    if _active(user) is None:
        raise Unauthorized()
    raise Forbidden()


# --- git pushes -------------------------------------------------------------------------------

ZERO_SHA = "0" * 40
ADMIN_REF_LEVEL = 60  # "Administrators" in protected-ref rules


@dataclass(frozen=True)
class RefChange:
    """One ref update of a push, as the pre-receive hook reports it."""

    old: str
    new: str
    ref: str
    forced: bool = False

    @property
    def created(self) -> bool:
        return self.old == ZERO_SHA

    @property
    def deleted(self) -> bool:
        return self.new == ZERO_SHA

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None

    @property
    def tag(self) -> str | None:
        return self.ref.removeprefix("refs/tags/") if self.ref.startswith("refs/tags/") else None


def _ref_level(user: User, project: Project) -> int:
    return ADMIN_REF_LEVEL if user.is_admin else project_access_level(user, project)


def _allowed(level: int, required: int) -> bool:
    return required != 0 and level >= required


def push_denial(
    user: User | None,
    project: Project,
    change: RefChange,
    *,
    protected_branches: list[ProtectedBranch],
    protected_tags: list[ProtectedTag],
    via_web: bool = False,
) -> str | None:
    """Why ``user`` may not make ``change``, in GitLab's words; None when the change is allowed.

    Used for git pushes (through the pre-receive hook) and for every ref the API or the pages write.
    """
    active = _active(user)
    if active is None or not can(active, "push_code", project):
        return "You are not allowed to push code to this project."
    if project.archived:
        return "You are not allowed to push code to an archived project."
    if change.ref.startswith("refs/merge-requests/"):
        # The server keeps merge request heads there (those from forks are fetched in): never a client.
        return "deny updating a hidden ref"
    level = _ref_level(active, project)
    if (branch := change.branch) is not None:
        if change.deleted and branch == project.default_branch:
            return "The default branch of a project cannot be deleted."
        rules = [rule for rule in protected_branches if rule.matches(branch)]
        if not rules:
            return None
        if change.deleted:
            if not via_web:
                return "You can only delete protected branches using the web interface."
            if not any(_allowed(level, r.unprotect_access_level) for r in rules):
                return (
                    "You are not allowed to delete protected branches from this project. "
                    "Only a project maintainer or owner can delete a protected branch."
                )
            return None
        if change.forced and not any(r.allow_force_push for r in rules):
            return "You are not allowed to force push code to a protected branch on this project."
        # When several rules match, the most permissive one decides (GitLab's rule).
        if any(_allowed(level, r.push_access_level) for r in rules):
            return None
        if change.created:
            if any(_allowed(level, r.merge_access_level) for r in rules):
                return None
            return "You are not allowed to create protected branches on this project."
        return "You are not allowed to push code to protected branches on this project."
    if (tag := change.tag) is not None:
        rules_t = [rule for rule in protected_tags if rule.matches(tag)]
        if not rules_t:
            return None
        if change.deleted:
            return None if via_web and level >= AccessLevel.MAINTAINER else "Protected tags cannot be deleted."
        if not change.created:
            return "Protected tags cannot be updated."
        if any(_allowed(level, r.create_access_level) for r in rules_t):
            return None
        return "You are not allowed to create this tag as it is protected."
    return None


# --- issues, notes, labels and milestones ---------------------------------------------------------
# GitLab's rules: anyone who may see a project may read its issues and, when signed in, open one and
# comment; reporters (the planning roles) and above manage labels, milestones, assignees and time, and
# read confidential issues and internal notes; only owners delete issues. Confidential issues are
# readable only by reporters+, their author and their assignees.

ISSUE_RULES: dict[str, int] = {
    "read_confidential_issues": AccessLevel.REPORTER,
    "admin_issue": AccessLevel.REPORTER,  # edit anyone's issue, set labels/milestone/assignees, time
    "admin_label": AccessLevel.REPORTER,
    "admin_milestone": AccessLevel.REPORTER,
    "read_internal_note": AccessLevel.REPORTER,
    "admin_note": AccessLevel.MAINTAINER,  # delete other people's comments
    "destroy_issue": AccessLevel.OWNER,
    "comment_on_locked": AccessLevel.REPORTER,
}


def can_on_project_issues(user: User | None, action: str, project: Project) -> bool:
    """Whether ``user`` may do ``action`` (a key of ISSUE_RULES) in ``project``'s issue tracker."""
    active = _active(user)
    if active is None or not can_read_project(active, project):
        return False
    return active.is_admin or project_access_level(active, project) >= ISSUE_RULES[action]


def can_in_group(user: User | None, action: str, group: Namespace) -> bool:
    """Group labels and milestones: reporters of the group (or an ancestor) manage them."""
    active = _active(user)
    if active is None:
        return False
    return active.is_admin or namespace_access_level(active, group) >= ISSUE_RULES[action]


def _projects_at_least(user: User, level: int) -> Q:
    """A condition on projects: ``user`` holds at least ``level`` there (direct, inherited or owner)."""
    index = member_index(user)
    cond = Q(id__in=[pid for pid, lvl in index.projects.items() if lvl >= level]) | Q(namespace__owner_id=user.id)
    # A traversal ends with its own group's id ("/1/7/"), which ties it to the level held on that group.
    traversals = [t for t in index.traversals if index.namespaces.get(int(t.strip("/").split("/")[-1]), 0) >= level]
    if traversals:
        cond |= Q(namespace__in=_subtree_ids(traversals))
    return cond


def issue_visibility_condition(user: User | None, *, project: Project | None = None, prefix: str = "") -> Q:
    """ONE condition on issues (``prefix`` for a relation, e.g. ``"issues__"``) that keeps the confidential
    issues ``user`` may not read out of any list, count or search. With ``project`` (a single-project
    list) the reporter check is answered here instead of in SQL.

    It does not check the projects themselves: callers already restrict to projects the user may see.
    """
    from dockyard.issues.models import Issue

    active = _active(user)
    if active is not None and active.is_admin:
        return Q()
    if project is not None and can_on_project_issues(active, "read_confidential_issues", project):
        return Q()
    cond = Q(**{f"{prefix}confidential": False})
    if active is None:
        return cond
    assigned = Issue.assignees.through.objects.filter(user_id=active.id).values("issue_id")
    cond |= Q(**{f"{prefix}author_id": active.id}) | Q(**{f"{prefix}id__in": assigned})
    if project is None:
        reporter_projects = Project.objects.filter(_projects_at_least(active, AccessLevel.REPORTER)).values("id")
        cond |= Q(**{f"{prefix}project_id__in": reporter_projects})
    return cond


def can_read_issue(user: User | None, issue: Any) -> bool:
    """``issue`` (a ``dockyard.issues.models.Issue``) is readable: its project is, and it is not a
    confidential issue kept from ``user``."""
    active = _active(user)
    if not can_read_project(active, issue.project):
        return False
    if not issue.confidential or (active is not None and active.is_admin):
        return True
    if active is None:
        return False
    if issue.author_id == active.id or can_on_project_issues(active, "read_confidential_issues", issue.project):
        return True
    return bool(issue.assignees.filter(pk=active.pk).exists())


def can_on_issue(user: User | None, action: str, issue: Any) -> bool:
    """Actions on one readable issue: ``create_issue`` (on its project), ``update_issue`` (author,
    assignee or reporter+), ``admin_issue``, ``destroy_issue``, ``create_note``."""
    active = _active(user)
    if active is None or not can_read_issue(active, issue):
        return False
    if active.is_admin:
        return True
    project = issue.project
    if action == "update_issue":
        if issue.author_id == active.id or can_on_project_issues(active, "admin_issue", project):
            return True
        return bool(issue.assignees.filter(pk=active.pk).exists())
    if action == "create_note":
        return not issue.discussion_locked or can_on_project_issues(active, "comment_on_locked", project)
    return can_on_project_issues(active, action, project)


def can_create_issue(user: User | None, project: Project) -> bool:
    """Signed-in users who may see a project may open issues in it (non-members too, on open projects)."""
    active = _active(user)
    return active is not None and can_read_project(active, project) and project.issues_enabled


def can_on_note(user: User | None, action: str, note: Any) -> bool:
    """``update_note`` is the author's alone; ``delete_note`` also maintainers'. ``note`` is readable."""
    active = _active(user)
    if active is None or note.system:
        return False
    if note.author_id == active.id:
        return True
    return action == "delete_note" and can_on_project_issues(active, "admin_note", note.project)


def authorize_issue(user: User | None, allowed: bool) -> None:
    """Raise 401/403 for a refused action on something the user may see (invisible ones are 404s)."""
    if allowed:
        return
    if _active(user) is None:
        raise Unauthorized()
    raise Forbidden()


# --- CI/CD: pipelines, jobs, variables and runners -------------------------------------------------
# GitLab's rules: reporters read pipelines and job logs (everyone who may see an internal or public
# project does, its "public pipelines" default); developers run, retry, cancel and play; maintainers
# erase jobs, manage CI/CD variables and project runners; only owners delete pipelines.

CI_RULES: dict[str, int] = {
    "read_pipeline": AccessLevel.REPORTER,
    "create_pipeline": AccessLevel.DEVELOPER,
    "update_build": AccessLevel.DEVELOPER,
    "erase_build": AccessLevel.MAINTAINER,
    # Deleting job artifacts through the API (one job's, or all the project's expirable ones).
    "destroy_artifacts": AccessLevel.MAINTAINER,
    "admin_cicd_variables": AccessLevel.MAINTAINER,
    "admin_runner": AccessLevel.MAINTAINER,
    "destroy_pipeline": AccessLevel.OWNER,
    # Trigger tokens: maintainers list and manage them. Schedules: developers create them and run or edit
    # their own; maintainers take them over and delete anyone's.
    "admin_trigger": AccessLevel.MAINTAINER,
    "create_pipeline_schedule": AccessLevel.DEVELOPER,
    "admin_pipeline_schedule": AccessLevel.MAINTAINER,
}


def can_on_project_ci(user: User | None, action: str, project: Project) -> bool:
    """Whether ``user`` may do ``action`` (a key of CI_RULES) on ``project``'s pipelines and jobs."""
    active = _active(user)
    if not can_read_project(active, project):
        return False
    if action == "read_pipeline" and project.visibility >= Visibility.INTERNAL:
        return True
    if active is None:
        return False
    return active.is_admin or project_access_level(active, project) >= CI_RULES[action]


# Group CI/CD variables: the group's maintainers (inherited down its subgroups) manage them.
GROUP_CI_RULES: dict[str, int] = {"admin_cicd_variables": AccessLevel.MAINTAINER}


def can_on_group_ci(user: User | None, action: str, group: Namespace) -> bool:
    """Whether ``user`` may do ``action`` (a key of GROUP_CI_RULES) on ``group``'s CI/CD settings."""
    active = _active(user)
    if active is None:
        return False
    return active.is_admin or namespace_access_level(active, group) >= GROUP_CI_RULES[action]


# --- merge requests -------------------------------------------------------------------------------
# GitLab's rules: whoever may read a project's code reads its merge requests and, signed in, comments;
# developers open, edit, approve and merge them (merging into a protected branch needs its
# ``merge_access_level``); authors edit their own but may not approve them ("Prevent approval by author"
# is on by default); reporters comment but neither approve nor merge; only owners delete them.

MERGE_REQUEST_RULES: dict[str, int] = {
    "create_merge_request": AccessLevel.DEVELOPER,
    "admin_merge_request": AccessLevel.DEVELOPER,  # labels, assignees, reviewers, milestone, lock
    "approve_merge_request": AccessLevel.DEVELOPER,
    "destroy_merge_request": AccessLevel.OWNER,
}


def can_read_merge_requests(user: User | None, project: Project) -> bool:
    return project.merge_requests_enabled and can(user, "download_code", project)


def can_create_merge_request(user: User | None, project: Project, *, source_project: Project | None = None) -> bool:
    """Open a merge request into ``project`` from a branch of ``source_project`` (the same project when
    None). From a fork, as in GitLab, it takes pushing to the fork and reading the target's merge requests
    (any signed-in reader of an open project may propose a change); within a project, developer access."""
    active = _active(user)
    source = source_project or project
    return (
        active is not None
        and can_read_merge_requests(active, project)
        and can(active, "push_code", source)
        and (source.pk != project.pk or can(active, "push_code", project))
    )


def merge_denial(
    user: User | None, project: Project, branch: str, *, protected_branches: list[ProtectedBranch]
) -> str | None:
    """Why ``user`` may not merge into ``branch`` (GitLab checks the merge level, not the push level, of a
    protected branch); None when they may."""
    active = _active(user)
    if active is None or not can(active, "push_code", project):
        return "You are not allowed to merge into this project."
    if project.archived:
        return "You are not allowed to push code to an archived project."
    rules = [rule for rule in protected_branches if rule.matches(branch)]
    if not rules:
        return None
    level = _ref_level(active, project)
    if any(_allowed(level, r.merge_access_level) or _allowed(level, r.push_access_level) for r in rules):
        return None
    return "You are not allowed to merge into protected branches on this project."


def can_on_merge_request(user: User | None, action: str, merge_request: Any) -> bool:
    """Actions on one merge request (``merge_request.project`` is its target project): ``read``,
    ``create_note``, ``update_merge_request`` (author or developer+), ``resolve_note`` (same),
    ``approve_merge_request`` (developer+, not the author), ``admin_merge_request``, ``destroy_merge_request``."""
    active = _active(user)
    project = merge_request.project
    if action == "read_merge_request":
        return can_read_merge_requests(user, project)
    if active is None or not can_read_merge_requests(active, project):
        return False
    if action == "create_note":
        return (
            active.is_admin
            or not merge_request.discussion_locked
            or can_on_project_issues(active, "comment_on_locked", project)
        )
    level = ADMIN_REF_LEVEL if active.is_admin else project_access_level(active, project)
    if action in ("update_merge_request", "resolve_note"):
        return merge_request.author_id == active.id or level >= AccessLevel.DEVELOPER
    if action == "approve_merge_request":
        return merge_request.author_id != active.id and level >= MERGE_REQUEST_RULES[action]
    return level >= MERGE_REQUEST_RULES[action]


# --- activity events --------------------------------------------------------------------------------
# GitLab shows an event only to who may see its target: the project at all; pushes and merge requests
# only where the code is readable (reporters+ on private projects); confidential issues and their notes
# only to who may read them; internal notes only to reporters+.

PUSH_EVENT_ACTIONS = ("pushed new", "pushed to", "deleted")
NOTE_TARGET_TYPES = ("Note", "DiffNote", "DiscussionNote")


def event_visibility_condition(user: User | None) -> Q:
    """ONE condition on ``dockyard.events.models.Event`` that keeps every event ``user`` may not see out of a
    feed. A fixed number of subqueries, so a feed stays one query however many events or projects match."""
    from dockyard.issues.models import Issue
    from dockyard.notes.models import Note

    active = _active(user)
    if active is not None and active.is_admin:
        return Q()
    open_level = Visibility.PUBLIC if active is None or active.external else Visibility.INTERNAL
    visible = visible_projects(active).values("id")
    # Project-less events (a user's own account) are only their author's.
    cond = Q(project_id__in=visible)
    if active is not None:
        cond |= Q(project__isnull=True, author_id=active.id)
    reporter_projects: Any = (
        Project.objects.filter(_projects_at_least(active, AccessLevel.REPORTER)).values("id")
        if active is not None
        else Project.objects.none().values("id")
    )
    code = Q(project__visibility__gte=open_level) | Q(project_id__in=reporter_projects)
    hidden_issues = Issue.objects.filter(confidential=True).exclude(issue_visibility_condition(active)).values("id")
    hidden_notes = Note.objects.filter(
        Q(issue_id__in=hidden_issues)
        | (Q(internal=True) & ~Q(project_id__in=reporter_projects))
        | (
            Q(merge_request__isnull=False)
            & ~Q(project__visibility__gte=open_level)
            & ~Q(project_id__in=reporter_projects)
        )
    ).values("id")
    cond &= ~Q(action__in=PUSH_EVENT_ACTIONS) | code
    cond &= ~Q(target_type="MergeRequest") | (code & Q(project__merge_requests_enabled=True))
    cond &= ~Q(target_type="Issue", target_id__in=hidden_issues)
    cond &= ~Q(target_type__in=NOTE_TARGET_TYPES, target_id__in=hidden_notes)
    return cond
