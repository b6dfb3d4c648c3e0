"""CI/CD tables: pipelines, their jobs, job logs and artifacts, runners and CI/CD variables.

Statuses and field names follow GitLab's (``Ci::Pipeline``, ``Ci::Build``, ``Ci::Runner``), so the API
can show rows as they are. Secrets (runner and job tokens) are stored as SHA-256 digests only.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone

from dockyard.namespaces.models import Namespace
from dockyard.projects.models import Project


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Status(models.TextChoices):
    CREATED = "created"
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    CANCELING = "canceling"  # canceled, but its runner has not stopped yet


ACTIVE_STATUSES = frozenset({"created", "pending", "running", "scheduled", "canceling"})
COMPLETED_STATUSES = frozenset({"success", "failed", "canceled", "skipped"})
# A runner holds the job: it may send its log, artifacts and status (``canceling``: told to stop).
ON_RUNNER_STATUSES = frozenset({"running", "canceling"})
# What cancel acts on (GitLab's ``CANCELABLE_STATUSES``): manual jobs stay playable.
CANCELABLE_STATUSES = frozenset({"created", "pending", "running", "scheduled"})


class Runner(models.Model):
    """A runner: one authentication token (``glrt-…``), possibly used by many hosts (its managers)."""

    class Type(models.TextChoices):
        INSTANCE = "instance_type"
        GROUP = "group_type"
        PROJECT = "project_type"

    class AccessLevel(models.TextChoices):
        NOT_PROTECTED = "not_protected"
        REF_PROTECTED = "ref_protected"

    runner_type = models.CharField(max_length=16, choices=Type.choices)
    token_digest = models.CharField(max_length=64, unique=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    description = models.CharField(max_length=1024, blank=True, default="")
    maintenance_note = models.TextField(blank=True, default="")
    tag_list = models.JSONField(default=list, blank=True)
    run_untagged = models.BooleanField(default=True)
    locked = models.BooleanField(default=False)
    paused = models.BooleanField(default=False)
    access_level = models.CharField(max_length=16, choices=AccessLevel.choices, default=AccessLevel.NOT_PROTECTED)
    maximum_timeout = models.IntegerField(null=True, blank=True)
    # "authenticated_user" (created through the API first) or "registration_token" (legacy registration).
    registration_type = models.CharField(max_length=32, default="authenticated_user")
    namespace = models.ForeignKey(Namespace, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    projects = models.ManyToManyField(Project, blank=True, related_name="ci_runners")
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    contacted_at = models.DateTimeField(null=True, blank=True)
    ip_address = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["runner_type", "id"])]

    def __str__(self) -> str:
        return f"runner {self.pk} ({self.runner_type})"

    @property
    def is_shared(self) -> bool:
        return self.runner_type == self.Type.INSTANCE


class RunnerManager(models.Model):
    """One host using a runner's token, told apart by the ``system_id`` the runner sends (GitLab's
    ``Ci::RunnerManager``)."""

    runner = models.ForeignKey(Runner, on_delete=models.CASCADE, related_name="managers")
    system_id = models.CharField(max_length=64)
    info = models.JSONField(default=dict, blank=True)
    ip_address = models.CharField(max_length=64, blank=True, default="")
    contacted_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["runner", "system_id"], name="ci_runner_manager_unique")]

    def __str__(self) -> str:
        return f"{self.runner_id}/{self.system_id}"


class Pipeline(models.Model):
    """One run of a project's ``.gitlab-ci.yml`` for a commit and ref."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="ci_pipelines")
    iid = models.IntegerField()
    sha = models.CharField(max_length=40)
    before_sha = models.CharField(max_length=40, default="0" * 40)
    ref = models.CharField(max_length=255)
    tag = models.BooleanField(default=False)
    protected = models.BooleanField(default=False)  # the ref was protected when the pipeline was created
    source = models.CharField(max_length=32, default="push")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED)
    yaml_errors = models.TextField(null=True, blank=True)  # noqa: DJ001 - GitLab tells null from empty here
    name = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001 - GitLab tells null from empty here
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # Variables given to this run (API/web form): [{"key", "value", "variable_type"}].
    variables = models.JSONField(default=list, blank=True)
    yaml_variables = models.JSONField(default=list, blank=True)  # [{"key", "value", "raw"}] from the file
    # Merge request pipelines (source "merge_request_event") run for this merge request's source head.
    merge_request = models.ForeignKey(
        "merge_requests.MergeRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="pipelines"
    )
    pipeline_schedule = models.ForeignKey(
        "ci.PipelineSchedule", null=True, blank=True, on_delete=models.SET_NULL, related_name="pipelines"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    committed_at = models.DateTimeField(null=True, blank=True)
    duration = models.IntegerField(null=True, blank=True)
    # ``workflow:auto_cancel`` of the file ({"on_new_commit": "conservative" | "interruptible" | "none"}).
    auto_cancel = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "iid"], name="ci_pipeline_iid_unique")]
        indexes = [
            models.Index(fields=["project", "-id"]),
            models.Index(fields=["project", "ref", "-id"]),
            models.Index(fields=["project", "sha"]),
        ]

    def __str__(self) -> str:
        return f"pipeline {self.pk} ({self.status})"


