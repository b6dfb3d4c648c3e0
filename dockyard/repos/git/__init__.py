"""The git module: the ONLY place in Dockyard that runs git or touches a repository.

Reads use pygit2 (libgit2) in-process; transport (``upload-pack``/``receive-pack``), merges and
maintenance use the ``git`` CLI, as GitLab's Gitaly and Gitea do. This package is the seam where a
storage service goes when repositories are sharded across hosts: callers pass project ids, never paths.
"""

from dockyard.repos.git.admin import (
    GitError,
    commit_count,
    commit_title,
    default_branch_of,
    fetch_commit,
    fork_repository,
    has_commit,
    housekeeping,
    init_repository,
    install_hooks,
    is_ancestor,
    ref_exists,
    remove_repository,
    repository_exists,
    set_default_branch,
    storage_path,
)
from dockyard.repos.git.transport import SERVICES, advertise_refs, stateless_rpc

__all__ = [
    "SERVICES",
    "GitError",
    "advertise_refs",
    "commit_count",
    "commit_title",
    "default_branch_of",
    "fetch_commit",
    "fork_repository",
    "has_commit",
    "housekeeping",
    "init_repository",
    "install_hooks",
    "is_ancestor",
    "ref_exists",
    "remove_repository",
    "repository_exists",
    "set_default_branch",
    "stateless_rpc",
    "storage_path",
]
