"""Comments (notes) on issues, and later on merge requests, grouped into discussions."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def new_discussion_id() -> str:
    """GitLab's discussion ids: 40 hex characters."""
    return secrets.token_hex(20)


class Note(models.Model):
    """One comment, or a system note recording a change ("closed", "added ~bug label").

    A note belongs to exactly one noteable: an issue or a merge request (``note_one_noteable``, the shape
    ``Membership`` uses for its two sources). Notes sharing a ``discussion_id`` form a thread; a note of
    type ``""`` is an individual note, alone in its discussion. ``position`` holds the diff position of a
    ``DiffNote`` on a merge request (GitLab's ``position`` hash).
    """

    class Type(models.TextChoices):
        NOTE = "", "Note"
        DISCUSSION = "DiscussionNote"
        DIFF = "DiffNote"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="notes")
    issue = models.ForeignKey("issues.Issue", null=True, blank=True, on_delete=models.CASCADE, related_name="notes")
    merge_request = models.ForeignKey(
        "merge_requests.MergeRequest", null=True, blank=True, on_delete=models.CASCADE, related_name="notes"
    )
    discussion_id = models.CharField(max_length=40, default=new_discussion_id, db_index=True)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.NOTE, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    system = models.BooleanField(default=False)
    internal = models.BooleanField(default=False)
    resolvable = models.BooleanField(default=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    position = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(issue__isnull=False, merge_request__isnull=True)
                | models.Q(issue__isnull=True, merge_request__isnull=False),
                name="note_one_noteable",
            ),
        ]
        indexes = [models.Index(fields=["issue", "created_at"]), models.Index(fields=["merge_request", "created_at"])]

    def __str__(self) -> str:
        return f"note {self.pk} on {self.noteable_type} {self.noteable_id}"

    @property
    def noteable_type(self) -> str:
        return "MergeRequest" if self.merge_request_id is not None else "Issue"

    @property
    def noteable_id(self) -> int | None:
        return self.merge_request_id if self.merge_request_id is not None else self.issue_id

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None
