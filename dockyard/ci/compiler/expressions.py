"""The ``rules:if`` / ``only:variables`` expression language, evaluated as GitLab does.

Grammar (GitLab's lexemes, tried in this order at each position, whitespace skipped):
``(`` ``)`` ``$NAME`` ``"…"``/``'…'`` (no escapes) ``/regex/flags`` ``null`` ``true``/``false``
``==`` ``=~`` ``!=`` ``!~`` ``&&`` ``||``; at most 100 tokens. Operators bind as in Ruby: the four
comparisons tightest, then ``&&``, then ``||``, all left-associative (a shunting-yard parse).

Values follow Ruby: an undefined variable is ``nil``; ``&&``/``||`` return an operand, not a boolean;
the whole statement is true when its value is "present" (not nil, not false, not a blank string).
A regex on the right of ``=~`` may also come from a variable: a ``/…/`` string is compiled, any other
string is searched for as a plain substring (GitLab's ``String#scan`` fallback).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Union

from dockyard.ci.compiler import regex as untrusted

MAX_TOKENS = 100


class ExpressionError(Exception):
    pass


@dataclass(frozen=True)
class _Regex:
    source: str  # the literal, slashes and flags included, with ``\/`` already unescaped


Value = Union[None, str, bool, _Regex]  # noqa: UP007 - a runtime alias; `|` would need 3.10 objects here

_WHITESPACE = re.compile(r"\s+")
_VARIABLE = re.compile(r"\$(?P<name>[A-Za-z0-9_]+)")
_STRING = re.compile(r"\"(?P<dq>.*?)\"|'(?P<sq>.*?)'")
_PATTERN = re.compile(r"/(?:[^/]|\\/)+[^\\]/[ismU]*")
_NULL = re.compile(r"null")
_BOOLEAN = re.compile(r"\b(?:true|false)\b")
_OPERATORS = (("==", "=="), ("=~", "=~"), ("!=", "!="), ("!~", "!~"), ("&&", "&&"), ("||", "||"))
_PRECEDENCE = {"==": 10, "!=": 10, "=~": 10, "!~": 10, "&&": 11, "||": 12}


@dataclass(frozen=True)
class _Token:
    kind: str  # "value", "op", "(", ")"
    text: str
    value: Value = None
    variable: str | None = None


def _tokenize(statement: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    for _ in range(MAX_TOKENS):
        ws = _WHITESPACE.match(statement, pos)
        if ws:
            pos = ws.end()
        if pos >= len(statement):
            return tokens
        token, pos = _scan_one(statement, pos)
        tokens.append(token)
    raise ExpressionError("Too many tokens!")


def _scan_one(s: str, pos: int) -> tuple[_Token, int]:
    ch = s[pos]
    if ch == "(":
        return _Token("(", "("), pos + 1
    if ch == ")":
        return _Token(")", ")"), pos + 1
    if m := _VARIABLE.match(s, pos):
        return _Token("value", m[0], variable=m["name"]), m.end()
    if m := _STRING.match(s, pos):
        text = m["dq"] if m["dq"] is not None else m["sq"]
        return _Token("value", m[0], value=text), m.end()
    if m := _PATTERN.match(s, pos):
        literal = m[0].replace("\\/", "/")
        if not untrusted.is_valid_ruby_regex(literal):
            raise ExpressionError("Invalid regular expression!")
        return _Token("value", m[0], value=_Regex(literal)), m.end()
    if m := _NULL.match(s, pos):
        return _Token("value", "null", value=None), m.end()
    if m := _BOOLEAN.match(s, pos):
        return _Token("value", m[0], value=m[0] == "true"), m.end()
    for text, op in _OPERATORS:
        if s.startswith(text, pos):
            return _Token("op", op), pos + len(text)
    raise ExpressionError("Unknown lexeme found!")


class _Node:
    def evaluate(self, variables: Mapping[str, str]) -> Value:
        raise NotImplementedError


@dataclass(frozen=True)
class _Literal(_Node):
    value: Value

    def evaluate(self, variables: Mapping[str, str]) -> Value:
        return self.value


@dataclass(frozen=True)
class _Variable(_Node):
    name: str

    def evaluate(self, variables: Mapping[str, str]) -> Value:
        return variables.get(self.name)


def _as_matcher(value: Value) -> untrusted.Compiled | str | None:
    """The right side of ``=~``: a compiled regex, or a plain string searched for as a substring."""
    if value is None or value is False:
        return None
    if isinstance(value, _Regex):
        return untrusted.fabricate(value.source)
    if isinstance(value, str):
        try:
            return untrusted.fabricate(value.replace("\\/", "/"))
        except untrusted.UntrustedRegexError:
            return value
    raise ExpressionError("Invalid regular expression!")


def _to_s(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _Regex):
        return value.source
    return value


def _truthy(value: Value) -> bool:
    # Ruby: only nil and false are falsy (an empty string is truthy inside && and ||).
    return value is not None and value is not False


def _search(matcher: untrusted.Compiled | str, text: str) -> bool:
    if isinstance(matcher, str):
        return matcher in text
    return untrusted.search(matcher, text)


@dataclass(frozen=True)
class _Binary(_Node):
    op: str
    left: _Node
    right: _Node

    def evaluate(self, variables: Mapping[str, str]) -> Value:
        if self.op == "&&":
            left = self.left.evaluate(variables)
            return self.right.evaluate(variables) if _truthy(left) else left
        if self.op == "||":
            left = self.left.evaluate(variables)
            return left if _truthy(left) else self.right.evaluate(variables)
        left = self.left.evaluate(variables)
        right = self.right.evaluate(variables)
        if self.op == "==":
            return left == right
        if self.op == "!=":
            return left != right
        matcher = _as_matcher(right)
        if self.op == "=~":
            return False if matcher is None else _search(matcher, _to_s(left))
        return True if matcher is None else not _search(matcher, _to_s(left))


def _parse(tokens: list[_Token]) -> _Node:
    output: list[_Token] = []
    operators: list[_Token] = []
    for token in tokens:
        if token.kind == "value":
            output.append(token)
        elif token.kind == "op":
            while (
                operators and operators[-1].kind == "op" and _PRECEDENCE[token.text] >= _PRECEDENCE[operators[-1].text]
            ):
                output.append(operators.pop())
            operators.append(token)
        elif token.kind == "(":
            operators.append(token)
        else:
            while operators and operators[-1].kind != "(":
                output.append(operators.pop())
            if not operators:
                raise ExpressionError("Unmatched parenthesis")
            operators.pop()
    output.extend(reversed(operators))

    stack: list[_Node] = []
    for token in output:
        if token.kind == "value":
            stack.append(_Variable(token.variable) if token.variable is not None else _Literal(token.value))
        elif token.kind == "op":
            if len(stack) < 2:
                raise ExpressionError("Invalid operand")
            right = stack.pop()
            left = stack.pop()
            stack.append(_Binary(token.text, left, right))
        else:
            raise ExpressionError(f"Unprocessable token found in parse tree: {token.kind}")
    if len(stack) > 1:
        raise ExpressionError("Unreachable nodes in parse tree")
    if not stack:
        raise ExpressionError("Empty parse tree")
    return stack[0]


class Statement:
    """A parsed expression. ``Statement(text)`` raises ``ExpressionError`` for invalid syntax."""

    def __init__(self, text: str) -> None:
        tokens = _tokenize(text)
        if not tokens:
            raise ExpressionError("Empty statement")
        self.text = text
        self._tree = _parse(tokens)

    def evaluate(self, variables: Mapping[str, str]) -> Value:
        return self._tree.evaluate(variables)

    def truthful(self, variables: Mapping[str, str]) -> bool:
        try:
            value = self.evaluate(variables)
        except (ExpressionError, untrusted.UntrustedRegexError):
            return False
        if isinstance(value, str):
            return value.strip() != ""  # Ruby's present?: not empty, not only whitespace
        return _truthy(value)


def is_valid(text: object) -> bool:
    """GitLab's config-time check: it parses and evaluates without variables."""
    if not isinstance(text, str):
        return False
    try:
        Statement(text).evaluate({})
    except (ExpressionError, untrusted.UntrustedRegexError):
        return False
    return True


def truthful(text: str, variables: Mapping[str, str]) -> bool:
    try:
        statement = Statement(text)
    except (ExpressionError, untrusted.UntrustedRegexError):
        return False
    return statement.truthful(variables)
