"""Object storage: the one interface behind LFS objects (and later artifacts, packages, registry blobs).

Objects are immutable byte strings addressed by a key such as ``lfs-objects/ab/cd/<oid>``. Writes go
to a temporary object that becomes visible under its key only on :meth:`ObjectWriter.commit`, so a
reader never sees half an object and a crashed or refused upload leaves nothing behind under the key.
Everything moves in chunks: no method takes or returns a whole object in memory.

The embedded default keeps objects in a local directory (``$DOCKYARD_HOME/objects``); an
S3-compatible backend implements the same two classes (see docs/decisions/0002-object-storage.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from dockyard.config.env import ENV

CHUNK_SIZE = 256 * 1024
_KEY = re.compile(r"\A[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)*\Z")


class ObjectNotFound(Exception):
    """No committed object under this key."""


class InvalidKey(ValueError):
    """A key that is not a plain relative path (``..``, absolute, empty segments, odd characters)."""


def check_key(key: str) -> str:
    if not _KEY.match(key) or any(part in {".", ".."} for part in key.split("/")):
        raise InvalidKey(key)
    return key


class ObjectWriter(ABC):
    """A pending object. Use as a context manager: leaving the block without :meth:`commit` (or by an
    exception) discards everything written."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.bytes_written = 0
        self._done = False

    @abstractmethod
    def _write(self, data: bytes) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _abort(self) -> None: ...

    def write(self, data: bytes) -> None:
        if self._done:
            raise ValueError("object writer already closed")
        self._write(data)
        self.bytes_written += len(data)

    def commit(self) -> None:
        """Publish the object under its key (replacing an existing one atomically)."""
        if self._done:
            raise ValueError("object writer already closed")
        self._done = True
        self._commit()

    def abort(self) -> None:
        if not self._done:
            self._done = True
            self._abort()

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()


class ObjectStorage(ABC):
    """Where immutable objects live. Implementations must be safe to share between threads."""

    @abstractmethod
    def open_write(self, key: str) -> ObjectWriter: ...

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """A readable binary stream; raises :class:`ObjectNotFound`. The caller closes it."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def size(self, key: str) -> int:
        """The committed object's size in bytes; raises :class:`ObjectNotFound`."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object if present (deleting a missing key is not an error)."""

    def iter_chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        with self.open_read(key) as fh:
            while chunk := fh.read(chunk_size):
                yield chunk


class _LocalWriter(ObjectWriter):
    def __init__(self, key: str, final: Path, tmp_dir: Path) -> None:
        super().__init__(key)
        self._final = final
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
        self._tmp = Path(name)
        self._fh = os.fdopen(fd, "wb")

    def _write(self, data: bytes) -> None:
        self._fh.write(data)

    def _commit(self) -> None:
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(self._tmp, 0o644)
            # Same filesystem (the temp dir lives under the root), so this rename is atomic.
            os.replace(self._tmp, self._final)
        except BaseException:
            self._discard()
            raise

    def _abort(self) -> None:
        self._discard()

    def _discard(self) -> None:
        self._fh.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()


class LocalStorage(ObjectStorage):
    """Objects as files under ``root``; pending writes under ``root/.tmp`` on the same filesystem."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def open_write(self, key: str) -> ObjectWriter:
        return _LocalWriter(key, self.path(key), self.root / ".tmp")

    def open_read(self, key: str) -> BinaryIO:
        try:
            return open(self.path(key), "rb")  # the caller owns and closes the stream
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()


@cache
def object_storage() -> ObjectStorage:
    """The configured backend (only the local directory for now)."""
    return LocalStorage(ENV.objects)
