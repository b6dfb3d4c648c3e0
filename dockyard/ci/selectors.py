"""CI reads shared by the REST API, the runner API and the pages: pipelines, jobs, logs, runners, variables.

List selectors return querysets with their relations joined, so a page costs the same few queries
whatever its length.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Prefetch, Q, QuerySet

from dockyard.accounts.models import User
from dockyard.ci.models import (
    ON_RUNNER_STATUSES,
    Job,
    JobArtifact,
    Pipeline,
    Runner,
    RunnerManager,
    Status,
    TraceChunk,
    Variable,
    token_digest,
)
from dockyard.core.errors import BadRequest, Forbidden, NotFound
from dockyard.core.prepared import Prepared, padded
from dockyard.merge_requests.models import MergeRequest
from dockyard.namespaces.models import Namespace
from dockyard.permissions import policy
from dockyard.permissions.models import AccessLevel
from dockyard.projects.models import Project

JOB_SCOPES = frozenset(s.value for s in Status)
PIPELINE_ORDER = {"id": "id", "status": "status", "ref": "ref", "updated_at": "updated_at", "user_id": "user_id"}
# How many of the oldest pending jobs one ``jobs/request`` looks at before giving up, and how many it
# reads at a time (enough for every runner polling at once to find one not locked by another).
CANDIDATES = 200
CANDIDATES_PAGE = 25


def _job_related(qs: QuerySet[Job]) -> QuerySet[Job]:
    return qs.select_related(
        "pipeline__project__namespace", "pipeline__user", "project__namespace", "user", "runner", "runner_manager"
    ).prefetch_related(Prefetch("artifacts", queryset=JobArtifact.objects.order_by("id")))


# --- pipelines -------------------------------------------------------------------------------------


@dataclass
class PipelineFilters:
    scope: str | None = None
    status: str | None = None
    ref: str | None = None
    sha: str | None = None
    source: str | None = None
    username: str | None = None
    yaml_errors: bool | None = None
    updated_after: dt.datetime | None = None
    updated_before: dt.datetime | None = None
    name: str | None = None
    order_by: str = "id"
    sort: str = "desc"


def pipeline_list(*, project: Project, filters: PipelineFilters) -> QuerySet[Pipeline]:
    qs = Pipeline.objects.filter(project=project).select_related("user", "project", "project__namespace")
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.scope == "running":
        qs = qs.filter(status=Status.RUNNING)
    elif filters.scope == "pending":
        qs = qs.filter(status=Status.PENDING)
    elif filters.scope == "finished":
        qs = qs.filter(status__in=[Status.SUCCESS, Status.FAILED, Status.CANCELED, Status.SKIPPED])
    elif filters.scope == "branches":
        qs = qs.filter(tag=False)
    elif filters.scope == "tags":
        qs = qs.filter(tag=True)
    if filters.ref:
        qs = qs.filter(ref=filters.ref)
    if filters.sha:
        qs = qs.filter(sha=filters.sha)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.username:
        qs = qs.filter(user__username=filters.username)
    if filters.yaml_errors is not None:
        qs = qs.filter(yaml_errors__isnull=not filters.yaml_errors)
    if filters.updated_after:
        qs = qs.filter(updated_at__gt=filters.updated_after)
    if filters.updated_before:
        qs = qs.filter(updated_at__lt=filters.updated_before)
    if filters.name:
        qs = qs.filter(name=filters.name)
    column = PIPELINE_ORDER.get(filters.order_by)
    if column is None:
        raise BadRequest("order_by does not have a valid value")
    prefix = "" if filters.sort == "asc" else "-"
    return qs.order_by(f"{prefix}{column}", f"{prefix}id")


def pipeline_get(*, project: Project, pipeline_id: int | str) -> Pipeline:
    pipeline = (
        Pipeline.objects.select_related("user", "project", "project__namespace")
        .filter(project=project, pk=int(pipeline_id) if str(pipeline_id).isdigit() else -1)
        .first()
    )
    if pipeline is None:
        raise NotFound("Pipeline")
    return pipeline


def pipelines_alive_before(*, pipeline: Pipeline) -> list[Pipeline]:
    """The same branch's older pipelines, of other commits, that are still going (auto-cancel's candidates)."""
    return list(
        Pipeline.objects.filter(
            project_id=pipeline.project_id,
            ref=pipeline.ref,
            tag=False,
            pk__lt=pipeline.pk,
            status__in=["created", "pending", "running", "scheduled"],
        )
        .exclude(sha=pipeline.sha)
        .order_by("-id")[:100]
    )


def pipeline_latest(*, project: Project, ref: str) -> Pipeline:
    pipeline = pipeline_list(project=project, filters=PipelineFilters(ref=ref)).first()
    if pipeline is None:
        raise NotFound("Pipeline")
    return pipeline


def pipeline_head_for_merge_request(*, mr: MergeRequest, sha: str | None) -> Pipeline | None:
    """The merge request's head pipeline: the latest pipeline for its source head ``sha``, merge request
    pipelines first (GitLab: they take precedence over branch pipelines of the same commit)."""
    if not sha:
        return None
    qs = Pipeline.objects.select_related("user", "project", "project__namespace").filter(sha=sha)
    found = qs.filter(project_id=mr.project_id, merge_request=mr).order_by("-id").first()
    if found is None and mr.source_project_id is not None:
        found = (
            qs.filter(project_id=mr.source_project_id, ref=mr.source_branch, tag=False, merge_request=None)
            .order_by("-id")
            .first()
        )
    return found


def pipeline_list_for_merge_request(*, mr: MergeRequest) -> QuerySet[Pipeline]:
    """``GET /merge_requests/:iid/pipelines``: its merge request pipelines and the source branch's
    pipelines of the commits it has had, newest first."""
    heads = mr.diffs.values("head_commit_sha")
    if mr.source_project_id is None:
        return Pipeline.objects.filter(merge_request=mr).select_related("user", "project__namespace").order_by("-id")
    branch = Q(project_id=mr.source_project_id, ref=mr.source_branch, tag=False, merge_request=None, sha__in=heads)
    return (
        Pipeline.objects.filter(Q(merge_request=mr) | branch)
        .select_related("user", "project", "project__namespace")
        .order_by("-id")
    )


# --- jobs ------------------------------------------------------------------------------------------


def _scope(scope: Sequence[str] | None) -> list[str]:
    names = [s for item in scope or [] for s in item.split(",") if s]
    unknown = [s for s in names if s not in JOB_SCOPES]
    if unknown:
        raise BadRequest("scope does not have a valid value")
    return names


def job_list(
    *,
    project: Project,
    pipeline: Pipeline | None = None,
    scope: Sequence[str] | None = None,
    include_retried: bool = False,
) -> QuerySet[Job]:
    qs = Job.objects.filter(project=project)
    if pipeline is not None:
        qs = qs.filter(pipeline=pipeline)
        if not include_retried:
            qs = qs.filter(retried=False)
    if names := _scope(scope):
        qs = qs.filter(status__in=names)
    order = ("stage_idx", "id") if pipeline is not None else ("-id",)
    return _job_related(qs).order_by(*order)


def job_get(*, project: Project, job_id: int | str) -> Job:
    job = _job_related(Job.objects.filter(project=project, pk=int(job_id) if str(job_id).isdigit() else -1)).first()
    if job is None:
        raise NotFound("Job")
    return job


def job_archive(*, project: Project, job_id: int | str) -> tuple[Job, JobArtifact]:
    """The job and its artifacts archive; NotFound when either is missing."""
    job = job_get(project=project, job_id=job_id)
    artifact = artifact_get(job=job)
    if artifact is None:
        raise NotFound()
    return job, artifact


def job_by_id(*, job_id: int) -> Job | None:
    return _job_related(Job.objects.filter(pk=job_id)).first()


def job_by_token(*, token: str | None) -> Job | None:
    """The job a job token belongs to, whatever its status (callers check it runs)."""
    if not token:
        return None
    return _job_related(Job.objects.filter(token_digest=token_digest(token))).first()


def runner_job_by_token(*, token: str | None) -> Job | None:
    """The bare row of the job a job token belongs to: what the runner's own calls (status updates,
    trace chunks, artifacts) need. On PostgreSQL, planning ``_job_related``'s nine-table join costs more
    than running it, and these calls come many times per job."""
    if not token:
        return None
    return _JOB_BY_TOKEN.one(token_digest(token))


# The runner protocol's own queries run hundreds of times a second: compiled once (core/prepared.py).
_JOB_BY_TOKEN: Prepared[Job] = Prepared(lambda digest: Job.objects.filter(token_digest=digest)[:1])


def job_locked(*, job_id: int) -> Job:
    """The job's row, locked until the transaction ends (Job.DoesNotExist when it is gone)."""
    job = _JOB_LOCKED.one(job_id)
    if job is None:
        raise Job.DoesNotExist(f"job {job_id} does not exist")
    return job


