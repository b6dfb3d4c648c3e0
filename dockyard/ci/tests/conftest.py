from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from dockyard.ci.compiler import CompileContext, CompileResult, IncludeNotFound, IncludeRequest, compile_pipeline
from dockyard.ci.compiler.globs import fnmatch
from dockyard.config.env import Env


def files_exist_in(paths: list[str]) -> Callable[[Any], list[str]]:
    def files_exist(patterns: Any) -> list[str]:
        return [p for p in paths if any(fnmatch(pattern, p) for pattern in patterns)]

    return files_exist


class FakeRepository:
    """Files by project and ref, standing in for the git module the real caller uses."""

    def __init__(self, files: Mapping[str, str], projects: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.files = dict(files)
        self.projects = {k: dict(v) for k, v in (projects or {}).items()}
        self.templates: dict[str, str] = {}
        self.requests: list[IncludeRequest] = []

    def load(self, request: IncludeRequest) -> str | None:
        self.requests.append(request)
        if request.kind == "template":
            return self.templates.get(request.location)
        project = request.project if request.kind == "project" else request.context_project
        if project is None:
            return self.files.get(request.location)
        if project not in self.projects:
            raise IncludeNotFound("project")
        return self.projects[project].get(request.location)


def context(**overrides: Any) -> CompileContext:
    values: dict[str, Any] = {"ref": "main", "project_path": "acme/app"}
    values.update(overrides)
    return CompileContext(**values)


def compile_ok(text: str, **overrides: Any) -> CompileResult:
    result = compile_pipeline(text, context(**overrides))
    assert result.ok, result.errors
    return result


def errors_of(text: str, **overrides: Any) -> tuple[str, ...]:
    result = compile_pipeline(text, context(**overrides))
    assert result.status == "invalid", result
    return result.errors


def names(text: str, **overrides: Any) -> list[str]:
    result = compile_pipeline(text, context(**overrides))
    if not result.ok:
        return []
    assert result.plan is not None
    return result.plan.job_names


@pytest.fixture
def repo() -> FakeRepository:
    return FakeRepository({})


@pytest.fixture
def remove_repositories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """For database tests that create projects: each test gets its own repository storage, since ids
    come back after a rollback (SQLite) and an interrupted run may leave repositories behind."""
    monkeypatch.setattr(Env, "repositories", property(lambda self: tmp_path / "repositories"))
