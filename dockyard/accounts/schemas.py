"""API shapes for users and tokens, with GitLab's field names (``lib/api/entities/user*.rb``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema
from pydantic import RootModel

from dockyard.accounts.models import PersonalAccessToken, User
from dockyard.core.schema import GlDateTime
from dockyard.core.urls import absolute


class UserBasic(Schema):
    id: int
    username: str
    name: str
    state: str
    locked: bool = False
    avatar_url: str | None = None
    web_url: str

    @staticmethod
    def resolve_web_url(obj: User) -> str:
        return absolute(obj.username)


class UserOut(UserBasic):
    created_at: GlDateTime
    bio: str
    location: str
    public_email: str | None
    linkedin: str = ""
    twitter: str = ""
    discord: str = ""
    website_url: str
    organization: str
    job_title: str
    pronouns: str | None = None
    bot: bool = False
    work_information: str | None = None
    followers: int = 0
    following: int = 0
    local_time: str | None = None

    @staticmethod
    def resolve_public_email(obj: User) -> str | None:
        return obj.public_email or None


class UserDetail(UserOut):
    """``GET /user`` and what admins see of any user (``UserPublic`` + ``UserWithAdmin``)."""

    last_sign_in_at: GlDateTime | None = None
    confirmed_at: GlDateTime | None = None
    last_activity_on: dt.date | None
    email: str
    theme_id: int = 1
    color_scheme_id: int = 1
    projects_limit: int
    current_sign_in_at: GlDateTime | None
    identities: list[Any] = []
    can_create_group: bool
    can_create_project: bool = True
    two_factor_enabled: bool = False
    external: bool
    private_profile: bool = False
    commit_email: str
    is_admin: bool
    namespace_id: int | None = None

    @staticmethod
    def resolve_commit_email(obj: User) -> str:
        return obj.email

    @staticmethod
    def resolve_confirmed_at(obj: User) -> dt.datetime:
        return obj.created_at

    @staticmethod
    def resolve_namespace_id(obj: User) -> int | None:
        ns = getattr(obj, "namespace", None)
        return ns.id if ns else None


class UserCreateIn(Schema):
    username: str
    email: str
    name: str
    password: str | None = None
    reset_password: bool = False
    force_random_password: bool = False
    admin: bool = False
    can_create_group: bool = True
    projects_limit: int | None = None
    external: bool = False
    skip_confirmation: bool = True
    bio: str = ""


class UserUpdateIn(Schema):
    username: str | None = None
    email: str | None = None
    name: str | None = None
    password: str | None = None
    admin: bool | None = None
    can_create_group: bool | None = None
    projects_limit: int | None = None
    external: bool | None = None
    bio: str | None = None
    location: str | None = None
    website_url: str | None = None
    organization: str | None = None
    job_title: str | None = None
    public_email: str | None = None


class TokenOut(Schema):
    id: int
    name: str
    description: str
    revoked: bool
    created_at: GlDateTime
    scopes: list[str]
    user_id: int
    last_used_at: GlDateTime | None
    active: bool
    expires_at: dt.date | None


class TokenWithSecret(TokenOut):
    token: str = Field(..., description="The secret; returned only when the token is created or rotated")


class TokenCreateIn(Schema):
    name: str
    scopes: list[str]
    expires_at: dt.date | None = None
    description: str = ""


class TokenRotateIn(Schema):
    expires_at: dt.date | None = None


def token_with_secret(token: PersonalAccessToken, secret: str) -> dict[str, Any]:
    data = TokenOut.from_orm(token).dict()
    data["token"] = secret
    return data


class AnyUser(RootModel[UserDetail | UserOut]):
    """A user as the caller may see them: with private fields for admins and themselves."""


class UserRows(RootModel[list[UserDetail | UserOut]]):
    pass
