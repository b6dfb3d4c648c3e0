"""All writes on users and their tokens."""

from __future__ import annotations

import datetime as dt
import secrets

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from dockyard.accounts import selectors
from dockyard.accounts.models import PersonalAccessToken, User
from dockyard.core.errors import BadRequest, Forbidden, ValidationFailed, check
from dockyard.core.paths import name_errors, path_errors
from dockyard.events import services as audit
from dockyard.namespaces.models import Namespace
from dockyard.projects.models import Project
from dockyard.repos import services as repos
from dockyard.webhooks import services as webhooks


def _username_errors(username: str, *, exclude_user: User | None = None) -> list[str]:
    errors = path_errors(username, top_level=True)
    if not errors:
        namespaces = Namespace.objects.filter(full_path__iexact=username)
        users = User.objects.filter(username__iexact=username)
        if exclude_user is not None:
            namespaces = namespaces.exclude(owner=exclude_user)
            users = users.exclude(pk=exclude_user.pk)
        if namespaces.exists() or users.exists():
            errors.append("has already been taken")
    return errors


def _email_errors(email: str, *, exclude_user: User | None = None) -> list[str]:
    try:
        validate_email(email)
    except DjangoValidationError:
        return ["is invalid"]
    taken = User.objects.filter(email__iexact=email)
    if exclude_user is not None:
        taken = taken.exclude(pk=exclude_user.pk)
    if taken.exists():
        return ["has already been taken"]
    return []


def _password_errors(password: str | None) -> list[str]:
    if password is not None and len(password) < 8:
        return ["is too short (minimum is 8 characters)"]
    return []


@transaction.atomic
def user_create(
    *,
    username: str,
    email: str,
    name: str,
    password: str | None = None,
    is_admin: bool = False,
    can_create_group: bool = True,
    projects_limit: int | None = None,
    external: bool = False,
    bio: str = "",
) -> User:
    """Create an active user and their personal namespace."""
    check(
        {
            "username": _username_errors(username),
            "email": _email_errors(email),
            "name": name_errors(name) if not name else [],
            "password": _password_errors(password),
        }
    )
    user = User(
        username=username,
        email=email,
        name=name,
        is_admin=is_admin,
        can_create_group=can_create_group,
        external=external,
        bio=bio,
    )
    if projects_limit is not None:
        user.projects_limit = projects_limit
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
            Namespace.objects.create(
                kind=Namespace.Kind.USER, name=name, path=username, full_path=username, full_name=name, owner=user
            )
    except IntegrityError as exc:  # a concurrent create won the race
        raise ValidationFailed({"username": ["has already been taken"]}) from exc
    ns = user.namespace
    ns.traversal = f"/{ns.id}/"
    ns.save(update_fields=["traversal"])
    webhooks.system_hook_user(event="user_create", user=user)
    audit.audit_record(event_name="user_created", entity=user, message="Created user", target=_user_target(user))
    return user


USER_EDITABLE = (
    "name",
    "email",
    "bio",
    "location",
    "website_url",
    "organization",
    "job_title",
    "public_email",
    "projects_limit",
    "can_create_group",
    "external",
)


@transaction.atomic
def user_update(
    *,
    user: User,
    actor: User,
    username: str | None = None,
    password: str | None = None,
    is_admin: bool | None = None,
    **fields: object,
) -> User:
    errors: dict[str, list[str]] = {}
    if "email" in fields and fields["email"] is not None:
        errors["email"] = _email_errors(str(fields["email"]), exclude_user=user)
    if "name" in fields and fields["name"] is not None:
        errors["name"] = [] if str(fields["name"]).strip() else ["can't be blank"]
    if username is not None and username != user.username:
        errors["username"] = _username_errors(username, exclude_user=user)
    errors["password"] = _password_errors(password)
    check(errors)
    for key, value in fields.items():
        if key not in USER_EDITABLE:
            raise BadRequest(f"{key} is not editable")
        if value is not None:
            setattr(user, key, value)
    if is_admin is not None:
        if not actor.is_admin:
            raise Forbidden()
        if not is_admin and user.is_admin and not User.objects.filter(is_admin=True).exclude(pk=user.pk).exists():
            raise ValidationFailed({"admin": ["cannot be removed from the last administrator"]})
        user.is_admin = is_admin
    if password:
        user.set_password(password)
    if username is not None and username != user.username:
        user.username = username
        _namespace_rename_user(user)
    user.save()
    if fields.get("name"):
        Namespace.objects.filter(owner=user).update(name=user.name, full_name=user.name)
    return user


def _namespace_rename_user(user: User) -> None:
    ns = user.namespace
    ns.path = ns.full_path = user.username
    ns.save(update_fields=["path", "full_path"])


@transaction.atomic
def user_block(*, user: User, actor: User) -> User:
    if user.pk == actor.pk:
        raise Forbidden("You cannot block yourself")
    user.state = User.State.BLOCKED
    user.save(update_fields=["state"])
    audit.audit_record(
        event_name="user_blocked", entity=user, message="Blocked user", target=_user_target(user), author=actor
    )
    return user


@transaction.atomic
def user_unblock(*, user: User) -> User:
    user.state = User.State.ACTIVE
    user.save(update_fields=["state"])
    audit.audit_record(event_name="user_unblocked", entity=user, message="Unblocked user", target=_user_target(user))
    return user


@transaction.atomic
def user_delete(*, user: User, actor: User) -> None:
    """Delete a user with their personal namespace and its projects (GitLab's hard delete)."""
    if user.pk == actor.pk:
        raise Forbidden("You cannot delete yourself")
    repos.repositories_remove_on_commit(
        project_ids=list(Project.objects.filter(namespace__owner=user).values_list("id", flat=True))
    )
    webhooks.system_hook_user(event="user_destroy", user=user)
    user.delete()


