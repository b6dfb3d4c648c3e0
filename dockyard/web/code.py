"""Code as the repository pages show it: Pygments highlighting split into lines (for line numbers and
``#L12`` anchors), what may be shown inline, and unified diffs parsed into rows with line numbers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from html import escape
from typing import Protocol

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_for_filename, guess_lexer
from pygments.util import ClassNotFound

# Larger files are offered raw only: highlighting megabytes would stall the page (GitLab: 1 MB too).
MAX_INLINE_BYTES = 1024 * 1024
# Diffs of a file beyond this many lines are collapsed to a link to the file.
MAX_DIFF_LINES = 3000

# Served as downloads, never inline: a browser would run their scripts on our origin.
ACTIVE_EXTENSIONS = frozenset({"html", "htm", "xhtml", "shtml", "svg", "svgz", "xml", "xsl", "xslt", "mht", "mhtml"})
# Shown inline with their own type (README images): browsers do not run anything in them.
IMAGE_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "ico": "image/x-icon",
}
_FORMATTER = HtmlFormatter(nowrap=True)


def extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def is_binary(data: bytes) -> bool:
    """Git's rule: a NUL byte in the first 8000 bytes; also anything that is not UTF-8."""
    if b"\x00" in data[:8000]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def looks_like_markup(data: bytes) -> bool:
    """Whether a text file might be sniffed or opened as HTML/SVG/XML whatever its name."""
    head = data[:1024].lstrip().lower()
    return head.startswith((b"<!doctype", b"<html", b"<svg", b"<?xml", b"<head", b"<body", b"<script"))


@dataclass(frozen=True)
class RawResponse:
    """How ``/-/raw/`` serves a file: its type and whether the browser must download it."""

    content_type: str
    attachment: bool


def raw_response(name: str, data: bytes) -> RawResponse:
    ext = extension(name)
    if ext in IMAGE_TYPES and is_binary(data):
        return RawResponse(IMAGE_TYPES[ext], attachment=False)
    if is_binary(data):
        return RawResponse("application/octet-stream", attachment=True)
    if ext in ACTIVE_EXTENSIONS or looks_like_markup(data):
        return RawResponse("text/plain; charset=utf-8", attachment=True)
    return RawResponse("text/plain; charset=utf-8", attachment=False)


def _lexer(name: str, text: str) -> Lexer | None:
    try:
        return get_lexer_for_filename(name, text, stripnl=False, ensurenl=False)
    except ClassNotFound:
        pass
    if text.startswith("#!"):
        try:
            return guess_lexer(text.split("\n", 1)[0], stripnl=False, ensurenl=False)
        except ClassNotFound:
            return None
    return None


def highlight_lines(name: str, text: str) -> list[str]:
    """``text`` as one safe HTML string per line. Pygments closes and reopens its spans at every
    newline, so splitting its output on newlines leaves each line well-formed."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start another
    lexer = _lexer(name, text)
    if lexer is None:
        return [escape(line) for line in lines]
    out = highlight(text, lexer, _FORMATTER).split("\n")
    # Pygments may add or drop a trailing newline; the source decides how many lines there are.
    return (out + [""] * len(lines))[: len(lines)]


def language(name: str, text: str) -> str:
    lexer = _lexer(name, text[:4096])
    return lexer.name if lexer is not None else "Plain text"


# --- diffs ---------------------------------------------------------------------------------------

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")


@dataclass(frozen=True)
class DiffLine:
    kind: str  # context | add | del | hunk | note
    text: str
    old: int | None = None
    new: int | None = None
    html: str = ""  # the text highlighted (safe HTML), once ``highlight_diff`` ran

    @property
    def key(self) -> str:
        """Where a diff note on this line points: its new line, or for a deleted line its old one."""
        return f"n{self.new}" if self.new is not None else f"o{self.old}"


@dataclass
class FileDiff:
    old_path: str
    new_path: str
    status: str  # added | deleted | renamed | modified
    lines: list[DiffLine] = field(default_factory=list)
    additions: int = 0
    deletions: int = 0
    too_large: bool = False
    no_text: bool = False  # binary, empty, or only renamed / mode changed: git writes no hunks

    @property
    def path(self) -> str:
        return self.old_path if self.status == "deleted" else self.new_path

    @property
    def anchor(self) -> str:
        return "diff-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.path)


def parse_diff(text: str) -> tuple[list[DiffLine], int, int]:
    """The rows of a unified diff with old and new line numbers, and the counts of added/deleted lines."""
    rows: list[DiffLine] = []
    old = new = additions = deletions = 0
    body = text[:-1] if text.endswith("\n") else text
    for line in body.split("\n") if body else []:
        match = _HUNK.match(line)
        if match:
            old, new = int(match.group(1)), int(match.group(3))
            rows.append(DiffLine("hunk", line))
        elif line.startswith("+"):
            rows.append(DiffLine("add", line[1:], new=new))
            new += 1
            additions += 1
        elif line.startswith("-"):
            rows.append(DiffLine("del", line[1:], old=old))
            old += 1
            deletions += 1
        elif line.startswith("\\"):
            rows.append(DiffLine("note", line[1:].strip()))
        else:
            rows.append(DiffLine("context", line[1:], old=old, new=new))
            old += 1
            new += 1
    return rows, additions, deletions


class DiffSource(Protocol):
    """One file of a git diff as the git module reads it (``DiffEntry``)."""

    @property
    def old_path(self) -> str: ...
    @property
    def new_path(self) -> str: ...
    @property
    def diff(self) -> str: ...
    @property
    def new_file(self) -> bool: ...
    @property
    def deleted_file(self) -> bool: ...
    @property
    def renamed_file(self) -> bool: ...


def file_diffs(entries: Iterable[DiffSource], *, highlighted: bool = False) -> list[FileDiff]:
    """Every file of a diff parsed into rows; ``highlighted`` also highlights each file's rows."""
    files = []
    for e in entries:
        f = file_diff(
            old_path=e.old_path,
            new_path=e.new_path,
            diff=e.diff,
            new_file=e.new_file,
            deleted_file=e.deleted_file,
            renamed_file=e.renamed_file,
        )
        if highlighted:
            f.lines = highlight_diff(f.path, f.lines)
        files.append(f)
    return files


