"""Push Hook and Tag Push Hook (GitLab's ``Gitlab::DataBuilder::Push``)."""

from __future__ import annotations

from typing import Any

from dockyard.accounts.models import User
from dockyard.permissions.policy import ZERO_SHA, RefChange
from dockyard.projects.models import Project
from dockyard.repos import selectors as repo_selectors
from dockyard.repos.git import read as git_read
from dockyard.repos.git.push_commits import push_commit_count, push_commits
from dockyard.webhooks.payloads.common import project_attrs, repository_attrs

COMMITS_LIMIT = 20  # GitLab sends the newest 20; total_commits_count has the real number


def push_options_hash(options: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``-o ci.skip -o ci.variable="A=1"`` as GitLab's nested hash: ``{"ci": {"skip": true, ...}}``."""
    out: dict[str, Any] = {}
    for option in options:
        key, sep, value = option.partition("=")
        path = [p for p in key.split(".") if p]
        if not path:
            continue
        node = out
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            if not sep:
                node[path[-1]] = True
            elif isinstance(node.get(path[-1]), dict):
                node[path[-1]][value] = 1
            else:
                node[path[-1]] = {value: 1} if path[-1] == "variable" else value
    return out


def ref_protected(project: Project, change: RefChange) -> bool:
    if change.tag is not None:
        return any(rule.matches(change.tag) for rule in repo_selectors.protected_tags(project=project))
    branch = change.branch or ""
    return any(rule.matches(branch) for rule in repo_selectors.protected_branches(project=project))


def build(
    *,
    project: Project,
    user: User | None,
    change: RefChange,
    base: str,
    push_options: tuple[str, ...] | list[str] = (),
    with_commits: bool = True,
) -> dict[str, Any]:
    """The payload of one ref update. ``with_commits=False`` for system hooks (GitLab never lists them)."""
    is_tag = change.tag is not None
    deleted = change.new == ZERO_SHA
    repo = git_read.Repository(project.id)
    checkout_sha = None if deleted else repo.resolve(change.new)
    message = None
    if is_tag and not deleted:
        tag = repo.tag(change.tag or "")
        message = (tag.message or None) if tag is not None else None
    commits: list[dict[str, Any]] = []
    if with_commits and not deleted:
        web_url = f"{base}/{project.full_path}"
        for commit in push_commits(project.id, change.old, change.new, ref=change.ref, limit=COMMITS_LIMIT):
            commits.append(
                {
                    "id": commit.id,
                    "message": commit.message,
                    "title": commit.title,
                    "timestamp": commit.timestamp,
                    "url": f"{web_url}/-/commit/{commit.id}",
                    "author": {"name": commit.author_name, "email": commit.author_email},
                    "added": commit.added,
                    "modified": commit.modified,
                    "removed": commit.removed,
                }
            )
    return {
        "object_kind": "tag_push" if is_tag else "push",
        "event_name": "tag_push" if is_tag else "push",
        "before": change.old,
        "after": change.new,
        "ref": change.ref,
        "ref_protected": ref_protected(project, change),
        "checkout_sha": checkout_sha,
        "message": message,
        "user_id": user.id if user else None,
        "user_name": user.name if user else None,
        "user_username": user.username if user else None,
        "user_email": (user.public_email or None) if user else None,
        "user_avatar": None,
        "project_id": project.id,
        "project": project_attrs(project, base),
        "commits": commits,
        "total_commits_count": push_commit_count(project.id, change.old, change.new, ref=change.ref)
        if with_commits
        else 0,
        "push_options": push_options_hash(push_options),
        "repository": repository_attrs(project, base),
    }


def repository_update(*, project: Project, user: User | None, changes: list[RefChange], base: str) -> dict[str, Any]:
    """The system hooks' ``repository_update`` event: one per push, listing every ref it changed."""
    return {
        "event_name": "repository_update",
        "user_id": user.id if user else None,
        "user_name": user.name if user else None,
        "user_email": (user.public_email or None) if user else None,
        "user_avatar": None,
        "project_id": project.id,
        "project": project_attrs(project, base),
        "changes": [{"before": c.old, "after": c.new, "ref": c.ref} for c in changes],
        "refs": [c.ref for c in changes],
    }
