"""Writing commits without a worktree (pygit2), for the files API and new repositories."""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass

import pygit2

from dockyard.repos.git.admin import GitError, _base_env, storage_path


@dataclass(frozen=True)
class Signature:
    name: str
    email: str
    when: dt.datetime | None = None

    def to_pygit2(self) -> pygit2.Signature:
        if self.when is None:
            return pygit2.Signature(self.name, self.email)
        offset = int((self.when.utcoffset() or dt.timedelta()).total_seconds() // 60)
        return pygit2.Signature(self.name, self.email, int(self.when.timestamp()), offset)


def commit_initial(project_id: int, *, branch: str, files: dict[str, bytes], message: str, author: Signature) -> str:
    """Create the first commit of an empty repository on ``branch`` and return its id."""
    repo = pygit2.Repository(str(storage_path(project_id)))
    builder = repo.TreeBuilder()
    for name, content in files.items():
        if "/" in name:
            raise GitError("initial files must be at the top level")
        builder.insert(name, repo.create_blob(content), pygit2.enums.FileMode.BLOB)
    tree = builder.write()
    sig = author.to_pygit2()
    oid = repo.create_commit(None, sig, sig, message, tree, [])
    update_ref(project_id, f"refs/heads/{branch}", str(oid), "0" * 40)
    return str(oid)


def update_ref(project_id: int, ref: str, new: str, old: str) -> None:
    """Move ``ref`` from ``old`` to ``new`` atomically; fails if someone moved it meanwhile."""
    result = subprocess.run(
        ["git", "update-ref", ref, new, old],
        cwd=storage_path(project_id),
        capture_output=True,
        text=True,
        check=False,
        env=_base_env(),
    )
    if result.returncode != 0:
        raise GitError("ref update failed", result.stderr)
