"""Shared schema types: GitLab's timestamp format and the ``{"message": ...}`` error body."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from ninja import Schema
from pydantic import PlainSerializer


def _gitlab_time(value: dt.datetime) -> str:
    # GitLab renders ISO 8601 in UTC with milliseconds: 2024-05-01T10:20:30.123Z
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


GlDateTime = Annotated[dt.datetime, PlainSerializer(_gitlab_time, return_type=str)]


class Message(Schema):
    message: Any


class Error(Schema):
    error: str
