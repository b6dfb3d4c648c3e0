"""Merge requests, their diff versions, approvals, and the per-branch merge lock."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django.utils import timezone

# GitLab's draft prefixes: "Draft:", "[Draft]", "(Draft)" (case-insensitive), and the legacy "WIP:".
DRAFT_PREFIX = re.compile(r"^\s*(\[draft\]|\(draft\)|draft:|draft\s+-|\[wip\]|wip:)\s*", re.IGNORECASE)


def is_draft_title(title: str) -> bool:
    return bool(DRAFT_PREFIX.match(title or ""))


def draftless_title(title: str) -> str:
    return DRAFT_PREFIX.sub("", title or "", count=1).strip()


class MergeRequest(models.Model):
    """A request to merge ``source_branch`` of ``source_project`` into ``target_branch`` of ``project``.

    ``project`` is the target project, numbered by ``iid`` within it. ``source_project`` is the same project,
    or a fork in the same fork network (its head is then fetched into the target repository as
    ``refs/merge-requests/<iid>/head``); None once that fork is deleted. ``merge_status`` is the git-level
    answer (can the branches be merged without conflicts), computed in the background after pushes;
    ``detailed_merge_status`` adds everything else that blocks a merge (draft, approvals, discussions, rebase needed).
    """

    class State(models.TextChoices):
        OPENED = "opened"
        CLOSED = "closed"
        MERGED = "merged"
        LOCKED = "locked"

    class MergeStatus(models.TextChoices):
        UNCHECKED = "unchecked"
        CHECKING = "checking"
        CAN_BE_MERGED = "can_be_merged"
        CANNOT_BE_MERGED = "cannot_be_merged"
        CANNOT_BE_MERGED_RECHECK = "cannot_be_merged_recheck"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="merge_requests")
    iid = models.IntegerField()
    source_project = models.ForeignKey(
        "projects.Project", null=True, on_delete=models.SET_NULL, related_name="merge_requests_from"
    )
    source_branch = models.CharField(max_length=255)
    target_branch = models.CharField(max_length=255)
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    assignees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="assigned_merge_requests")
    reviewers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="review_merge_requests")
    labels = models.ManyToManyField("issues.Label", blank=True, related_name="merge_requests")
    milestone = models.ForeignKey(
        "issues.Milestone", null=True, blank=True, on_delete=models.SET_NULL, related_name="merge_requests"
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPENED)
    draft = models.BooleanField(default=False)
    merge_status = models.CharField(max_length=32, choices=MergeStatus.choices, default=MergeStatus.UNCHECKED)
    detailed_merge_status = models.CharField(max_length=40, default="unchecked")
    has_conflicts = models.BooleanField(default=False)
    merge_error = models.TextField(null=True, blank=True)  # noqa: DJ001  # GitLab shows null, not ""
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_at = models.DateTimeField(null=True, blank=True)
    merge_commit_sha = models.CharField(max_length=40, null=True, blank=True)  # noqa: DJ001  # null until merged
    squash_commit_sha = models.CharField(max_length=40, null=True, blank=True)  # noqa: DJ001  # null until squashed
    squash = models.BooleanField(default=False)
    should_remove_source_branch = models.BooleanField(null=True, blank=True)
    force_remove_source_branch = models.BooleanField(default=False)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    discussion_locked = models.BooleanField(default=False)
    # Auto-merge ("merge when pipeline succeeds"): who set it, and the merge options they gave
    # (sha, commit messages, squash, should_remove_source_branch), applied when the head pipeline passes.
    merge_when_pipeline_succeeds = models.BooleanField(default=False)
    merge_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merge_params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "iid"], name="merge_request_project_iid")]
        indexes = [
            models.Index(fields=["project", "state", "-created_at"]),
            models.Index(fields=["source_project", "source_branch", "state"]),
            models.Index(fields=["project", "target_branch", "state"]),
            models.Index(fields=["author", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"!{self.iid} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPENED


class MergeRequestDiff(models.Model):
    """One version of a merge request's diff: a row per push to its source branch (GitLab's
    ``merge_request_diffs``). ``start`` is the target branch head, ``base`` the merge base, ``head`` the
    source branch head when the version was taken."""

    merge_request = models.ForeignKey(MergeRequest, on_delete=models.CASCADE, related_name="diffs")
    base_commit_sha = models.CharField(max_length=40)
    head_commit_sha = models.CharField(max_length=40)
    start_commit_sha = models.CharField(max_length=40)
    commits_count = models.IntegerField(default=0)
    real_size = models.CharField(max_length=16, default="0")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["merge_request", "-id"])]

    def __str__(self) -> str:
        return f"{self.merge_request_id}:{self.head_commit_sha[:8]}"


class MergeRequestApproval(models.Model):
    merge_request = models.ForeignKey(MergeRequest, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merge_request", "user"], name="merge_request_approval_once")]

    def __str__(self) -> str:
        return f"{self.merge_request_id} approved by {self.user_id}"


class MergeLock(models.Model):
    """One row per (project, target branch), locked by the transaction that merges into that branch, so
    merges into one branch happen one at a time (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` already serialises writers)."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    branch = models.CharField(max_length=255)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "branch"], name="merge_lock_branch")]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.branch}"
