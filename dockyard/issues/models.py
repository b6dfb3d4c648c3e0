"""Issues, and the labels and milestones that issues (and, later, merge requests) carry."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


def _one_owner(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(project__isnull=False, namespace__isnull=True)
        | models.Q(project__isnull=True, namespace__isnull=False),
        name=name,
    )


class Label(models.Model):
    """A label of one project, or of a group, where it applies to every project and subgroup beneath."""

    DEFAULT_COLOR = "#6699cc"

    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="labels"
    )
    namespace = models.ForeignKey(
        "namespaces.Namespace", null=True, blank=True, on_delete=models.CASCADE, related_name="labels"
    )
    title = models.CharField(max_length=255)
    color = models.CharField(max_length=7, default=DEFAULT_COLOR)
    description = models.TextField(blank=True, default="")
    priority = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            _one_owner("label_one_owner"),
            models.UniqueConstraint(
                fields=["project", "title"], condition=models.Q(project__isnull=False), name="label_project_title"
            ),
            models.UniqueConstraint(
                fields=["namespace", "title"], condition=models.Q(namespace__isnull=False), name="label_ns_title"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def text_color(self) -> str:
        """Dark text on light colours, white on dark ones (GitLab's contrast rule)."""
        try:
            r, g, b = (int(self.color[i : i + 2], 16) for i in (1, 3, 5))
        except ValueError:
            return "#FFFFFF"
        luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
        return "#1F1E24" if luminance > 128 else "#FFFFFF"

    @property
    def reference(self) -> str:
        """``~bug``, or ``~"two words"`` when the title is not one word."""
        plain = self.title.replace("-", "").replace("_", "").replace(".", "").replace("/", "").replace("&", "")
        return f"~{self.title}" if plain.isalnum() else f'~"{self.title}"'


class Milestone(models.Model):
    """A milestone of one project, or of a group (usable by every project beneath it)."""

    class State(models.TextChoices):
        ACTIVE = "active"
        CLOSED = "closed"

    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="milestones"
    )
    namespace = models.ForeignKey(
        "namespaces.Namespace", null=True, blank=True, on_delete=models.CASCADE, related_name="milestones"
    )
    iid = models.IntegerField()
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    state = models.CharField(max_length=8, choices=State.choices, default=State.ACTIVE)
    start_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            _one_owner("milestone_one_owner"),
            models.UniqueConstraint(
                fields=["project", "title"], condition=models.Q(project__isnull=False), name="milestone_project_title"
            ),
            models.UniqueConstraint(
                fields=["namespace", "title"], condition=models.Q(namespace__isnull=False), name="milestone_ns_title"
            ),
            models.UniqueConstraint(
                fields=["project", "iid"], condition=models.Q(project__isnull=False), name="milestone_project_iid"
            ),
            models.UniqueConstraint(
                fields=["namespace", "iid"], condition=models.Q(namespace__isnull=False), name="milestone_ns_iid"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def expired(self) -> bool:
        return self.due_date is not None and self.due_date < timezone.now().date()

    @property
    def reference(self) -> str:
        return f"%{self.title}" if self.title.replace("-", "").replace(".", "").isalnum() else f'%"{self.title}"'


class Issue(models.Model):
    """An issue of a project, numbered by ``iid`` within it.

    Confidential issues are readable only by reporters and above, their author and their assignees; that
    rule lives in ``dockyard.permissions.policy`` (``issue_visibility_condition``) and every read asks it.
    """

    class State(models.TextChoices):
        OPENED = "opened"
        CLOSED = "closed"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="issues")
    iid = models.IntegerField()
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    assignees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="assigned_issues")
    labels = models.ManyToManyField(Label, blank=True, related_name="issues")
    milestone = models.ForeignKey(Milestone, null=True, blank=True, on_delete=models.SET_NULL, related_name="issues")
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPENED)
    confidential = models.BooleanField(default=False)
    discussion_locked = models.BooleanField(default=False)
    due_date = models.DateField(null=True, blank=True)
    time_estimate = models.IntegerField(default=0)  # seconds
    total_time_spent = models.IntegerField(default=0)  # seconds
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "iid"], name="issue_project_iid")]
        indexes = [
            models.Index(fields=["project", "state", "-created_at"]),
            models.Index(fields=["author", "-created_at"]),
            models.Index(fields=["milestone"]),
        ]

    def __str__(self) -> str:
        return f"#{self.iid} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPENED


class IssueLink(models.Model):
    """A relation between two issues. ``is_blocked_by`` is stored as ``blocks`` the other way round, so
    each pair has one row and both ends read it."""

    class Type(models.TextChoices):
        RELATES_TO = "relates_to"
        BLOCKS = "blocks"

    source = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="links_out")
    target = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="links_in")
    link_type = models.CharField(max_length=16, choices=Type.choices, default=Type.RELATES_TO)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target"], name="issue_link_pair"),
            models.CheckConstraint(condition=~models.Q(source=models.F("target")), name="issue_link_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} {self.link_type} {self.target_id}"
