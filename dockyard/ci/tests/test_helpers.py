import pytest

from dockyard.ci.compiler import durations, globs, variables


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("**/*.py", "a/b/c.py", True),
        ("**/*.py", "c.py", True),
        ("*.py", "a/c.py", False),
        ("docs/**/*", "docs/a/b.md", True),
        ("docs/*", "docs/.hidden", True),
        ("{src,lib}/**/*.{js,ts}", "lib/x/y.ts", True),
        ("{src,lib}/**/*.{js,ts}", "test/x/y.ts", False),
        ("src/[a-c]*.c", "src/b1.c", True),
        ("src/[!a-c]*.c", "src/b1.c", False),
        ("Dockerfile", "Dockerfile", True),
        ("services/api/**/*", "services/web/index.js", False),
        ("file?.txt", "file1.txt", True),
    ],
)
def test_fnmatch(pattern: str, path: str, expected: bool) -> None:
    assert globs.fnmatch(pattern, path) is expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h 30m", 5400),
        ("3 hours", 10800),
        ("90 minutes", 5400),
        ("1 day", 86400),
        ("2w", 14 * 86400),
        ("3600", 3600),
        (3600, 3600),
        ("1h30m", 5400),
        ("1:30:00", 5400),
        ("30 mins", 1800),
        ("1 week and 2 days", 9 * 86400),
        ("2.5h", 9000),
        ("forever", None),
        ("", None),
    ],
)
def test_durations(text: object, seconds: int | None) -> None:
    assert durations.parse(text) == seconds


def test_expand_forms() -> None:
    values = {"A": "x", "B_1": "y"}
    assert variables.expand("$A-${B_1}-%A%-$MISSING-end", values) == "x-y-x--end"
    assert variables.expand_existing("$A $MISSING", values) == "x $MISSING"


def test_expand_all_resolves_chains_and_respects_raw() -> None:
    out = variables.expand_all({"A": "a", "B": "$A/b", "C": "${B}/c", "R": "$A"}, raw=frozenset({"R"}))
    assert out == {"A": "a", "B": "a/b", "C": "a/b/c", "R": "$A"}
    cyclic = variables.expand_all({"A": "$B", "B": "$A"})
    assert set(cyclic) == {"A", "B"}


def test_slug() -> None:
    assert variables.slugify("Feature/ABC_123") == "feature-abc-123"
    assert len(variables.slugify("x" * 100)) == 63
