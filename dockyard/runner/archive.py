"""Artifact and cache archives: collecting paths, writing zips, and extracting them safely.

Extraction refuses entries that would land outside the target directory: absolute names, ``..``
components, writing through a symlink (placed by the archive or already on disk), and symlinks whose
target leaves the directory. Only regular files, directories and (checked) symlinks are written; modes
keep their permission bits, never setuid/setgid.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath


class UnsafeArchive(Exception):
    pass


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _check_pattern(pattern: str) -> str | None:
    pattern = pattern.strip()
    if not pattern or pattern.startswith("/") or ".." in PurePosixPath(pattern).parts:
        return None
    return pattern.rstrip("/") or None


def collect(root: Path, paths: Iterable[str], exclude: Iterable[str] = (), extra: Iterable[str] = ()) -> list[str]:
    """Relative names (files, directories' contents, symlinks) under ``root`` matching the globs.

    Never leaves ``root``: a match whose parent directory resolves outside it is skipped, and symlinks
    are recorded as links, not followed."""
    real_root = os.path.realpath(root)
    found: set[str] = set()

    def add(path: Path) -> None:
        try:
            parent = os.path.realpath(path.parent)
        except OSError:
            return
        if not _inside(parent, real_root):
            return
        rel = os.path.relpath(os.path.join(parent, path.name), real_root)
        if rel.startswith(".."):
            return
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode) or stat.S_ISREG(mode):
            found.add(rel)
        elif stat.S_ISDIR(mode):
            for dirpath, dirnames, filenames in os.walk(path):
                for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                    child = Path(dirpath) / name
                    child_mode = child.lstat().st_mode
                    if stat.S_ISREG(child_mode) or stat.S_ISLNK(child_mode):
                        found.add(os.path.relpath(child, real_root))

    for raw in paths:
        pattern = _check_pattern(raw)
        if pattern is None:
            continue
        for match in sorted(Path(real_root).glob(pattern)):
            add(match)
    for rel in extra:
        candidate = Path(real_root) / rel
        if candidate.is_symlink() or candidate.exists():
            add(candidate)
    excluded = [p for p in (_check_pattern(e) for e in exclude) if p]

    def is_excluded(name: str) -> bool:
        return any(
            fnmatch.fnmatch(name, pat) or fnmatch.fnmatch(name, pat + "/*") or PurePosixPath(name).match(pat)
            for pat in excluded
        )

    return sorted(name for name in found if not is_excluded(name))


def write_zip(root: Path, names: Iterable[str], dest: Path) -> int:
    """Zip ``names`` (relative to ``root``); symlinks are stored as links. Returns the entry count."""
    count = 0
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name in names:
            path = root / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as src:
                    info = zipfile.ZipInfo.from_file(path, name)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    with zf.open(info, "w") as out:
                        while chunk := src.read(1024 * 1024):
                            out.write(chunk)
            else:
                continue
            count += 1
    return count


def _target(dest_real: str, name: str) -> str:
    if not name or name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"refusing absolute path {name!r}")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if not parts or ".." in parts:
        raise UnsafeArchive(f"refusing path outside the directory: {name!r}")
    return os.path.join(dest_real, *parts)


def _ensure_parent(dest_real: str, target: str) -> None:
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    if not _inside(os.path.realpath(parent), dest_real):
        raise UnsafeArchive(f"refusing to write through a symlink: {os.path.relpath(target, dest_real)!r}")


def extract_zip(src: Path, dest: Path) -> int:
    """Extract ``src`` into ``dest`` safely (see the module docstring). Returns the entry count."""
    dest.mkdir(parents=True, exist_ok=True)
    dest_real = os.path.realpath(dest)
    count = 0
    with zipfile.ZipFile(src) as zf:
        for info in zf.infolist():
            target = _target(dest_real, info.filename)
            mode = info.external_attr >> 16
            if info.is_dir():
                _ensure_parent(dest_real, target.rstrip("/") + "/x")
                if os.path.islink(target):
                    raise UnsafeArchive(f"refusing to write through a symlink: {info.filename!r}")
                os.makedirs(target, exist_ok=True)
                continue
            _ensure_parent(dest_real, target)
            if os.path.lexists(target):
                if os.path.isdir(target) and not os.path.islink(target):
                    raise UnsafeArchive(f"refusing to replace a directory: {info.filename!r}")
                os.unlink(target)
            if stat.S_ISLNK(mode):
                link = zf.read(info).decode("utf-8", "strict")
                resolved = os.path.realpath(os.path.join(os.path.dirname(target), link))
                if link.startswith("/") or not _inside(resolved, dest_real):
                    raise UnsafeArchive(f"refusing symlink {info.filename!r} -> {link!r} outside the directory")
                os.symlink(link, target)
            else:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out, zf.open(info) as data:
                    while chunk := data.read(1024 * 1024):
                        out.write(chunk)
                os.chmod(target, (mode & 0o777) or 0o644)
            count += 1
    return count
