"""Quick actions in comment bodies (``/close``, ``/label ~bug``): parsing only, no side effects.

Each noteable kind registers the commands it understands; the issue service executes the issue ones and
the merge-request service will register ``/approve``, ``/merge``, ``/draft``, ``/ready`` the same way.
Command lines are removed from the stored note; lines inside fenced code blocks are left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_COMMAND_LINE = re.compile(r"^/(?P<name>[a-z_]+)(?:[ \t]+(?P<arg>.*?))?[ \t]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Command:
    name: str
    arg: str = ""


@dataclass
class Parsed:
    body: str  # the note without its command lines
    commands: list[Command] = field(default_factory=list)


# noteable kind -> command name -> canonical name (aliases map to one handler)
_REGISTRY: dict[str, dict[str, str]] = {}


def register(kind: str, name: str, *aliases: str) -> None:
    """Make ``/name`` (and its aliases) a quick action on ``kind`` noteables (``"issue"``, ``"merge_request"``)."""
    table = _REGISTRY.setdefault(kind, {})
    for alias in (name, *aliases):
        table[alias] = name


for _name, *_aliases in (
    ("close",),
    ("reopen",),
    ("label", "labels"),
    ("unlabel", "remove_label"),
    ("relabel",),
    ("assign",),
    ("unassign",),
    ("milestone",),
    ("remove_milestone",),
    ("due",),
    ("remove_due_date",),
    ("estimate", "estimate_time"),
    ("remove_estimate", "remove_time_estimate"),
    ("spend", "spent", "spend_time"),
    ("remove_time_spent",),
    ("confidential",),
    ("lock",),
    ("unlock",),
    ("title",),
):
    register("issue", _name, *_aliases)


def parse(text: str, *, kind: str) -> Parsed:
    """Split ``text`` into its remaining body and the ``kind``'s commands, in order of appearance.

    Unknown ``/words`` stay in the body (they may be paths or prose)."""
    table = _REGISTRY.get(kind, {})
    kept: list[str] = []
    commands: list[Command] = []
    in_fence = False
    for line in (text or "").splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _COMMAND_LINE.match(line.strip())
        if match and match.group("name") in table:
            commands.append(Command(table[match.group("name")], (match.group("arg") or "").strip()))
            continue
        kept.append(line)
    return Parsed(body="\n".join(kept).strip(), commands=commands)


_LABEL_ARG = re.compile(r'~"([^"]+)"|~([^\s~"]+)|"([^"]+)"|([^\s~",]+)')


def label_titles(arg: str) -> list[str]:
    """``~bug ~"two words" plain`` → ``["bug", "two words", "plain"]``."""
    return [next(g for g in m.groups() if g) for m in _LABEL_ARG.finditer(arg)]


def usernames(arg: str) -> list[str]:
    """``@alice @bob`` (or ``alice, bob``) → ``["alice", "bob"]``; ``me`` is the author (caller resolves)."""
    return [part.lstrip("@") for part in re.split(r"[\s,]+", arg) if part.strip("@ ")]


def milestone_title(arg: str) -> str:
    """``%v1`` or ``%"Release 2"`` → the title."""
    arg = arg.strip()
    if arg.startswith("%"):
        arg = arg[1:]
    return arg.strip('"')
