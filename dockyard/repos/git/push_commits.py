"""The commits of a ref update as webhook payloads list them: newest ``limit`` of the range, oldest first,
each with the paths it added, modified and removed against its first parent."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from dockyard.repos.git.admin import ZERO_SHA, GitError, _base_env, storage_path

_RECORD = "\x1e"
_FIELD = "\x00"


@dataclass(frozen=True)
class PushCommit:
    id: str
    message: str
    timestamp: str  # the author date in strict ISO 8601 with its own offset, as GitLab sends it
    author_name: str
    author_email: str
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.message.split("\n", 1)[0].strip()


def _spec(old: str, new: str, ref: str) -> list[str]:
    # Not ``--all``: it includes HEAD, which names the pushed ref itself on a first push to the default
    # branch, and would hide every commit of it.
    return [new, "--not", f"--exclude={ref}", "--glob=refs/*"] if old == ZERO_SHA else [f"{old}..{new}"]


def push_commit_count(project_id: int, old: str, new: str, *, ref: str) -> int:
    """How many commits ``old..new`` brought (for a new ref: those no other ref had)."""
    if new == ZERO_SHA:
        return 0
    result = subprocess.run(
        ["git", "rev-list", "--count", *_spec(old, new, ref)],
        cwd=storage_path(project_id),
        capture_output=True,
        check=False,
        env=_base_env(),
    )
    if result.returncode != 0:
        raise GitError("git rev-list failed", result.stderr.decode(errors="replace"))
    return int(result.stdout.strip() or 0)


def push_commits(project_id: int, old: str, new: str, *, ref: str, limit: int = 20) -> list[PushCommit]:
    """At most ``limit`` commits of ``old..new`` (for a new ref: those no other ref had), newest last."""
    if new == ZERO_SHA:
        return []
    spec = _spec(old, new, ref)
    result = subprocess.run(
        [
            "git",
            "log",
            f"--max-count={limit}",
            "--no-renames",
            "--diff-merges=first-parent",
            "--name-status",
            "--format=%x1e%H%x00%aI%x00%aN%x00%aE%x00%B%x00",
            *spec,
        ],
        cwd=storage_path(project_id),
        capture_output=True,
        check=False,
        env=_base_env(),
    )
    if result.returncode != 0:
        raise GitError("git log failed", result.stderr.decode(errors="replace"))
    out = []
    for record in result.stdout.decode("utf-8", errors="replace").split(_RECORD):
        parts = record.split(_FIELD)
        if len(parts) < 6 or len(parts[0]) != 40:
            continue
        sha, date, name, email, message, status = parts[:6]
        commit = PushCommit(
            id=sha,
            message=message.rstrip("\n") + "\n" if message.strip() else "",
            timestamp=date,
            author_name=name,
            author_email=email,
        )
        for line in status.strip("\n").splitlines():
            kind, _, path = line.partition("\t")
            if not path:
                continue
            target = {"A": commit.added, "D": commit.removed}.get(kind[:1], commit.modified)
            if path not in target:
                target.append(path)
        out.append(commit)
    out.reverse()
    return out