def unfinished_job_statuses(*, pipeline_id: int) -> set[str]:
    """Which of created, pending and running the pipeline's latest jobs are in."""
    return set(_UNFINISHED_STATUSES.all(pipeline_id))


_JOB_LOCKED: Prepared[Job] = Prepared(lambda job_id: Job.objects.select_for_update().filter(pk=job_id)[:1])
_UNFINISHED_STATUSES: Prepared[str] = Prepared(
    lambda pipeline_id: (
        Job.objects.filter(
            pipeline_id=pipeline_id, retried=False, status__in=(Status.CREATED, Status.PENDING, Status.RUNNING)
        )
        .values_list("status", flat=True)
        .distinct()
    )
)


def runner_job_by_id(*, job_id: int) -> Job | None:
    return Job.objects.filter(pk=job_id).first()


def job_token_git_user(secret: str) -> tuple[User, int] | None:
    """For git over HTTP: (the pipeline's user, the project) of the RUNNING job holding ``secret``."""
    job = job_by_token(token=secret)
    if job is None or job.status != Status.RUNNING or job.user is None or not job.user.is_active:
        return None
    return job.user, job.project_id


@dataclass(frozen=True)
class Upstream:
    """A job whose artifacts (``archive``) and ``dotenv`` variables a starting job receives."""

    job_id: int
    name: str
    dotenv_variables: list[dict[str, str]]
    archive: tuple[str, int] | None  # (filename, size)


