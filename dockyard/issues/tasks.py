"""Background work on issues: closing the issues that commits pushed to the default branch close."""

from __future__ import annotations

from django_tasks import task

from dockyard.accounts.models import User
from dockyard.issues import services
from dockyard.projects.models import Project
from dockyard.repos import services as repos
from dockyard.repos.git.admin import ZERO_SHA, commit_messages


@task()
def close_issues_from_push(project_id: int, user_id: int | None, changes: list[list[str]]) -> None:
    """``changes`` are ``[old, new, ref]`` updates of the default branch."""
    project = Project.objects.select_related("namespace").filter(pk=project_id).first()
    if project is None:
        return
    user = User.objects.filter(pk=user_id).first() if user_id else None
    for old, new, ref in changes:
        commits = commit_messages(project.id, old, new, ref=ref)
        services.issues_close_by_commits(project=project, actor=user, commits=commits)


@repos.on_push
def _close_issues_after_push(push: repos.Push) -> None:
    """Commits reaching the default branch close the issues they name ("Closes #12"), as in GitLab."""
    default = Project.objects.filter(pk=push.project_id).values_list("default_branch", flat=True).first()
    changes = [[c.old, c.new, c.ref] for c in push.changes if c.branch and c.branch == default and c.new != ZERO_SHA]
    if changes:
        close_issues_from_push.enqueue(push.project_id, push.user_id, changes)
