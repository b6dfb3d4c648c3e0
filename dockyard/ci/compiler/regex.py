"""Untrusted regular expressions, as GitLab runs them: through RE2, never a backtracking engine.

GitLab compiles every user-supplied pattern (``rules:if`` ``=~``, ``only: [/re/]``, ``coverage``) with
RE2 (``Gitlab::UntrustedRegexp``), whose matching time is linear in the input. We use the same engine
through the ``google-re2`` bindings rather than translating patterns to Python's ``re``: the syntax and the
semantics then agree with GitLab's exactly (no backreferences, no lookaround, ``(?U)`` ungreedy mode,
``\\pL`` classes …) and a hostile pattern such as ``(a+)+$`` cannot hang the compiler.

GitLab's Ruby-style literal ``/pattern/flags`` accepts the flags ``i``, ``s``, ``m`` and ``U``; they are
handed to RE2 as an inline group ``(?flags)``, so ``m`` has RE2's meaning (``^``/``$`` at line breaks).
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, TypeAlias

import re2

if TYPE_CHECKING:
    Compiled: TypeAlias = re2._Regexp[str]
else:
    Compiled = re2._Regexp  # the runtime class is not generic

_RUBY_SYNTAX = re.compile(r"^/(?P<regexp>.*)/(?P<flags>[ismU]*)$", re.DOTALL)

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a bad user pattern is an answer, not something to print on stderr
_OPTIONS.max_mem = 8 << 20  # bounds the DFA's memory for pathological patterns


class UntrustedRegexError(ValueError):
    pass


def matches_ruby_syntax(pattern: object) -> bool:
    return isinstance(pattern, str) and _RUBY_SYNTAX.match(pattern) is not None


@functools.lru_cache(maxsize=1024)
def compile_re2(pattern: str, flags: str = "") -> re2._Regexp[str]:
    source = f"(?{flags}){pattern}" if flags else pattern
    try:
        return re2.compile(source, options=_OPTIONS)
    except re2.error as exc:  # RE2 refuses backreferences, lookaround, huge repetitions …
        raise UntrustedRegexError(str(exc)) from exc


def fabricate(pattern: str) -> re2._Regexp[str]:
    """Compile a Ruby-syntax literal (``/foo.*/i``); raise ``UntrustedRegexError`` when it is not one."""
    match = _RUBY_SYNTAX.match(pattern)
    if match is None:
        raise UntrustedRegexError("Invalid regular expression!")
    return compile_re2(match["regexp"], match["flags"])


def is_valid_ruby_regex(pattern: object) -> bool:
    if not isinstance(pattern, str):
        return False
    try:
        fabricate(pattern)
    except UntrustedRegexError:
        return False
    return True


def search(pattern: re2._Regexp[str], text: str) -> bool:
    return pattern.search(text) is not None