_UPSTREAM_COLUMNS = ("id", "name", "dotenv_variables")


def _successful_jobs(pipeline_id: int) -> QuerySet[Job]:
    return Job.objects.filter(pipeline_id=pipeline_id, retried=False, status=Status.SUCCESS)


_UPSTREAM_BY_STAGE: Prepared[tuple[int, str, list[dict[str, str]]]] = Prepared(
    lambda pipeline_id, stage_idx: (
        _successful_jobs(pipeline_id)
        .filter(stage_idx__lt=stage_idx)
        .order_by("stage_idx", "id")
        .values_list(*_UPSTREAM_COLUMNS)
    )
)
_UPSTREAM_BY_NAME: Prepared[tuple[int, str, list[dict[str, str]]]] = Prepared(
    lambda pipeline_id, names: (
        _successful_jobs(pipeline_id).filter(name__in=names).order_by("stage_idx", "id").values_list(*_UPSTREAM_COLUMNS)
    )
)


def upstream_jobs(*, job: Job) -> list[Upstream]:
    """The jobs ``job`` takes artifacts and dotenv variables from, in stage order (a later job's dotenv
    value wins): one query, and one more for their archives when there are any."""
    dependencies = job.options.get("dependencies")
    if dependencies is None and job.needs is not None:
        dependencies = [n["name"] for n in job.needs if n.get("artifacts", True)]
    if dependencies is None:
        rows = _UPSTREAM_BY_STAGE.all(job.pipeline_id, job.stage_idx)
    elif dependencies:
        rows = _UPSTREAM_BY_NAME.all(job.pipeline_id, [str(name) for name in dependencies])
    else:
        rows = []
    if not rows:
        return []
    archives = {
        job_id: (filename, size)
        for job_id, filename, size in JobArtifact.objects.filter(
            job_id__in=[row[0] for row in rows], file_type="archive"
        ).values_list("job_id", "filename", "size")
    }
    return [
        Upstream(job_id=pk, name=name, dotenv_variables=dotenv or [], archive=archives.get(pk))
        for pk, name, dotenv in rows
    ]


