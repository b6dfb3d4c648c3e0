"""Server-side merges without a worktree: merge commits, squashes and rebases for merge requests.

``git merge-tree --write-tree`` computes a three-way merge into a tree object (no index, no checkout);
rebases replay each commit with libgit2's in-memory ``merge_trees``. Every result is written as objects
first; moving a ref is the caller's compare-and-swap (``write.update_ref``), so a lost race or a conflict
leaves only unreachable objects behind.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

import pygit2

from dockyard.repos.git.admin import GitError, _base_env, storage_path
from dockyard.repos.git.write import Signature


@dataclass(frozen=True)
class MergeResult:
    tree: str | None  # None when the merge conflicts
    conflicts: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.tree is not None


def merge_tree(project_id: int, ours: str, theirs: str) -> MergeResult:
    """The tree of merging ``theirs`` into ``ours`` (their merge base found by git), or the conflicting paths."""
    result = subprocess.run(
        ["git", "merge-tree", "--write-tree", "--name-only", "--no-messages", ours, theirs],
        cwd=storage_path(project_id),
        capture_output=True,
        text=True,
        check=False,
        env=_base_env(),
    )
    lines = result.stdout.splitlines()
    if result.returncode == 0 and lines:
        return MergeResult(tree=lines[0].strip())
    if result.returncode == 1 and lines:
        return MergeResult(tree=None, conflicts=[line for line in lines[1:] if line.strip()])
    raise GitError("merge-tree failed", result.stderr)


def commit_tree(
    project_id: int, *, tree: str, parents: list[str], message: str, author: Signature, committer: Signature
) -> str:
    """Write a commit object for ``tree`` (no ref moves)."""
    repo = pygit2.Repository(str(storage_path(project_id)))
    oid = repo.create_commit(
        None,
        author.to_pygit2(),
        committer.to_pygit2(),
        message,
        pygit2.Oid(hex=tree),
        [pygit2.Oid(hex=p) for p in parents],
    )
    return str(oid)


def tree_of(project_id: int, sha: str) -> str:
    repo = pygit2.Repository(str(storage_path(project_id)))
    commit = repo.get(sha)
    if not isinstance(commit, pygit2.Commit):
        raise GitError(f"not a commit: {sha}")
    return str(commit.tree_id)


def rebase(project_id: int, *, onto: str, upstream: str, head: str, committer: Signature) -> str | None:
    """Replay the commits ``upstream..head`` (oldest first, merges skipped as ``git rebase`` does) on top of
    ``onto``, keeping each commit's author and message. Returns the new head, or None on a conflict."""
    repo = pygit2.Repository(str(storage_path(project_id)))
    walker = repo.walk(pygit2.Oid(hex=head), pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    walker.hide(pygit2.Oid(hex=upstream))
    current = repo.get(onto)
    assert isinstance(current, pygit2.Commit)
    sig = committer.to_pygit2()
    for commit in walker:
        if len(commit.parents) > 1:
            continue
        base_tree = commit.parents[0].tree if commit.parents else repo.get(repo.TreeBuilder().write())
        index = repo.merge_trees(base_tree, current.tree, commit.tree)
        if index.conflicts is not None:
            return None
        tree = index.write_tree(repo)
        if tree == current.tree_id:
            continue  # already applied upstream
        oid = repo.create_commit(None, commit.author, sig, commit.message, tree, [current.id])
        current = repo.get(oid)
        assert isinstance(current, pygit2.Commit)
    return str(current.id)
