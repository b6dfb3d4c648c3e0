"""GitLab's ref wildcards (``release/*``, ``*-stable``): ``*`` matches any run of characters, ``/`` included.

A two-pointer matcher rather than a regular expression, so a hostile pattern such as ``*a*a*a*a*b``
costs time proportional to pattern length times name length and can never backtrack exponentially.
"""

from __future__ import annotations


def wildcard_match(pattern: str, name: str) -> bool:
    p = n = 0
    star = -1  # position in pattern after the last '*'
    resume = 0  # position in name that the last '*' currently absorbs up to
    while n < len(name):
        if p < len(pattern) and pattern[p] != "*" and pattern[p] == name[n]:
            p += 1
            n += 1
        elif p < len(pattern) and pattern[p] == "*":
            star = p + 1
            resume = n
            p += 1
        elif star != -1:
            resume += 1
            n = resume
            p = star
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def is_wildcard(pattern: str) -> bool:
    return "*" in pattern
