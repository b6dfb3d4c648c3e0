"""Web hooks (project, group and system hooks) and the log of their recent deliveries."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

# GitLab's auto-disabling (WebHooks::AutoDisabling): after 4 consecutive failures a hook is disabled for
# 1 minute, doubling on every further failure up to 1 day; after 40 it stays disabled until a test or
# an edit succeeds.
TEMPORARILY_DISABLED_FAILURE_THRESHOLD = 3
PERMANENTLY_DISABLED_FAILURE_THRESHOLD = 39
INITIAL_BACKOFF_SECONDS = 60
MAX_BACKOFF_SECONDS = 24 * 3600


class WebHook(models.Model):
    """A URL that receives GitLab-shaped JSON events: a project's, a group's (for every project beneath
    it) or the instance's (a system hook, for administrators).

    ``token`` is write-only: it is sent as ``X-Gitlab-Token`` and never returned by the API.
    """

    class Kind(models.TextChoices):
        PROJECT = "project"
        GROUP = "group"
        SYSTEM = "system"

    class BranchFilterStrategy(models.TextChoices):
        WILDCARD = "wildcard"
        REGEX = "regex"
        ALL_BRANCHES = "all_branches"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="hooks"
    )
    group = models.ForeignKey(
        "namespaces.Namespace", null=True, blank=True, on_delete=models.CASCADE, related_name="hooks"
    )
    uuid = models.UUIDField(default=uuid.uuid4, editable=False)
    url = models.TextField()
    name = models.CharField(max_length=255, blank=True, default="")
    description = models.TextField(blank=True, default="")
    token = models.CharField(max_length=255, blank=True, default="")
    push_events = models.BooleanField(default=True)
    tag_push_events = models.BooleanField(default=False)
    issues_events = models.BooleanField(default=False)
    confidential_issues_events = models.BooleanField(default=False)
    note_events = models.BooleanField(default=False)
    confidential_note_events = models.BooleanField(default=False)
    merge_requests_events = models.BooleanField(default=False)
    job_events = models.BooleanField(default=False)
    pipeline_events = models.BooleanField(default=False)
    wiki_page_events = models.BooleanField(default=False)
    releases_events = models.BooleanField(default=False)
    deployment_events = models.BooleanField(default=False)
    feature_flag_events = models.BooleanField(default=False)
    repository_update_events = models.BooleanField(default=False)
    push_events_branch_filter = models.TextField(blank=True, default="")
    branch_filter_strategy = models.CharField(
        max_length=16, choices=BranchFilterStrategy.choices, default=BranchFilterStrategy.WILDCARD
    )
    enable_ssl_verification = models.BooleanField(default=True)
    recent_failures = models.IntegerField(default=0)
    disabled_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="project", project__isnull=False, group__isnull=True)
                | models.Q(kind="group", project__isnull=True, group__isnull=False)
                | models.Q(kind="system", project__isnull=True, group__isnull=True),
                name="webhook_kind_owner",
            ),
        ]
        indexes = [models.Index(fields=["kind", "id"])]

    def __str__(self) -> str:
        return f"{self.kind} hook {self.pk}"

    @property
    def auto_disabling(self) -> bool:
        return self.kind != self.Kind.SYSTEM  # GitLab never disables system hooks

    @property
    def temporarily_disabled(self) -> bool:
        return (
            self.auto_disabling
            and self.disabled_until is not None
            and self.disabled_until >= timezone.now()
            and TEMPORARILY_DISABLED_FAILURE_THRESHOLD < self.recent_failures <= PERMANENTLY_DISABLED_FAILURE_THRESHOLD
        )

    @property
    def permanently_disabled(self) -> bool:
        return self.auto_disabling and self.recent_failures > PERMANENTLY_DISABLED_FAILURE_THRESHOLD

    @property
    def executable(self) -> bool:
        return not self.temporarily_disabled and not self.permanently_disabled

    @property
    def alert_status(self) -> str:
        if self.temporarily_disabled:
            return "temporarily_disabled"
        if self.permanently_disabled:
            return "disabled"
        return "executable"


class WebHookLog(models.Model):
    """One delivery attempt: what was sent, what came back (GitLab's ``WebHookLog``, kept 7 days).

    The token is stored as ``[REDACTED]``; ``response_body`` is truncated.
    """

    hook = models.ForeignKey(WebHook, on_delete=models.CASCADE, related_name="logs")
    trigger = models.CharField(max_length=64)  # GitLab's hook name: push_hooks, tag_push_hooks, system_hooks…
    url = models.TextField()
    request_headers = models.JSONField(default=dict)
    request_data = models.JSONField(default=dict)
    response_headers = models.JSONField(default=dict)
    response_body = models.TextField(blank=True, default="")
    response_status = models.CharField(max_length=16)  # a status code, or "internal error"
    internal_error_message = models.TextField(blank=True, default="")
    execution_duration = models.FloatField(default=0.0)
    attempt = models.IntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["hook", "-id"]), models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.trigger} → {self.response_status}"

    @property
    def succeeded(self) -> bool:
        return self.response_status.isdigit() and 200 <= int(self.response_status) < 300
