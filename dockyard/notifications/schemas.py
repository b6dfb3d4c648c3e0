"""GitLab's notification settings shapes (``doc/api/notification_settings.md``)."""

from __future__ import annotations

from ninja import Schema


class GlobalSettingOut(Schema):
    level: str
    notification_email: str


class SourceSettingOut(Schema):
    level: str


class SettingIn(Schema):
    level: str | None = None
    notification_email: str | None = None
