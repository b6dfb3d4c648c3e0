"""Protected branches and tags: who may push, merge or create which refs."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from dockyard.core.glob import wildcard_match
from dockyard.projects.models import Project


class RefAccessLevel(models.IntegerChoices):
    """GitLab's access levels for protected refs (``0`` = no one, ``60`` = administrators)."""

    NO_ACCESS = 0, "No one"
    DEVELOPER = 30, "Developers + Maintainers"
    MAINTAINER = 40, "Maintainers"
    ADMIN = 60, "Administrators"


class ProtectedBranch(models.Model):
    """A branch name or wildcard (``release/*``) with the levels needed to push to and merge into it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="protected_branches")
    name = models.CharField(max_length=255)
    push_access_level = models.IntegerField(choices=RefAccessLevel.choices, default=RefAccessLevel.MAINTAINER)
    merge_access_level = models.IntegerField(choices=RefAccessLevel.choices, default=RefAccessLevel.MAINTAINER)
    unprotect_access_level = models.IntegerField(choices=RefAccessLevel.choices, default=RefAccessLevel.MAINTAINER)
    allow_force_push = models.BooleanField(default=False)
    code_owner_approval_required = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="protected_branch_unique")]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.name}"

    def matches(self, branch: str) -> bool:
        return wildcard_match(self.name, branch)


class ProtectedTag(models.Model):
    """A tag name or wildcard with the level needed to create it.

    A push never moves or deletes a protected tag."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="protected_tags")
    name = models.CharField(max_length=255)
    create_access_level = models.IntegerField(choices=RefAccessLevel.choices, default=RefAccessLevel.MAINTAINER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="protected_tag_unique")]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.name}"

    def matches(self, tag: str) -> bool:
        return wildcard_match(self.name, tag)


class LfsObject(models.Model):
    """One Git LFS object (a file's bytes, addressed by their SHA-256), stored once however many
    projects hold it. Which projects may read it is recorded by :class:`LfsObjectProject`."""

    oid = models.CharField(max_length=64, unique=True)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.oid


class LfsObjectProject(models.Model):
    """A project's claim on an LFS object: made by an upload whose bytes hashed to the oid, and the
    only thing that lets the project's readers download the object. Goes with the project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="lfs_object_links")
    lfs_object = models.ForeignKey(LfsObject, on_delete=models.CASCADE, related_name="project_links")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "lfs_object"], name="lfs_object_project_unique")]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.lfs_object_id}"
