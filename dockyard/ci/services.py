"""All CI writes: creating pipelines from ``.gitlab-ci.yml``, the job state machine, runners, job logs,
artifacts and CI/CD variables.

The state machine follows GitLab's atomic processing: a job leaves ``created`` once everything before it
(earlier stages, or its ``needs``) is complete, and becomes ``pending``, ``manual`` or ``skipped`` by its
``when``; the pipeline's status is the composite of its latest jobs. Every transition runs in one
transaction holding the pipeline's row lock, so two finishing jobs never process the pipeline at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from dockyard.accounts.models import User
from dockyard.ci import artifacts, selectors
from dockyard.ci.compiler import CompileContext, IncludeNotFound, IncludeRequest, compile_pipeline
from dockyard.ci.compiler import Job as PlanJob
from dockyard.ci.compiler.durations import parse as parse_duration
from dockyard.ci.compiler.globs import fnmatch
from dockyard.ci.models import (
    CANCELABLE_STATUSES,
    COMPLETED_STATUSES,
    Job,
    JobArtifact,
    Pipeline,
    PipelineSchedule,
    Runner,
    RunnerManager,
    Status,
    TraceChunk,
    Variable,
    token_digest,
)
from dockyard.core.errors import BadRequest, DockyardError, Forbidden, NotFound, ValidationFailed, check
from dockyard.core.logging import get_logger
from dockyard.core.prepared import save_fields
from dockyard.core.storage import object_storage
from dockyard.merge_requests import selectors as mr_selectors
from dockyard.merge_requests.models import MergeRequest
from dockyard.namespaces.models import Namespace
from dockyard.notifications import services as notifications
from dockyard.permissions import policy
from dockyard.projects import selectors as project_selectors
from dockyard.projects.models import Project
from dockyard.projects.services import iid_next
from dockyard.repos import selectors as repo_selectors
from dockyard.repos.git import GitError
from dockyard.repos.git import read as git_read
from dockyard.repos.git.write import ZERO_SHA, update_ref
from dockyard.webhooks import services as webhooks
from dockyard.webhooks.payloads import job as job_payload
from dockyard.webhooks.payloads import pipeline as pipeline_payload

log = get_logger("dockyard.ci")

RUNNER_TOKEN_PREFIX = "glrt-"
REGISTRATION_TOKEN_PREFIX = "glrtr-"
JOB_TOKEN_PREFIX = "glcbt-"
CONFIG_PATH = ".gitlab-ci.yml"
SKIP_MARKERS = ("[ci skip]", "[skip ci]")
# A running job whose runner sent nothing for this long is dropped (GitLab: one hour).
RUNNING_OUTDATED = dt.timedelta(hours=1)
# A pending job no runner took for this long is dropped (GitLab: one day).
PENDING_OUTDATED = dt.timedelta(days=1)
DEFAULT_TIMEOUT = 3600
FAILURE_REASONS = (
    "unknown_failure",
    "script_failure",
    "api_failure",
    "stuck_or_timeout_failure",
    "runner_system_failure",
    "missing_dependency_failure",
    "runner_unsupported",
    "archived_failure",
    "unmet_prerequisites",
    "scheduler_failure",
    "data_integrity_failure",
    "job_execution_timeout",
    "trace_size_exceeded",
    "builds_disabled",
)


class PipelineRefused(DockyardError):
    """GitLab's answer when a pipeline cannot be created: ``{"message": {"base": [...]}}``."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__({"base": list(errors)})


class TraceRangeError(Exception):
    """A log chunk that does not continue the log; ``size`` is where it must start."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _now() -> dt.datetime:
    return timezone.now()


def _new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(20)


# --- reading .gitlab-ci.yml at a commit -----------------------------------------------------------


@dataclass
class _RepoFiles:
    """The git reads one compilation needs, cached: the file list is read once however many
    ``rules:exists`` clauses ask."""

    project: Project
    sha: str
    user: User | None
    _paths: list[str] | None = None

    def paths(self) -> list[str]:
        if self._paths is None:
            self._paths = git_read.file_paths(self.project.id, self.sha) or []
        return self._paths

    def exist(self, patterns: Sequence[str]) -> list[str]:
        return [p for p in self.paths() if any(fnmatch(pattern, p) for pattern in patterns)]

    def load(self, request: IncludeRequest) -> str | None:
        if request.kind == "local":
            if request.context_project and request.context_project != self.project.full_path:
                return self._other_project(request.context_project, request.context_ref, request.location)
            return _read_file(self.project.id, self.sha, request.location)
        if request.kind == "project" and request.project:
            return self._other_project(request.project, request.ref, request.location)
        return None  # templates and remote files are not available yet

    def _other_project(self, path: str, ref: str | None, location: str) -> str | None:
        try:
            other = project_selectors.project_get_for(viewer=self.user, ref=path)
        except NotFound:
            raise IncludeNotFound("project") from None
        if not policy.can(self.user, "download_code", other):
            raise IncludeNotFound("project")
        try:
            repo = git_read.Repository(other.id)
        except GitError:
            raise IncludeNotFound("project") from None
        sha = repo.resolve(ref or repo.default_branch() or "HEAD")
        if sha is None:
            raise IncludeNotFound("ref")
        return _read_file(other.id, sha, location)


def _read_file(project_id: int, sha: str, path: str) -> str | None:
    try:
        found = git_read.Repository(project_id).file(sha, path.lstrip("/"))
    except GitError:
        return None
    if found is None:
        return None
    return found[0].data.decode("utf-8", errors="replace")


def ref_protected(*, project: Project, ref: str, tag: bool) -> bool:
    rules = (
        repo_selectors.protected_tags(project=project) if tag else repo_selectors.protected_branches(project=project)
    )
    return any(rule.matches(ref) for rule in rules)


def _server_variables(base: str | None = None) -> dict[str, str]:
    from dockyard.core.urls import external_base

    base = base or external_base()
    scheme, _, host_port = base.partition("://")
    host, _, port = host_port.partition(":")
    return {
        "CI_SERVER_URL": base,
        "CI_SERVER_HOST": host,
        "CI_SERVER_FQDN": host_port,
        "CI_SERVER_PORT": port or ("443" if scheme == "https" else "80"),
        "CI_SERVER_PROTOCOL": scheme,
        "CI_SERVER_NAME": "GitLab",
        "CI_SERVER_VERSION": "17.0.0",
        "CI_SERVER_VERSION_MAJOR": "17",
        "CI_SERVER_VERSION_MINOR": "0",
        "CI_SERVER_VERSION_PATCH": "0",
        "CI_API_V4_URL": f"{base}/api/v4",
        "CI_API_GRAPHQL_URL": f"{base}/api/graphql",
    }


def project_variables(*, project: Project, base: str | None = None) -> dict[str, str]:
    from dockyard.core.urls import external_base

    namespace = project.namespace
    return {
        "CI_PROJECT_ID": str(project.id),
        "CI_PROJECT_NAME": project.path,
        "CI_PROJECT_TITLE": project.name,
        "CI_PROJECT_DESCRIPTION": project.description,
        "CI_PROJECT_PATH": project.full_path,
        "CI_PROJECT_NAMESPACE": namespace.full_path,
        "CI_PROJECT_NAMESPACE_ID": str(namespace.id),
        "CI_PROJECT_ROOT_NAMESPACE": namespace.full_path.split("/", 1)[0],
        "CI_PROJECT_URL": f"{base or external_base()}/{project.full_path}",
        "CI_PROJECT_VISIBILITY": project.visibility_name.lower(),
        "CI_DEFAULT_BRANCH": project.default_branch,
    }


def commit_variables(*, project_id: int, sha: str) -> dict[str, str]:
    try:
        commit = git_read.Repository(project_id).commit(sha)
    except GitError:
        commit = None
    if commit is None:
        return {}
    message = commit.message
    title = commit.title
    description = message.split("\n", 1)[1].lstrip("\n") if "\n" in message.strip() else ""
    return {
        "CI_COMMIT_MESSAGE": message,
        "CI_COMMIT_TITLE": title,
        "CI_COMMIT_DESCRIPTION": description,
        "CI_COMMIT_AUTHOR": f"{commit.author_name} <{commit.author_email}>",
        "CI_COMMIT_TIMESTAMP": commit.committed_date.isoformat(),
    }


def merge_request_ref(mr: MergeRequest) -> str:
    return f"refs/merge-requests/{mr.iid}/head"


def merge_request_variables(*, mr: MergeRequest, base: str | None = None) -> dict[str, str]:
    """GitLab's ``CI_MERGE_REQUEST_*`` variables of a (detached) merge request pipeline. The source and
    target branch SHAs are set only in merged results pipelines, so they are empty here, as in GitLab."""
    from dockyard.core.urls import external_base

    base = base or external_base()
    target = mr.project
    source = mr.source_project or target  # a deleted fork leaves no source project
    latest = mr_selectors.version_latest(merge_request=mr)
    values = {
        "CI_MERGE_REQUEST_ID": str(mr.pk),
        "CI_MERGE_REQUEST_IID": str(mr.iid),
        "CI_MERGE_REQUEST_REF_PATH": merge_request_ref(mr),
        "CI_MERGE_REQUEST_PROJECT_ID": str(target.pk),
        "CI_MERGE_REQUEST_PROJECT_PATH": target.full_path,
        "CI_MERGE_REQUEST_PROJECT_URL": f"{base}/{target.full_path}",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": mr.target_branch,
        "CI_MERGE_REQUEST_TARGET_BRANCH_PROTECTED": str(
            ref_protected(project=target, ref=mr.target_branch, tag=False)
        ).lower(),
        "CI_MERGE_REQUEST_TARGET_BRANCH_SHA": "",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": mr.source_branch,
        "CI_MERGE_REQUEST_SOURCE_BRANCH_PROTECTED": str(
            ref_protected(project=source, ref=mr.source_branch, tag=False)
        ).lower(),
        "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": "",
        "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": str(source.pk),
        "CI_MERGE_REQUEST_SOURCE_PROJECT_PATH": source.full_path,
        "CI_MERGE_REQUEST_SOURCE_PROJECT_URL": f"{base}/{source.full_path}",
        "CI_MERGE_REQUEST_TITLE": mr.title,
        "CI_MERGE_REQUEST_DESCRIPTION": mr.description,
        "CI_MERGE_REQUEST_DRAFT": str(mr.draft).lower(),
        "CI_MERGE_REQUEST_SQUASH_ON_MERGE": str(mr.squash).lower(),
        "CI_MERGE_REQUEST_EVENT_TYPE": "detached",
    }
    if latest is not None:
        values["CI_MERGE_REQUEST_DIFF_ID"] = str(latest.pk)
        values["CI_MERGE_REQUEST_DIFF_BASE_SHA"] = latest.base_commit_sha
    labels = sorted(label.title for label in mr.labels.all())
    if labels:
        values["CI_MERGE_REQUEST_LABELS"] = ",".join(labels)
    assignees = sorted(u.username for u in mr.assignees.all())
    if assignees:
        values["CI_MERGE_REQUEST_ASSIGNEES"] = ",".join(assignees)
    if mr.milestone is not None:
        values["CI_MERGE_REQUEST_MILESTONE"] = mr.milestone.title
    return values


def open_merge_requests_variable(
    *, project: Project, ref: str, tag: bool, merge_request: MergeRequest | None
) -> dict[str, str]:
    """GitLab's ``CI_OPEN_MERGE_REQUESTS`` of a branch or merge request pipeline: up to four open merge
    requests whose source is the branch, as ``target/path!iid``; absent when there are none."""
    if merge_request is not None:
        if merge_request.source_project is None:  # a deleted fork
            return {}
        project, ref = merge_request.source_project, merge_request.source_branch
    elif tag:
        return {}
    names = mr_selectors.open_from_branch_names(project_id=project.pk, branch=ref)
    return {"CI_OPEN_MERGE_REQUESTS": ",".join(names)} if names else {}


def _user_variables(*, project: Project, protected: bool, extra: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Instance, group and project variables (protected ones only on protected refs), then the run's own."""
    values = {v.key: v.value for v in selectors.variables_for_project(project=project, protected=protected)}
    values.update({str(v["key"]): str(v.get("value", "")) for v in extra})
    return values


