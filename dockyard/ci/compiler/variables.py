"""Variable expansion as GitLab's server does it (``ExpandVariables``), and CI's slug rules.

The server recognises ``$NAME``, ``${NAME}`` and ``%NAME%`` (the last for Windows-style scripts);
a name is ``[a-zA-Z_][a-zA-Z0-9_]*``. There is no ``$$`` escape on the server side. ``expand`` turns an
unknown variable into the empty string; ``expand_existing`` leaves it as written. The server expands only
a few keywords (``include`` locations, ``rules:changes``/``rules:exists`` paths, ``environment:name`` and
``url``, ``resource_group``, ``workflow:name``, ``trigger`` project/branch); scripts, ``image``,
``cache:key``, ``artifacts:name`` and variable values are the runner's business and stay as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_VARIABLE = re.compile(
    r"\$(?P<a>[a-zA-Z_][a-zA-Z0-9_]*)|\$\{(?P<b>[a-zA-Z_][a-zA-Z0-9_]*)\}|%(?P<c>[a-zA-Z_][a-zA-Z0-9_]*)%"
)


def _name(match: re.Match[str]) -> str:
    return match["a"] or match["b"] or match["c"]


def expand(value: str, variables: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables.get(_name(m), ""), value)


def expand_existing(value: str, variables: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables.get(_name(m), m[0]), value)


def expand_all(variables: Mapping[str, str], raw: frozenset[str] = frozenset()) -> dict[str, str]:
    """Resolve references between variables (``B: "$A/x"``), as the runner would; ``raw`` keys stay as written.

    Expansion runs a bounded number of rounds so that a cycle (``A: $B``, ``B: $A``) terminates.
    """
    result = dict(variables)
    for _ in range(10):
        changed = False
        for key, value in result.items():
            if key in raw or ("$" not in value and "%" not in value):
                continue
            new = expand_existing(value, {k: v for k, v in result.items() if k != key})
            if new != value:
                result[key] = new
                changed = True
        if not changed:
            break
    return result


def slugify(value: str, limit: int = 63) -> str:
    """``CI_COMMIT_REF_SLUG``: lowercase, every run of characters outside ``0-9a-z`` becomes ``-``, at most
    63 bytes, no leading or trailing ``-``."""
    slug = re.sub(r"[^0-9a-z]", "-", value.lower())[:limit]
    return slug.strip("-")
