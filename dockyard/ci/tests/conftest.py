from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from dockyard.ci.compiler import CompileContext, CompileResult, IncludeNotFound, IncludeRequest, compile_pipeline
from dockyard.ci.compiler.globs import fnmatch
from dockyard.projects.models import Project
from dockyard.repos import git as repo_git


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
def remove_repositories() -> Iterator[None]:
    """For database tests that create projects: ids come back after each test's rollback; their
    repositories on disk must not."""
    yield
    for project_id in Project.objects.values_list("pk", flat=True):
        repo_git.remove_repository(project_id)
