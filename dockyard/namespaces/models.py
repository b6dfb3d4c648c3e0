"""Namespaces: the personal namespace of each user and groups nested into subgroups."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from dockyard.core.visibility import Visibility


class Namespace(models.Model):
    """A path under which projects live: a user's own (``kind=user``) or a group (``kind=group``).

    ``full_path`` (``group/sub``) and ``traversal`` (``/1/7/``, the ids from the root down) are
    denormalised from the parent chain so that lookups by path and "everything under this group" are
    single indexed queries. Both are rewritten for the whole subtree when a group moves or is renamed.
    """

    class Kind(models.TextChoices):
        USER = "user"
        GROUP = "group"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=255)
    path = models.CharField(max_length=255)
    full_path = models.CharField(max_length=2048)
    full_name = models.CharField(max_length=4096, default="")
    traversal = models.CharField(max_length=2048, default="", db_index=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="namespace"
    )
    description = models.TextField(blank=True, default="")
    visibility = models.IntegerField(choices=Visibility.choices, default=Visibility.PRIVATE)
    request_access_enabled = models.BooleanField(default=True)
    lfs_enabled = models.BooleanField(default=True)
    default_branch = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("full_path"), name="namespace_full_path_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(kind="group", owner__isnull=True)
                | models.Q(kind="user", owner__isnull=False, parent__isnull=True),
                name="namespace_kind_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.full_path

    @property
    def is_group(self) -> bool:
        return self.kind == self.Kind.GROUP

    @property
    def visibility_name(self) -> str:
        return Visibility(self.visibility).label

    @property
    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to this namespace, itself included."""
        return [int(part) for part in self.traversal.strip("/").split("/") if part]
