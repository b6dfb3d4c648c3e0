"""Reads on repositories: protected refs, and who may fetch or push over git's HTTP transport."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from django.db.models import QuerySet

from dockyard.accounts import selectors as accounts
from dockyard.accounts.models import User
from dockyard.core.errors import NotFound
from dockyard.permissions import policy
from dockyard.projects import selectors as projects
from dockyard.projects.models import Project
from dockyard.repos.models import ProtectedBranch, ProtectedTag

NOT_FOUND_MESSAGE = "The project you were looking for could not be found or you don't have permission to view it."
# Token scopes that grant git access over HTTP (``api`` covers everything, as in GitLab).
READ_SCOPES = frozenset({"api", "read_repository", "write_repository"})
WRITE_SCOPES = frozenset({"api", "write_repository"})


def protected_branches(*, project: Project) -> list[ProtectedBranch]:
    return list(ProtectedBranch.objects.filter(project=project).order_by("name"))


def protected_tags(*, project: Project) -> list[ProtectedTag]:
    return list(ProtectedTag.objects.filter(project=project).order_by("name"))


@dataclass(frozen=True)
class GitAccess:
    """The answer to one git HTTP request: go ahead (``project``/``user``) or an HTTP status and message."""

    status: int
    message: str = ""
    project: Project | None = None
    user: User | None = None

    @property
    def allowed(self) -> bool:
        return self.status == 200


def _credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, sep, secret = decoded.partition(":")
    return (login, secret) if sep else None


def _authenticate(authorization: str | None, *, write: bool) -> tuple[User | None, bool]:
    """(user, credentials_were_sent). A personal access token works with any username, as in GitLab."""
    creds = _credentials(authorization)
    if creds is None:
        return None, bool(authorization)
    login, secret = creds
    found = accounts.user_authenticate_token_readonly(secret=secret)
    if found is not None:
        user, token = found
        if not set(token.scopes) & (WRITE_SCOPES if write else READ_SCOPES):
            return None, True
        return user, True
    return accounts.user_authenticate_password(login=login, password=secret), True


def git_http_access(*, repository_path: str, authorization: str | None, write: bool) -> GitAccess:
    """Decide a git smart-HTTP request for ``group/project`` (``.git`` already stripped).

    Anonymous callers get 401 unless the project is readable without signing in, so that git asks
    for credentials without learning whether a private project exists; signed-in callers who may not
    see the project get the same 404 as for a missing one.
    """
    user, sent = _authenticate(authorization, write=write)
    if sent and user is None:
        return GitAccess(401, "HTTP Basic: Access denied")
    try:
        project = projects.project_get_for(viewer=user, ref=repository_path)
    except NotFound:
        return GitAccess(401 if user is None else 404, NOT_FOUND_MESSAGE)
    if write:
        if user is None:
            return GitAccess(401, "HTTP Basic: Access denied")
        if not policy.can(user, "push_code", project):
            return GitAccess(403, "You are not allowed to push code to this project.")
    elif not policy.can(user, "download_code", project):
        if user is None:
            return GitAccess(401, "HTTP Basic: Access denied")
        return GitAccess(403, "You are not allowed to download code from this project.")
    return GitAccess(200, project=project, user=user)


def protected_branch_list(*, project: Project, search: str | None = None) -> QuerySet[ProtectedBranch]:
    qs = ProtectedBranch.objects.filter(project=project)
    if search:
        qs = qs.filter(name__icontains=search)
    return qs.order_by("name", "id")


def protected_branch_get(*, project: Project, name: str) -> ProtectedBranch | None:
    return ProtectedBranch.objects.filter(project=project, name=name).first()


def protected_tag_list(*, project: Project) -> QuerySet[ProtectedTag]:
    return ProtectedTag.objects.filter(project=project).order_by("name", "id")


def protected_tag_get(*, project: Project, name: str) -> ProtectedTag | None:
    return ProtectedTag.objects.filter(project=project, name=name).first()


def project_by_id(*, project_id: int) -> Project | None:
    """A project by id with no visibility check: for trusted internal callers (the git hooks) only."""
    return Project.objects.select_related("namespace").filter(pk=project_id).first()
