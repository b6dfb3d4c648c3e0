import time

import pytest

from dockyard.ci.compiler import expressions

VARS = {
    "CI_COMMIT_BRANCH": "main",
    "CI_DEFAULT_BRANCH": "main",
    "CI_PIPELINE_SOURCE": "push",
    "EMPTY": "",
    "BLANK": "   ",
    "RE": "/^ma/",
    "PLAIN": "ai",
}


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ('$CI_COMMIT_BRANCH == "main"', True),
        ("$CI_COMMIT_BRANCH == 'main'", True),
        ("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", True),
        ('$CI_COMMIT_BRANCH != "main"', False),
        ("$CI_COMMIT_BRANCH =~ /^MA/i", True),
        ("$CI_COMMIT_BRANCH !~ /^feat/", True),
        ("$CI_COMMIT_BRANCH", True),
        ("$UNDEFINED", False),
        ("$EMPTY", False),
        ("$BLANK", False),  # Ruby's present?: whitespace only is blank
        ("$UNDEFINED == null", True),
        ("$EMPTY == null", False),
        ("$EMPTY && $CI_COMMIT_BRANCH", True),  # "" is truthy inside && in Ruby
        ("$UNDEFINED || $CI_COMMIT_BRANCH", True),
        ('$CI_PIPELINE_SOURCE == "merge_request_event" || $CI_COMMIT_BRANCH == "main"', True),
        ('($UNDEFINED || $CI_COMMIT_BRANCH) && $CI_PIPELINE_SOURCE != "web"', True),
        ('$CI_COMMIT_BRANCH == "main" && $CI_PIPELINE_SOURCE == "web" || $CI_DEFAULT_BRANCH', True),
        ('$CI_COMMIT_BRANCH == "main" && ($CI_PIPELINE_SOURCE == "web" || $UNDEFINED)', False),
        ("$CI_COMMIT_BRANCH =~ $RE", True),  # a /regex/ held in a variable
        ("$CI_COMMIT_BRANCH =~ $PLAIN", True),  # any other string: substring search
        ("$CI_COMMIT_BRANCH =~ $UNDEFINED", False),
        ("$CI_COMMIT_BRANCH !~ $UNDEFINED", True),
        ("$UNDEFINED =~ /^$/", True),  # nil is matched as ""
        ("$CI_COMMIT_BRANCH == true", False),
    ],
)
def test_evaluation(statement: str, expected: bool) -> None:
    assert expressions.is_valid(statement)
    assert expressions.truthful(statement, VARS) is expected


@pytest.mark.parametrize(
    "statement",
    [
        "",
        "$A ==",
        '$A == "x" &&',
        "($A",
        "$A)",
        "foo",
        '"a" "b"',
        "$A =~ /a(/",  # not RE2
        r"$A =~ /(a)\1/",  # backreferences are not RE2
        "$A =~ /a/x",  # unknown flag
        "$A =~ /a/",  # GitLab's pattern lexeme needs two characters between the slashes
        "$A = 'b'",
        " && ".join(["$A"] * 60),  # more than 100 tokens
    ],
)
def test_invalid_syntax(statement: str) -> None:
    assert not expressions.is_valid(statement)
    assert expressions.truthful(statement, VARS) is False


def test_catastrophic_pattern_is_linear() -> None:
    started = time.monotonic()
    assert not expressions.truthful("$X =~ /^(a+)+$/", {"X": "a" * 100_000 + "b"})
    assert time.monotonic() - started < 1.0


def test_escaped_slash_in_pattern() -> None:
    assert expressions.truthful(r"$REF =~ /^release\/v\d+/", {"REF": "release/v12"})
