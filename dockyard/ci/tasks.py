"""Background CI work: pipelines for pushes, and the check for stuck or lost jobs."""

from __future__ import annotations

from django_tasks import task

from dockyard.accounts.models import User
from dockyard.ci import services
from dockyard.ci.models import Job
from dockyard.projects.models import Project
from dockyard.repos import services as repos
from dockyard.repos.git.write import ZERO_SHA


@task()
def pipelines_for_push(project_id: int, user_id: int | None, changes: list[list[str]], push_options: list[str]) -> None:
    """``changes`` are ``[old, new, ref]`` of the pushed branches and tags."""
    project = Project.objects.select_related("namespace").filter(pk=project_id).first()
    if project is None:
        return
    user = User.objects.filter(pk=user_id).first() if user_id else None
    services.pipelines_create_for_push(
        project=project,
        user=user,
        changes=[(old, new, ref) for old, new, ref in changes],
        push_options=push_options,
    )


@task()
def jobs_drop_stale() -> None:
    services.jobs_drop_stale()


@task()
def job_enqueue_scheduled(job_id: int) -> None:
    """A delayed job's wake-up, queued to run at its ``scheduled_at``; harmless if it comes twice."""
    services.job_enqueue_scheduled(job_id=job_id)


@services.on_job_scheduled
def _wake_when_due(job: Job) -> None:
    job_enqueue_scheduled.using(run_after=job.scheduled_at).enqueue(job.pk)


@repos.on_push
def _pipelines_after_push(push: repos.Push) -> None:
    """Every pushed branch or tag (not a deletion) may start a pipeline, as in GitLab."""
    changes = [[c.old, c.new, c.ref] for c in push.changes if c.new != ZERO_SHA and (c.branch or c.tag)]
    if changes:
        pipelines_for_push.enqueue(push.project_id, push.user_id, changes, list(push.push_options))
