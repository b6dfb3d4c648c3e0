"""API shapes for CI: GitLab's ``PipelineBasic``/``Pipeline``, ``Job``, ``Runner``/``RunnerDetails`` and
``Ci::Variable`` entities."""

from __future__ import annotations

from typing import Any

from ninja import Field, Schema

from dockyard.accounts.models import User
from dockyard.accounts.schemas import UserBasic
from dockyard.ci import selectors
from dockyard.ci.models import Job, JobArtifact, Pipeline, PipelineSchedule, Runner, Trigger
from dockyard.core.schema import GlDateTime
from dockyard.core.urls import absolute
from dockyard.permissions import policy
from dockyard.projects.models import Project
from dockyard.projects.schemas import ProjectIdentity


def _detailed_status(status: str, path: str) -> dict[str, Any]:
    labels = {"success": "passed", "manual": "manual action"}
    text = {"success": "passed", "manual": "blocked"}.get(status, status)
    return {
        "icon": f"status_{status}",
        "text": text,
        "label": labels.get(status, status),
        "group": status,
        "tooltip": labels.get(status, status),
        "has_details": True,
        "details_path": path,
        "illustration": None,
        "favicon": f"/assets/ci_favicons/favicon_status_{status}.png",
    }


class PipelineBasic(Schema):
    id: int
    iid: int
    project_id: int
    sha: str
    ref: str
    status: str
    source: str
    created_at: GlDateTime
    updated_at: GlDateTime
    web_url: str
    name: str | None = None

    @staticmethod
    def resolve_web_url(obj: Pipeline) -> str:
        return absolute(f"{obj.project.full_path}/-/pipelines/{obj.pk}")


def commit_last_pipeline(project: Project, sha: str, viewer: User | None) -> dict[str, Any] | None:
    """The commit's latest pipeline as GitLab's ``PipelineBasic``, for whoever may read pipelines."""
    if not policy.can_on_project_ci(viewer, "read_pipeline", project):
        return None
    pipeline = selectors.pipeline_list(project=project, filters=selectors.PipelineFilters(sha=sha)).first()
    return PipelineBasic.from_orm(pipeline).model_dump(mode="json") if pipeline is not None else None


class PipelineOut(PipelineBasic):
    before_sha: str
    tag: bool
    yaml_errors: str | None
    user: UserBasic | None
    started_at: GlDateTime | None
    finished_at: GlDateTime | None
    committed_at: GlDateTime | None
    duration: int | None
    queued_duration: float | None = None
    coverage: str | None = None
    detailed_status: dict[str, Any]

    @staticmethod
    def resolve_detailed_status(obj: Pipeline) -> dict[str, Any]:
        return _detailed_status(obj.status, f"/{obj.project.full_path}/-/pipelines/{obj.pk}")


class PipelineVariableOut(Schema):
    key: str
    value: str
    variable_type: str = "env_var"


class PipelineVariableIn(Schema):
    key: str
    value: str = ""
    variable_type: str = "env_var"


class PipelineCreateIn(Schema):
    ref: str
    variables: list[PipelineVariableIn] = []
    inputs: dict[str, Any] | None = None


class ArtifactOut(Schema):
    file_type: str
    size: int
    filename: str
    file_format: str | None


class RunnerBasic(Schema):
    id: int
    description: str
    ip_address: str | None
    active: bool
    paused: bool
    is_shared: bool
    runner_type: str
    name: str | None = None
    online: bool
    status: str

    @staticmethod
    def resolve_ip_address(obj: Runner) -> str | None:
        return obj.ip_address or None

    @staticmethod
    def resolve_active(obj: Runner) -> bool:
        return not obj.paused

    @staticmethod
    def resolve_online(obj: Runner) -> bool:
        return runner_status(obj) == "online"

    @staticmethod
    def resolve_status(obj: Runner) -> str:
        return runner_status(obj)


def runner_status(runner: Runner) -> str:
    from django.utils import timezone

    if runner.contacted_at is None:
        return "never_contacted"
    age = (timezone.now() - runner.contacted_at).total_seconds()
    if age < 7200:
        return "online"
    return "offline" if age < 7 * 86400 else "stale"


