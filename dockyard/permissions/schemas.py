"""API shapes for members (GitLab's ``Member`` entity)."""

from __future__ import annotations

import datetime as dt

from ninja import Schema

from dockyard.accounts.schemas import UserBasic
from dockyard.core.schema import GlDateTime
from dockyard.core.urls import absolute
from dockyard.permissions.models import Membership


class MemberOut(UserBasic):
    """A member: the user's basic fields plus the membership's (GitLab's ``Member`` entity)."""

    access_level: int
    created_at: GlDateTime
    created_by: UserBasic | None
    expires_at: dt.date | None
    membership_state: str = "active"
    group_saml_identity: None = None

    @staticmethod
    def resolve_id(obj: Membership) -> int:
        return obj.user.pk

    @staticmethod
    def resolve_username(obj: Membership) -> str:
        return obj.user.username

    @staticmethod
    def resolve_name(obj: Membership) -> str:
        return obj.user.name

    @staticmethod
    def resolve_state(obj: Membership) -> str:
        return obj.user.state

    @staticmethod
    def resolve_web_url(obj: Membership) -> str:  # type: ignore[override]  # reads the membership's user
        return absolute(obj.user.username)


class MemberCreateIn(Schema):
    user_id: int | str
    access_level: int
    expires_at: dt.date | None = None


class MemberUpdateIn(Schema):
    access_level: int
    expires_at: dt.date | None = None