class Job(models.Model):
    """A build job of a pipeline (GitLab's ``Ci::Build``). ``options`` holds what the runner needs from the
    compiled plan (scripts, image, services, artifacts, cache, variables, timeout …)."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="jobs")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=255)
    stage = models.CharField(max_length=255)
    stage_idx = models.IntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED)
    when = models.CharField(max_length=16, default="on_success")
    allow_failure = models.BooleanField(default=False)
    allow_failure_exit_codes = models.JSONField(default=list, blank=True)
    needs = models.JSONField(null=True, blank=True)  # None: stage order; else [{"name", "artifacts", "optional"}]
    tag_list = models.JSONField(default=list, blank=True)
    options = models.JSONField(default=dict, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    runner = models.ForeignKey(Runner, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    runner_manager = models.ForeignKey(
        RunnerManager, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    token_digest = models.CharField(max_length=64, null=True, blank=True, unique=True)
    failure_reason = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - GitLab tells null from empty here
    exit_code = models.IntegerField(null=True, blank=True)
    retried = models.BooleanField(default=False)
    coverage = models.FloatField(null=True, blank=True)
    trace_size = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)  # when a delayed job becomes pending
    # A commit status posted by an external CI (GitLab's ``GenericCommitStatus``): no runner ever takes it.
    external = models.BooleanField(default=False)
    target_url = models.CharField(max_length=2048, null=True, blank=True)  # noqa: DJ001 - GitLab tells null from empty here
    description = models.TextField(null=True, blank=True)  # noqa: DJ001 - GitLab tells null from empty here
    # Variables of the job's ``artifacts:reports:dotenv``, passed on to the jobs that depend on it.
    dotenv_variables = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "id"]),
            models.Index(fields=["status", "scheduled_at"]),
            models.Index(fields=["pipeline", "stage_idx"]),
            models.Index(fields=["project", "-id"]),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} {self.name} ({self.status})"

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()

    @property
    def queued_duration(self) -> float | None:
        if self.queued_at is None:
            return None
        return ((self.started_at or timezone.now()) - self.queued_at).total_seconds()


class TraceChunk(models.Model):
    """A piece of a job's log as the runner sent it; the log is the chunks in ``offset`` order."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="trace_chunks")
    offset = models.BigIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "offset"], name="ci_trace_chunk_unique")]

    def __str__(self) -> str:
        return f"{self.job_id}@{self.offset}"


