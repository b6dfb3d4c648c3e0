"""Where repositories live on disk: GitLab's hashed storage layout.

``@hashed/ab/cd/<sha256 of the project id>.git``: the path depends on the id only, so renaming or
moving a project never moves a directory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def hashed_relative_path(project_id: int) -> str:
    digest = hashlib.sha256(str(project_id).encode()).hexdigest()
    return f"@hashed/{digest[:2]}/{digest[2:4]}/{digest}.git"


def repository_path(storage: Path, project_id: int) -> Path:
    return storage / hashed_relative_path(project_id)