class RunnerDetails(RunnerBasic):
    tag_list: list[str]
    run_untagged: bool
    locked: bool
    maximum_timeout: int | None
    access_level: str
    maintenance_note: str | None
    contacted_at: GlDateTime | None
    created_at: GlDateTime
    projects: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []

    @staticmethod
    def resolve_projects(obj: Runner) -> list[dict[str, Any]]:
        projects = getattr(obj, "listed_projects", None)
        if projects is None:
            projects = list(obj.projects.select_related("namespace"))
        return [
            {"id": p.pk, "name": p.name, "name_with_namespace": p.full_name, "path": p.path,
             "path_with_namespace": p.full_path}
            for p in projects
        ]  # fmt: skip

    @staticmethod
    def resolve_groups(obj: Runner) -> list[dict[str, Any]]:
        ns = obj.namespace
        if ns is None:
            return []
        return [{"id": ns.pk, "name": ns.name, "web_url": absolute(f"groups/{ns.full_path}")}]


class RunnerCreateIn(Schema):
    runner_type: str
    group_id: int | None = None
    project_id: int | None = None
    description: str | None = None
    paused: bool | None = None
    locked: bool | None = None
    run_untagged: bool | None = None
    tag_list: list[str] | str | None = None
    access_level: str | None = None
    maximum_timeout: int | None = None
    maintenance_note: str | None = None


class RunnerUpdateIn(Schema):
    description: str | None = None
    paused: bool | None = None
    active: bool | None = None
    tag_list: list[str] | str | None = None
    run_untagged: bool | None = None
    locked: bool | None = None
    access_level: str | None = None
    maximum_timeout: int | None = None
    maintenance_note: str | None = None


class RunnerCreatedOut(Schema):
    id: int
    token: str
    token_expires_at: str | None = None


class JobOut(Schema):
    id: int
    status: str
    stage: str
    name: str
    ref: str
    tag: bool
    coverage: float | None
    allow_failure: bool
    created_at: GlDateTime
    started_at: GlDateTime | None
    finished_at: GlDateTime | None
    erased_at: GlDateTime | None
    scheduled_at: GlDateTime | None = None
    duration: float | None
    queued_duration: float | None
    user: UserBasic | None
    commit: dict[str, Any]
    pipeline: PipelineBasic
    failure_reason: str | None = None
    web_url: str
    project: dict[str, Any]
    artifacts_file: dict[str, Any] | None = None
    artifacts: list[ArtifactOut]
    runner: RunnerBasic | None
    runner_manager: dict[str, Any] | None = None
    artifacts_expire_at: GlDateTime | None = None
    archived: bool = False
    tag_list: list[str]
    retried: bool = False

    @staticmethod
    def resolve_ref(obj: Job) -> str:
        return obj.pipeline.ref

    @staticmethod
    def resolve_tag(obj: Job) -> bool:
        return obj.pipeline.tag

    @staticmethod
    def resolve_commit(obj: Job) -> dict[str, Any]:
        sha = obj.pipeline.sha
        return {"id": sha, "short_id": sha[:8], "web_url": absolute(f"{obj.project.full_path}/-/commit/{sha}")}

    @staticmethod
    def resolve_failure_reason(obj: Job) -> str | None:
        return obj.failure_reason if obj.status == "failed" else None

    @staticmethod
    def resolve_web_url(obj: Job) -> str:
        return absolute(f"{obj.project.full_path}/-/jobs/{obj.pk}")

    @staticmethod
    def resolve_project(obj: Job) -> dict[str, Any]:
        return {"ci_job_token_scope_enabled": True}

    @staticmethod
    def _archive(obj: Job) -> JobArtifact | None:
        return next((a for a in obj.artifacts.all() if a.file_type == "archive"), None)

    @staticmethod
    def resolve_artifacts_file(obj: Job) -> dict[str, Any] | None:
        archive = JobOut._archive(obj)
        return {"filename": archive.filename, "size": archive.size} if archive else None

    @staticmethod
    def resolve_artifacts(obj: Job) -> list[JobArtifact]:
        return list(obj.artifacts.all())

    @staticmethod
    def resolve_artifacts_expire_at(obj: Job) -> Any:
        archive = JobOut._archive(obj)
        return archive.expire_at if archive else None

    @staticmethod
    def resolve_runner_manager(obj: Job) -> dict[str, Any] | None:
        manager = obj.runner_manager
        if manager is None:
            return None
        info = manager.info or {}
        return {"id": manager.pk, "system_id": manager.system_id, "version": info.get("version"),
                "revision": info.get("revision"), "platform": info.get("platform"),
                "architecture": info.get("architecture"), "ip_address": manager.ip_address or None}  # fmt: skip


