"""Inside a job's artifacts archive: the listing the browse page shows and the single files the API and
the page serve, read from the zip in object storage without unpacking it.

A runner uploads the archive as a zip (``artifact_format=zip``); only its central directory is read to
list it, and one member is streamed to serve a file. Paths are the archive's own, ``/``-separated;
anything that climbs out (``..``) or is absolute is refused as GitLab refuses it (400 "Invalid path").
"""

from __future__ import annotations

import mimetypes
import posixpath
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO
from urllib.parse import quote

from django.http import StreamingHttpResponse

from dockyard.ci.models import JobArtifact
from dockyard.core.errors import BadRequest, NotFound
from dockyard.core.storage import CHUNK_SIZE, ObjectNotFound, object_storage

# Served inline as plain text (never as HTML: artifacts are the job's output, not trusted markup).
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript", "application/x-yaml")


@dataclass(frozen=True)
class Entry:
    name: str  # the last component
    path: str  # from the archive's root, without a trailing slash
    is_dir: bool
    size: int = 0


@dataclass(frozen=True)
class Listing:
    directory: str  # "" for the root
    directories: list[Entry]
    files: list[Entry]


def clean_path(path: str) -> str:
    """``path`` as the archive names it (no leading or trailing slash); BadRequest when it climbs out."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if path.startswith("/") or ".." in parts or "\\" in path or "\0" in path:
        raise BadRequest("Invalid path")
    return "/".join(parts)


def _open(artifact: JobArtifact, stack: ExitStack) -> zipfile.ZipFile:
    """The archive as a zip; storage that cannot seek is spooled to a temporary file first."""
    try:
        stream: IO[bytes] = stack.enter_context(object_storage().open_read(artifact.storage_key))
    except ObjectNotFound:
        raise NotFound("Artifact") from None
    if not stream.seekable():
        spool = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 (closed by the stack)
        shutil.copyfileobj(stream, spool, CHUNK_SIZE)
        spool.seek(0)
        stream = spool
    try:
        return stack.enter_context(zipfile.ZipFile(stream))
    except zipfile.BadZipFile:
        raise NotFound("Artifact") from None


def listing(artifact: JobArtifact, directory: str) -> Listing:
    """What is directly inside ``directory`` (``""``: the root), directories first, each sorted by name.
    Directories the archive only implies (``a/b/c.txt`` without an ``a/`` entry) are listed too."""
    directory = clean_path(directory)
    prefix = f"{directory}/" if directory else ""
    dirs: dict[str, Entry] = {}
    files: dict[str, Entry] = {}
    found = not directory
    with ExitStack() as stack:
        for info in _open(artifact, stack).infolist():
            name = info.filename.rstrip("/")
            if not name.startswith(prefix) or name == directory:
                found = found or name == directory
                continue
            found = True
            rest = name[len(prefix) :]
            head, _, tail = rest.partition("/")
            if tail or info.is_dir():
                dirs.setdefault(head, Entry(head, prefix + head, True))
            else:
                files[head] = Entry(head, prefix + head, False, info.file_size)
    if not found:
        raise NotFound("Directory")
    return Listing(directory, sorted(dirs.values(), key=_name), sorted(files.values(), key=_name))


def _name(entry: Entry) -> str:
    return entry.name


@dataclass
class Member:
    """One file of the archive, to stream: ``chunks`` closes the archive when it is done."""

    path: str
    size: int
    chunks: Iterator[bytes]

    @property
    def filename(self) -> str:
        return posixpath.basename(self.path)

    @property
    def is_text(self) -> bool:
        kind, _ = mimetypes.guess_type(self.filename)
        return kind is not None and (kind.startswith("text/") or kind in _TEXT_TYPES)


def member(artifact: JobArtifact, path: str) -> Member:
    """The file at ``path`` in the archive; NotFound when there is none (or it is a directory)."""
    path = clean_path(path)
    stack = ExitStack()
    try:
        archive = _open(artifact, stack)
        try:
            info = archive.getinfo(path)
        except KeyError:
            raise NotFound("File") from None
        if info.is_dir():
            raise NotFound("File")
        handle = stack.enter_context(archive.open(info))
    except BaseException:
        stack.close()
        raise

    def chunks() -> Iterator[bytes]:
        with stack:
            while chunk := handle.read(CHUNK_SIZE):
                yield chunk

    return Member(path, info.file_size, chunks())


def archive_response(artifact: JobArtifact) -> StreamingHttpResponse:
    """The whole archive, as a download."""
    response = StreamingHttpResponse(
        object_storage().iter_chunks(artifact.storage_key), content_type="application/octet-stream"
    )
    response["Content-Disposition"] = f'attachment; filename="{artifact.filename}"'
    response["Content-Length"] = str(artifact.size)
    return response


def member_response(found: Member) -> StreamingHttpResponse:
    """A file of the archive as the browser or client gets it: text inline as plain text, anything else
    as a download. Never rendered as HTML on the server's origin (``nosniff``, a sandboxing CSP)."""
    content_type = "text/plain; charset=utf-8" if found.is_text else "application/octet-stream"
    response = StreamingHttpResponse(found.chunks, content_type=content_type)
    disposition = "inline" if found.is_text else "attachment"
    response["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(found.filename)}"
    response["Content-Length"] = str(found.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


class GzipError(ValueError):
    """A report upload that is not a whole gzip stream."""


class TooLarge(GzipError):
    pass


def gzip_members(data: bytes, *, limit: int) -> list[bytes]:
    """The files of a report upload: gitlab-runner writes one gzip member per file
    (``artifact_format=gzip``); data that is not gzip is one file as it is (``raw``). At most ``limit``
    bytes come out in all, inflated a chunk at a time, so a small upload cannot swell past it."""
    if not data.startswith(b"\x1f\x8b"):
        if len(data) > limit:
            raise TooLarge
        return [data]
    members: list[bytes] = []
    total = 0
    while data:
        inflater = zlib.decompressobj(wbits=31)
        parts: list[bytes] = []
        chunk = data
        try:
            while not inflater.eof:
                part = inflater.decompress(chunk, CHUNK_SIZE)
                chunk = inflater.unconsumed_tail
                if not part and not chunk:
                    break  # the stream ends inside a member
                total += len(part)
                if total > limit:
                    raise TooLarge
                parts.append(part)
        except zlib.error:
            raise GzipError from None
        if not inflater.eof:
            raise GzipError
        members.append(b"".join(parts))
        data = inflater.unused_data
    return members
