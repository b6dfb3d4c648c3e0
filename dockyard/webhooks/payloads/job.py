"""Job Hook (GitLab's ``Gitlab::DataBuilder::Build``) of a ``dockyard.ci.models.Job``."""

from __future__ import annotations

from typing import Any

from dockyard.repos.git import GitError
from dockyard.repos.git import read as git_read
from dockyard.webhooks.payloads.common import iso, project_attrs, repository_attrs, user_attrs, utc
from dockyard.webhooks.payloads.pipeline import environment_attrs, runner_attrs


def build(*, job: Any, base: str) -> dict[str, Any]:
    """The payload of ``job`` as it is now."""
    pipeline = job.pipeline
    retries_count = pipeline.jobs.filter(name=job.name, retried=True, id__lt=job.id).count()
    project = pipeline.project
    try:
        commit = git_read.Repository(project.id).commit(pipeline.sha)
    except GitError:
        commit = None
    author_email = commit.author_email if commit is not None else None
    return {
        "object_kind": "build",
        "ref": pipeline.ref,
        "tag": pipeline.tag,
        "before_sha": pipeline.before_sha,
        "sha": pipeline.sha,
        "build_id": job.id,
        "build_name": job.name,
        "build_stage": job.stage,
        "build_status": job.status,
        "build_created_at": utc(job.created_at),
        "build_created_at_iso": iso(job.created_at),
        "build_started_at": utc(job.started_at),
        "build_started_at_iso": iso(job.started_at),
        "build_finished_at": utc(job.finished_at),
        "build_finished_at_iso": iso(job.finished_at),
        "build_duration": job.duration,
        "build_queued_duration": job.queued_duration,
        "build_allow_failure": job.allow_failure,
        "build_failure_reason": job.failure_reason,
        "retries_count": retries_count,
        "pipeline_id": pipeline.id,
        "project_id": project.id,
        "project_name": project.full_name,
        "user": user_attrs(job.user) if job.user is not None else None,
        # GitLab's quirk, kept: ``commit.id`` is the pipeline's id.
        "commit": {
            "id": pipeline.id,
            "name": pipeline.name,
            "sha": pipeline.sha,
            "message": commit.message if commit is not None else None,
            "author_name": commit.author_name if commit is not None else None,
            "author_email": author_email,
            "author_url": f"mailto:{author_email}" if author_email else None,
            "status": pipeline.status,
            "duration": pipeline.duration,
            "started_at": utc(pipeline.started_at),
            "started_at_iso": iso(pipeline.started_at),
            "finished_at": utc(pipeline.finished_at),
            "finished_at_iso": iso(pipeline.finished_at),
        },
        "repository": repository_attrs(project, base),
        "project": project_attrs(project, base, backward=False),
        "runner": runner_attrs(job.runner),
        "environment": environment_attrs(job, tier=False),
    }
