"""Pieces every payload shares: the project, the deprecated ``repository`` object, the user, labels."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dockyard.accounts.models import User
from dockyard.projects.models import Project
from dockyard.repos.git import GitError
from dockyard.repos.git import read as git_read


def iso(value: dt.datetime | None) -> str | None:
    """``2013-12-03T17:15:43Z``: what most object attributes use."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def iso_ms(value: dt.datetime | None) -> str | None:
    """``2019-06-05T14:32:20.211Z``: labels."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if value else None


def utc(value: dt.datetime | None) -> str | None:
    """``2015-05-17 18:08:09 UTC``: notes, and the issue inside a note payload."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else None


def _host(base: str) -> str:
    return base.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]


def project_attrs(project: Project, base: str, *, backward: bool = True) -> dict[str, Any]:
    """GitLab's ``Project#hook_attrs``; ``backward=False`` (pipeline and job hooks) leaves out the old
    ``homepage``, ``url``, ``ssh_url`` and ``http_url``."""
    web_url = f"{base}/{project.full_path}"
    http_url = f"{web_url}.git"
    ssh_url = f"git@{_host(base)}:{project.full_path}.git"
    attrs: dict[str, Any] = {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "web_url": web_url,
        "avatar_url": None,
        "git_ssh_url": ssh_url,
        "git_http_url": http_url,
        "namespace": project.namespace.name,
        "visibility_level": project.visibility,
        "path_with_namespace": project.full_path,
        "default_branch": project.default_branch or None,
        "ci_config_path": None,
    }
    if not backward:
        return attrs
    return {**attrs, "homepage": web_url, "url": ssh_url, "ssh_url": ssh_url, "http_url": http_url}


def repository_attrs(project: Project, base: str, *, full: bool = True) -> dict[str, Any]:
    """The deprecated ``repository`` object: push payloads carry its full form, others the short one."""
    attrs = project_attrs(project, base)
    short = {
        "name": project.name,
        "url": attrs["url"],
        "description": project.description,
        "homepage": attrs["homepage"],
    }
    if not full:
        return short
    return {
        **short,
        "git_http_url": attrs["git_http_url"],
        "git_ssh_url": attrs["git_ssh_url"],
        "visibility_level": project.visibility,
    }


def public_email(user: User) -> str:
    """GitLab shows ``[REDACTED]`` for users without a public email."""
    return user.public_email or "[REDACTED]"


def user_attrs(user: User) -> dict[str, Any]:
    """``User#hook_attrs``."""
    return {
        "id": user.id,
        "name": user.name,
        "username": user.username,
        "avatar_url": None,
        "email": public_email(user),
    }


def assignee_attrs(user: User) -> dict[str, Any]:
    return {"name": user.name, "username": user.username, "avatar_url": None}


def label_attrs(label: Any) -> dict[str, Any]:
    """``Label#hook_attrs`` of a ``dockyard.issues.models.Label``."""
    return {
        "id": label.id,
        "title": label.title,
        "color": label.color,
        "project_id": label.project_id,
        "created_at": iso_ms(label.created_at),
        "updated_at": iso_ms(label.updated_at),
        "template": False,
        "description": label.description or None,
        "type": "ProjectLabel" if label.project_id else "GroupLabel",
        "group_id": label.namespace_id,
    }


def commit_attrs(project: Any, sha: str | None, base: str) -> dict[str, Any] | None:
    """``Commit#hook_attrs`` of ``sha`` in ``project``'s repository (None when it is not there)."""
    if not sha:
        return None
    try:
        commit = git_read.Repository(project.id).commit(sha)
    except GitError:
        return None
    if commit is None:
        return None
    return {
        "id": commit.id,
        "message": commit.message,
        "title": commit.title,
        "timestamp": commit.authored_date.isoformat(),
        "url": f"{base}/{project.full_path}/-/commit/{commit.id}",
        "author": {"name": commit.author_name, "email": commit.author_email},
    }
