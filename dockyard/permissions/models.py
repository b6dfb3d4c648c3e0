"""Memberships: who holds which access level on which group or project."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AccessLevel(models.IntegerChoices):
    """GitLab's access levels. A membership on a group applies to everything beneath it."""

    NO_ACCESS = 0, "No access"
    MINIMAL_ACCESS = 5, "Minimal Access"
    GUEST = 10, "Guest"
    PLANNER = 15, "Planner"
    REPORTER = 20, "Reporter"
    DEVELOPER = 30, "Developer"
    MAINTAINER = 40, "Maintainer"
    OWNER = 50, "Owner"


class Membership(models.Model):
    """A user's direct membership of exactly one group (namespace) or one project."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    namespace = models.ForeignKey(
        "namespaces.Namespace", null=True, blank=True, on_delete=models.CASCADE, related_name="memberships"
    )
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="memberships"
    )
    access_level = models.IntegerField(choices=AccessLevel.choices)
    expires_at = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(namespace__isnull=False, project__isnull=True)
                | models.Q(namespace__isnull=True, project__isnull=False),
                name="membership_one_source",
            ),
            models.UniqueConstraint(
                fields=["user", "namespace"], condition=models.Q(namespace__isnull=False), name="membership_user_ns"
            ),
            models.UniqueConstraint(
                fields=["user", "project"], condition=models.Q(project__isnull=False), name="membership_user_project"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.namespace_id or self.project_id}:{self.access_level}"