def compile_context(
    *,
    project: Project,
    user: User | None,
    ref: str,
    tag: bool,
    sha: str,
    before_sha: str,
    source: str,
    variables: Sequence[Mapping[str, Any]] = (),
    merge_request: MergeRequest | None = None,
) -> CompileContext:
    """What the compiler knows of a pipeline about to be created. For a merge request pipeline ``ref`` is
    the source branch (``CI_COMMIT_REF_NAME``), and ``rules:changes`` compare with the target branch (the
    merge request's diff from its merge base)."""
    files = _RepoFiles(project=project, sha=sha, user=user)
    changed: list[str] | None = None
    if source == "push" and not tag and before_sha != ZERO_SHA:
        changed = git_read.changed_paths(project.id, before_sha, sha)
    protected = False if merge_request is not None else ref_protected(project=project, ref=ref, tag=tag)
    mr_values: dict[str, str] = {}
    if merge_request is not None:
        mr_values = merge_request_variables(mr=merge_request)
        diff_base = mr_values.get("CI_MERGE_REQUEST_DIFF_BASE_SHA")
        if diff_base:
            changed = git_read.changed_paths(project.id, diff_base, sha)
    predefined = {
        **_server_variables(),
        **project_variables(project=project),
        **commit_variables(project_id=project.id, sha=sha),
        "CI_COMMIT_REF_PROTECTED": "true" if protected else "false",
        "CI_PIPELINE_SOURCE": source,
        **mr_values,
        **open_merge_requests_variable(project=project, ref=ref, tag=tag, merge_request=merge_request),
    }
    if user is not None:
        predefined.update(
            GITLAB_USER_ID=str(user.pk), GITLAB_USER_LOGIN=user.username, GITLAB_USER_NAME=user.name,
            GITLAB_USER_EMAIL=user.email,
        )  # fmt: skip
    return CompileContext(
        ref=ref,
        ref_type="tag" if tag else "branch",
        source=source,
        sha=sha,
        before_sha=before_sha,
        default_branch=project.default_branch,
        project_path=project.full_path,
        changed_paths=changed,
        files_exist=files.exist,
        changed_paths_since=lambda other: git_read.changed_paths(project.id, other, sha),
        include_loader=files.load,
        variables=predefined,
        user_variables=_user_variables(project=project, protected=protected, extra=variables),
    )


# --- creating pipelines ----------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: list(o) if isinstance(o, (tuple, set)) else str(o)))


def _job_options(job: PlanJob) -> dict[str, Any]:
    """What the runner payload needs from the plan, as plain JSON."""
    data = dataclasses.asdict(job)
    keep = (
        "script", "before_script", "after_script", "image", "services", "artifacts", "cache", "dependencies",
        "timeout", "retry", "environment", "coverage", "interruptible", "start_in", "parallel_index",
        "parallel_total", "resource_group", "hooks", "id_tokens", "secrets", "manual_confirmation",
    )  # fmt: skip
    options = {key: data[key] for key in keep if data.get(key) not in (None, (), [], {})}
    options["yaml_variables"] = [{"key": v.key, "value": v.value, "raw": v.raw} for v in job.yaml_variables]
    return _jsonable(options)  # type: ignore[no-any-return]


def _needs(job: PlanJob) -> list[dict[str, Any]] | None:
    if job.needs is None:
        return None
    return [{"name": n.job, "artifacts": n.artifacts, "optional": n.optional} for n in job.needs]


def pipeline_create(
    *,
    project: Project,
    user: User | None,
    ref: str,
    sha: str | None = None,
    before_sha: str = ZERO_SHA,
    tag: bool | None = None,
    source: str,
    variables: Sequence[Mapping[str, Any]] = (),
    content: str | None = None,
    refuse_errors: bool = False,
    merge_request: MergeRequest | None = None,
    schedule: PipelineSchedule | None = None,
) -> Pipeline | None:
    """Create the pipeline GitLab would create for ``ref`` at ``sha`` (default: the ref's head).

    A configuration with errors gives a *failed* pipeline carrying ``yaml_errors``; one whose rules select
    nothing gives no pipeline (``None``). With ``refuse_errors`` (the API) both also raise
    :class:`PipelineRefused`, as GitLab answers 400 there.
    """
    try:
        repo = git_read.Repository(project.id)
    except GitError:
        raise PipelineRefused(["Reference not found"]) from None
    if tag is None:
        tag = repo.ref_target(f"refs/heads/{ref}") is None and repo.ref_target(f"refs/tags/{ref}") is not None
    if sha is None:
        sha = repo.resolve(f"refs/tags/{ref}" if tag else f"refs/heads/{ref}")
        if sha is None:
            raise PipelineRefused(["Reference not found"])
    if content is None:
        content = _read_file(project.id, sha, CONFIG_PATH)
    if content is None:
        if refuse_errors:
            raise PipelineRefused(["Missing CI config file"])
        return None
    ctx = compile_context(
        project=project, user=user, ref=ref, tag=tag, sha=sha, before_sha=before_sha, source=source,
        variables=variables, merge_request=merge_request,
    )  # fmt: skip
    result = compile_pipeline(content, ctx)
    if result.status in ("filtered", "empty"):
        if refuse_errors:
            raise PipelineRefused(result.errors)
        return None
    commit = repo.commit(sha)
    pipeline = _pipeline_insert(
        project=project,
        user=user,
        ref=ref,
        tag=tag,
        sha=sha,
        before_sha=before_sha,
        source=source,
        variables=variables,
        protected=False if merge_request is not None else ref_protected(project=project, ref=ref, tag=tag),
        merge_request=merge_request,
        schedule=schedule,
        committed_at=commit.committed_date if commit else None,
        jobs=[j for j in result.plan.jobs if not j.is_bridge] if result.plan else [],
        yaml_errors="; ".join(result.errors) if not result.ok else None,
        name=result.plan.name if result.plan else None,
        yaml_variables=[{"key": v.key, "value": v.value, "raw": v.raw} for v in result.plan.yaml_variables]
        if result.plan
        else [],
        auto_cancel=dict(result.plan.auto_cancel) if result.plan and result.plan.auto_cancel else None,
    )
    try:
        # The runner fetches this ref, so the commit stays reachable however the branch moves on.
        update_ref(project.id, f"refs/pipelines/{pipeline.pk}", sha, ZERO_SHA)
    except GitError:
        log.warning("pipeline_ref_failed", pipeline_id=pipeline.pk)
    if not result.ok and refuse_errors:
        raise PipelineRefused(result.errors)
    pipeline.refresh_from_db()  # processing moved its status on
    return pipeline


