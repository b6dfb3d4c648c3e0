"""Reading a repository: refs, trees, blobs, commits, diffs, blame (pygit2), history walks (git CLI).

Callers open a :class:`Repository` once per request and ask it everything; it returns plain dataclasses,
never pygit2 objects, so nothing outside this package depends on libgit2. History queries that filter by
path or date (commit lists, a file's last commit, contributors) run ``git`` itself: its commit-graph with
changed-path Bloom filters (written by housekeeping) answers them far faster than a walk in libgit2.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

import pygit2
from pygit2.enums import DiffFind, SortMode

from dockyard.repos.git.admin import GitError, _base_env, storage_path

_HEX = re.compile(r"^[0-9a-fA-F]{4,40}$")


@dataclass(frozen=True)
class CommitInfo:
    id: str
    parent_ids: list[str]
    message: str
    author_name: str
    author_email: str
    authored_date: dt.datetime
    committer_name: str
    committer_email: str
    committed_date: dt.datetime

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @property
    def title(self) -> str:
        return self.message.split("\n", 1)[0].strip()


@dataclass(frozen=True)
class TreeEntry:
    id: str
    name: str
    type: str  # tree | blob | commit
    path: str
    mode: str  # six octal digits, as GitLab shows them: 100644, 040000


@dataclass(frozen=True)
class FileBlob:
    name: str
    path: str
    id: str
    size: int
    executable: bool
    data: bytes


@dataclass(frozen=True)
class DiffEntry:
    diff: str
    new_path: str
    old_path: str
    a_mode: str
    b_mode: str
    new_file: bool
    renamed_file: bool
    deleted_file: bool


@dataclass(frozen=True)
class DiffStats:
    additions: int
    deletions: int

    @property
    def total(self) -> int:
        return self.additions + self.deletions


@dataclass(frozen=True)
class RefInfo:
    name: str
    commit: CommitInfo
    target: str = ""  # tags: the tag object (annotated) or the commit (lightweight)
    message: str = ""
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class BlameRange:
    commit: CommitInfo
    lines: list[str]


@dataclass
class Contributor:
    name: str
    email: str
    commits: int = 0
    additions: int = 0
    deletions: int = 0


@dataclass(frozen=True)
class Comparison:
    commits: list[CommitInfo]  # oldest first, as GitLab lists them
    diffs: list[DiffEntry]
    same: bool


@dataclass
class LogPage:
    commits: list[CommitInfo] = field(default_factory=list)
    total: int = 0


def _when(time: int, offset: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(time, dt.timezone(dt.timedelta(minutes=offset)))


def _commit_info(commit: pygit2.Commit) -> CommitInfo:
    author, committer = commit.author, commit.committer
    return CommitInfo(
        id=str(commit.id),
        parent_ids=[str(p) for p in commit.parent_ids],
        message=commit.message,
        author_name=author.name,
        author_email=author.email,
        authored_date=_when(author.time, author.offset),
        committer_name=committer.name,
        committer_email=committer.email,
        committed_date=_when(committer.time, committer.offset),
    )


def _mode(filemode: int) -> str:
    return f"{filemode:06o}"


class Repository:
    """One repository, opened once per request."""

    def __init__(self, project_id: int) -> None:
        self.project_id = project_id
        self.path = storage_path(project_id)
        try:
            self._repo = pygit2.Repository(str(self.path))
        except pygit2.GitError as exc:
            raise GitError("repository not found") from exc

    # --- plumbing -------------------------------------------------------------------------

    def _git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=self.path, capture_output=True, text=True, check=False, env=_base_env()
        )
        if result.returncode != 0:
            raise GitError(f"git {args[0]} failed", result.stderr)
        return result.stdout

    def _get_commit(self, oid: pygit2.Oid | str) -> pygit2.Commit:
        obj = self._repo.get(oid)
        if not isinstance(obj, pygit2.Commit):
            raise GitError(f"{oid} is not a commit")
        return obj

    def _peel_commit(self, obj: object) -> pygit2.Commit | None:
        if not isinstance(obj, pygit2.Object):
            return None
        try:
            peeled = obj.peel(pygit2.Commit)
        except (pygit2.GitError, ValueError, KeyError):
            return None
        return peeled if isinstance(peeled, pygit2.Commit) else None

    def _commit(self, ref: str | None) -> pygit2.Commit | None:
        """A branch, tag, commit id (full or abbreviated) or revision expression, peeled to a commit."""
        if not ref or ref.startswith("-") or "\x00" in ref:
            return None
        for full in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref if ref.startswith("refs/") else None):
            if full is None:
                continue
            try:
                reference = self._repo.references.get(full)
            except (pygit2.InvalidSpecError, ValueError):
                reference = None
            if reference is not None:
                return self._peel_commit(reference.peel())
        try:
            obj = self._repo.revparse_single(ref)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            return None
        return self._peel_commit(obj)

    # --- refs -----------------------------------------------------------------------------

    @property
    def empty(self) -> bool:
        return self._repo.is_empty

    def default_branch(self) -> str | None:
        head = self._repo.references.get("HEAD")
        if head is None:
            return None
        target = head.target
        name = target if isinstance(target, str) else None
        if name and name.startswith("refs/heads/") and self._repo.references.get(name) is not None:
            return name.removeprefix("refs/heads/")
        return None

    def resolve(self, ref: str | None) -> str | None:
        """The commit id ``ref`` names, if any."""
        commit = self._commit(ref)
        return str(commit.id) if commit is not None else None

    def ref_target(self, full_ref: str) -> str | None:
        """The object id a ref points at (not peeled), if the ref exists."""
        reference = self._repo.references.get(full_ref)
        return str(reference.target) if reference is not None else None

    def commit(self, ref: str | None) -> CommitInfo | None:
        commit = self._commit(ref)
        return _commit_info(commit) if commit is not None else None

    def commits(self, ids: list[str]) -> list[CommitInfo]:
        return [_commit_info(self._get_commit(i)) for i in ids]

    def branches(self) -> list[RefInfo]:
        out = []
        for name in sorted(self._repo.listall_references()):
            if not name.startswith("refs/heads/"):
                continue
            commit = self._peel_commit(self._repo.references[name].peel())
            if commit is not None:
                out.append(RefInfo(name=name.removeprefix("refs/heads/"), commit=_commit_info(commit)))
        return out

    def branch(self, name: str) -> RefInfo | None:
        reference = self._repo.references.get(f"refs/heads/{name}")
        commit = self._peel_commit(reference.peel()) if reference is not None else None
        return RefInfo(name=name, commit=_commit_info(commit)) if commit is not None else None

    def merged_into(self, names: list[str], into: str | None) -> set[str]:
        """Which of the branches ``names`` are merged into the branch ``into`` (their tips are its ancestors)."""
        target = self._commit(f"refs/heads/{into}") if into else None
        if target is None:
            return set()
        merged = set()
        for name in names:
            tip = self._commit(f"refs/heads/{name}")
            if tip is None or name == into:
                continue
            if tip.id == target.id or self._repo.descendant_of(target.id, tip.id):
                merged.add(name)
        return merged

    def _tag(self, full: str) -> RefInfo | None:
        reference = self._repo.references.get(full)
        if reference is None:
            return None
        obj = self._repo.get(reference.target)
        commit = self._peel_commit(obj)
        if commit is None:
            return None
        message, created = "", None
        if isinstance(obj, pygit2.Tag):
            message = obj.message.rstrip("\n")
            if obj.tagger is not None:
                created = _when(obj.tagger.time, obj.tagger.offset)
        return RefInfo(
            name=full.removeprefix("refs/tags/"),
            commit=_commit_info(commit),
            target=str(reference.target),
            message=message,
            created_at=created,
        )

    def tags(self) -> list[RefInfo]:
        names = [n for n in self._repo.listall_references() if n.startswith("refs/tags/")]
        return [t for t in (self._tag(n) for n in names) if t is not None]

    def tag(self, name: str) -> RefInfo | None:
        return self._tag(f"refs/tags/{name}")

    def ref_names(self) -> tuple[list[str], list[str]]:
        """(branch names, tag names), sorted, without reading the commits they point at."""
        heads, tags = [], []
        for name in sorted(self._repo.listall_references()):
            if name.startswith("refs/heads/"):
                heads.append(name.removeprefix("refs/heads/"))
            elif name.startswith("refs/tags/"):
                tags.append(name.removeprefix("refs/tags/"))
        return heads, tags

    def refs_containing(self, sha: str, *, branches: bool, tags: bool) -> list[tuple[str, str]]:
        """(type, name) of every branch and/or tag whose history contains commit ``sha``."""
        patterns = [p for p, on in (("refs/heads/", branches), ("refs/tags/", tags)) if on]
        if not patterns:
            return []
        out = []
        for line in self._git("for-each-ref", f"--contains={sha}", "--format=%(refname)", *patterns).splitlines():
            if line.startswith("refs/heads/"):
                out.append(("branch", line.removeprefix("refs/heads/")))
            elif line.startswith("refs/tags/"):
                out.append(("tag", line.removeprefix("refs/tags/")))
        return out

    # --- trees and blobs ------------------------------------------------------------------

    def _object_at(self, commit: pygit2.Commit, path: str) -> pygit2.Object | None:
        path = path.strip("/")
        if not path:
            return commit.tree
        try:
            entry = commit.tree[path]
        except (KeyError, ValueError):
            return None
        return self._repo.get(entry.id) if entry.type_str != "commit" else None

    def tree(self, ref: str, path: str, *, recursive: bool) -> list[TreeEntry] | None:
        """Entries of the directory ``path`` at ``ref``; None when the ref or the directory is missing."""
        commit = self._commit(ref)
        if commit is None:
            return None
        tree = self._object_at(commit, path)
        if not isinstance(tree, pygit2.Tree):
            return None
        prefix = path.strip("/")
        entries = list(self._walk(tree, prefix, recursive))
        # GitLab lists directories first, then files, each group in git's (byte) order.
        order = {"tree": 0, "blob": 1, "commit": 2}
        entries.sort(key=lambda e: order.get(e.type, 3))
        return entries

    def _walk(self, tree: pygit2.Tree, prefix: str, recursive: bool) -> Iterator[TreeEntry]:
        for entry in tree:
            name = entry.name or ""
            path = f"{prefix}/{name}" if prefix else name
            yield TreeEntry(id=str(entry.id), name=name, type=entry.type_str, path=path, mode=_mode(entry.filemode))
            if recursive and entry.type_str == "tree":
                sub = self._repo.get(entry.id)
                if isinstance(sub, pygit2.Tree):
                    yield from self._walk(sub, path, recursive)

    def file(self, ref: str | None, path: str) -> tuple[FileBlob, str] | None:
        """The file ``path`` at ``ref`` and the id of the commit ``ref`` resolved to."""
        commit = self._commit(ref)
        if commit is None:
            return None
        path = path.strip("/")
        try:
            entry = commit.tree[path]
        except (KeyError, ValueError):
            return None
        if entry.type_str != "blob":
            return None
        blob = self._repo.get(entry.id)
        assert isinstance(blob, pygit2.Blob)
        return (
            FileBlob(
                name=path.rsplit("/", 1)[-1],
                path=path,
                id=str(entry.id),
                size=blob.size,
                executable=entry.filemode == pygit2.enums.FileMode.BLOB_EXECUTABLE,
                data=blob.data,
            ),
            str(commit.id),
        )

    def blob(self, sha: str) -> bytes | None:
        if not _HEX.match(sha):
            return None
        try:
            obj = self._repo.get(sha) if len(sha) == 40 else self._repo.revparse_single(sha)
        except (KeyError, ValueError, pygit2.GitError):
            return None
        return obj.data if isinstance(obj, pygit2.Blob) else None

    def last_commit_for_path(self, sha: str, path: str) -> str | None:
        out = self._git("--literal-pathspecs", "log", "-1", "--format=%H", sha, "--", path.strip("/")).strip()
        return out or None

    def last_commits_for_entries(
        self, sha: str, path: str, names: list[str], *, max_commits: int = 5000
    ) -> dict[str, CommitInfo]:
        """The last commit that touched each entry ``names`` of the directory ``path`` at ``sha``.

        One ``git log --name-only`` over the directory's history, read as it streams and stopped as soon
        as every entry is accounted for, instead of one ``git log -1`` per entry. ``max_commits`` bounds
        the walk for huge histories; entries not seen by then are left out.
        """
        prefix = path.strip("/")
        wanted = set(names)
        found: dict[str, str] = {}
        args = ["git", "-c", "core.quotePath=false", "--literal-pathspecs", "log", "--format=%x00%H"]
        args += ["--name-only", "--no-renames", f"--max-count={max_commits}", sha]
        args += ["--", prefix] if prefix else []
        with subprocess.Popen(
            args, cwd=self.path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_base_env()
        ) as proc:
            assert proc.stdout is not None
            current = None
            for raw in proc.stdout:
                line = raw.rstrip(b"\n").decode("utf-8", errors="replace")
                if line.startswith("\x00"):
                    current = line[1:]
                    continue
                if not line or current is None:
                    continue
                name = (line[len(prefix) + 1 :] if prefix else line).split("/", 1)[0]
                if name in wanted and name not in found:
                    found[name] = current
                    if len(found) == len(wanted):
                        break
            proc.kill()
        infos = {commit_id: _commit_info(self._get_commit(commit_id)) for commit_id in set(found.values())}
        return {name: infos[commit_id] for name, commit_id in found.items()}

    def blame(self, ref: str, path: str, *, start: int | None = None, end: int | None = None) -> list[BlameRange]:
        found = self.file(ref, path)
        if found is None:
            return []
        blob, commit_id = found
        lines = blob.data.decode("utf-8", errors="replace").splitlines()
        blame = self._repo.blame(
            blob.path,
            newest_commit=commit_id,
            min_line=start or 0,
            max_line=min(end, max(len(lines), 1)) if end is not None else 0,
        )
        ranges: list[BlameRange] = []
        cache: dict[str, CommitInfo] = {}
        for hunk in blame:
            sha = str(hunk.final_commit_id)
            first = hunk.final_start_line_number
            chunk = lines[first - 1 : first - 1 + hunk.lines_in_hunk]
            if ranges and ranges[-1].commit.id == sha:
                ranges[-1].lines.extend(chunk)
                continue
            if sha not in cache:
                cache[sha] = _commit_info(self._get_commit(sha))
            ranges.append(BlameRange(commit=cache[sha], lines=list(chunk)))
        return ranges

    # --- history --------------------------------------------------------------------------

    def log(
        self,
        ref: str | None,
        *,
        path: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        all_refs: bool = False,
        offset: int = 0,
        limit: int = 20,
    ) -> LogPage:
        """A page of history (newest first) and how many commits the whole history has."""
        spec: list[str]
        if all_refs:
            spec = ["--branches", "--tags"]
        else:
            sha = self.resolve(ref)
            if sha is None:
                return LogPage()
            spec = [sha]
        # Epoch seconds: git's date parser rejects far-future ISO dates but not ``@<seconds>``.
        filters = [f"--since=@{int(since.timestamp())}"] if since else []
        filters += [f"--until=@{int(until.timestamp())}"] if until else []
        tail = ["--", path.strip("/")] if path else []
        base = ["--literal-pathspecs", "rev-list", *filters, *spec]
        ids = self._git(*base, f"--skip={offset}", f"--max-count={limit}", *tail).split()
        total = int(self._git(*base, "--count", *tail).strip() or 0)
        return LogPage(commits=self.commits(ids), total=total)

    def _diff(self, old: pygit2.Commit | None, new: pygit2.Commit) -> pygit2.Diff:
        diff = new.tree.diff_to_tree(swap=True) if old is None else old.tree.diff_to_tree(new.tree)
        diff.find_similar(DiffFind.FIND_RENAMES)
        return diff

    @staticmethod
    def _entries(diff: pygit2.Diff) -> list[DiffEntry]:
        out = []
        for patch in diff:
            if patch is None:
                continue
            delta = patch.delta
            text = patch.data.decode("utf-8", errors="replace")
            hunks = text.find("\n@@")
            if text.startswith("@@"):
                body = text
            elif hunks >= 0:
                body = text[hunks + 1 :]
            else:
                body = ""
            out.append(
                DiffEntry(
                    diff=body,
                    new_path=delta.new_file.path,
                    old_path=delta.old_file.path,
                    a_mode=f"{delta.old_file.mode:o}",
                    b_mode=f"{delta.new_file.mode:o}",
                    new_file=delta.status_char() == "A",
                    renamed_file=delta.status_char() == "R",
                    deleted_file=delta.status_char() == "D",
                )
            )
        return out

    def commit_diff(self, ref: str) -> list[DiffEntry] | None:
        commit = self._commit(ref)
        if commit is None:
            return None
        parent = commit.parents[0] if commit.parents else None
        return self._entries(self._diff(parent, commit))

    def commit_stats(self, sha: str) -> DiffStats:
        commit = self._commit(sha)
        if commit is None:
            return DiffStats(0, 0)
        stats = self._diff(commit.parents[0] if commit.parents else None, commit).stats
        return DiffStats(additions=stats.insertions, deletions=stats.deletions)

    def compare(self, base: str, head: str, *, straight: bool) -> Comparison | None:
        old, new = self._commit(base), self._commit(head)
        if old is None or new is None:
            return None
        walker = self._repo.walk(new.id, SortMode.TOPOLOGICAL | SortMode.TIME)
        walker.hide(old.id)
        commits = [_commit_info(c) for c in walker]
        commits.reverse()
        start: pygit2.Commit | None = old
        if not straight:
            merge_base = self._repo.merge_base(old.id, new.id)
            start = self._get_commit(merge_base) if merge_base is not None else None
        diffs = self._entries(self._diff(start, new)) if start is None or start.id != new.id else []
        return Comparison(commits=commits, diffs=diffs, same=old.id == new.id)

    def merge_base(self, shas: list[str]) -> CommitInfo | None:
        oids: list[str | pygit2.Oid] = [pygit2.Oid(hex=s) for s in shas]
        base = self._repo.merge_base_many(oids) if len(oids) > 2 else self._repo.merge_base(oids[0], oids[1])
        return _commit_info(self._get_commit(base)) if base is not None else None

    def contributors(self, ref: str | None) -> list[Contributor] | None:
        """Authors of the history of ``ref`` (merges left out), with their line counts, in order of appearance."""
        sha = self.resolve(ref)
        if sha is None:
            return None
        by_email: dict[str, Contributor] = {}
        current: Contributor | None = None
        out = self._git("log", "--no-merges", "--numstat", "--format=%x00%aN%x00%aE", sha)
        for line in out.splitlines():
            if line.startswith("\x00"):
                _, name, email = line.split("\x00", 2)
                current = by_email.setdefault(email.lower(), Contributor(name=name, email=email))
                current.commits += 1
            elif line and current is not None:
                added, deleted, _ = line.split("\t", 2)
                current.additions += int(added) if added.isdigit() else 0
                current.deletions += int(deleted) if deleted.isdigit() else 0
        return list(by_email.values())


# --- CI: what a pipeline's rules look at (``rules:changes``, ``rules:exists``) ------------------------


def changed_paths(project_id: int, old: str, new: str) -> list[str] | None:
    """Every path added, changed or removed between commits ``old`` and ``new`` (both sides of a rename);
    None when either commit is missing."""
    repo = Repository(project_id)
    before, after = repo._commit(old), repo._commit(new)
    if before is None or after is None:
        return None
    paths: set[str] = set()
    for delta in before.tree.diff_to_tree(after.tree).deltas:
        paths.update(p for p in (delta.old_file.path, delta.new_file.path) if p)
    return sorted(paths)


def file_paths(project_id: int, ref: str) -> list[str] | None:
    """The path of every file (not directory) at ``ref``; None when the ref is missing."""
    repo = Repository(project_id)
    entries = repo.tree(ref, "", recursive=True)
    if entries is None:
        return None
    return [e.path for e in entries if e.type == "blob"]