@dataclass(frozen=True)
class Candidate:
    """What deciding whether a runner may take a pending job needs, without loading the job."""

    job_id: int
    tag_list: list[str]
    protected: bool


def pending_job_candidates(*, runner: Runner, after_id: int = 0) -> list[Candidate]:
    """The oldest pending jobs of the projects this runner serves, as small rows; what SQL can decide
    portably (untagged jobs for a runner without tags, protected refs) is filtered here, tag subsets
    are checked by the caller."""
    untagged_only = not runner.tag_list
    protected_only = runner.access_level == Runner.AccessLevel.REF_PROTECTED
    if runner.runner_type == Runner.Type.GROUP:
        # The group's projects, subgroups' included (a LIKE prefix: not a Prepared argument).
        traversal = runner.namespace.traversal if runner.namespace else "/-/"
        rows = list(_candidates(runner.runner_type, untagged_only, protected_only, after_id, traversal=traversal))
    else:
        key = (runner.runner_type, untagged_only, protected_only)
        prepared = _CANDIDATES.get(key)
        if prepared is None:  # project runners: jobs of their projects; instance runners: all jobs
            prepared = _CANDIDATES.setdefault(
                key, Prepared(lambda after, runner_id=None: _candidates(*key, after, runner_id=runner_id))
            )
        project = runner.runner_type == Runner.Type.PROJECT
        rows = prepared.all(after_id, runner.pk) if project else prepared.all(after_id)
    return [Candidate(job_id=pk, tag_list=tags or [], protected=protected) for pk, tags, protected in rows]


def _candidates(
    runner_type: str,
    untagged_only: bool,
    protected_only: bool,
    after_id: int,
    *,
    runner_id: int | None = None,
    traversal: str | None = None,
) -> QuerySet[Any]:
    qs = Job.objects.filter(status=Status.PENDING, pk__gt=after_id, external=False)
    if traversal is not None:
        qs = qs.filter(project__namespace__traversal__startswith=traversal)
    if runner_type == Runner.Type.PROJECT:
        served = Runner.projects.through.objects.filter(runner_id=runner_id or 0).values("project_id")
        qs = qs.filter(project__in=served)
    if untagged_only:
        qs = qs.filter(tag_list=[])
    if protected_only:
        qs = qs.filter(pipeline__protected=True)
    return qs.order_by("id").values_list("id", "tag_list", "pipeline__protected")[:CANDIDATES_PAGE]


_CANDIDATES: dict[tuple[str, bool, bool], Prepared[tuple[int, list[str], bool]]] = {}


def pending_job_to_start(*, job_ids: Sequence[int]) -> Job | None:
    """The first of ``job_ids`` still pending, locked for its start (``SKIP LOCKED``: a job another runner
    is taking right now is passed over), with what the runner's payload reads."""
    return _JOB_TO_START.one(padded(list(job_ids), CANDIDATES_PAGE))


