from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from dockyard.runner.archive import UnsafeArchive, collect, extract_zip, write_zip


def _zip(path: Path, entries: list[tuple[str, bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/tmp/evil.txt", "..\\evil.txt"])
def test_refuses_paths_outside(tmp_path: Path, name: str) -> None:
    archive = _zip(tmp_path / "a.zip", [(name, b"x", stat.S_IFREG | 0o644)])
    with pytest.raises(UnsafeArchive):
        extract_zip(archive, tmp_path / "dest")
    assert not (tmp_path / "evil.txt").exists()


def test_refuses_symlink_escapes(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    link_out = _zip(tmp_path / "l.zip", [("link", str(outside).encode(), stat.S_IFLNK | 0o777)])
    with pytest.raises(UnsafeArchive):
        extract_zip(link_out, tmp_path / "d1")
    relative = _zip(tmp_path / "r.zip", [("sub/link", b"../../outside", stat.S_IFLNK | 0o777)])
    with pytest.raises(UnsafeArchive):
        extract_zip(relative, tmp_path / "d2")
    # A symlink already on disk (left by a job) is not written through.
    dest = tmp_path / "d3"
    dest.mkdir()
    os.symlink(outside, dest / "dir")
    through = _zip(tmp_path / "t.zip", [("dir/pwned", b"x", stat.S_IFREG | 0o644)])
    with pytest.raises(UnsafeArchive):
        extract_zip(through, dest)
    assert list(outside.iterdir()) == []


def test_round_trip_keeps_files_and_inner_links(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "out" / "deep").mkdir(parents=True)
    (src / "out" / "deep" / "a.txt").write_text("a")
    (src / "out" / "run.sh").write_text("#!/bin/sh\n")
    (src / "out" / "run.sh").chmod(0o755)
    os.symlink("deep/a.txt", src / "out" / "link")
    (src / "out" / "skip.log").write_text("no")
    (src / "other.txt").write_text("no")
    names = collect(src, ["out/"], exclude=["out/*.log"])
    assert names == ["out/deep/a.txt", "out/link", "out/run.sh"]
    assert collect(src, ["../", "/etc/passwd"]) == []
    write_zip(src, names, tmp_path / "a.zip")
    dest = tmp_path / "dest"
    assert extract_zip(tmp_path / "a.zip", dest) == 3
    assert (dest / "out" / "deep" / "a.txt").read_text() == "a"
    assert os.readlink(dest / "out" / "link") == "deep/a.txt"
    assert os.stat(dest / "out" / "run.sh").st_mode & 0o777 == 0o755
