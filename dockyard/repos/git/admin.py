"""Creating, removing and inspecting repositories on local disk."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from dockyard.config.env import ENV
from dockyard.repos.git.paths import repository_path

ZERO_SHA = "0" * 40

# Settings every repository gets: bitmaps and commit-graphs make serving clones cheap; the hooks path
# points at Dockyard's shared hooks so every push is checked by the server.
_REPOSITORY_CONFIG: dict[str, str | None] = {
    "core.hooksPath": None,  # filled in with ENV.hooks at creation
    "receive.advertisePushOptions": "true",
    "receive.fsckObjects": "true",
    "uploadpack.allowFilter": "true",
    "uploadpack.allowAnySHA1InWant": "true",
    "repack.writeBitmaps": "true",
    "pack.writeBitmapHashCache": "true",
    "core.commitGraph": "true",
    "gc.auto": "0",  # housekeeping is Dockyard's job, never a push's
    "http.receivepack": "true",
}


class GitError(Exception):
    """A git command failed; ``stderr`` says why."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


def storage_path(project_id: int) -> Path:
    return repository_path(ENV.repositories, project_id)


def _git(*args: str, cwd: Path | None = None, check: bool = True, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, env=env or _base_env()
    )
    if check and result.returncode != 0:
        raise GitError(f"git {args[0]} failed", result.stderr)
    return result.stdout


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    # Never read the server user's ~/.gitconfig or the system config: repositories behave the same everywhere.
    env.update(GIT_CONFIG_NOSYSTEM="1", HOME=str(ENV.home), GIT_TERMINAL_PROMPT="0")
    return env


def repository_exists(project_id: int) -> bool:
    return (storage_path(project_id) / "HEAD").exists()


def _build_repository(project_id: int, make: Callable[[Path], None]) -> Path:
    """Create a repository with ``make(staging)`` beside its final place, configure it and rename it
    there: a crash never leaves a half-made repository in place. Idempotent: an existing one is kept."""
    path = storage_path(project_id)
    if (path / "HEAD").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex}")
    try:
        make(staging)
        for key, value in _REPOSITORY_CONFIG.items():
            _git("config", key, value if value is not None else str(ENV.hooks), cwd=staging)
        os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def init_repository(project_id: int, *, default_branch: str) -> Path:
    """Create an empty bare repository. Idempotent: an existing one is left as it is."""

    def make(staging: Path) -> None:
        _git("init", "--bare", "--quiet", f"--initial-branch={default_branch}", str(staging))

    return _build_repository(project_id, make)


def fork_repository(project_id: int, *, source_id: int, default_branch: str, branch: str | None = None) -> Path:
    """Create ``project_id``'s repository with the branches and tags of ``source_id``'s (only ``branch``
    when given), and HEAD on ``default_branch``.

    A local ``git clone --bare`` hard-links the source's object files instead of copying them, so a fork
    costs almost no disk or time. Unlike ``--shared`` (alternates), the fork depends on nothing of the
    source afterwards: git never rewrites an object file in place (repacks write new files and unlink the
    old), so deleting or repacking the source leaves the fork's links intact. Across filesystems git
    copies instead. Internal refs (``refs/merge-requests``, ``refs/pipelines``) are not cloned.
    """

    def make(staging: Path) -> None:
        _git("clone", "--bare", "--local", "--quiet", "--no-tags", str(storage_path(source_id)), str(staging))
        _git("config", "--remove-section", "remote.origin", cwd=staging)
        _git(
            "fetch",
            "--quiet",
            "--no-write-fetch-head",
            str(storage_path(source_id)),
            "+refs/tags/*:refs/tags/*",
            cwd=staging,
        )
        if branch is not None:
            for ref in _git("for-each-ref", "--format=%(refname)", "refs/heads/", cwd=staging).split():
                if ref != f"refs/heads/{branch}":
                    _git("update-ref", "-d", ref, cwd=staging)
        _git("symbolic-ref", "HEAD", f"refs/heads/{default_branch}", cwd=staging)

    return _build_repository(project_id, make)


def has_commit(project_id: int, sha: str) -> bool:
    result = subprocess.run(
        ["git", "cat-file", "-e", f"{sha}^{{commit}}"],
        cwd=storage_path(project_id),
        capture_output=True,
        check=False,
        env=_base_env(),
    )
    return result.returncode == 0


def fetch_commit(project_id: int, *, from_project_id: int, sha: str, ref: str | None = None) -> None:
    """Bring commit ``sha`` and its history from another repository (a fork) into ``project_id``'s, and
    point ``ref`` at it when given so it stays reachable. Nothing is fetched when the commit is already here."""
    path = storage_path(project_id)
    if not has_commit(project_id, sha):
        # By object id, not by branch name: the caller read ``sha`` and decided on it; a branch that
        # moved meanwhile must not change what lands here.
        _git(
            "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(storage_path(from_project_id)), sha, cwd=path
        )
    if ref is not None:
        _git("update-ref", ref, sha, cwd=path)


