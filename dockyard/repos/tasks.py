"""Background work on repositories."""

from __future__ import annotations

from django_tasks import task

from dockyard.repos import git, services


@task()
def repository_housekeeping(project_id: int) -> None:
    git.housekeeping(project_id)


@services.on_push
def _housekeep_after_push(push: services.Push) -> None:
    """Every push may add a pack or loose objects; repack them (geometrically, so cheaply) soon after."""
    if any(not change.deleted for change in push.changes):
        repository_housekeeping.enqueue(push.project_id)
