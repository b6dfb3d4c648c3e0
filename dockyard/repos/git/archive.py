"""``git archive`` streamed: memory stays bounded by one chunk whatever the size of the repository."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

from dockyard.repos.git.admin import _base_env, storage_path

CHUNK = 64 * 1024
# The formats GitLab serves and how git writes each (tar.bz2 needs a filter git does not ship).
FORMATS: dict[str, list[str]] = {
    "tar.gz": ["--format=tar.gz"],
    "tgz": ["--format=tgz"],
    "gz": ["--format=tar.gz"],
    "tar.bz2": ["-c", "tar.tar.bz2.command=bzip2 -c", "--format=tar.bz2"],
    "tbz": ["-c", "tar.tbz.command=bzip2 -c", "--format=tbz"],
    "tbz2": ["-c", "tar.tbz2.command=bzip2 -c", "--format=tbz2"],
    "tb2": ["-c", "tar.tb2.command=bzip2 -c", "--format=tb2"],
    "bz2": ["-c", "tar.bz2.command=bzip2 -c", "--format=bz2"],
    "tar": ["--format=tar"],
    "zip": ["--format=zip"],
}


def archive_stream(project_id: int, *, sha: str, fmt: str, prefix: str, path: str | None = None) -> Iterator[bytes]:
    """Yield the archive of commit ``sha`` (a full id the caller resolved) as git writes it.

    The process is killed if the consumer stops early (a client that went away)."""
    options = FORMATS[fmt]
    config = [o for i, o in enumerate(options) if o == "-c" or (i > 0 and options[i - 1] == "-c")]
    formats = [o for o in options if o not in config]
    args = ["git", *config, "archive", *formats, f"--prefix={prefix.rstrip('/')}/", sha]
    if path:
        args += ["--", path.strip("/")]
    proc = subprocess.Popen(
        args, cwd=storage_path(project_id), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_base_env()
    )
    assert proc.stdout is not None
    try:
        while chunk := proc.stdout.read(CHUNK):
            yield chunk
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        proc.stdout.close()
        proc.wait()