@transaction.atomic
def _pipeline_insert(
    *,
    project: Project,
    user: User | None,
    ref: str,
    tag: bool,
    sha: str,
    before_sha: str,
    source: str,
    variables: Sequence[Mapping[str, Any]],
    protected: bool,
    merge_request: MergeRequest | None,
    schedule: PipelineSchedule | None,
    committed_at: dt.datetime | None,
    jobs: Sequence[PlanJob],
    yaml_errors: str | None,
    name: str | None,
    yaml_variables: list[dict[str, Any]],
    auto_cancel: dict[str, Any] | None = None,
) -> Pipeline:
    now = _now()
    pipeline = Pipeline.objects.create(
        project=project,
        iid=iid_next(project=project, usage="ci_pipelines"),
        sha=sha,
        before_sha=before_sha,
        ref=merge_request_ref(merge_request) if merge_request is not None else ref,
        tag=tag,
        protected=protected,
        source=source,
        status=Status.FAILED if yaml_errors else Status.CREATED,
        yaml_errors=yaml_errors,
        name=name,
        user=user,
        variables=[
            {"key": str(v["key"]), "value": str(v.get("value", "")), "variable_type": v.get("variable_type", "env_var")}
            for v in variables
        ],
        yaml_variables=yaml_variables,
        merge_request=merge_request,
        pipeline_schedule=schedule,
        auto_cancel=auto_cancel,
        committed_at=committed_at,
        finished_at=now if yaml_errors else None,
    )
    if yaml_errors:
        # Created failed (GitLab drops it with config_error): the same news as any pipeline that fails.
        notifications.notify(kind="pipeline_failed", object_id=pipeline.pk, actor=None)
        _status_changed(pipeline)
        _pipeline_hook(pipeline)
        return pipeline
    Job.objects.bulk_create(
        Job(
            pipeline=pipeline,
            project=project,
            name=job.name,
            stage=job.stage,
            stage_idx=job.stage_idx,
            when=job.when,
            allow_failure=job.allow_failure.allowed,
            allow_failure_exit_codes=list(job.allow_failure.exit_codes),
            needs=_needs(job),
            tag_list=list(job.tags),
            options=_job_options(job),
            user=user,
            created_at=now,
            updated_at=now,
        )
        for job in jobs
    )
    pipeline_process(pipeline=pipeline)
    # In the same transaction, so whoever sees the new pipeline sees the older ones it made redundant
    # canceled (GitLab's CancelPendingPipelines step, which comes after a successful creation).
    pipelines_cancel_redundant(pipeline=pipeline)
    return pipeline


def _skip_requested(*, project_id: int, sha: str, push_options: Sequence[str]) -> bool:
    if "ci.skip" in push_options:
        return True
    try:
        commit = git_read.Repository(project_id).commit(sha)
    except GitError:
        return True
    message = (commit.message if commit else "").lower()
    return any(marker in message for marker in SKIP_MARKERS)


def pipelines_create_for_push(
    *, project: Project, user: User | None, changes: Sequence[tuple[str, str, str]], push_options: Sequence[str]
) -> list[Pipeline]:
    """One pipeline per pushed branch or tag (``changes`` are ``(old, new, ref)``), as GitLab creates them."""
    created = []
    for old, new, ref in changes:
        if new == ZERO_SHA or not ref.startswith(("refs/heads/", "refs/tags/")):
            continue
        if _skip_requested(project_id=project.id, sha=new, push_options=push_options):
            continue
        tag = ref.startswith("refs/tags/")
        name = ref.removeprefix("refs/tags/" if tag else "refs/heads/")
        try:
            pipeline = pipeline_create(
                project=project, user=user, ref=name, tag=tag, sha=new, before_sha=old, source="push"
            )
        except PipelineRefused:
            continue
        if pipeline is not None:
            created.append(pipeline)
    return created


def pipeline_create_for_merge_request(
    *, mr: MergeRequest, user: User | None, refuse_errors: bool = False
) -> Pipeline | None:
    """A merge request pipeline (``merge_request_event``) for the source branch's head, when the
    configuration has jobs for it: what GitLab runs when a merge request is opened, its source branch is
    pushed, or someone asks for one. ``refs/merge-requests/:iid/head`` is moved to the head first, as
    GitLab keeps it, so runners and clones can fetch it."""
    if not mr.is_open or mr.source_project_id is None:
        if refuse_errors:
            raise PipelineRefused(["Merge request is not open" if not mr.is_open else "Reference not found"])
        return None
    repo = git_read.Repository(mr.source_project_id)
    sha = repo.ref_target(f"refs/heads/{mr.source_branch}")
    if sha is None:
        if refuse_errors:
            raise PipelineRefused(["Reference not found"])
        return None
    ref = merge_request_ref(mr)
    try:
        update_ref(mr.project_id, ref, sha, git_read.Repository(mr.project_id).ref_target(ref) or ZERO_SHA)
    except GitError:
        log.warning("merge_request_ref_failed", merge_request_id=mr.pk)
    return pipeline_create(
        project=mr.project,
        user=user,
        ref=mr.source_branch,
        sha=sha,
        tag=False,
        source="merge_request_event",
        merge_request=mr,
        refuse_errors=refuse_errors,
    )


# --- the state machine ------------------------------------------------------------------------------

# Called after the transaction that changed a pipeline's status commits, with the pipeline's id and new
# status (merge requests react to their head pipeline; webhooks may too). Listeners should only enqueue.
PipelineStatusListener = Callable[[int, str], Any]
_status_listeners: list[PipelineStatusListener] = []


def on_pipeline_status(listener: PipelineStatusListener) -> PipelineStatusListener:
    _status_listeners.append(listener)
    return listener


def _status_changed(pipeline: Pipeline) -> None:
    pipeline_id, status = pipeline.pk, pipeline.status
    for listener in _status_listeners:
        transaction.on_commit(lambda listener=listener: listener(pipeline_id, status))  # type: ignore[misc]


# GitLab's ``Ci::HasStatus``: allowed failures count as "success with warnings", blocking nothing;
# manual jobs that may fail are ignored when deciding what comes next.
_WARNING_STATUSES = frozenset({"failed", "canceled"})
_IGNORED_STATUSES = frozenset({"manual"})


def composite_status(jobs: Iterable[Job], *, dag: bool = False) -> str | None:
    """The status of a group of jobs (a stage, a pipeline, the needs of a job), GitLab's composite rule."""
    found: set[str] = set()
    for job in jobs:
        if job.allow_failure and job.status in _WARNING_STATUSES:
            found.add("success_with_warnings")
        elif job.allow_failure and job.status in _IGNORED_STATUSES:
            found.add("ignored")
        else:
            found.add(job.status)
    if not found:
        return None

    def only(*names: str) -> bool:
        return bool(found) and found <= set(names)

    if dag and found & {"skipped", "ignored"}:
        return "skipped"
    if dag and not only("success", "failed", "canceled", "skipped", "success_with_warnings"):
        return "pending"
    if only("skipped", "ignored"):
        return "skipped"
    if only("success", "skipped", "success_with_warnings", "ignored"):
        return "success"
    if only("created", "success_with_warnings", "ignored"):
        return "created"
    if only("canceled", "success", "skipped", "success_with_warnings", "ignored"):
        return "canceled"
    if only("pending", "created", "skipped", "success_with_warnings", "ignored"):
        return "pending"
    if "canceling" in found:
        return "canceling"
    if found & {"running", "pending"}:
        return "running"
    if "manual" in found:
        return "manual"
    if "scheduled" in found:
        return "scheduled"
    if "created" in found:
        return "running"
    return "failed"


def _next_status(when: str, prior: str, *, dag: bool) -> str:
    """Where a created job goes once what it waits for is complete (GitLab's ``ProcessBuildService``)."""
    valid = {
        "on_success": ("success",) if dag else ("success", "skipped"),
        "manual": ("success",) if dag else ("success", "skipped"),
        "delayed": ("success",) if dag else ("success", "skipped"),
        "on_failure": ("failed",),
        "always": ("success", "failed", "skipped"),
    }.get(when, ())
    if prior not in valid:
        return Status.SKIPPED
    return {"manual": Status.MANUAL, "delayed": Status.SCHEDULED}.get(when, Status.PENDING)


def _pipeline_hook(pipeline: Pipeline) -> None:
    """Pipeline Hook deliveries once the transaction commits, showing the pipeline as it is then."""
    pipeline_id = pipeline.pk

    def payload(base: str) -> dict[str, Any]:
        fresh = Pipeline.objects.select_related("project__namespace", "user", "merge_request__project__namespace").get(
            pk=pipeline_id
        )
        return pipeline_payload.build(pipeline=fresh, base=base)

    webhooks.hook_event_emit(project=pipeline.project, scope="pipeline_hooks", payload_builder=payload)


def _job_hook(job: Job) -> None:
    """Job Hook deliveries once the transaction commits: call after every change of a job's status."""
    job_id = job.pk

    def payload(base: str) -> dict[str, Any]:
        fresh = Job.objects.select_related("pipeline__project__namespace", "user", "runner").get(pk=job_id)
        return job_payload.build(job=fresh, base=base)

    webhooks.hook_event_emit(project=job.project_id, scope="job_hooks", payload_builder=payload)


def _latest_jobs(pipeline: Pipeline) -> list[Job]:
    return list(pipeline.jobs.filter(retried=False).order_by("stage_idx", "id"))


def _lock(pipeline: Pipeline) -> Pipeline:
    return Pipeline.objects.select_for_update().get(pk=pipeline.pk)