def take_pending_job_postgres(
    *, job_ids: Sequence[int], runner_id: int, manager_id: int | None, digest: str, now: dt.datetime
) -> int | None:
    """PostgreSQL: the first of ``job_ids`` still pending and not being taken by another runner becomes
    running on this runner, in one statement; its id, or None."""
    ids = padded(list(job_ids), CANDIDATES_PAGE)
    with connection.cursor() as cursor:
        cursor.execute(
            _TAKE_SQL, [Status.RUNNING.value, runner_id, manager_id, digest, now, now, ids, Status.PENDING.value]
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


_TAKE_SQL = """
UPDATE ci_job SET status = %s, runner_id = %s, runner_manager_id = %s, token_digest = %s, started_at = %s,
    updated_at = %s
WHERE id = (
    SELECT id FROM ci_job WHERE id = ANY(%s) AND status = %s ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
)
RETURNING id
"""


def job_to_run(*, job_id: int) -> Job | None:
    """A job just started, with what the runner's payload reads."""
    return _JOB_TO_RUN.one(job_id)


_JOB_TO_RUN: Prepared[Job] = Prepared(
    lambda job_id: Job.objects.select_related("pipeline", "project__namespace", "user").filter(pk=job_id)[:1]
)
_JOB_TO_START: Prepared[Job] = Prepared(
    lambda ids: (
        Job.objects.select_for_update(skip_locked=connection.features.has_select_for_update_skip_locked, of=("self",))
        .select_related("pipeline", "project__namespace", "user")
        .filter(pk__in=ids, status=Status.PENDING)
        .order_by("id")[:1]
    )
)


@dataclass
class StatusFilters:
    ref: str | None = None
    stage: str | None = None
    name: str | None = None
    pipeline_id: int | None = None
    all: bool = False


def commit_statuses(*, project: Project, sha: str, filters: StatusFilters) -> QuerySet[Job]:
    """``GET …/commits/:sha/statuses``: the jobs and external statuses of the commit's pipelines (only the
    latest of each name unless ``all``)."""
    qs = Job.objects.filter(project=project, pipeline__sha=sha)
    if not filters.all:
        qs = qs.filter(retried=False)
    if filters.ref:
        qs = qs.filter(pipeline__ref=filters.ref)
    if filters.stage:
        qs = qs.filter(stage=filters.stage)
    if filters.name:
        qs = qs.filter(name=filters.name)
    if filters.pipeline_id:
        qs = qs.filter(pipeline_id=filters.pipeline_id)
    return qs.select_related("pipeline", "user").order_by("id")


def external_status_open(*, pipeline: Pipeline, name: str) -> Job | None:
    """The pending or running external status of this name in the pipeline, which a new post updates."""
    return (
        Job.objects.filter(pipeline=pipeline, name=name, external=True, retried=False)
        .filter(status__in=[Status.PENDING, Status.RUNNING])
        .order_by("-id")
        .first()
    )


def scheduled_job_ids_due(*, now: dt.datetime) -> list[int]:
    return list(
        Job.objects.filter(status=Status.SCHEDULED, scheduled_at__lte=now)
        .order_by("id")
        .values_list("pk", flat=True)[:500]
    )


def pending_jobs_exist() -> bool:
    return Job.objects.filter(status=Status.PENDING, external=False).exists()


def jobs_possibly_stale(*, running_before: dt.datetime, pending_before: dt.datetime) -> list[Job]:
    """Running jobs not updated since ``running_before`` or started long ago, and pending jobs queued
    before a day ago; the caller decides with each job's own timeout."""
    day = dt.timedelta(days=1)
    cond = Q(status__in=ON_RUNNER_STATUSES) & (
        Q(updated_at__lt=running_before) | Q(started_at__lt=pending_before - dt.timedelta(minutes=10))
    )
    cond |= Q(status=Status.PENDING, queued_at__lt=pending_before - day)
    return list(Job.objects.filter(cond, external=False).select_related("pipeline", "runner")[:500])


def trace_chunks(*, job: Job) -> Iterator[bytes]:
    for chunk in TraceChunk.objects.filter(job=job).order_by("offset").values_list("data", flat=True).iterator():
        yield bytes(chunk)


def trace_read(*, job: Job) -> bytes:
    return b"".join(trace_chunks(job=job))


def artifact_get(*, job: Job, file_type: str = "archive") -> JobArtifact | None:
    return JobArtifact.objects.filter(job=job, file_type=file_type).first()


def pipeline_junit_reports(*, pipeline: Pipeline) -> list[tuple[Job, JobArtifact]]:
    """The JUnit reports of the pipeline's latest jobs, in stage order: one query."""
    rows = (
        JobArtifact.objects.select_related("job")
        .filter(job__pipeline=pipeline, job__retried=False, file_type="junit")
        .order_by("job__stage_idx", "job_id")
    )
    return [(row.job, row) for row in rows]


def job_artifact_for_ref(*, project: Project, ref: str, name: str) -> tuple[Job, JobArtifact]:
    """GitLab's ``latest_successful_build_for_ref``: job ``name`` (its latest try) of the newest
    successful pipeline of branch or tag ``ref``, with its artifacts archive; NotFound otherwise."""
    pipeline = (
        Pipeline.objects.filter(project=project, ref=ref, status=Status.SUCCESS).order_by("-id").only("pk").first()
    )
    job = (
        Job.objects.select_related("project__namespace", "pipeline")
        .filter(pipeline=pipeline, name=name, retried=False)
        .order_by("-id")
        .first()
        if pipeline is not None
        else None
    )
    artifact = artifact_get(job=job) if job is not None else None
    if job is None or artifact is None:
        raise NotFound("Build")
    return job, artifact


def job_can_download_artifacts(*, downloader: Job, job: Job) -> bool:
    """A running job may fetch the artifacts of jobs of its own pipeline (its dependencies)."""
    return downloader.status == Status.RUNNING and downloader.pipeline_id == job.pipeline_id


# --- runners -----------------------------------------------------------------------------------------


def runner_by_token(*, token: str | None) -> Runner | None:
    if not token:
        return None
    return _RUNNER_BY_TOKEN.one(token_digest(token))


def manager_for(*, runner: Runner, system_id: str) -> RunnerManager | None:
    return _MANAGER.one(runner.pk, system_id)


def runner_and_manager(*, token: str | None, system_id: str | None) -> tuple[Runner | None, RunnerManager | None]:
    """The runner a token belongs to and, when it has called from host ``system_id`` before, that host's
    record: one query for a runner already known (every poll after the first), two otherwise."""
    if not token:
        return None, None
    digest = token_digest(token)
    if system_id:
        manager = _MANAGER_BY_TOKEN.one(digest, system_id[:MANAGER_SYSTEM_ID_LENGTH])
        if manager is not None:
            return manager.runner, manager
    return _RUNNER_BY_TOKEN.one(digest), None


MANAGER_SYSTEM_ID_LENGTH = 64


_RUNNER_BY_TOKEN: Prepared[Runner] = Prepared(
    lambda digest: Runner.objects.select_related("namespace").filter(token_digest=digest)[:1]
)
_MANAGER_BY_TOKEN: Prepared[RunnerManager] = Prepared(
    lambda digest, system_id: RunnerManager.objects.select_related("runner__namespace").filter(
        runner__token_digest=digest, system_id=system_id
    )[:1]
)
_MANAGER: Prepared[RunnerManager] = Prepared(
    lambda runner_id, system_id: RunnerManager.objects.filter(runner_id=runner_id, system_id=system_id)[:1]
)


@dataclass
class RunnerFilters:
    type: str | None = None
    status: str | None = None
    paused: bool | None = None
    tag_list: list[str] = field(default_factory=list)


def _runner_filters(qs: QuerySet[Runner], filters: RunnerFilters) -> QuerySet[Runner]:
    if filters.type:
        qs = qs.filter(runner_type=filters.type)
    if filters.paused is not None:
        qs = qs.filter(paused=filters.paused)
    if filters.status == "paused":
        qs = qs.filter(paused=True)
    rows = qs.order_by("id")
    if filters.tag_list:
        wanted = set(filters.tag_list)
        ids = [r.pk for r in rows if wanted <= set(r.tag_list or [])]
        rows = rows.filter(pk__in=ids)
    return rows


def runner_list_owned(*, viewer: User, filters: RunnerFilters) -> QuerySet[Runner]:
    """``GET /runners``: the project and group runners of what the user administers."""
    projects = [
        p.pk
        for p in policy.member_projects(viewer).select_related("namespace")
        if policy.can_on_project_ci(viewer, "admin_runner", p)
    ]
    qs = Runner.objects.filter(Q(projects__in=projects) | Q(creator=viewer)).distinct()
    return _runner_filters(qs, filters)


def runner_list_all(*, filters: RunnerFilters) -> QuerySet[Runner]:
    return _runner_filters(Runner.objects.all(), filters)


def runner_list_for_project(*, project: Project, filters: RunnerFilters) -> QuerySet[Runner]:
    """Runners that can take this project's jobs: its own, its groups', and the instance's."""
    ancestors = project.namespace.ancestor_ids
    cond = (
        Q(projects=project)
        | Q(runner_type=Runner.Type.INSTANCE)
        | Q(runner_type=Runner.Type.GROUP, namespace_id__in=ancestors)
    )
    return _runner_filters(Runner.objects.filter(cond).distinct(), filters)


def runner_get_for(*, viewer: User, runner_id: int | str) -> Runner:
    runner = Runner.objects.filter(pk=int(runner_id) if str(runner_id).isdigit() else -1).first()
    if runner is None or not runner_can_admin(viewer=viewer, runner=runner):
        raise NotFound("Runner")
    return runner


def runner_can_admin(*, viewer: User, runner: Runner) -> bool:
    if viewer.is_admin:
        return True
    if runner.runner_type == Runner.Type.INSTANCE:
        return False
    if runner.runner_type == Runner.Type.GROUP:
        return runner.namespace is not None and policy.can(viewer, "admin_group", runner.namespace)
    return any(policy.can_on_project_ci(viewer, "admin_runner", p) for p in runner.projects.select_related("namespace"))


def runner_project_ids(*, runners: Sequence[Runner]) -> dict[int, list[Project]]:
    out: dict[int, list[Project]] = {r.pk: [] for r in runners}
    through = Runner.projects.through.objects.filter(runner_id__in=out).select_related("project", "project__namespace")
    for row in through:
        out[row.runner_id].append(row.project)
    return out


@dataclass
class RunnerJobFilters:
    system_id: str | None = None
    status: str | None = None
    order_by: str | None = None
    sort: str = "desc"


def runner_jobs(*, viewer: User, runner_id: int | str, filters: RunnerJobFilters) -> QuerySet[Job]:
    """``GET /runners/:id/jobs``: what the runner took, newest first, joined for the ``Job`` entity.

    Who may list: whoever administers the runner (as for ``GET /runners/:id``); any other runner is
    missing to them, except an instance runner, which GitLab shows every signed-in user and only keeps
    its jobs from them (403). Outside the admin, only jobs of projects where the viewer is at least a
    Reporter are listed, as GitLab does, so the runner's history does not leak other projects' jobs.
    """
    if filters.status is not None and filters.status not in JOB_SCOPES:
        raise BadRequest("status does not have a valid value")
    if filters.order_by is not None and filters.order_by != "id":
        raise BadRequest("order_by does not have a valid value")
    if filters.sort not in ("asc", "desc"):
        raise BadRequest("sort does not have a valid value")
    runner = Runner.objects.filter(pk=int(runner_id) if str(runner_id).isdigit() else -1).first()
    if runner is None:
        raise NotFound("Runner")
    if not runner_can_admin(viewer=viewer, runner=runner):
        if runner.runner_type == Runner.Type.INSTANCE:
            raise Forbidden("No access granted")
        raise NotFound("Runner")
    qs = Job.objects.filter(runner=runner)
    if not viewer.is_admin:
        # The same "Reporter or above" condition the merge request lists use.
        reporter = Project.objects.filter(policy._projects_at_least(viewer, AccessLevel.REPORTER))
        qs = qs.filter(project__in=reporter.values("id"))
    if filters.system_id:
        qs = qs.filter(runner_manager__system_id=filters.system_id)
    if filters.status:
        qs = qs.filter(status=filters.status)
    # GitLab sorts only when ``order_by`` is given; otherwise its paginator's default, newest first.
    ascending = filters.order_by == "id" and filters.sort == "asc"
    return _job_related(qs).order_by("id" if ascending else "-id")


# --- variables ------------------------------------------------------------------------------------

VariableOwner = Project | Namespace | None
"""Whose CI/CD variables: a project's, a group's, or (``None``) the instance's."""


def _owner_filter(owner: VariableOwner) -> Q:
    if isinstance(owner, Project):
        return Q(project=owner)
    if isinstance(owner, Namespace):
        return Q(group=owner)
    return Q(project__isnull=True, group__isnull=True)


def variable_list(*, owner: VariableOwner) -> QuerySet[Variable]:
    return Variable.objects.filter(_owner_filter(owner)).order_by("key", "id")


def variable_get(*, owner: VariableOwner, key: str, environment_scope: str | None = None) -> Variable:
    qs = Variable.objects.filter(_owner_filter(owner), key=key)
    if environment_scope:
        qs = qs.filter(environment_scope=environment_scope)
    variable = qs.order_by("id").first()
    if variable is None:
        raise NotFound("Variable")
    return variable


def environment_scope_matches(scope: str, environment: str | None) -> bool:
    """GitLab's ``for_environment``: ``*`` matches every job; other scopes (``*`` a wildcard) only jobs
    deploying to a matching environment."""
    if scope == "*":
        return True
    if not environment:
        return False
    return re.fullmatch(".*".join(re.escape(part) for part in scope.split("*")), environment) is not None


def _scope_rank(scope: str) -> int:
    return 0 if scope == "*" else 1 if "*" in scope else 2


def variables_for_project(*, project: Project, protected: bool, environment: str | None = None) -> list[Variable]:
    """The instance's, the project's groups' (root first) and the project's own variables that apply to a
    job on a ``protected`` ref deploying to ``environment``, in one query and in ascending precedence:
    where a key repeats, the later entry wins (the closest subgroup over its parents, an exact
    environment scope over a wildcard, the project over its groups over the instance)."""
    groups = project.namespace.ancestor_ids if project.namespace.kind == Namespace.Kind.GROUP else []
    depth = {group_id: index for index, group_id in enumerate(groups)}
    if len(groups) < MAX_GROUP_DEPTH:  # one compiled query for every project (0 is no group's id)
        prepared = _VARIABLES_PROTECTED if protected else _VARIABLES_UNPROTECTED
        found = prepared.all(project.pk, padded([*groups, 0], MAX_GROUP_DEPTH))
    else:
        found = list(_variables(project.pk, groups, protected))
    rows = [v for v in found if environment_scope_matches(v.environment_scope, environment)]

    def rank(v: Variable) -> tuple[int, int, int, int]:
        level = 2 if v.project_id else 1 if v.group_id else 0
        return (level, depth.get(v.group_id or 0, 0), _scope_rank(v.environment_scope), v.pk)

    return sorted(rows, key=rank)


def _variables(project_id: int, group_ids: list[int], protected: bool) -> QuerySet[Variable]:
    qs = Variable.objects.filter(
        Q(project_id=project_id) | Q(group_id__in=group_ids) | Q(project__isnull=True, group__isnull=True)
    )
    return qs if protected else qs.filter(protected=False)


MAX_GROUP_DEPTH = 21  # GitLab allows 20 levels of subgroups
_VARIABLES_PROTECTED: Prepared[Variable] = Prepared(lambda project_id, groups: _variables(project_id, groups, True))
_VARIABLES_UNPROTECTED: Prepared[Variable] = Prepared(lambda project_id, groups: _variables(project_id, groups, False))


def jobs_by_pipeline(*, pipelines: Sequence[Pipeline]) -> dict[int, list[Job]]:
    """The latest (not retried) jobs of each pipeline, in stage order, in one query (for pipeline lists)."""
    out: dict[int, list[Job]] = {p.pk: [] for p in pipelines}
    qs = Job.objects.filter(pipeline_id__in=list(out), retried=False).order_by("pipeline_id", "stage_idx", "id")
    for job in qs.only("id", "pipeline_id", "name", "stage", "stage_idx", "status", "allow_failure"):
        out[job.pipeline_id].append(job)
    return out
