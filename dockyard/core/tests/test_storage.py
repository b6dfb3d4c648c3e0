"""The local object store: objects appear only on commit, and nothing is left behind otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.core.storage import InvalidKey, LocalStorage, ObjectNotFound


def test_commit_publishes_and_abort_discards(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    with store.open_write("lfs-objects/ab/cd/abcd") as writer:
        writer.write(b"hello ")
        writer.write(b"world")
        assert not store.exists("lfs-objects/ab/cd/abcd")  # invisible until committed
        writer.commit()
    assert store.size("lfs-objects/ab/cd/abcd") == 11
    assert b"".join(store.iter_chunks("lfs-objects/ab/cd/abcd", chunk_size=4)) == b"hello world"

    with store.open_write("other") as writer:
        writer.write(b"dropped")  # left without commit
    with pytest.raises(RuntimeError), store.open_write("failed") as writer:
        writer.write(b"half")
        raise RuntimeError
    assert not store.exists("other") and not store.exists("failed")
    assert list((tmp_path / ".tmp").iterdir()) == []

    store.delete("lfs-objects/ab/cd/abcd")
    store.delete("lfs-objects/ab/cd/abcd")  # deleting twice is fine
    with pytest.raises(ObjectNotFound):
        store.open_read("lfs-objects/ab/cd/abcd")


@pytest.mark.parametrize("key", ["", "/etc/passwd", "a/../b", "a//b", "./a", "a/b/", "a\\b"])
def test_keys_stay_inside_the_root(tmp_path: Path, key: str) -> None:
    with pytest.raises(InvalidKey):
        LocalStorage(tmp_path).open_write(key)
