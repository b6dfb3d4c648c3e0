"""People and their credentials."""

from __future__ import annotations

import hashlib

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(username__iexact=username)


class User(AbstractBaseUser):
    """A person (or bot) who signs in, owns a personal namespace and holds memberships.

    ``state`` follows GitLab: only ``active`` users may sign in or use tokens.
    """

    class State(models.TextChoices):
        ACTIVE = "active"
        BLOCKED = "blocked"

    username = models.CharField(max_length=255, unique=True)
    name = models.CharField(max_length=255)
    email = models.EmailField(max_length=255)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    is_admin = models.BooleanField(default=False)
    bio = models.TextField(blank=True, default="")
    location = models.CharField(max_length=255, blank=True, default="")
    website_url = models.CharField(max_length=255, blank=True, default="")
    organization = models.CharField(max_length=255, blank=True, default="")
    job_title = models.CharField(max_length=255, blank=True, default="")
    public_email = models.CharField(max_length=255, blank=True, default="")
    projects_limit = models.PositiveIntegerField(default=100000)
    can_create_group = models.BooleanField(default=True)
    external = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    current_sign_in_at = models.DateTimeField(null=True, blank=True)
    last_activity_on = models.DateField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email", "name"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def is_active(self) -> bool:  # type: ignore[override]  # Django reads this to refuse sign-in
        return self.state == self.State.ACTIVE

    @property
    def is_blocked(self) -> bool:
        return self.state == self.State.BLOCKED


class PersonalAccessToken(models.Model):
    """A user's API/git credential. Only the SHA-256 digest of the secret is stored.

    Secrets are 20+ random bytes, so a fast digest is enough (no password-style stretching needed);
    the ``glpat-`` prefix lets secret scanners recognise a leaked token.
    """

    PREFIX = "glpat-"
    SCOPES = ("api", "read_api", "read_user", "read_repository", "write_repository", "sudo")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="personal_access_tokens")
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    token_digest = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    # Set on the token a rotation replaced, so reuse of a rotated token can be recognised.
    rotated_to = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["user", "revoked"])]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.name}"

    @staticmethod
    def digest(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now().date()

    @property
    def active(self) -> bool:
        return not self.revoked and not self.is_expired
