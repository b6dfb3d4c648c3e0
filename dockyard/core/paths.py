"""Path and name rules shared by users, groups and projects (GitLab's rules)."""

from __future__ import annotations

import re

# GitLab: a path starts and ends with a letter, digit or underscore, and holds letters, digits,
# '_', '-' and '.'; it may not end in '.git' or '.atom'. Anchored, no nested quantifiers: linear time.
PATH_RE = re.compile(r"\A[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?\Z")
NAME_RE = re.compile(r"\A[\w\u00b8-\u02af\u1e00-\u1eff().+\- ]+\Z")

# Top-level routes a namespace may not take, or its URLs would shadow Dockyard's own.
RESERVED_TOP_LEVEL = frozenset(
    {
        "-",
        "api",
        "admin",
        "dashboard",
        "explore",
        "groups",
        "help",
        "users",
        "projects",
        "profile",
        "search",
        "v2",
        "jwt",
        "assets",
        "uploads",
        "static",
        "favicon.ico",
        "robots.txt",
        "public",
        "oauth",
        "import",
        "root-namespace",
        "sign_in",
        "sign_out",
        "new",
    }
)


def path_errors(path: str, *, top_level: bool = False) -> list[str]:
    errors: list[str] = []
    if not path:
        return ["can't be blank"]
    if len(path) > 255:
        errors.append("is too long (maximum is 255 characters)")
    if not PATH_RE.match(path) or path.endswith((".git", ".atom")):
        errors.append(
            "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'"
        )
    if top_level and path.lower() in RESERVED_TOP_LEVEL:
        errors.append(f"{path} is a reserved name")
    return errors


def name_errors(name: str) -> list[str]:
    if not name or not name.strip():
        return ["can't be blank"]
    if len(name) > 255:
        return ["is too long (maximum is 255 characters)"]
    if not NAME_RE.match(name):
        return [
            "can contain only letters, digits, emoji, '_', '.', '+', dashes, or spaces. "
            "It must start with a letter, digit, emoji, or '_'."
        ]
    return []


def slugify_path(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.\-]+", "-", name.strip()).strip("-.").lower()
    return slug or "project"
