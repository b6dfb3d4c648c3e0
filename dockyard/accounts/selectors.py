"""Reads on users and tokens shared by the API and the pages."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet
from django.utils import timezone

from dockyard.accounts.models import PersonalAccessToken, User
from dockyard.core.errors import NotFound


def token_lookup(*, secret: str) -> PersonalAccessToken | None:
    """The token with this secret, whatever its state (callers decide what a revoked one means)."""
    if not secret:
        return None
    return (
        PersonalAccessToken.objects.select_related("user")
        .filter(token_digest=PersonalAccessToken.digest(secret))
        .first()
    )


def user_list(
    *,
    search: str | None = None,
    username: str | None = None,
    active: bool | None = None,
    blocked: bool | None = None,
    admins: bool | None = None,
) -> QuerySet[User]:
    qs = User.objects.all()
    if username:
        qs = qs.filter(username__iexact=username)
    if search:
        qs = qs.filter(Q(username__icontains=search) | Q(name__icontains=search) | Q(email__iexact=search))
    if active:
        qs = qs.filter(state=User.State.ACTIVE)
    if blocked:
        qs = qs.filter(state=User.State.BLOCKED)
    if admins:
        qs = qs.filter(is_admin=True)
    return qs


def user_get(*, ref: str) -> User | None:
    if ref.isdigit():
        return User.objects.filter(pk=int(ref)).first()
    return User.objects.filter(username__iexact=ref).first()


def token_list(
    *, user: User | None, state: str | None = None, search: str | None = None
) -> QuerySet[PersonalAccessToken]:
    qs = PersonalAccessToken.objects.select_related("user").order_by("id")
    if user is not None:
        qs = qs.filter(user=user)
    if search:
        qs = qs.filter(name__icontains=search)
    tokens = qs
    if state == "active":
        tokens = tokens.filter(revoked=False).exclude(expires_at__lte=_today())
    elif state == "inactive":
        tokens = tokens.filter(Q(revoked=True) | Q(expires_at__lte=_today()))
    return tokens


def _today() -> dt.date:
    return timezone.now().date()


def token_get(*, pk: int) -> PersonalAccessToken | None:
    return PersonalAccessToken.objects.select_related("user").filter(pk=pk).first()


def user_authenticate_password(*, login: str, password: str) -> User | None:
    """The active user with this username or email and password, else None."""
    user = User.objects.filter(Q(username__iexact=login) | Q(email__iexact=login)).first()
    if user is None or not user.is_active or not user.check_password(password):
        return None
    return user


def user_authenticate_token_readonly(*, secret: str) -> tuple[User, PersonalAccessToken] | None:
    """The active user behind a valid token, without side effects (for hot read paths such as git)."""
    token = token_lookup(secret=secret)
    if token is None or not token.active or not token.user.is_active:
        return None
    return token.user, token


def user_authenticate_login(*, login: str, password: str) -> User | None:
    """The user with this username or email and password, *whatever their state*, else None.

    The sign-in page uses it to tell a blocked user why they are refused; it only says so once the
    password matched, so the message never reveals whether an account exists. A miss still hashes a
    password, so the response time does not reveal it either (Django's ModelBackend does the same).
    """
    user = User.objects.filter(Q(username__iexact=login) | Q(email__iexact=login)).first() if login else None
    if user is None:
        User().set_password(password)
        return None
    return user if user.check_password(password) else None


def token_get_for(*, viewer: User, pk: int) -> PersonalAccessToken:
    """A token ``viewer`` may manage (their own, or any for an admin); else 404, as if missing."""
    token = token_get(pk=pk)
    if token is None or (token.user_id != viewer.pk and not viewer.is_admin):
        raise NotFound("Token")
    return token
