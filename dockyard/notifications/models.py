"""Per-user notification levels (GitLab's ``notification_settings``): global, or for one project or group."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class NotificationSetting(models.Model):
    """A user's notification level for one project, one group, or (neither set) everywhere.

    ``global`` on a project or group defers to the nearest group above that says otherwise, then to the
    user's global setting; a missing row means ``global`` (and ``participating`` for the global one).
    """

    class Level(models.TextChoices):
        GLOBAL = "global"
        WATCH = "watch"
        PARTICIPATING = "participating"
        MENTION = "mention"
        DISABLED = "disabled"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey("projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    namespace = models.ForeignKey(
        "namespaces.Namespace", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.GLOBAL)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(project__isnull=True, namespace__isnull=True),
                name="notification_setting_one_global",
            ),
            models.UniqueConstraint(fields=["user", "project"], name="notification_setting_one_per_project"),
            models.UniqueConstraint(fields=["user", "namespace"], name="notification_setting_one_per_group"),
            models.CheckConstraint(
                condition=~models.Q(project__isnull=False, namespace__isnull=False),
                name="notification_setting_one_source",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.level} on {self.project_id or self.namespace_id or 'global'}"