def file_diff(
    *, old_path: str, new_path: str, diff: str, new_file: bool, deleted_file: bool, renamed_file: bool
) -> FileDiff:
    status = "added" if new_file else "deleted" if deleted_file else "renamed" if renamed_file else "modified"
    rows, additions, deletions = parse_diff(diff)
    result = FileDiff(old_path=old_path, new_path=new_path, status=status, additions=additions, deletions=deletions)
    if not diff:
        result.no_text = True
    elif len(rows) > MAX_DIFF_LINES:
        result.too_large = True
    else:
        result.lines = rows
    return result


def highlight_diff(name: str, lines: list[DiffLine]) -> list[DiffLine]:
    """The rows of a diff with their text highlighted for ``name``'s language. Each side is highlighted
    as one run of code (the old side: context and deleted lines; the new side: context and added ones), so
    a token spanning lines keeps its colour; context lines take the new side's."""
    out = list(lines)
    for kinds in (("context", "del"), ("context", "add")):
        chosen = [i for i, line in enumerate(lines) if line.kind in kinds]
        if not chosen:
            continue
        html = highlight_lines(name, "\n".join(lines[i].text for i in chosen) + "\n")
        for i, h in zip(chosen, html + [""] * len(chosen), strict=False):
            out[i] = replace(out[i], html=h)
    return out


def side_by_side(lines: list[DiffLine]) -> list[tuple[DiffLine | None, DiffLine | None]]:
    """The rows of a diff as (old, new) pairs: context on both sides, a run of deletions beside the run of
    additions that replaced it, hunk headers and notes as ``(row, row)`` spanning both."""
    rows: list[tuple[DiffLine | None, DiffLine | None]] = []
    dels: list[DiffLine] = []
    adds: list[DiffLine] = []

    def flush() -> None:
        for i in range(max(len(dels), len(adds))):
            rows.append((dels[i] if i < len(dels) else None, adds[i] if i < len(adds) else None))
        dels.clear()
        adds.clear()

    for line in lines:
        if line.kind == "del":
            if adds:
                flush()
            dels.append(line)
        elif line.kind == "add":
            adds.append(line)
        else:
            flush()
            rows.append((line, line))
    flush()
    return rows


def file_tree(paths: list[str]) -> list[tuple[int, str, str | None]]:
    """Sorted file paths as tree rows ``(depth, name, path)``: a directory once (``path`` None), then its files."""
    rows: list[tuple[int, str, str | None]] = []
    shown: set[tuple[str, ...]] = set()
    for path in sorted(paths, key=lambda p: (p.split("/")[:-1], p)):
        parts = path.split("/")
        for depth in range(len(parts) - 1):
            folder = tuple(parts[: depth + 1])
            if folder not in shown:
                shown.add(folder)
                rows.append((depth, parts[depth], None))
        rows.append((len(parts) - 1, parts[-1], path))
    return rows