@transaction.atomic
def pipeline_process(*, pipeline: Pipeline) -> Pipeline:
    """Move every created job whose predecessors are complete on, then update the pipeline's status.
    Repeats until nothing changes, since a skipped job can complete a later stage."""
    pipeline = _lock(pipeline)
    jobs = _latest_jobs(pipeline)
    changed = True
    while changed:
        changed = False
        by_name = {job.name: job for job in jobs}
        for job in jobs:
            if job.status != Status.CREATED:
                continue
            if job.needs is not None:
                deps = [by_name[n["name"]] for n in job.needs if n["name"] in by_name]
                prior = composite_status(deps, dag=True)
            else:
                prior = composite_status(j for j in jobs if j.stage_idx < job.stage_idx)
            prior = prior or "success"
            if prior not in COMPLETED_STATUSES:
                continue
            new = _next_status(job.when, prior, dag=job.needs is not None)
            if new == Status.PENDING:
                job_enqueue(job=job)
            elif new == Status.SCHEDULED:
                _schedule(job)
            else:
                job.status = new
                job.updated_at = _now()
                if new == Status.SKIPPED:
                    job.finished_at = None
                job.save(update_fields=["status", "updated_at", "finished_at"])
                _job_hook(job)
            changed = True
    return pipeline_update_status(pipeline=pipeline, jobs=jobs)


def job_enqueue(*, job: Job) -> Job:
    """created/manual → pending: runners may take it now. Called inside the pipeline's transaction."""
    now = _now()
    job.status = Status.PENDING
    job.queued_at = now
    job.updated_at = now
    job.save(update_fields=["status", "queued_at", "updated_at"])
    _job_hook(job)
    for listener in _pending_listeners:
        transaction.on_commit(listener)
    return job


PendingListener = Callable[[], None]
_pending_listeners: list[PendingListener] = []


def on_jobs_pending(listener: PendingListener) -> PendingListener:
    """Register what wakes runners waiting for a job (the long polls of this process, in
    ``runner_http.py``); listeners run after the transaction that queued jobs committed, in its thread."""
    _pending_listeners.append(listener)
    return listener


ScheduleListener = Callable[[Job], None]
_schedule_listeners: list[ScheduleListener] = []


def on_job_scheduled(listener: ScheduleListener) -> ScheduleListener:
    """Register what wakes a delayed job when it is due (the task queue, in ``tasks.py``); listeners run
    after the scheduling transaction committed."""
    _schedule_listeners.append(listener)
    return listener


def _schedule(job: Job) -> None:
    """created → scheduled (``when: delayed``): pending once ``start_in`` has passed."""
    now = _now()
    job.status = Status.SCHEDULED
    job.scheduled_at = now + dt.timedelta(seconds=parse_duration(job.options.get("start_in")) or 0)
    job.updated_at = now
    job.save(update_fields=["status", "scheduled_at", "updated_at"])
    _job_hook(job)
    for listener in _schedule_listeners:
        transaction.on_commit(functools.partial(listener, job))


@transaction.atomic
def job_enqueue_scheduled(*, job_id: int, now: dt.datetime | None = None) -> bool:
    """scheduled → pending once due (GitLab's ``enqueue_scheduled``). A compare-and-set under the
    pipeline's lock, so however many wake-ups arrive (the task, the sweep) the job is queued once, and
    a job played, unscheduled or canceled meanwhile stays as it is. Returns whether it was queued."""
    job = Job.objects.filter(pk=job_id).select_related("pipeline").first()
    if job is None:
        return False
    pipeline = _lock(job.pipeline)
    job = Job.objects.select_for_update().get(pk=job_id)
    if job.status != Status.SCHEDULED or (job.scheduled_at and job.scheduled_at > (now or _now())):
        return False
    job_enqueue(job=job)
    job.scheduled_at = None
    job.save(update_fields=["scheduled_at"])
    pipeline_update_status(pipeline=pipeline)
    return True


def jobs_enqueue_due(*, now: dt.datetime | None = None) -> int:
    """Queue every delayed job whose time has come (the fallback for a lost wake-up). Returns how many."""
    now = now or _now()
    return sum(job_enqueue_scheduled(job_id=pk, now=now) for pk in selectors.scheduled_job_ids_due(now=now))


def pipeline_update_status(*, pipeline: Pipeline, jobs: list[Job] | None = None) -> Pipeline:
    """Set the pipeline's status from its latest jobs, with its start and finish times."""
    if pipeline.yaml_errors:
        return pipeline
    jobs = _latest_jobs(pipeline) if jobs is None else jobs
    status = composite_status(jobs) or Status.SKIPPED
    if status == "created" and any(j.status != Status.CREATED for j in jobs):
        status = Status.RUNNING
    now = _now()
    if status == Status.FAILED and pipeline.status != Status.FAILED:
        notifications.notify(kind="pipeline_failed", object_id=pipeline.pk, actor=None)
    changed = pipeline.status != status
    pipeline.status = status
    pipeline.updated_at = now
    if status in (Status.RUNNING, Status.SUCCESS, Status.FAILED) and pipeline.started_at is None:
        started = [j.started_at for j in jobs if j.started_at]
        pipeline.started_at = min(started) if started else now
    if status in COMPLETED_STATUSES:
        pipeline.finished_at = now
        if pipeline.started_at:
            pipeline.duration = int((now - pipeline.started_at).total_seconds())
    else:
        pipeline.finished_at = None
    pipeline.save(update_fields=["status", "updated_at", "started_at", "finished_at", "duration"])
    if changed:
        _status_changed(pipeline)
        _pipeline_hook(pipeline)
    return pipeline


@dataclass(frozen=True)
class Assignment:
    job: Job
    token: str


def _runner_can_take(runner: Runner, job: selectors.Candidate) -> bool:
    tags = set(job.tag_list)
    if not tags and not runner.run_untagged:
        return False
    if not tags <= set(runner.tag_list or []):
        return False
    return not (runner.access_level == Runner.AccessLevel.REF_PROTECTED and not job.protected)


