"""Path globs for ``rules:changes`` and ``rules:exists``: Ruby's ``File.fnmatch?`` with
``FNM_PATHNAME | FNM_DOTMATCH | FNM_EXTGLOB``, which is what GitLab calls.

``*`` and ``?`` never cross ``/``; ``**/`` matches any number of directories (zero included); ``[…]``
classes (``!`` or ``^`` negates); ``{a,b}`` alternatives (nestable); ``\\`` escapes; dot files match.
Patterns are translated to RE2 so matching stays linear whatever the pattern.
"""

from __future__ import annotations

import functools

import re2

from dockyard.ci.compiler.regex import UntrustedRegexError, compile_re2


def _escape(ch: str) -> str:
    return "\\" + ch if not ch.isalnum() and ch != "_" else ch


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    depth = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
                out.append("(?:[^/]*/)*")
                i += 3
                continue
            while i < n and pattern[i] == "*":
                i += 1
            out.append("[^/]*")
            continue
        if ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = i + 1
            if end < n and pattern[end] in "!^":
                end += 1
            if end < n and pattern[end] == "]":
                end += 1
            while end < n and pattern[end] != "]":
                end += 1
            if end >= n:
                out.append("\\[")
            else:
                body = pattern[i + 1 : end]
                negate = body[:1] in ("!", "^")
                if negate:
                    body = body[1:]
                body = body.replace("\\", "\\\\").replace("]", "\\]")
                out.append(f"[^/{body}]" if negate else f"[{body}]")
                i = end
        elif ch == "{":
            depth += 1
            out.append("(?:")
        elif ch == "}" and depth:
            depth -= 1
            out.append(")")
        elif ch == "," and depth:
            out.append("|")
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(_escape(pattern[i]))
        else:
            out.append(_escape(ch))
        i += 1
    out.extend(")" * depth)
    return "^" + "".join(out) + "$"


@functools.lru_cache(maxsize=2048)
def _compiled(pattern: str) -> re2._Regexp[str] | None:
    try:
        return compile_re2(_translate(pattern))
    except UntrustedRegexError:
        return None


def fnmatch(pattern: str, path: str) -> bool:
    compiled = _compiled(pattern)
    if compiled is None:
        return pattern == path
    return compiled.search(path) is not None


def any_match(patterns: list[str], paths: list[str] | tuple[str, ...]) -> bool:
    return any(fnmatch(pattern, path) for path in paths for pattern in patterns)
