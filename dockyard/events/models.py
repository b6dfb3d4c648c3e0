"""Activity events (GitLab's ``events`` table): what happened, by whom, where."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Event(models.Model):
    """One entry of the activity feed. Pushes carry GitLab's ``push_data`` (ref, commit range and count)."""

    class Action(models.TextChoices):
        CREATED = "created"
        UPDATED = "updated"
        CLOSED = "closed"
        REOPENED = "reopened"
        PUSHED_NEW = "pushed new"
        PUSHED_TO = "pushed to"
        REMOVED = "deleted"
        COMMENTED = "commented on"
        MERGED = "accepted"
        JOINED = "joined"
        LEFT = "left"
        DESTROYED = "destroyed"
        APPROVED = "approved"

    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="events")
    action = models.CharField(max_length=32, choices=Action.choices)
    target_type = models.CharField(max_length=64, blank=True, default="")
    target_id = models.BigIntegerField(null=True, blank=True)
    target_title = models.CharField(max_length=255, blank=True, default="")
    push_data = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "-id"]),
            models.Index(fields=["author", "-id"]),
        ]

    def __str__(self) -> str:
        return f"{self.author_id} {self.action} {self.target_type or 'project'} {self.target_id or self.project_id}"

    @property
    def action_name(self) -> str:
        """GitLab's ``action_name``: what the feed says ("opened", "pushed to", "accepted", ...)."""
        if self.action == self.Action.CREATED and self.target_type in ("Issue", "MergeRequest", "Milestone"):
            return "opened"
        return str(self.action)


class AuditEvent(models.Model):
    """One security-relevant action (GitLab's audit events): who, from where, on what, with what change.

    Append-only: rows are written by ``dockyard.events.services.audit_record`` and never updated or
    deleted by Dockyard; ``author_name`` and ``entity_path`` keep the record readable after the author or
    the entity is gone. ``details`` holds GitLab's ``details`` hash as the API returns it.
    """

    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    author_name = models.CharField(max_length=255, blank=True, default="")
    entity_type = models.CharField(max_length=64)  # User | Project | Group | Gitlab::Audit::InstanceScope
    entity_id = models.BigIntegerField(null=True, blank=True)
    entity_path = models.CharField(max_length=255, blank=True, default="")
    event_name = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True, default="")
    target_id = models.BigIntegerField(null=True, blank=True)
    target_details = models.CharField(max_length=255, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["entity_type", "entity_id", "-id"])]

    def __str__(self) -> str:
        return f"{self.event_name} by {self.author_name} on {self.entity_type} {self.entity_id}"
