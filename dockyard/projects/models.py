"""Projects."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from dockyard.core.visibility import Visibility
from dockyard.namespaces.models import Namespace


class Project(models.Model):
    """A project: a repository with everything around it, living in one namespace."""

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=255)
    path = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    visibility = models.IntegerField(choices=Visibility.choices, default=Visibility.PRIVATE)
    default_branch = models.CharField(max_length=255, blank=True, default="")
    archived = models.BooleanField(default=False)
    topics = models.JSONField(default=list, blank=True)
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    issues_enabled = models.BooleanField(default=True)
    merge_requests_enabled = models.BooleanField(default=True)
    wiki_enabled = models.BooleanField(default=True)
    jobs_enabled = models.BooleanField(default=True)
    snippets_enabled = models.BooleanField(default=True)
    lfs_enabled = models.BooleanField(default=True)
    request_access_enabled = models.BooleanField(default=True)
    # Merge requests: how they merge and what they need first.
    merge_method = models.CharField(max_length=16, default="merge")  # merge | rebase_merge | ff
    approvals_before_merge = models.IntegerField(default=0)
    only_allow_merge_if_all_discussions_are_resolved = models.BooleanField(default=False)
    # A new push cancels the ref's older pipelines whose running jobs are all interruptible.
    auto_cancel_pending_pipelines = models.CharField(max_length=16, default="enabled")  # enabled | disabled
    # Forks: the project this one was forked from (None once unlinked, or when the source is deleted: the
    # fork keeps its own repository), how many forks point here (GitLab's cached ``forks_count``), and
    # where the fork's new merge requests go by default.
    forked_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="forks")
    forks_count = models.IntegerField(default=0)
    mr_default_target_self = models.BooleanField(default=False)
    # "Pipelines must succeed": the merge request's head pipeline must have passed (or, when allowed,
    # been skipped) before it merges.
    only_allow_merge_if_pipeline_succeeds = models.BooleanField(default=False)
    allow_merge_on_skipped_pipeline = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint("namespace", Lower("path"), name="project_path_ci_unique"),
            models.UniqueConstraint("namespace", Lower("name"), name="project_name_ci_unique"),
        ]
        indexes = [
            models.Index(fields=["visibility", "id"]),
            models.Index(fields=["last_activity_at"]),
        ]

    def __str__(self) -> str:
        return self.full_path

    @property
    def full_path(self) -> str:
        return f"{self.namespace.full_path}/{self.path}"

    @property
    def full_name(self) -> str:
        return f"{self.namespace.full_name} / {self.name}"

    @property
    def visibility_name(self) -> str:
        return Visibility(self.visibility).label


class InternalId(models.Model):
    """The last per-project (or per-group) internal id (``iid``) handed out for one kind of record.

    Issues, merge requests and milestones are numbered 1, 2, 3 ... within their project, as in GitLab.
    One row per (owner, usage) is locked by the transaction that takes the next value, so concurrent
    creations queue on that row instead of racing on ``MAX(iid) + 1``.
    """

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    namespace = models.ForeignKey(Namespace, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    usage = models.CharField(max_length=32)
    last_value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(project__isnull=False, namespace__isnull=True)
                | models.Q(project__isnull=True, namespace__isnull=False),
                name="internal_id_one_owner",
            ),
            models.UniqueConstraint(
                fields=["project", "usage"], condition=models.Q(project__isnull=False), name="internal_id_project"
            ),
            models.UniqueConstraint(
                fields=["namespace", "usage"],
                condition=models.Q(namespace__isnull=False),
                name="internal_id_namespace",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id or self.namespace_id}:{self.usage}={self.last_value}"