def remove_repository(project_id: int) -> None:
    """Remove a repository: renamed away first (atomic), then deleted."""
    path = storage_path(project_id)
    if not path.exists():
        return
    trash = ENV.repositories / "+deleted" / f"{path.name}-{uuid.uuid4().hex}"
    trash.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def install_hooks() -> None:
    """Write the server-side hooks every repository points at (``core.hooksPath``)."""
    source = Path(__file__).with_name("hook.py").read_text()
    ENV.hooks.mkdir(parents=True, exist_ok=True)
    for name in ("pre-receive", "post-receive"):
        target = ENV.hooks / name
        text = f"#!{sys.executable} -IS\n{source}"  # standard library only: skip site and the environment
        if target.exists() and target.read_text() == text:
            continue
        staging = target.with_suffix(".tmp")
        staging.write_text(text)
        staging.chmod(0o755)
        os.replace(staging, target)


def is_ancestor(project_id: int, ancestor: str, descendant: str) -> bool:
    path = storage_path(project_id)
    result = subprocess.run(
        ["git", "merge-base", "--is-ancestor", ancestor, descendant],
        cwd=path,
        capture_output=True,
        check=False,
        env=_base_env(),
    )
    return result.returncode == 0


def _brought_by(old: str, new: str, *, ref: str) -> list[str]:
    """rev-list arguments for the commits a ref update brought: ``old..new``, or for a new ref the
    commits no other ref had. Internal refs (``refs/pipelines/*``, kept for runners) must not hide them.
    """
    if old != ZERO_SHA:
        return [f"{old}..{new}"]
    # --glob, not --all: --all includes HEAD, which on a first push already names the new branch.
    return [
        new,
        "--not",
        f"--exclude={ref}",
        "--exclude=refs/pipelines/*",
        "--exclude=refs/merge-requests/*",
        "--exclude=refs/keep-around/*",
        "--glob=refs/*",
    ]


def commit_count(project_id: int, old: str, new: str, *, ref: str) -> int:
    """Commits a ref update brought: ``old..new``, or for a new ref the commits no other ref had."""
    spec = _brought_by(old, new, ref=ref)
    return int(_git("rev-list", "--count", *spec, cwd=storage_path(project_id)).strip() or 0)


def commit_title(project_id: int, sha: str) -> str:
    return _git("log", "-1", "--format=%s", sha, cwd=storage_path(project_id), check=False).strip()


def ref_exists(project_id: int, ref: str) -> bool:
    result = subprocess.run(
        ["git", "show-ref", "--verify", "--quiet", ref],
        cwd=storage_path(project_id),
        check=False,
        env=_base_env(),
    )
    return result.returncode == 0


def default_branch_of(project_id: int) -> str | None:
    """The branch HEAD points at, if that branch exists."""
    path = storage_path(project_id)
    head = _git("symbolic-ref", "--quiet", "HEAD", cwd=path, check=False).strip()
    if head.startswith("refs/heads/") and ref_exists(project_id, head):
        return head.removeprefix("refs/heads/")
    return None


def set_default_branch(project_id: int, branch: str) -> None:
    _git("symbolic-ref", "HEAD", f"refs/heads/{branch}", cwd=storage_path(project_id))


def housekeeping(project_id: int) -> None:
    """Keep a repository cheap to serve: geometric repacking with a multi-pack index and its bitmap
    (so pack-objects can reuse deltas instead of counting objects), loose objects packed, and a
    commit-graph for fast history walks. Safe beside running fetches and pushes (git's own locking)."""
    path = storage_path(project_id)
    if not (path / "HEAD").exists():
        return
    _git("repack", "-d", "--quiet", "--geometric=2", "--write-midx", "--write-bitmap-index", cwd=path)
    _git("prune-packed", cwd=path)
    _git("commit-graph", "write", "--reachable", "--split", "--changed-paths", cwd=path)


def commit_messages(project_id: int, old: str, new: str, *, ref: str, limit: int = 1000) -> list[tuple[str, str]]:
    """``(sha, full message)`` of the commits a ref update brought (``old..new``, or for a new ref those
    no other ref had), oldest first, at most ``limit``."""
    spec = _brought_by(old, new, ref=ref)
    out = _git("log", "--reverse", f"--max-count={limit}", "--format=%H%x00%B%x1e", *spec, cwd=storage_path(project_id))
    commits = []
    for record in out.split("\x1e"):
        sha, sep, message = record.strip("\n").partition("\x00")
        if sep and len(sha) == 40:
            commits.append((sha, message.strip()))
    return commits