class RunnerJobOut(JobOut):
    """GitLab's ``JobBasicWithProject`` (``GET /runners/:id/jobs``): a runner serves many projects, so
    each job names its own, where ``JobOut`` only carries the job token scope."""

    project: ProjectIdentity  # type: ignore[assignment]  # GitLab's subclass entity replaces the field

    @staticmethod
    def resolve_project(obj: Job) -> Project:  # type: ignore[override]  # the entity, not JobOut's dict
        return obj.project


class CommitStatusOut(Schema):
    """GitLab's ``CommitStatus`` entity: an external status or a job of the commit's pipelines."""

    id: int
    sha: str
    ref: str
    status: str
    name: str
    target_url: str | None
    description: str | None
    created_at: GlDateTime
    started_at: GlDateTime | None
    finished_at: GlDateTime | None
    allow_failure: bool
    coverage: float | None
    pipeline_id: int
    author: UserBasic | None

    @staticmethod
    def resolve_sha(obj: Job) -> str:
        return obj.pipeline.sha

    @staticmethod
    def resolve_ref(obj: Job) -> str:
        return obj.pipeline.ref

    @staticmethod
    def resolve_author(obj: Job) -> Any:
        return obj.user


class CommitStatusIn(Schema):
    state: str
    ref: str | None = None
    name: str | None = None
    context: str | None = None
    target_url: str | None = None
    description: str | None = None
    coverage: float | None = None
    pipeline_id: int | None = None


class InstanceVariableOut(Schema):
    """GitLab's instance variable entity: no environment scope, nothing hidden."""

    key: str
    description: str | None
    variable_type: str
    value: str | None
    protected: bool
    masked: bool
    raw: bool


class VariableOut(InstanceVariableOut):
    hidden: bool = False
    environment_scope: str


class VariableCreateIn(Schema):
    key: str
    value: str
    variable_type: str | None = None
    protected: bool | None = None
    masked: bool | None = None
    masked_and_hidden: bool | None = None
    raw: bool | None = None
    environment_scope: str | None = None
    description: str | None = None


class VariableUpdateIn(Schema):
    value: str | None = None
    variable_type: str | None = None
    protected: bool | None = None
    masked: bool | None = None
    raw: bool | None = None
    environment_scope: str | None = None
    description: str | None = None
    filter: dict[str, str] | None = Field(None)


class LintIn(Schema):
    content: str
    dry_run: bool = False
    include_jobs: bool = False
    ref: str | None = None


class TriggerOut(Schema):
    """GitLab's ``Trigger`` entity. The full token is shown once, when it is created; afterwards only its
    first characters (it is stored as a digest)."""

    id: int
    token: str
    description: str
    created_at: GlDateTime
    updated_at: GlDateTime
    last_used: GlDateTime | None
    expires_at: GlDateTime | None
    owner: UserBasic | None

    @staticmethod
    def resolve_token(obj: Trigger) -> str:
        return getattr(obj, "plain_token", None) or obj.short_token


class TriggerIn(Schema):
    description: str | None = None


class ScheduleOut(Schema):
    """GitLab's ``PipelineSchedule`` entity (lists); ``ScheduleDetailOut`` adds the last pipeline and the
    variables."""

    id: int
    description: str
    ref: str
    cron: str
    cron_timezone: str
    next_run_at: GlDateTime | None
    active: bool
    created_at: GlDateTime
    updated_at: GlDateTime
    owner: UserBasic | None


class ScheduleVariableOut(Schema):
    key: str
    variable_type: str
    value: str
    raw: bool = False


class ScheduleDetailOut(ScheduleOut):
    last_pipeline: dict[str, Any] | None
    variables: list[ScheduleVariableOut]

    @staticmethod
    def resolve_last_pipeline(obj: PipelineSchedule) -> dict[str, Any] | None:
        last = getattr(obj, "last_pipeline", None)
        if last is None:
            return None
        return {"id": last.pk, "iid": last.iid, "sha": last.sha, "ref": last.ref, "status": last.status}

    @staticmethod
    def resolve_variables(obj: PipelineSchedule) -> list[Any]:
        return list(obj.variables.order_by("id"))


class ScheduleIn(Schema):
    description: str | None = None
    ref: str | None = None
    cron: str | None = None
    cron_timezone: str | None = None
    active: bool | None = None


class ScheduleVariableIn(Schema):
    key: str | None = None
    value: str | None = None
    variable_type: str | None = None