def user_touch_activity(*, user: User) -> None:
    """Record today's activity at most once a day (it is written on every authenticated request)."""
    today = timezone.now().date()
    if user.last_activity_on != today:
        User.objects.filter(pk=user.pk).update(last_activity_on=today)
        user.last_activity_on = today


# --- personal access tokens -------------------------------------------------------------------


def _new_secret() -> str:
    return PersonalAccessToken.PREFIX + secrets.token_urlsafe(20)


def _scope_errors(scopes: list[str]) -> list[str]:
    if not scopes:
        return ["can't be blank"]
    bad = [s for s in scopes if s not in PersonalAccessToken.SCOPES]
    return [f"{', '.join(bad)} is not a valid scope"] if bad else []


@transaction.atomic
def token_create(
    *,
    user: User,
    name: str,
    scopes: list[str],
    expires_at: dt.date | None = None,
    description: str = "",
    secret: str | None = None,
) -> tuple[PersonalAccessToken, str]:
    """Create a token; returns it with its secret, which is never retrievable again."""
    errors = {"name": [] if name and name.strip() else ["can't be blank"], "scopes": _scope_errors(scopes)}
    if expires_at is not None and expires_at <= timezone.now().date():
        errors["expires_at"] = ["must be in the future"]
    check(errors)
    secret = secret or _new_secret()
    token = PersonalAccessToken.objects.create(
        user=user,
        name=name,
        description=description,
        scopes=list(dict.fromkeys(scopes)),
        expires_at=expires_at,
        token_digest=PersonalAccessToken.digest(secret),
    )
    _token_audit(token, "personal_access_token_created", "Created personal access token")
    return token, secret


def _user_target(user: User) -> tuple[str, int, str]:
    return ("User", user.pk, user.username)


def _token_audit(token: PersonalAccessToken, event_name: str, message: str) -> None:
    audit.audit_record(
        event_name=event_name,
        entity=token.user,
        message=f"{message} with scopes: {', '.join(token.scopes)}",
        target=("PersonalAccessToken", token.pk, token.name),
    )


@transaction.atomic
def token_revoke(*, token: PersonalAccessToken) -> None:
    if token.revoked:
        raise BadRequest("Token already revoked")
    token.revoked = True
    token.save(update_fields=["revoked"])
    _token_audit(token, "personal_access_token_revoked", "Revoked personal access token")


@transaction.atomic
def token_rotate(*, token: PersonalAccessToken, expires_at: dt.date | None = None) -> tuple[PersonalAccessToken, str]:
    """Revoke ``token`` and issue a successor with the same name and scopes (GitLab: expiry one week out)."""
    token = PersonalAccessToken.objects.select_for_update().get(pk=token.pk)
    if not token.active:
        raise BadRequest("Token already revoked" if token.revoked else "Token expired")
    new, secret = token_create(
        user=token.user,
        name=token.name,
        description=token.description,
        scopes=token.scopes,
        expires_at=expires_at or (timezone.now().date() + dt.timedelta(days=7)),
    )
    token.revoked = True
    token.rotated_to = new
    token.save(update_fields=["revoked", "rotated_to"])
    _token_audit(token, "personal_access_token_rotated", "Rotated personal access token")
    return new, secret


def token_authenticate(*, secret: str) -> tuple[User, PersonalAccessToken] | None:
    """The active user behind a personal access token, or None for a wrong, revoked, expired or blocked one.

    Reuse detection, as GitLab does it: presenting a token that was already rotated means the secret
    leaked, so every active token descended from it is revoked too.
    """
    token = selectors.token_lookup(secret=secret)
    if token is None:
        return None
    if token.revoked and token.rotated_to_id is not None:
        _revoke_rotations_of(token)
        return None
    if not token.active or not token.user.is_active:
        return None
    token_touch(token=token)
    return token.user, token


@transaction.atomic
def _revoke_rotations_of(token: PersonalAccessToken) -> None:
    successor = token.rotated_to
    while successor is not None:
        if not successor.revoked:
            successor.revoked = True
            successor.save(update_fields=["revoked"])
        successor = successor.rotated_to


def token_touch(*, token: PersonalAccessToken) -> None:
    """Update ``last_used_at`` at most once a minute, so reads do not turn into writes."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        PersonalAccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


# --- the web session ------------------------------------------------------------------------------


@transaction.atomic
def user_change_password(*, user: User, current: str, new: str) -> User:
    """Change one's own password, proving the current one first (the settings page; admins use ``user_update``)."""
    errors = {
        "current_password": [] if user.has_usable_password() and user.check_password(current) else ["is incorrect"],
        "new_password": ["can't be blank"] if not new else _password_errors(new),
    }
    if not errors["new_password"] and new == current:
        errors["new_password"] = ["must differ from the current password"]
    check(errors)
    user.set_password(new)
    user.save(update_fields=["password"])
    return user


def user_record_sign_in(*, user: User) -> None:
    """Note a successful interactive sign-in (``current_sign_in_at``, as GitLab's admin area shows it)."""
    now = timezone.now()
    User.objects.filter(pk=user.pk).update(current_sign_in_at=now)
    user.current_sign_in_at = now
    audit.audit_record(
        event_name="user_signed_in", entity=user, message="Signed in with standard authentication", author=user
    )


def user_record_failed_sign_in(*, login: str) -> None:
    """A refused sign-in: on the account it named when there is one, authored by no one."""
    named = User.objects.filter(Q(username__iexact=login) | Q(email__iexact=login)).first()
    audit.audit_record(
        event_name="user_sign_in_failed",
        entity=named,
        message="Failed to sign in with standard authentication",
        author=None,
        author_name=login[:255] or "(unknown)",
    )