def job_request(*, runner: Runner, manager: RunnerManager | None) -> Assignment | None:
    """Give the oldest pending job this runner may run to it, or None.

    Candidates are read without a lock, a page at a time, then taken in one statement: the first of
    them still pending and not locked by another runner's transaction (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL; on SQLite the one writer serialises). Many runners polling at once thus never queue
    behind one row, and a runner that loses a race tries the next candidate without another round trip.
    """
    if runner.paused:
        return None
    after = 0
    for _ in range(selectors.CANDIDATES // selectors.CANDIDATES_PAGE):
        page = selectors.pending_job_candidates(runner=runner, after_id=after)
        job_ids = [c.job_id for c in page if _runner_can_take(runner, c)]
        assignment = job_start(job_ids=job_ids, runner=runner, manager=manager) if job_ids else None
        if assignment is not None or len(page) < selectors.CANDIDATES_PAGE:
            return assignment
        after = page[-1].job_id
    return None


def job_start(*, job_ids: Sequence[int], runner: Runner, manager: RunnerManager | None) -> Assignment | None:
    """The first of ``job_ids`` still pending goes pending → running on ``runner``, with a fresh job
    token; None when other runners took them all first."""
    token = _new_secret(JOB_TOKEN_PREFIX)
    job = _take_pending_job(job_ids=job_ids, runner=runner, manager=manager, digest=token_digest(token), now=_now())
    if job is None:
        return None
    _job_hook(job)
    # A running job makes its pipeline running whatever its other jobs do (``composite_status``), so only
    # the first job to start needs the pipeline's lock: later ones leave the row alone instead of queuing
    # behind each other on it. (Should the process die in between, the pipeline is put right when its
    # jobs finish.)
    if job.pipeline.status != Status.RUNNING:
        with transaction.atomic():
            pipeline_update_status(pipeline=_lock(job.pipeline))
    return Assignment(job=job, token=token)


_START_FIELDS = ("status", "runner", "runner_manager", "token_digest", "started_at", "updated_at")


def _take_pending_job(
    *, job_ids: Sequence[int], runner: Runner, manager: RunnerManager | None, digest: str, now: dt.datetime
) -> Job | None:
    """Mark the first of ``job_ids`` still pending as running and return it, with what the payload reads.

    On PostgreSQL one statement takes it (``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)``: a
    job another runner is taking right now is passed over, not waited for), in place of a transaction of
    four round trips. Elsewhere the one writer serialises a locked read and a write."""
    if connection.vendor == "postgresql":
        job_id = selectors.take_pending_job_postgres(
            job_ids=job_ids, runner_id=runner.pk, manager_id=manager.pk if manager else None, digest=digest, now=now
        )
        return selectors.job_to_run(job_id=job_id) if job_id is not None else None
    with transaction.atomic():
        job = selectors.pending_job_to_start(job_ids=job_ids)
        if job is None:
            return None
        job.status = Status.RUNNING
        job.runner = runner
        job.runner_manager = manager
        job.token_digest = digest
        job.started_at = job.updated_at = now
        save_fields(job, _START_FIELDS)
        return job


def _auto_retry(job: Job) -> bool:
    retry = job.options.get("retry") or {}
    limit = int(retry.get("max") or 0)
    if limit <= 0 or job.status != Status.FAILED:
        return False
    when = retry.get("when") or ["always"]
    exit_codes = retry.get("exit_codes") or []
    if exit_codes and job.exit_code not in exit_codes:
        return False
    if "always" not in when and job.failure_reason not in when:
        return False
    earlier = Job.objects.filter(pipeline_id=job.pipeline_id, name=job.name, retried=True).count()
    return earlier < limit


def job_finish(*, job: Job, status: str, failure_reason: str | None = None, exit_code: int | None = None) -> Job:
    """running → success/failed (from the runner, or the stuck-job check), then process the pipeline. A
    ``canceling`` job becomes ``canceled`` whatever its runner reports.

    The job is written under its own row lock and committed first; the pipeline is processed after,
    under the pipeline's lock, and only when that can change something (see
    :func:`_pipeline_needs_processing`), so the many jobs of one stage finishing at once don't all queue
    on the pipeline's row. (A runner's own ``success`` report takes :func:`job_succeed_by_token`.)
    """
    with transaction.atomic():
        job = selectors.job_locked(job_id=job.pk)
        if job.status not in (Status.RUNNING, Status.PENDING, Status.CANCELING):
            return job
        was_canceling = job.status == Status.CANCELING
        if was_canceling:
            status, failure_reason = Status.CANCELED, None
        now = _now()
        job.status = status
        job.finished_at = now
        job.updated_at = now
        job.exit_code = exit_code
        if status == Status.FAILED:
            job.failure_reason = failure_reason if failure_reason in FAILURE_REASONS else "unknown_failure"
            if exit_code is not None and exit_code in (job.allow_failure_exit_codes or []):
                job.allow_failure = True
        save_fields(job, ["status", "finished_at", "updated_at", "exit_code", "failure_reason", "allow_failure"])
        _job_hook(job)
        retried = _auto_retry(job)
        if retried:
            _clone_for_retry(job=job, user=job.user)
    # workflow:auto_cancel:on_job_failure: all — one failure that is not allowed cancels the rest.
    counts = job.status == Status.FAILED and not job.allow_failure and not retried
    if counts and (job.pipeline.auto_cancel or {}).get("on_job_failure") == "all":
        pipeline_cancel(pipeline=job.pipeline)
        return job
    # A canceling job held its pipeline "canceling"; once it ends, the pipeline's status moves on.
    if retried or was_canceling or _pipeline_needs_processing(pipeline_id=job.pipeline_id):
        pipeline_process(pipeline=job.pipeline)
    return job


def job_succeed_by_token(*, job_id: int, token: str | None, exit_code: int | None) -> Job | None:
    """A runner's usual report, ``PUT /jobs/:id`` with ``success``, as one statement that checks the job
    token, that the job is still running, and writes. None (nothing written) when any of that does not
    hold: the caller then takes :func:`job_finish`'s path, which tells the cases apart."""
    if not token:
        return None
    now = _now()
    params = [Status.SUCCESS.value, now, now, exit_code, job_id, token_digest(token), Status.RUNNING.value]
    done = list(Job.objects.raw(_succeed_sql(), params))
    if not done:
        return None
    job = done[0]
    _job_hook(job)
    if _pipeline_needs_processing(pipeline_id=job.pipeline_id):
        pipeline_process(pipeline=job.pipeline)
    return job


@functools.cache
def _succeed_sql() -> str:
    columns = ", ".join(connection.ops.quote_name(f.column) for f in Job._meta.concrete_fields)
    return (
        f"UPDATE {connection.ops.quote_name(Job._meta.db_table)}"
        " SET status = %s, finished_at = %s, updated_at = %s, exit_code = %s"
        f" WHERE id = %s AND token_digest = %s AND status = %s RETURNING {columns}"
    )


def _pipeline_needs_processing(*, pipeline_id: int) -> bool:
    """False when processing the pipeline now would change nothing: no job waits in ``created`` for its
    predecessors, and some job is still pending or running, which keeps the pipeline ``running``
    whatever the others did (``composite_status``). Read after the caller's commit, so of jobs
    finishing at the same time the last to commit always sees the others done and processes."""
    statuses = selectors.unfinished_job_statuses(pipeline_id=pipeline_id)
    return Status.CREATED in statuses or not statuses & {Status.PENDING, Status.RUNNING}


def job_touch(*, job: Job) -> None:
    """The runner is still there (a keep-alive PUT or a log chunk)."""
    Job.objects.filter(pk=job.pk).update(updated_at=_now())


def _clone_for_retry(*, job: Job, user: User | None) -> Job:
    job.retried = True
    job.save(update_fields=["retried"])
    now = _now()
    return Job.objects.create(
        pipeline_id=job.pipeline_id,
        project_id=job.project_id,
        name=job.name,
        stage=job.stage,
        stage_idx=job.stage_idx,
        when=job.when,
        allow_failure=job.allow_failure and not job.allow_failure_exit_codes,
        allow_failure_exit_codes=job.allow_failure_exit_codes,
        needs=job.needs,
        tag_list=job.tag_list,
        options=job.options,
        user=user,
        created_at=now,
        updated_at=now,
    )


def _reset_skipped_after(pipeline: Pipeline, jobs: Sequence[Job]) -> None:
    """Jobs skipped because of what is retried become created again (GitLab's ResetSkippedJobsService)."""
    names = {j.name for j in jobs}
    first_stage = min((j.stage_idx for j in jobs), default=0)
    for later in pipeline.jobs.filter(retried=False, status=Status.SKIPPED):
        needs = {n["name"] for n in later.needs} if later.needs is not None else None
        if (needs is None and later.stage_idx > first_stage) or (needs is not None and needs & names):
            later.status = Status.CREATED
            later.save(update_fields=["status"])


@transaction.atomic
def job_retry(*, job: Job, user: User) -> Job:
    """A new job in place of a finished one (the old one is marked ``retried``)."""
    pipeline = _lock(job.pipeline)
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.retried or job.status not in (Status.SUCCESS, Status.FAILED, Status.CANCELED):
        raise Forbidden("Job is not retryable")
    new = _clone_for_retry(job=job, user=user)
    _reset_skipped_after(pipeline, [job])
    pipeline_process(pipeline=pipeline)
    new.refresh_from_db()
    return new


@transaction.atomic
def pipeline_retry(*, pipeline: Pipeline, user: User) -> Pipeline:
    """Retry every failed or canceled job, and run again what they skipped."""
    pipeline = _lock(pipeline)
    failed = [j for j in _latest_jobs(pipeline) if j.status in (Status.FAILED, Status.CANCELED)]
    if not failed and pipeline.yaml_errors:
        raise Forbidden("Pipeline is not retryable")
    for job in failed:
        _clone_for_retry(job=job, user=user)
    _reset_skipped_after(pipeline, failed)
    return pipeline_process(pipeline=pipeline)


def _supports_canceling(job: Job) -> bool:
    """GitLab's ``cancel_gracefully?``: the runner host that took the job said it can stop a job and
    still run its ``after_script`` (``features.cancel_gracefully``)."""
    manager = job.runner_manager
    features = (manager.info or {}).get("features") if manager is not None else None
    return isinstance(features, dict) and bool(features.get("cancel_gracefully"))


def _cancel(job: Job) -> None:
    """running → canceling when its runner can stop it gracefully (it learns at its next call, then
    reports, and the job ends canceled); anything else cancelable → canceled at once."""
    now = _now()
    if job.status == Status.RUNNING and _supports_canceling(job):
        job.status = Status.CANCELING
        job.updated_at = now
        job.save(update_fields=["status", "updated_at"])
        _job_hook(job)
        return
    job.status = Status.CANCELED
    job.finished_at = now
    job.updated_at = now
    job.scheduled_at = None
    job.save(update_fields=["status", "finished_at", "updated_at", "scheduled_at"])
    _job_hook(job)


@transaction.atomic
def job_cancel(*, job: Job) -> Job:
    """Cancel a created, pending, scheduled or running job; a running job's runner learns it at its next
    call. Canceling a ``canceling`` job again forces it to ``canceled``."""
    pipeline = _lock(job.pipeline)
    job = Job.objects.select_for_update(of=("self",)).select_related("runner_manager").get(pk=job.pk)
    if job.status in CANCELABLE_STATUSES or job.status == Status.CANCELING:
        _cancel(job)
        pipeline_process(pipeline=pipeline)
    return job


@transaction.atomic
def pipeline_cancel(*, pipeline: Pipeline) -> Pipeline:
    pipeline = _lock(pipeline)
    jobs = _latest_jobs(pipeline)
    for job in jobs:
        if job.status in CANCELABLE_STATUSES:
            _cancel(job)
    return pipeline_update_status(pipeline=pipeline, jobs=jobs)


def _interruptible(job: Job) -> bool:
    return bool(job.options.get("interruptible"))


def _auto_cancel(pipeline: Pipeline) -> None:
    """Cancel an older pipeline a new commit made redundant, by its ``workflow:auto_cancel:on_new_commit``:
    ``conservative`` (the default) cancels it unless a job that is not interruptible has started;
    ``interruptible`` cancels only its interruptible jobs; ``none`` keeps it."""
    mode = (pipeline.auto_cancel or {}).get("on_new_commit") or "conservative"
    if mode == "none":
        return
    pipeline = _lock(pipeline)
    jobs = _latest_jobs(pipeline)
    if mode == "interruptible":
        targets = [j for j in jobs if j.status in CANCELABLE_STATUSES and _interruptible(j)]
    elif any(j.status in ("running", "success", "failed") and not _interruptible(j) for j in jobs):
        return
    else:
        targets = [j for j in jobs if j.status in CANCELABLE_STATUSES]
    for job in targets:
        _cancel(job)
    if targets:
        pipeline_process(pipeline=pipeline)


def pipelines_cancel_redundant(*, pipeline: Pipeline) -> int:
    """GitLab's auto-cancel of redundant pipelines: a new pipeline for a branch cancels the ref's older
    pipelines of other commits that are still going, when the project's ``auto_cancel_pending_pipelines``
    is enabled. Returns how many pipelines were looked at."""
    project = pipeline.project
    if pipeline.tag or project.auto_cancel_pending_pipelines != "enabled":
        return 0
    older = selectors.pipelines_alive_before(pipeline=pipeline)
    for other in older:
        _auto_cancel(other)
    return len(older)


@transaction.atomic
def job_play(*, job: Job, user: User) -> Job:
    """Start a manual job, or a delayed one before its time ("Run now")."""
    pipeline = _lock(job.pipeline)
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status not in (Status.MANUAL, Status.SCHEDULED):
        raise BadRequest("Unplayable Job")
    job.user = user
    job.scheduled_at = None
    job_enqueue(job=job)
    job.save(update_fields=["user", "scheduled_at"])
    pipeline_update_status(pipeline=pipeline)
    return job


@transaction.atomic
def job_unschedule(*, job: Job) -> Job:
    """A delayed job waits for someone to play it instead (scheduled → manual), as GitLab's Unschedule."""
    pipeline = _lock(job.pipeline)
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status != Status.SCHEDULED:
        raise BadRequest("Job is not scheduled")
    job.status = Status.MANUAL
    job.scheduled_at = None
    job.updated_at = _now()
    job.save(update_fields=["status", "scheduled_at", "updated_at"])
    _job_hook(job)
    pipeline_update_status(pipeline=pipeline)
    return job


@transaction.atomic
def job_erase(*, job: Job, user: User) -> Job:
    """Remove a finished job's log and artifacts (the job itself stays)."""
    if job.status not in COMPLETED_STATUSES:
        raise Forbidden("Job is not erasable!")
    _artifacts_delete(JobArtifact.objects.filter(job=job))
    TraceChunk.objects.filter(job=job).delete()
    job.trace_size = 0
    job.erased_at = _now()
    job.save(update_fields=["trace_size", "erased_at"])
    return job


@transaction.atomic
def pipeline_delete(*, pipeline: Pipeline) -> None:
    _artifacts_delete(JobArtifact.objects.filter(job__pipeline=pipeline))
    pipeline.delete()


def jobs_drop_stale(*, now: dt.datetime | None = None) -> int:
    """Fail what no runner will finish: running jobs past their timeout (``job_execution_timeout``) or
    silent for an hour, and jobs pending for a day (``stuck_or_timeout_failure``). Returns how many."""
    now = now or _now()
    dropped = 0
    for job in selectors.jobs_possibly_stale(running_before=now - RUNNING_OUTDATED, pending_before=now):
        reason = None
        if job.status == Status.RUNNING:
            timeout = job_timeout(job=job, runner=job.runner)
            if job.started_at and job.started_at + dt.timedelta(seconds=timeout + 60) < now:
                reason = "job_execution_timeout"
            elif job.updated_at < now - RUNNING_OUTDATED:
                reason = "stuck_or_timeout_failure"
        elif job.queued_at and job.queued_at < now - PENDING_OUTDATED:
            reason = "stuck_or_timeout_failure"
        if reason:
            job_finish(job=job, status=Status.FAILED, failure_reason=reason)
            dropped += 1
    return dropped


def job_timeout(*, job: Job, runner: Runner | None) -> int:
    timeout = int(job.options.get("timeout") or DEFAULT_TIMEOUT)
    if runner is not None and runner.maximum_timeout:
        timeout = min(timeout, runner.maximum_timeout)
    return timeout


# --- commit statuses from an external CI --------------------------------------------------------------

EXTERNAL_STAGE = "external"
EXTERNAL_STAGE_IDX = 1_000_000  # after every stage of the file, so no job of it waits for these
# GitLab's transitions of a commit status: the event each state asks for, and where it may come from.
_STATUS_EVENTS: dict[str, tuple[str, frozenset[str]]] = {
    "pending": ("enqueue", frozenset({"created", "skipped", "manual", "scheduled"})),
    "running": ("run", frozenset({"pending"})),
    "success": ("success", frozenset({"created", "pending", "running"})),
    "failed": ("drop", frozenset({"created", "pending", "running", "manual", "scheduled"})),
    "canceled": ("cancel", frozenset({"created", "pending", "running", "scheduled", "manual"})),
    "skipped": ("skip", frozenset({"created", "pending"})),
}


def _external_pipeline(*, project: Project, user: User, sha: str, ref: str, pipeline_id: int | None) -> Pipeline:
    if pipeline_id is not None:
        pipeline = Pipeline.objects.filter(project=project, pk=pipeline_id, sha=sha).first()
        if pipeline is None:
            raise NotFound("Pipeline")
        return pipeline
    pipeline = Pipeline.objects.filter(project=project, sha=sha, ref=ref).order_by("-id").first()
    if pipeline is not None:
        return pipeline
    tag = git_read.Repository(project.id).ref_target(f"refs/heads/{ref}") is None
    return Pipeline.objects.create(
        project=project,
        iid=iid_next(project=project, usage="ci_pipelines"),
        sha=sha,
        ref=ref,
        tag=tag,
        protected=ref_protected(project=project, ref=ref, tag=tag),
        source="external",
        user=user,
    )


@transaction.atomic
def commit_status_create(
    *,
    project: Project,
    user: User,
    sha: str,
    state: str,
    ref: str | None = None,
    name: str | None = None,
    target_url: str | None = None,
    description: str | None = None,
    coverage: float | None = None,
    pipeline_id: int | None = None,
) -> Job:
    """``POST /projects/:id/statuses/:sha`` (GitLab's ``CreateCommitStatusService``): the status ``name``
    of the commit in its ref's latest pipeline (an ``external`` one is created when there is none),
    updated while it is pending or running, else a new one; the pipeline's status follows."""
    if state not in _STATUS_EVENTS:
        raise BadRequest("state does not have a valid value")  # Grape's answer for a value outside values:
    repo = git_read.Repository(project.id)
    commit = repo.commit(sha)
    if commit is None:
        raise NotFound("Commit")
    if not ref:
        branches = [n for kind, n in repo.refs_containing(commit.id, branches=True, tags=False) if kind == "branch"]
        if not branches:
            raise NotFound("References for commit")
        ref = project.default_branch if project.default_branch in branches else branches[0]
    name = name or "default"
    pipeline = _lock(_external_pipeline(project=project, user=user, sha=commit.id, ref=ref, pipeline_id=pipeline_id))
    job = selectors.external_status_open(pipeline=pipeline, name=name)
    now = _now()
    if job is None:
        for older in Job.objects.filter(pipeline=pipeline, name=name, external=True, retried=False):
            older.retried = True
            older.save(update_fields=["retried"])
        job = Job(
            pipeline=pipeline, project=project, name=name, stage=EXTERNAL_STAGE, stage_idx=EXTERNAL_STAGE_IDX,
            status=Status.CREATED, external=True, user=user, created_at=now,
        )  # fmt: skip
    for field, value in (("target_url", target_url), ("description", description), ("coverage", coverage)):
        if value is not None:
            setattr(job, field, value)
    event, sources = _STATUS_EVENTS[state]
    current = job.status
    if state == "running" and current == Status.CREATED:
        current = Status.PENDING  # GitLab enqueues first, then runs
    if current not in sources:
        reason = f'Status cannot transition via "{event}"'
        raise DockyardError(f"Cannot transition status via :{event} from :{job.status} (Reason(s): {reason})")
    job.status = state
    job.updated_at = now
    if state in (Status.PENDING, Status.RUNNING) and job.queued_at is None:
        job.queued_at = now
    if state == Status.RUNNING:
        job.started_at = now
    if state in COMPLETED_STATUSES:
        job.finished_at = now
        job.started_at = job.started_at or (now if state != Status.SKIPPED else None)
    job.failure_reason = "api_failure" if state == Status.FAILED else None
    job.save()
    pipeline_update_status(pipeline=pipeline)
    return job


# --- job logs ----------------------------------------------------------------------------------------


@transaction.atomic
def trace_append(*, job: Job, start: int, data: bytes) -> int:
    """Write ``data`` at byte ``start`` of the log (dropping anything after it, as GitLab's ``append``
    does); a start past the end raises :class:`TraceRangeError`. Returns the new size."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    size = job.trace_size
    if start > size:
        raise TraceRangeError(size)
    if start < size:
        chunks = list(TraceChunk.objects.filter(job=job, offset__lt=start).order_by("-offset")[:1])
        TraceChunk.objects.filter(job=job, offset__gte=start).delete()
        if chunks and chunks[0].offset + len(bytes(chunks[0].data)) > start:
            last = chunks[0]
            last.data = bytes(last.data)[: start - last.offset]
            last.save(update_fields=["data"])
    if data:
        TraceChunk.objects.create(job=job, offset=start, data=data)
    job.trace_size = start + len(data)
    job.updated_at = _now()
    job.save(update_fields=["trace_size", "updated_at"])
    return job.trace_size


# --- artifacts ------------------------------------------------------------------------------------------


def artifact_key(*, job: Job, file_type: str) -> str:
    return f"ci-artifacts/{job.project_id}/{job.pk}/{file_type}-{secrets.token_hex(8)}"


def _objects_remove(keys: list[str]) -> None:
    """Remove stored objects once their rows are gone. It runs after the commit, so a crash in between
    leaves an unreferenced object behind (wasted space), never a row pointing at nothing."""
    storage = object_storage()

    def remove() -> None:
        for key in keys:
            try:
                storage.delete(key)
            except Exception:  # one unreachable object must not keep the others
                log.exception("artifact_object_delete_failed", storage_key=key)

    transaction.on_commit(remove)


def _artifacts_delete(qs: Any) -> None:
    keys = list(qs.values_list("storage_key", flat=True))
    qs.delete()
    _objects_remove(keys)


# GitLab's default plan limits for ``artifacts:reports:dotenv`` (``dotenv_variables``, ``dotenv_size``).
DOTENV_MAX_VARIABLES = 20
DOTENV_MAX_SIZE = 5 * 1024
# What a dotenv upload under that size may inflate to: zlib's own ceiling of about 1,032 to 1.
DOTENV_MAX_INFLATED = DOTENV_MAX_SIZE * 1032
_DOTENV_LINE = re.compile(r"^(.*?)=(.*)$")


def dotenv_parse(data: bytes) -> list[dict[str, str]]:
    """The variables of a dotenv report, by GitLab's rules (``Ci::ParseDotenvArtifactService``): every line
    is ``KEY=VALUE`` (both stripped; anything else fails the whole report), a repeated key keeps its last
    value, keys are CI/CD variable keys, at most :data:`DOTENV_MAX_VARIABLES`. Raises :class:`BadRequest`."""
    variables: dict[str, str] = {}
    try:
        blobs = artifacts.gzip_members(data, limit=DOTENV_MAX_INFLATED)
    except artifacts.GzipError:
        raise BadRequest("Invalid Format") from None
    for blob in blobs:
        text = blob.decode("utf-8", errors="replace").removeprefix("\ufeff")
        for line in text.splitlines():
            match = _DOTENV_LINE.match(line)
            if match is None:
                raise BadRequest("Invalid Format")
            key, value = match[1].strip(), match[2].strip()
            errors = _variable_errors(key=key, value=value, masked=False, variable_type=None)
            if errors:
                field, messages = next(iter(errors.items()))
                raise BadRequest(f"Validation failed: {field.capitalize()} {messages[0]}")
            variables[key] = value
    if len(variables) > DOTENV_MAX_VARIABLES:
        raise BadRequest(f"Dotenv files cannot have more than {DOTENV_MAX_VARIABLES} variables")
    return [{"key": key, "value": value} for key, value in variables.items()]


def _dotenv_read(*, storage_key: str, size: int) -> list[dict[str, str]]:
    if size >= DOTENV_MAX_SIZE:
        raise BadRequest(f"Dotenv Artifact Too Big. Maximum Allowable Size: {DOTENV_MAX_SIZE}")
    with object_storage().open_read(storage_key) as reader:
        return dotenv_parse(reader.read(DOTENV_MAX_SIZE))


@transaction.atomic
def artifact_create(
    *,
    job: Job,
    file_type: str,
    file_format: str,
    filename: str,
    storage_key: str,
    size: int,
    sha256: str,
    expire_in: str | None,
) -> JobArtifact:
    """Record an uploaded artifact (already in object storage), replacing an earlier one of its type. A
    ``dotenv`` report is parsed here, as GitLab does on upload: its variables go to the jobs that depend
    on this one, and a report that breaks the rules is refused (:class:`BadRequest`, nothing recorded)."""
    if file_type == "dotenv":
        job.dotenv_variables = _dotenv_read(storage_key=storage_key, size=size)
        job.save(update_fields=["dotenv_variables"])
    expire_at = None
    if expire_in and expire_in.strip().lower() not in ("never", "0"):
        seconds = parse_duration(expire_in)
        if seconds:
            expire_at = _now() + dt.timedelta(seconds=seconds)
    _artifacts_delete(JobArtifact.objects.filter(job=job, file_type=file_type))
    return JobArtifact.objects.create(
        job=job,
        project_id=job.project_id,
        file_type=file_type,
        file_format=file_format,
        filename=filename,
        storage_key=storage_key,
        size=size,
        sha256=sha256,
        expire_at=expire_at,
    )


# --- runners --------------------------------------------------------------------------------------------


def registration_token(*, project: Project | None = None) -> str:
    """The legacy registration token of the instance (or of a project): derived from the installation's
    secret, so nothing is stored; ``glrtr-`` as GitLab's current tokens."""
    scope = f"project:{project.pk}" if project is not None else "instance"
    mac = hmac.new(settings.SECRET_KEY.encode(), f"runner-registration:{scope}".encode(), hashlib.sha256)
    suffix = mac.hexdigest()[:32]
    return (
        f"{REGISTRATION_TOKEN_PREFIX}{project.pk}_{suffix}"
        if project is not None
        else REGISTRATION_TOKEN_PREFIX + suffix
    )


def _registration_scope(token: str) -> tuple[str, Project | None] | None:
    if not token.startswith(REGISTRATION_TOKEN_PREFIX):
        return None
    if hmac.compare_digest(token, registration_token()):
        return Runner.Type.INSTANCE, None
    head = token.removeprefix(REGISTRATION_TOKEN_PREFIX).split("_", 1)[0]
    project = Project.objects.filter(pk=int(head)).first() if head.isdigit() else None
    if project is not None and hmac.compare_digest(token, registration_token(project=project)):
        return Runner.Type.PROJECT, project
    return None


def _runner_errors(*, runner_type: str, access_level: str | None, maximum_timeout: int | None) -> dict[str, list[str]]:
    return {
        "runner_type": [] if runner_type in Runner.Type.values else ["does not have a valid value"],
        "access_level": [] if access_level in (None, *Runner.AccessLevel.values) else ["does not have a valid value"],
        "maximum_timeout": []
        if maximum_timeout is None or maximum_timeout >= 600
        else ["needs to be at least 10 minutes"],
    }


def _tags(tag_list: Sequence[str] | str | None) -> list[str]:
    if tag_list is None:
        return []
    items = tag_list.split(",") if isinstance(tag_list, str) else [t for item in tag_list for t in str(item).split(",")]
    return sorted({t.strip() for t in items if t.strip()})


@transaction.atomic
def runner_create(
    *,
    actor: User,
    runner_type: str,
    project: Project | None = None,
    group: Namespace | None = None,
    description: str | None = None,
    maintenance_note: str | None = None,
    tag_list: Sequence[str] | str | None = None,
    run_untagged: bool | None = None,
    locked: bool | None = None,
    paused: bool | None = None,
    access_level: str | None = None,
    maximum_timeout: int | None = None,
    registration_type: str = "authenticated_user",
) -> tuple[Runner, str]:
    """A new runner and its one-time-shown ``glrt-`` token. The caller has checked the actor's rights."""
    check(_runner_errors(runner_type=runner_type, access_level=access_level, maximum_timeout=maximum_timeout))
    if runner_type == Runner.Type.PROJECT and project is None:
        raise BadRequest("project_id is missing")
    if runner_type == Runner.Type.GROUP and group is None:
        raise BadRequest("group_id is missing")
    token = _new_secret(RUNNER_TOKEN_PREFIX)
    runner = Runner.objects.create(
        runner_type=runner_type,
        token_digest=token_digest(token),
        description=description or "",
        maintenance_note=maintenance_note or "",
        tag_list=_tags(tag_list),
        run_untagged=True if run_untagged is None else run_untagged,
        locked=bool(locked),
        paused=bool(paused),
        access_level=access_level or Runner.AccessLevel.NOT_PROTECTED,
        maximum_timeout=maximum_timeout,
        namespace=group if runner_type == Runner.Type.GROUP else None,
        creator=actor,
        registration_type=registration_type,
    )
    if project is not None and runner_type == Runner.Type.PROJECT:
        runner.projects.add(project)
    return runner, token


@transaction.atomic
def runner_register(
    *,
    registration: str,
    description: str | None = None,
    maintenance_note: str | None = None,
    tag_list: Sequence[str] | str | None = None,
    run_untagged: bool | None = None,
    locked: bool | None = None,
    paused: bool | None = None,
    access_level: str | None = None,
    maximum_timeout: int | None = None,
) -> tuple[Runner, str]:
    """Legacy ``POST /runners`` with a registration token."""
    scope = _registration_scope(registration)
    if scope is None:
        raise Forbidden()
    runner_type, project = scope
    runner, token = runner_create(
        actor=None,  # type: ignore[arg-type]  # registration tokens have no user behind them
        runner_type=runner_type,
        project=project,
        description=description,
        maintenance_note=maintenance_note,
        tag_list=tag_list,
        run_untagged=run_untagged,
        locked=True if locked is None and project is not None else locked,
        paused=paused,
        access_level=access_level,
        maximum_timeout=maximum_timeout,
        registration_type="registration_token",
    )
    return runner, token


def runner_heartbeat(
    *,
    runner: Runner,
    system_id: str | None,
    info: Mapping[str, Any] | None,
    ip_address: str,
    manager: RunnerManager | None = None,
) -> RunnerManager | None:
    """Record that the runner (and its host ``system_id``) called; writes at most once a minute.
    ``manager``: that host's record when the caller read it already."""
    now = _now()
    if runner.contacted_at is None or now - runner.contacted_at > dt.timedelta(minutes=1):
        Runner.objects.filter(pk=runner.pk).update(contacted_at=now, ip_address=ip_address)
        runner.contacted_at = now
    if not system_id:
        return None
    kept = {
        k: v
        for k, v in (info or {}).items()
        if k in ("name", "version", "revision", "platform", "architecture", "executor", "features", "config")
    }
    system_id = system_id[: selectors.MANAGER_SYSTEM_ID_LENGTH]
    if manager is None or manager.system_id != system_id:
        manager = selectors.manager_for(runner=runner, system_id=system_id)
    if manager is None:
        manager, _ = RunnerManager.objects.get_or_create(
            runner=runner, system_id=system_id, defaults={"info": kept, "ip_address": ip_address}
        )
    elif now - manager.contacted_at > dt.timedelta(minutes=1) or (kept and kept != manager.info):
        manager.contacted_at = now
        manager.info = kept or manager.info
        manager.ip_address = ip_address
        manager.save(update_fields=["contacted_at", "info", "ip_address"])
    return manager


@transaction.atomic
def runner_delete(*, runner: Runner) -> None:
    runner.delete()


@transaction.atomic
def runner_manager_delete(*, runner: Runner, system_id: str) -> None:
    deleted, _ = RunnerManager.objects.filter(runner=runner, system_id=system_id).delete()
    if not deleted:
        raise NotFound()


@transaction.atomic
def runner_reset_token(*, runner: Runner) -> str:
    token = _new_secret(RUNNER_TOKEN_PREFIX)
    runner.token_digest = token_digest(token)
    runner.save(update_fields=["token_digest"])
    return token


@transaction.atomic
def runner_update(*, runner: Runner, **fields: Any) -> Runner:
    errors = _runner_errors(
        runner_type=runner.runner_type,
        access_level=fields.get("access_level"),
        maximum_timeout=fields.get("maximum_timeout"),
    )
    check(errors)
    for name, value in fields.items():
        if value is not None:
            setattr(runner, name, _tags(value) if name == "tag_list" else value)
    runner.save()
    return runner


@transaction.atomic
def runner_project_assign(*, runner: Runner, project: Project) -> Runner:
    if runner.runner_type != Runner.Type.PROJECT:
        raise DockyardError("Runner is not a project runner")
    if runner.locked:
        raise Forbidden("Runner is locked")
    if runner.projects.filter(pk=project.pk).exists():
        raise DockyardError("Runner was already enabled for this project")
    runner.projects.add(project)
    return runner


# --- CI/CD variables -----------------------------------------------------------------------------------

_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _variable_errors(
    *, key: str | None, value: str | None, masked: bool, variable_type: str | None
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if key is not None:
        if not key:
            errors["key"] = ["can't be blank"]
        elif len(key) > 255 or not set(key) <= _KEY_CHARS:
            errors["key"] = [
                "can contain only letters, digits and '_'."
                if len(key) <= 255
                else "is too long (maximum is 255 characters)"
            ]
    if variable_type is not None and variable_type not in Variable.Type.values:
        errors["variable_type"] = ["is not included in the list"]
    if value is not None and len(value) > 10_000:
        errors["value"] = ["is too long (maximum is 10000 characters)"]
    elif masked and value is not None and (len(value) < 8 or "\n" in value):
        errors["value"] = ["is invalid"]
    return errors


@transaction.atomic
def variable_create(
    *,
    owner: selectors.VariableOwner,
    key: str,
    value: str,
    variable_type: str | None = None,
    protected: bool | None = None,
    masked: bool | None = None,
    raw: bool | None = None,
    environment_scope: str | None = None,
    description: str | None = None,
) -> Variable:
    """A variable of a project, a group or (``owner=None``) the instance; instance variables have no
    environment scope."""
    check(_variable_errors(key=key, value=value, masked=bool(masked), variable_type=variable_type))
    scope = (environment_scope or "*") if owner is not None else "*"
    if selectors.variable_list(owner=owner).filter(key=key, environment_scope=scope).exists():
        raise ValidationFailed({"key": [f"({key}) has already been taken"]})
    return Variable.objects.create(
        project=owner if isinstance(owner, Project) else None,
        group=owner if isinstance(owner, Namespace) else None,
        key=key,
        value=value,
        variable_type=variable_type or Variable.Type.ENV_VAR,
        protected=bool(protected),
        masked=bool(masked),
        raw=bool(raw),
        environment_scope=scope,
        description=description,
    )


@transaction.atomic
def variable_update(*, variable: Variable, **fields: Any) -> Variable:
    masked = fields.get("masked") if fields.get("masked") is not None else variable.masked
    value = fields.get("value") if fields.get("value") is not None else variable.value
    check(_variable_errors(key=None, value=value, masked=bool(masked), variable_type=fields.get("variable_type")))
    instance = variable.project_id is None and variable.group_id is None
    scope = fields.get("environment_scope")
    if instance or scope in (None, variable.environment_scope):
        fields.pop("environment_scope", None)
    else:
        owner = variable.project or variable.group
        if selectors.variable_list(owner=owner).filter(key=variable.key, environment_scope=scope).exists():
            raise ValidationFailed({"key": [f"({variable.key}) has already been taken"]})
    for name, new in fields.items():
        if new is not None:
            setattr(variable, name, new)
    variable.save()
    return variable


@transaction.atomic
def variable_delete(*, variable: Variable) -> None:
    variable.delete()


def lint(*, project: Project, user: User | None, content: str, ref: str | None = None) -> dict[str, Any]:
    """``POST /projects/:id/ci/lint``: would this configuration create a pipeline on ``ref``?"""
    ref = ref or project.default_branch or "main"
    sha = None
    with contextlib.suppress(GitError):
        sha = git_read.Repository(project.id).resolve(ref)
    ctx = compile_context(
        project=project, user=user, ref=ref, tag=False, sha=sha or ZERO_SHA, before_sha=ZERO_SHA, source="push"
    )
    result = compile_pipeline(content, ctx)
    valid = result.status != "invalid"
    return {
        "valid": valid,
        "errors": list(result.errors) if not valid else [],
        "warnings": list(result.warnings),
        "merged_yaml": content if valid else None,
        "includes": [],
        "jobs": [
            {
                "name": j.name,
                "stage": j.stage,
                "when": j.when,
                "allow_failure": j.allow_failure.allowed,
                "tag_list": list(j.tags),
                "only": None,
                "except": None,
                "environment": j.environment.name if j.environment else None,
            }
            for j in (result.plan.jobs if result.plan else ())
        ],
    }


# --- artifact expiry, keep and delete -------------------------------------------------------------------

# Rows removed per transaction by :func:`artifacts_destroy_expired`, and at most this many transactions
# per call, so one pass of the periodic loop stays short and never holds locks for long (GitLab:
# ``DestroyAllExpiredService``, 100 rows a batch in a bounded loop).
ARTIFACT_EXPIRY_BATCH = 100
ARTIFACT_EXPIRY_MAX_BATCHES = 50
# A newer pipeline of the ref in one of these states releases the artifacts of the pipelines before it
# (GitLab unlocks a ref's earlier pipelines when one succeeds, fails, is canceled or blocks on a manual
# job); running ones do not, as they may still succeed.
_RELEASING_STATUSES = (Status.SUCCESS, Status.FAILED, Status.CANCELED, Status.MANUAL)


def _artifacts_unlocked(qs: QuerySet[JobArtifact]) -> QuerySet[JobArtifact]:
    """``qs`` without the artifacts GitLab's "Keep artifacts from most recent successful jobs" keeps
    whatever their expiry: those of the latest successful pipeline of each ref (project, ref, branch or
    tag), and those of pipelines no newer pipeline of the ref has yet released (the latest one may still
    be retried into a success). A condition on each row's own pipeline (two ``EXISTS`` on the
    ``(project, ref, -id)`` index), so a batch costs the same queries however many rows it holds."""
    newer = Pipeline.objects.filter(
        project_id=OuterRef("job__pipeline__project_id"),
        ref=OuterRef("job__pipeline__ref"),
        tag=OuterRef("job__pipeline__tag"),
        pk__gt=OuterRef("job__pipeline_id"),
    )
    released = Exists(newer.filter(status__in=_RELEASING_STATUSES))
    superseded_success = Exists(newer.filter(status=Status.SUCCESS))
    return qs.filter(released).filter(~Q(job__pipeline__status=Status.SUCCESS) | superseded_success)


def artifacts_destroy_expired(
    *,
    now: dt.datetime | None = None,
    batch_size: int = ARTIFACT_EXPIRY_BATCH,
    max_batches: int = ARTIFACT_EXPIRY_MAX_BATCHES,
) -> int:
    """Delete artifacts whose ``expire_at`` has passed, except those the latest pipelines of their ref
    keep (see :func:`_artifacts_unlocked`), then their objects. Runs from the periodic loop of every
    worker: each batch is its own transaction, and on PostgreSQL skips rows another worker has claimed.
    Returns how many rows were deleted."""
    now = now or _now()
    deleted = 0
    # Looked at outside a transaction first: on SQLite a transaction takes the one write lock, and this
    # runs in every process every few seconds, mostly to find nothing.
    if not JobArtifact.objects.filter(expire_at__lte=now).exists():
        return 0
    for _ in range(max_batches):
        with transaction.atomic():
            due = _artifacts_unlocked(JobArtifact.objects.filter(expire_at__lte=now)).select_for_update(
                skip_locked=connection.features.has_select_for_update_skip_locked, of=("self",)
            )
            rows = list(due.order_by("expire_at", "pk").values_list("pk", "storage_key")[:batch_size])
            if not rows:
                break
            JobArtifact.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
            _objects_remove([key for _, key in rows])
        deleted += len(rows)
        if len(rows) < batch_size:
            break
    if deleted:
        log.info("artifacts_expired", deleted=deleted)
    return deleted


@transaction.atomic
def artifacts_keep(*, job: Job) -> Job:
    """``POST /jobs/:id/artifacts/keep``: the job's artifacts no longer expire. As GitLab, a job without
    an artifacts archive is a 404 (:class:`NotFound`)."""
    artifacts = JobArtifact.objects.filter(job=job)
    if not artifacts.filter(file_type="archive").exists():
        raise NotFound()
    artifacts.update(expire_at=None)
    return job


@transaction.atomic
def artifacts_delete(*, job: Job) -> None:
    """Delete a job's artifacts at once, whatever their expiry; its log stays (unlike :func:`job_erase`)."""
    _artifacts_delete(JobArtifact.objects.select_for_update().filter(job=job))


def artifacts_expire_project(*, project: Project, now: dt.datetime | None = None) -> int:
    """``DELETE /projects/:id/artifacts``: every artifact of the project that may be deleted expires now,
    kept ones included; :func:`artifacts_destroy_expired` then removes them, as GitLab's regular cleanup
    does. Those of the latest pipelines of each ref stay, as they would at their expiry. One UPDATE."""
    return _artifacts_unlocked(JobArtifact.objects.filter(project=project)).update(expire_at=now or _now())
