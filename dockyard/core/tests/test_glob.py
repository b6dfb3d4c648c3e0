"""Protected-ref wildcards match like GitLab's and stay linear on hostile patterns."""

from __future__ import annotations

import time

import pytest

from dockyard.core.glob import wildcard_match


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("main", "main", True),
        ("main", "main2", False),
        ("release/*", "release/1.0", True),
        ("release/*", "release/1.0/hotfix", True),  # '*' crosses '/' in GitLab
        ("release/*", "release", False),
        ("*-stable", "12-stable", True),
        ("*-stable", "12-stable-x", False),
        ("*", "", True),
        ("feat*/x*y", "feature/xay", True),
        ("a*b*c", "abc", True),
        ("a*b*c", "acb", False),
    ],
)
def test_wildcards(pattern: str, name: str, expected: bool) -> None:
    assert wildcard_match(pattern, name) is expected


def test_hostile_pattern_does_not_backtrack_exponentially() -> None:
    # A regex engine with naive backtracking takes exponential time on this; the matcher is quadratic at worst.
    pattern, name = "*a" * 30 + "b", "a" * 3000
    started = time.process_time()
    assert wildcard_match(pattern, name) is False
    assert time.process_time() - started < 5  # generous: exponential would never finish
