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


# --- commits and refs written through the API (files, commits, branches, tags) ---------------

ZERO_SHA = "0" * 40
_BLOB = pygit2.enums.FileMode.BLOB
_EXECUTABLE = pygit2.enums.FileMode.BLOB_EXECUTABLE


class CommitRefused(GitError):
    """The requested change cannot be made; ``str(exc)`` is GitLab's message for it."""


class RefRaced(GitError):
    """Someone moved the ref between reading it and writing it (compare-and-swap lost)."""


@dataclass(frozen=True)
class FileAction:
    """One change of a commit, as the commits API describes it."""

    action: str  # create | update | delete | move | chmod
    path: str
    previous_path: str | None = None
    content: bytes | None = None
    execute_filemode: bool | None = None
    last_commit_id: str | None = None


def _last_commit_for_path(project_id: int, sha: str, path: str) -> str:
    result = subprocess.run(
        ["git", "--literal-pathspecs", "log", "-1", "--format=%H", sha, "--", path],
        cwd=storage_path(project_id),
        capture_output=True,
        text=True,
        check=False,
        env=_base_env(),
    )
    return result.stdout.strip()


def _is_dir(index: pygit2.Index, path: str) -> bool:
    prefix = path + "/"
    return any(entry.path.startswith(prefix) for entry in index)


def _apply(project_id: int, repo: pygit2.Repository, index: pygit2.Index, start: str | None, act: FileAction) -> None:
    path = act.path
    if act.last_commit_id and start is not None and act.action in {"update", "delete", "move"}:
        checked = act.previous_path if act.action == "move" and act.previous_path else path
        last = _last_commit_for_path(project_id, start, checked)
        if last and not last.startswith(act.last_commit_id.lower()):
            raise CommitRefused("You are attempting to update a file that has changed since you started editing it.")
    existing = _entry(index, path)
    if act.action == "create":
        if existing is not None or any(p in index for p in _parents(path)):
            raise CommitRefused("A file with this name already exists")
        if _is_dir(index, path):
            raise CommitRefused("A directory with this name already exists")
        mode = _EXECUTABLE if act.execute_filemode else _BLOB
        index.add(pygit2.IndexEntry(path, repo.create_blob(act.content or b""), mode))
    elif act.action == "update":
        if existing is None:
            raise CommitRefused("A file with this name doesn't exist")
        mode = existing.mode if act.execute_filemode is None else (_EXECUTABLE if act.execute_filemode else _BLOB)
        index.add(pygit2.IndexEntry(path, repo.create_blob(act.content or b""), mode))
    elif act.action == "delete":
        if existing is None:
            raise CommitRefused("A file with this name doesn't exist")
        index.remove(path)
    elif act.action == "move":
        previous = act.previous_path or ""
        if previous not in index:
            raise CommitRefused("A file with this name doesn't exist")
        if existing is not None or _is_dir(index, path) or any(p in index for p in _parents(path)):
            raise CommitRefused("A file with this name already exists")
        old = index[previous]
        blob = repo.create_blob(act.content) if act.content is not None else old.id
        mode = old.mode if act.execute_filemode is None else (_EXECUTABLE if act.execute_filemode else _BLOB)
        index.remove(previous)
        index.add(pygit2.IndexEntry(path, blob, mode))
    elif act.action == "chmod":
        if existing is None:
            raise CommitRefused("A file with this name doesn't exist")
        index.add(pygit2.IndexEntry(path, existing.id, _EXECUTABLE if act.execute_filemode else _BLOB))
    else:
        raise CommitRefused(f"Unknown action '{act.action}'")


def _entry(index: pygit2.Index, path: str) -> pygit2.IndexEntry | None:
    try:
        return index[path]
    except KeyError:
        return None


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def commit_files(
    project_id: int,
    *,
    branch: str,
    old: str,
    start: str | None,
    actions: list[FileAction],
    message: str,
    author: Signature,
    committer: Signature,
) -> str:
    """Commit ``actions`` on top of commit ``start`` (None: a first commit) without a worktree, then move
    ``refs/heads/<branch>`` from ``old`` (``ZERO_SHA``: create it) to the new commit. Returns its id.

    Objects are written first and the ref moved last with compare-and-swap, so a failure or a lost race
    leaves only unreachable objects behind, never a half-written branch."""
    repo = pygit2.Repository(str(storage_path(project_id)))
    index = pygit2.Index()
    parents: list[pygit2.Oid] = []
    if start is not None:
        parent = repo.get(start)
        assert isinstance(parent, pygit2.Commit)
        index.read_tree(parent.tree)
        parents = [parent.id]
    for act in actions:
        _apply(project_id, repo, index, start, act)
    tree = index.write_tree(repo)
    oid = repo.create_commit(None, author.to_pygit2(), committer.to_pygit2(), message, tree, parents)
    try:
        update_ref(project_id, f"refs/heads/{branch}", str(oid), old)
    except GitError as exc:
        raise RefRaced("ref moved", exc.stderr) from exc
    return str(oid)


def create_tag_object(project_id: int, *, name: str, target: str, message: str, tagger: Signature) -> str:
    """Write an annotated tag object for commit ``target`` (the ref is the caller's to create)."""
    repo = pygit2.Repository(str(storage_path(project_id)))
    sig = tagger.to_pygit2()
    sign = "-" if sig.offset < 0 else "+"
    offset = f"{sign}{abs(sig.offset) // 60:02d}{abs(sig.offset) % 60:02d}"
    body = message if message.endswith("\n") else message + "\n"
    raw = (
        f"object {target}\ntype commit\ntag {name}\ntagger {sig.name} <{sig.email}> {sig.time} {offset}\n\n{body}"
    ).encode()
    return str(repo.odb.write(pygit2.enums.ObjectType.TAG, raw))


def valid_ref_name(ref: str) -> bool:
    result = subprocess.run(["git", "check-ref-format", ref], capture_output=True, check=False, env=_base_env())
    return result.returncode == 0


def delete_ref(project_id: int, ref: str, old: str) -> None:
    """Delete ``ref`` if it still points at ``old`` (compare-and-swap)."""
    result = subprocess.run(
        ["git", "update-ref", "-d", ref, old],
        cwd=storage_path(project_id),
        capture_output=True,
        text=True,
        check=False,
        env=_base_env(),
    )
    if result.returncode != 0:
        raise RefRaced("ref delete failed", result.stderr)
