"""A large git repository with a realistic history, built offline and deterministically for bench/git.py.

No network (the benchmark machines reach package registries only) and no real history at hand, so the
history is synthetic but shaped like a real project's: the text sources already on the machine (the
project's virtualenv ``site-packages``, the interpreter's standard library and, when present,
``/usr/include``, Perl's and Vim's runtime files and global node modules) arrive over ``COMMITS``
commits, a few packages at a time, the way a monorepo grows, while every commit also edits, adds
lines to and deletes lines from about 3 % of the files already there (deltas for ``pack-objects`` to
find), and now and then deletes a file. Names, contents, authors and dates depend only on the files
read, so rebuilding on the same machine gives the same commits.

The result is a bare repository under ``.cache/bench-git/`` (keyed by a digest of the file listing and
``VERSION``), fully repacked (``git repack -adf``), so later runs reuse it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

VERSION = 1
COMMITS = 40
TEXT_SUFFIXES = frozenset(
    {".py", ".pyi", ".c", ".h", ".hpp", ".js", ".mjs", ".cjs", ".ts", ".css", ".html", ".txt", ".rst", ".md", ".json"}
    | {".po", ".pm", ".pl", ".pod", ".vim", ".xml"}
)
MAX_FILE = 512 * 1024
MAX_TOTAL = 300 * 1024 * 1024  # bytes of text read, at most
EDIT_PERCENT = 3
EPOCH = 1_600_000_000  # the first commit's date; one commit a day after it


@dataclass(frozen=True)
class Source:
    prefix: str  # directory in the repository
    root: Path


@dataclass(frozen=True)
class Built:
    path: Path
    commits: int
    files: int
    text_mb: float
    pack_mb: float
    seconds: float  # 0 when taken from the cache


def sources() -> list[Source]:
    found = [
        Source("vendor/site-packages", Path(sysconfig.get_paths()["purelib"])),
        Source("vendor/python-stdlib", Path(sysconfig.get_paths()["stdlib"])),
        Source("vendor/include", Path("/usr/include")),
        Source("vendor/perl", Path("/usr/share/perl")),
        Source("vendor/vim", Path("/usr/share/vim")),
        Source("vendor/node_modules", Path("/usr/lib/node_modules")),
    ]
    return [s for s in found if s.root.is_dir()]


def _files(source: Source) -> Iterator[tuple[str, Path, int]]:
    for dirpath, dirnames, filenames in os.walk(source.root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", "site-packages", ".git"))
        rel_dir = os.path.relpath(dirpath, source.root)
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if path.suffix not in TEXT_SUFFIXES or path.is_symlink():
                continue
            size = path.stat().st_size
            if 0 < size <= MAX_FILE:
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                yield f"{source.prefix}/{rel}", path, size


def listing() -> list[tuple[str, Path, int]]:
    """Every file the history will contain, in order, within ``MAX_TOTAL`` bytes."""
    out: list[tuple[str, Path, int]] = []
    total = 0
    for source in sources():
        for name, path, size in _files(source):
            if total + size > MAX_TOTAL:
                return out
            out.append((name, path, size))
            total += size
    return out


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big")


def _unit(name: str) -> str:
    """The 'package' a file belongs to: files of one unit arrive in the same commit."""
    parts = name.split("/")
    return "/".join(parts[:3]) if len(parts) > 3 else "/".join(parts[:-1])


def _edit(data: bytes, name: str, commit: int) -> bytes:
    """A deterministic edit of a few hunks: change a line, insert a few, delete one."""
    lines = data.split(b"\n")
    n = len(lines)
    for hunk in range(1 + _digest(name, commit) % 3):
        at = _digest(name, commit, hunk) % max(n, 1)
        kind = _digest(name, commit, hunk, "kind") % 3
        tag = f"bench edit {commit}.{hunk} {_digest(name, commit, hunk) % 1_000_000:06d}".encode()
        if kind == 0 and at < len(lines):
            lines[at] = lines[at] + b"  " + tag
        elif kind == 1:
            lines[at:at] = [tag, b"", tag[::-1]]
        elif len(lines) > 1:
            del lines[min(at, len(lines) - 1)]
    return b"\n".join(lines)


def _stream(files: list[tuple[str, Path, int]]) -> Iterator[bytes]:
    """The ``git fast-import`` stream of the whole history."""
    units = sorted({_unit(name) for name, _, _ in files})
    first = len(units) * 3 // 10  # an initial import of 30 %, then the rest over the other commits
    arrival = {
        u: 0 if i < first else 1 + (i - first) * (COMMITS - 1) // max(len(units) - first, 1)
        for i, u in enumerate(units)
    }
    by_commit: dict[int, list[tuple[str, Path]]] = {}
    for name, path, _ in files:
        by_commit.setdefault(arrival[_unit(name)], []).append((name, path))
    current: dict[str, Path | bytes] = {}  # the tree: a file still as on disk, or its edited content
    for commit in range(COMMITS):
        commands: list[bytes] = []
        edited = deleted = 0
        for name in sorted(current):
            roll = _digest(name, commit, "roll") % 1000
            if roll < 2:
                del current[name]
                commands.append(b"D " + name.encode() + b"\n")
                deleted += 1
            elif roll < 2 + EDIT_PERCENT * 10:
                value = current[name]
                data = _edit(value if isinstance(value, bytes) else value.read_bytes(), name, commit)
                current[name] = data
                edited += 1
                commands.append(_modify(name, data))
        added = by_commit.get(commit, [])
        for name, path in added:
            current[name] = path
            commands.append(_modify(name, path.read_bytes()))
        when = EPOCH + commit * 86_400 + _digest("time", commit) % 3600
        message = f"Version {commit + 1}: {len(added)} files added, {edited} edited, {deleted} deleted\n".encode()
        header = (
            b"commit refs/heads/main\n"
            + f"author Bench Author <author@bench.invalid> {when} +0000\n".encode()
            + f"committer Bench Committer <committer@bench.invalid> {when} +0000\n".encode()
            + f"data {len(message)}\n".encode()
            + message
        )
        yield header + b"".join(commands) + b"\n"
        if commit % 10 == 9:
            tag = f"tag v{commit // 10 + 1}.0\nfrom refs/heads/main\n"
            yield (tag + f"tagger Bench <tag@bench.invalid> {when} +0000\ndata 8\nrelease\n\n").encode()


def _modify(name: str, data: bytes) -> bytes:
    return b"M 100644 inline " + name.encode() + b"\n" + f"data {len(data)}\n".encode() + data + b"\n"


def _git(*args: str, cwd: Path, stdin: bytes | None = None) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}
    result = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace')[-2000:]}")
    return result.stdout.decode()


def pack_mb(repo: Path) -> float:
    return sum(p.stat().st_size for p in (repo / "objects" / "pack").glob("*.pack")) / 1e6


def build(cache: Path, *, log: bool = True) -> Built:
    """The cached repository for this machine's files, built first if needed."""
    files = listing()
    key = _digest(VERSION, COMMITS, EDIT_PERCENT, [(n, s) for n, _, s in files]) % (1 << 40)
    target = cache / f"history-{key:010x}.git"
    text_mb = sum(s for _, _, s in files) / 1e6
    if (target / "bench-complete").exists():
        return Built(target, COMMITS, len(files), text_mb, pack_mb(target), 0.0)
    started = time.monotonic()
    if log:
        print(f"building the benchmark repository ({len(files)} files, {text_mb:.0f} MB of text, {COMMITS} commits)")
        print(f"  into {target}; cached for later runs", flush=True)
    tmp = target.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _git("init", "--quiet", "--bare", "--initial-branch=main", ".", cwd=tmp)
    proc = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"], cwd=tmp, stdin=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdin is not None
    try:
        for block in _stream(files):
            proc.stdin.write(block)
        proc.stdin.write(b"done\n")
        proc.stdin.close()
    except BrokenPipeError:
        pass
    if proc.wait() != 0:
        assert proc.stderr is not None
        raise RuntimeError(f"git fast-import failed: {proc.stderr.read().decode(errors='replace')[-2000:]}")
    if log:
        print(f"  imported in {time.monotonic() - started:.0f}s; repacking (git repack -adf)", flush=True)
    _git("repack", "-a", "-d", "-f", "-q", "--window=10", "--depth=50", cwd=tmp)
    _git("prune-packed", cwd=tmp)
    (tmp / "bench-complete").write_text(f"{VERSION}\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    seconds = time.monotonic() - started
    built = Built(target, COMMITS, len(files), text_mb, pack_mb(target), seconds)
    if log:
        print(f"  done in {seconds:.0f}s: {built.pack_mb:.1f} MB packed", flush=True)
    return built


if __name__ == "__main__":
    here = Path(__file__).resolve().parent.parent
    result = build(here / ".cache" / "bench-git")
    print(result)
    sys.exit(0)
