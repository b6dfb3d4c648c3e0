"""Pipeline Hook (GitLab's ``Gitlab::DataBuilder::Pipeline``) of a ``dockyard.ci.models.Pipeline``."""

from __future__ import annotations

from typing import Any

from dockyard.webhooks.payloads.common import commit_attrs, project_attrs, user_attrs, utc
from dockyard.webhooks.payloads.merge_request import merge_request_url

# GitLab's ``detailed_status`` labels where they differ from the status.
STATUS_LABELS = {
    "success": "passed",
    "manual": "manual action",
    "scheduled": "delayed",
    "waiting_for_resource": "waiting for resource",
}


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def runner_attrs(runner: Any) -> dict[str, Any] | None:
    """``runner`` of pipeline and job hooks."""
    if runner is None:
        return None
    return {
        "id": runner.id,
        "description": runner.description,
        "runner_type": runner.runner_type,
        "active": not runner.paused,
        "is_shared": runner.runner_type == "instance_type",
        "tags": list(runner.tag_list or []),
    }


def environment_attrs(job: Any, *, tier: bool) -> dict[str, Any] | None:
    """The job's ``environment:`` keyword (null without one); pipeline hooks add the deployment tier."""
    environment = (job.options or {}).get("environment")
    if not environment:
        return None
    attrs = {"name": environment.get("name"), "action": environment.get("action") or "start"}
    if tier:
        attrs["deployment_tier"] = environment.get("deployment_tier")
    return attrs


def _build(job: Any) -> dict[str, Any]:
    archive = next((a for a in job.artifacts.all() if a.file_type == "archive"), None)
    return {
        "id": job.id,
        "stage": job.stage,
        "name": job.name,
        "status": job.status,
        "created_at": utc(job.created_at),
        "started_at": utc(job.started_at),
        "finished_at": utc(job.finished_at),
        "duration": job.duration,
        "queued_duration": job.queued_duration,
        "failure_reason": job.failure_reason if job.status == "failed" else None,
        "when": job.when,
        "manual": job.when == "manual",
        "allow_failure": job.allow_failure,
        "user": user_attrs(job.user) if job.user is not None else None,
        "runner": runner_attrs(job.runner),
        "artifacts_file": {
            "filename": archive.filename if archive is not None else None,
            "size": archive.size if archive is not None else None,
        },
        "environment": environment_attrs(job, tier=True),
    }


def _merge_request(mr: Any, base: str) -> dict[str, Any] | None:
    if mr is None:
        return None
    return {
        "id": mr.id,
        "iid": mr.iid,
        "title": mr.title,
        "source_branch": mr.source_branch,
        "source_project_id": mr.source_project_id,
        "target_branch": mr.target_branch,
        "target_project_id": mr.project_id,
        "state": mr.state,
        "merge_status": mr.merge_status,
        "detailed_merge_status": mr.detailed_merge_status,
        "url": merge_request_url(mr, base),
    }


def build(*, pipeline: Any, base: str) -> dict[str, Any]:
    """The payload of ``pipeline`` as it is now, with its latest (not retried) jobs."""
    project = pipeline.project
    jobs = list(
        pipeline.jobs.filter(retried=False)
        .select_related("user", "runner")
        .prefetch_related("artifacts")
        .order_by("id")
    )
    stages = sorted({(j.stage_idx, j.stage) for j in jobs})
    queued = (pipeline.started_at - pipeline.created_at).total_seconds() if pipeline.started_at else None
    return {
        "object_kind": "pipeline",
        "object_attributes": {
            "id": pipeline.id,
            "iid": pipeline.iid,
            "name": pipeline.name,
            "ref": pipeline.ref,
            "tag": pipeline.tag,
            "sha": pipeline.sha,
            "before_sha": pipeline.before_sha,
            "source": pipeline.source,
            "status": pipeline.status,
            "detailed_status": status_label(pipeline.status),
            "stages": [name for _, name in stages],
            "created_at": utc(pipeline.created_at),
            "finished_at": utc(pipeline.finished_at),
            "duration": pipeline.duration,
            "queued_duration": int(queued) if queued is not None else None,
            "protected_ref": pipeline.protected,
            "variables": [{"key": v["key"], "value": v.get("value", "")} for v in pipeline.variables or []],
            "url": f"{base}/{project.full_path}/-/pipelines/{pipeline.id}",
        },
        "merge_request": _merge_request(pipeline.merge_request, base),
        "user": user_attrs(pipeline.user) if pipeline.user is not None else None,
        "project": project_attrs(project, base, backward=False),
        "commit": commit_attrs(project, pipeline.sha, base),
        "builds": [_build(job) for job in jobs],
    }
