"""Git LFS on the domain side: who may move which object, which objects a project holds, and linking
an uploaded object to a project. The ASGI handler (``repos/lfs.py``) calls only these.

Objects are stored once (content-addressed, ``lfs-objects/ab/cd/<oid>``) and shared across projects,
but a project can only download objects *linked* to it, and only an upload whose bytes hash to the
oid creates a link: knowing an oid is never enough to read another project's file.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Literal

from django.core import signing
from django.db import transaction

from dockyard.accounts import selectors as accounts
from dockyard.accounts.models import User
from dockyard.core.errors import NotFound
from dockyard.permissions import policy
from dockyard.projects import selectors as projects
from dockyard.repos.models import LfsObject, LfsObjectProject
from dockyard.repos.selectors import NOT_FOUND_MESSAGE, GitAccess, git_http_access, project_by_id

Operation = Literal["upload", "download"]
OID = re.compile(r"\A[0-9a-f]{64}\Z")
# How long the Authorization header handed out in a batch response stays valid (GitLab's LfsToken
# lives 1800 s as well). git-lfs asks for a fresh batch once ``expires_in`` has passed.
TOKEN_TTL = 1800
_TOKEN_SALT = "dockyard.repos.lfs.transfer"
LFS_DISABLED_MESSAGE = "Git LFS is not enabled for this project."


def lfs_key(oid: str) -> str:
    """The object-storage key of an LFS object (GitLab's layout: two levels of fan-out by oid prefix)."""
    if not OID.match(oid):
        raise ValueError("not an LFS oid")
    return f"lfs-objects/{oid[:2]}/{oid[2:4]}/{oid}"


@dataclass(frozen=True)
class _Claims:
    project_id: int
    user_id: int
    oid: str
    operation: str


def lfs_transfer_authorization(*, project_id: int, user: User | None, oid: str, operation: Operation) -> str:
    """An ``Authorization`` header value for one transfer: HTTP Basic, as git-lfs expects, whose
    password is a signed, short-lived grant for this project, object and operation only, so no
    password or access token of the user is ever echoed back."""
    grant = signing.dumps(
        {"p": project_id, "u": user.pk if user else 0, "o": oid, "op": operation}, salt=_TOKEN_SALT, compress=True
    )
    login = user.username if user else "lfs+anonymous"
    return "Basic " + base64.b64encode(f"{login}:{grant}".encode()).decode()


def _claims(authorization: str | None) -> _Claims | None:
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _login, sep, secret = decoded.partition(":")
    if not sep or secret.count(":") != 2:  # a signed grant is ``payload:timestamp:signature``
        return None
    try:
        data = signing.loads(secret, salt=_TOKEN_SALT, max_age=TOKEN_TTL + 60)
        return _Claims(int(data["p"]), int(data["u"]), str(data["o"]), str(data["op"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def _lfs_gate(access: GitAccess) -> GitAccess:
    """GitLab refuses LFS on a project with LFS switched off as it refuses a missing permission."""
    if access.allowed and access.project is not None and not access.project.lfs_enabled:
        return GitAccess(403, LFS_DISABLED_MESSAGE)
    return access


def lfs_batch_access(*, repository_path: str, authorization: str | None, operation: str) -> GitAccess:
    """The batch endpoint needs what git needs: fetch rights to download, push rights to upload."""
    return _lfs_gate(
        git_http_access(repository_path=repository_path, authorization=authorization, write=operation == "upload")
    )


def lfs_transfer_access(
    *, repository_path: str, authorization: str | None, oid: str, operation: Operation
) -> GitAccess:
    """Decide an object upload or download.

    A grant from a batch response is accepted for its own project, oid and operation only; the
    user's permission is checked again (a membership removed since the batch stops the transfer).
    Without a grant the request is judged like a git request with the credentials it carries.
    """
    claims = _claims(authorization)
    if claims is None:
        return _lfs_gate(
            git_http_access(repository_path=repository_path, authorization=authorization, write=operation == "upload")
        )
    if claims.oid != oid or claims.operation != operation:
        return GitAccess(401, "HTTP Basic: Access denied")
    user = accounts.user_get(ref=str(claims.user_id)) if claims.user_id else None
    if claims.user_id and (user is None or not user.is_active):
        return GitAccess(401, "HTTP Basic: Access denied")
    try:
        project = projects.project_get_for(viewer=user, ref=repository_path)
    except NotFound:
        return GitAccess(404, NOT_FOUND_MESSAGE)
    if project.id != claims.project_id:
        return GitAccess(404, NOT_FOUND_MESSAGE)
    action = "push_code" if operation == "upload" else "download_code"
    if (operation == "upload" and user is None) or not policy.can(user, action, project):
        return GitAccess(403, "Access forbidden. Check your access level.")
    return _lfs_gate(GitAccess(200, project=project, user=user))


def lfs_linked_objects(*, project_id: int, oids: list[str]) -> dict[str, int]:
    """``{oid: size}`` of those ``oids`` linked to the project."""
    rows = LfsObjectProject.objects.filter(project_id=project_id, lfs_object__oid__in=oids).values_list(
        "lfs_object__oid", "lfs_object__size"
    )
    return dict(rows)


def lfs_linked_size(*, project_id: int, oid: str) -> int | None:
    return lfs_linked_objects(project_id=project_id, oids=[oid]).get(oid)


@transaction.atomic
def lfs_object_link(*, project_id: int, oid: str, size: int) -> bool:
    """Record a verified upload: the object (once) and its link to the project (once).

    Called after the bytes were hashed to ``oid`` and committed to storage. False when the project
    went away meanwhile (its stored object then waits for the cleanup of unlinked objects).
    """
    if project_by_id(project_id=project_id) is None:
        return False
    # get_or_create absorbs the unique-constraint race of two uploads of the same object.
    obj, _ = LfsObject.objects.get_or_create(oid=oid, defaults={"size": size})
    LfsObjectProject.objects.get_or_create(project_id=project_id, lfs_object=obj)
    return True
