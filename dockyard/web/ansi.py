"""A job log as HTML: ANSI SGR colours become ``term-*`` classes, GitLab's ``section_start``/``section_end``
markers become collapsible ``<details>``, and ``\\r`` overwrites a line as a terminal would.

Every piece of text is escaped before any markup is added, so nothing the job printed reaches the page
as HTML. Only SGR codes 0 (reset), 1 (bold), 3 (italic), 4 (underline), 22/23/24/39/49 (resets),
30-37/90-97 (foreground) and 40-47/100-107 (background) are kept; other escape sequences are dropped.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

# CSI sequences (ESC [ params final-byte) and the rarer two-byte ESC sequences.
_ESCAPE = re.compile(r"\x1b\[([0-9;?]*)([@-~])|\x1b[@-Z\\-_]")
_SECTION = re.compile(r"section_(start|end):(\d+):([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\r?(?:\x1b\[0K)?")
_NAMES = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")


@dataclass
class _Style:
    bold: bool = False
    italic: bool = False
    underline: bool = False
    fg: str | None = None
    bg: str | None = None

    def classes(self) -> str:
        names = []
        if self.bold:
            names.append("term-bold")
        if self.italic:
            names.append("term-italic")
        if self.underline:
            names.append("term-underline")
        if self.fg:
            names.append(f"term-fg-{self.fg}")
        if self.bg:
            names.append(f"term-bg-{self.bg}")
        return " ".join(names)

    def apply(self, params: str) -> None:
        codes = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else [0]
        for code in codes:
            if code == 0:
                self.bold = self.italic = self.underline = False
                self.fg = self.bg = None
            elif code == 1:
                self.bold = True
            elif code == 3:
                self.italic = True
            elif code == 4:
                self.underline = True
            elif code == 22:
                self.bold = False
            elif code == 23:
                self.italic = False
            elif code == 24:
                self.underline = False
            elif 30 <= code <= 37:
                self.fg = _NAMES[code - 30]
            elif 90 <= code <= 97:
                self.fg = f"l-{_NAMES[code - 90]}"
            elif code == 39:
                self.fg = None
            elif 40 <= code <= 47:
                self.bg = _NAMES[code - 40]
            elif 100 <= code <= 107:
                self.bg = f"l-{_NAMES[code - 100]}"
            elif code == 49:
                self.bg = None


def _overwrite(line: str) -> str:
    """What a terminal shows of a line containing ``\\r``: each return starts over, later text covering
    earlier text character by character (escape sequences ride along with the text they precede)."""
    if "\r" not in line:
        return line
    parts = line.split("\r")
    # Text after the last return that is as long as what came before wins outright; otherwise merge.
    shown = ""
    for part in parts:
        if not part:
            continue
        visible = _ESCAPE.sub("", part)
        shown_visible = _ESCAPE.sub("", shown)
        # A shorter text keeps the tail of what was shown beyond its width (plain text only, styles reset).
        shown = part if len(visible) >= len(shown_visible) else part + "\x1b[0m" + shown_visible[len(visible) :]
    return shown


@dataclass
class _Section:
    name: str
    start: int
    body: list[str] = field(default_factory=list)
    header: str = ""


def _line_html(line: str, style: _Style) -> str:
    out: list[str] = []
    pos = 0

    def emit(text: str) -> None:
        if not text:
            return
        escaped = html.escape(text, quote=False)
        classes = style.classes()
        out.append(f'<span class="{classes}">{escaped}</span>' if classes else escaped)

    for match in _ESCAPE.finditer(line):
        emit(line[pos : match.start()])
        pos = match.end()
        if match.group(2) == "m":
            style.apply(match.group(1) or "")
    emit(line[pos:])
    return "".join(out)


def _duration(seconds: int) -> str:
    minutes, secs = divmod(max(seconds, 0), 60)
    return f"{minutes:02d}:{secs:02d}"


def render(log: str) -> str:
    """The log as HTML lines (``<span class="log-line">``) and sections; safe to mark as safe."""
    style = _Style()
    root: list[str] = []
    stack: list[_Section] = []

    def sink() -> list[str]:
        return stack[-1].body if stack else root

    def close(section: _Section, end: int | None) -> None:
        duration = f'<span class="log-duration">{_duration(end - section.start)}</span>' if end is not None else ""
        header = section.header or html.escape(section.name)
        name = html.escape(section.name, quote=True)
        sink().append(
            f'<details class="log-section" open data-section="{name}"><summary class="log-line">'
            f'<span class="log-section-title">{header}</span>{duration}</summary>{"".join(section.body)}</details>'
        )

    text = log.replace("\r\n", "\n")
    for raw in text.split("\n"):
        rest = raw
        marked = False
        while True:
            match = _SECTION.search(rest)
            if match is None:
                break
            marked = True
            before, rest = rest[: match.start()], rest[match.end() :]
            if before.strip():
                sink().append(f'<span class="log-line">{_line_html(_overwrite(before), style)}</span>')
            kind, stamp, name = match.group(1), int(match.group(2)), match.group(3)
            if kind == "start":
                stack.append(_Section(name=name, start=stamp))
                # The rest of the line is the section's header.
                stack[-1].header = _line_html(_overwrite(rest), style) if rest.strip() else ""
                rest = ""
            elif any(s.name == name for s in stack):
                # Close up to the matching section (unmatched ends are ignored).
                while stack:
                    section = stack.pop()
                    close(section, stamp if section.name == name else None)
                    if section.name == name:
                        break
        if rest.strip() or not marked:
            sink().append(f'<span class="log-line">{_line_html(_overwrite(rest), style)}</span>')
    while stack:
        close(stack.pop(), None)
    # A trailing newline leaves an empty last line; drop it.
    if root and root[-1] == '<span class="log-line"></span>':
        root.pop()
    return "".join(root)