class JobArtifact(models.Model):
    """An uploaded artifact file of a job (the archive, or a report such as junit/dotenv)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="artifacts")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    file_type = models.CharField(max_length=32)
    file_format = models.CharField(max_length=16, default="zip")
    filename = models.CharField(max_length=255)
    storage_key = models.CharField(max_length=512)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    expire_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "file_type"], name="ci_job_artifact_type_unique")]
        # The expiry pass reads the oldest expired rows first (``artifacts_destroy_expired``).
        indexes = [models.Index(fields=["expire_at"], name="ci_job_artifact_expire_at")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.file_type}"


class Variable(models.Model):
    """A CI/CD variable of a project, of a group (inherited by its subgroups and their projects), or of
    the instance (neither set). One table for the three levels, as their rules are the same: GitLab's
    ``Ci::Variable``, ``Ci::GroupVariable`` and ``Ci::InstanceVariable`` share one concern."""

    class Type(models.TextChoices):
        ENV_VAR = "env_var"
        FILE = "file"

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="ci_variables")
    group = models.ForeignKey(Namespace, null=True, blank=True, on_delete=models.CASCADE, related_name="ci_variables")
    key = models.CharField(max_length=255)
    value = models.TextField(blank=True, default="")
    variable_type = models.CharField(max_length=16, choices=Type.choices, default=Type.ENV_VAR)
    protected = models.BooleanField(default=False)
    masked = models.BooleanField(default=False)
    raw = models.BooleanField(default=False)
    environment_scope = models.CharField(max_length=255, default="*")
    description = models.TextField(null=True, blank=True)  # noqa: DJ001 - GitLab tells null from empty here

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(project__isnull=True) | models.Q(group__isnull=True), name="ci_variable_one_owner"
            ),
            models.UniqueConstraint(
                fields=["project", "key", "environment_scope"],
                condition=models.Q(project__isnull=False),
                name="ci_variable_unique",
            ),
            models.UniqueConstraint(
                fields=["group", "key", "environment_scope"],
                condition=models.Q(group__isnull=False),
                name="ci_group_variable_unique",
            ),
            models.UniqueConstraint(
                fields=["key"],
                condition=models.Q(project__isnull=True, group__isnull=True),
                name="ci_instance_variable_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.key


class PipelineSchedule(models.Model):
    """A cron schedule that creates ``schedule`` pipelines for ``ref`` (a full ``refs/heads/…`` or
    ``refs/tags/…`` name). ``next_run_at`` is when it is due next: the worker claims a run by moving it
    on with a conditional UPDATE, so however many workers look, each due time gives one pipeline."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="ci_pipeline_schedules")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    description = models.CharField(max_length=255)
    ref = models.CharField(max_length=255)
    cron = models.CharField(max_length=255)
    cron_timezone = models.CharField(max_length=255, default="UTC")
    next_run_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["active", "next_run_at"]),
            models.Index(fields=["project", "id"]),
        ]

    def __str__(self) -> str:
        return f"schedule {self.pk} ({self.cron})"


class PipelineScheduleVariable(models.Model):
    """A variable given to every pipeline its schedule creates."""

    schedule = models.ForeignKey(PipelineSchedule, on_delete=models.CASCADE, related_name="variables")
    key = models.CharField(max_length=255)
    value = models.TextField(blank=True, default="")
    variable_type = models.CharField(max_length=16, default="env_var")
    raw = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["schedule", "key"], name="ci_schedule_variable_unique")]

    def __str__(self) -> str:
        return self.key


class Trigger(models.Model):
    """A pipeline trigger token (``glptt-…``), stored as a SHA-256 digest; ``short_token`` is what lists show
    after creation (the full token is shown once)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="ci_triggers")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    description = models.CharField(max_length=255, blank=True, default="")
    token_digest = models.CharField(max_length=64, unique=True)
    short_token = models.CharField(max_length=16)
    last_used = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["project", "id"])]

    def __str__(self) -> str:
        return f"trigger {self.pk}"
