"""What the compiler takes in and hands back: plain, typed, immutable dataclasses.

Nothing here knows about Django or a database; the caller turns a ``PipelinePlan`` into rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

RefType = Literal["branch", "tag"]
PipelineSource = Literal[
    "push",
    "web",
    "api",
    "trigger",
    "schedule",
    "merge_request_event",
    "parent_pipeline",
    "pipeline",
    "external",
    "chat",
    "webide",
    "external_pull_request_event",
]
When = Literal["on_success", "on_failure", "always", "manual", "delayed"]
CompileStatus = Literal["created", "invalid", "filtered", "empty"]


@dataclass(frozen=True)
class IncludeRequest:
    """One file an ``include`` asks for; the loader answers with its text, or ``None`` when it is missing."""

    kind: Literal["local", "project", "template", "remote"]
    location: str  # the path, template name or URL
    project: str | None = None  # for kind == "project": "group/project"
    ref: str | None = None  # for kind == "project"; None = the project's HEAD
    # The project and ref the including file came from: a nested ``local`` include inside a file that was
    # itself included with ``project`` is read from that project (GitLab's rule), so the loader needs both.
    context_project: str | None = None
    context_ref: str | None = None


class IncludeNotFound(Exception):
    """A loader raises this (or returns ``None``) when the file, the project or the ref does not exist.

    ``reason`` may be ``"project"`` (no such project, or no access), ``"ref"`` or ``"file"`` (the default).
    """

    def __init__(self, reason: Literal["project", "ref", "file"] = "file") -> None:
        super().__init__(reason)
        self.reason = reason


IncludeLoader = Callable[[IncludeRequest], "str | None"]
RemoteFetcher = Callable[[str], "str | None"]
FilesExist = Callable[[Sequence[str]], Sequence[str]]
"""Given glob patterns from ``rules:exists``, return the repository paths (at the pipeline's sha) that match
any of them; an empty result means "none exist". The compiler passes the patterns already expanded."""
ChangedPathsSince = Callable[[str], "Sequence[str] | None"]
"""``rules:changes:compare_to``: the paths changed between the given ref/sha and the pipeline's sha, or
``None`` when the ref cannot be resolved."""


@dataclass(frozen=True)
class CompileContext:
    """Everything the compiler may know about the pipeline it is planning, and how to read files.

    ``changed_paths`` is ``None`` when there is no push diff to compare (a new branch, a tag, a schedule, a
    web or API run): GitLab then treats every ``changes`` clause as satisfied.
    ``variables`` holds the predefined variables available before the pipeline exists; ``user_variables``
    the instance, group, project and pipeline (trigger/schedule/run form) variables, already merged in
    that order of precedence by the caller. Both are strings.
    """

    ref: str
    ref_type: RefType = "branch"
    source: str = "push"
    sha: str = "0" * 40
    before_sha: str = "0" * 40
    default_branch: str = "main"
    project_path: str = ""
    changed_paths: Sequence[str] | None = None
    files_exist: FilesExist | None = None
    changed_paths_since: ChangedPathsSince | None = None
    include_loader: IncludeLoader | None = None
    allow_remote_includes: bool = False
    remote_fetcher: RemoteFetcher | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    user_variables: Mapping[str, str] = field(default_factory=dict)
    max_includes: int = 150
    max_jobs: int = 1000


@dataclass(frozen=True)
class YamlVariable:
    """A variable from ``.gitlab-ci.yml``; ``raw`` is GitLab's ``expand: false``."""

    key: str
    value: str
    raw: bool = False


@dataclass(frozen=True)
class Image:
    name: str
    entrypoint: tuple[str, ...] | None = None
    pull_policy: tuple[str, ...] | None = None
    docker: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Service:
    name: str
    alias: str | None = None
    entrypoint: tuple[str, ...] | None = None
    command: tuple[str, ...] | None = None
    variables: tuple[YamlVariable, ...] = ()
    pull_policy: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Need:
    job: str
    artifacts: bool = True
    optional: bool = False


@dataclass(frozen=True)
class CrossNeed:
    """A ``needs`` entry on another project's or the parent pipeline's job (kept, not resolved here)."""

    job: str
    project: str | None = None
    ref: str | None = None
    pipeline: str | None = None
    artifacts: bool = True


@dataclass(frozen=True)
class AllowFailure:
    allowed: bool
    exit_codes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Retry:
    max: int = 0
    when: tuple[str, ...] = ("always",)
    exit_codes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Environment:
    name: str
    url: str | None = None
    action: str = "start"
    on_stop: str | None = None
    auto_stop_in: str | None = None
    deployment_tier: str | None = None
    kubernetes: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Reports:
    junit: tuple[str, ...] = ()
    dotenv: tuple[str, ...] = ()
    other: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Artifacts:
    paths: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    name: str | None = None
    expire_in: str | None = None
    when: str = "on_success"
    expose_as: str | None = None
    untracked: bool = False
    public: bool | None = None
    access: str | None = None
    reports: Reports = field(default_factory=Reports)


@dataclass(frozen=True)
class CacheKey:
    """A cache key: either a literal string, or GitLab's ``key:files`` (+ ``prefix``) form."""

    value: str | None = None
    files: tuple[str, ...] = ()
    prefix: str | None = None


@dataclass(frozen=True)
class Cache:
    key: CacheKey = field(default_factory=lambda: CacheKey(value="default"))
    paths: tuple[str, ...] = ()
    untracked: bool = False
    policy: str = "pull-push"
    when: str = "on_success"
    unprotect: bool = False
    fallback_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trigger:
    """A bridge job's ``trigger`` (multi-project or child pipeline), kept as GitLab normalizes it."""

    project: str | None = None
    branch: str | None = None
    strategy: str | None = None
    include: tuple[Mapping[str, Any], ...] = ()
    forward: Mapping[str, bool] | None = None


@dataclass(frozen=True)
class Job:
    name: str
    stage: str
    stage_idx: int
    script: tuple[str, ...] = ()
    before_script: tuple[str, ...] = ()
    after_script: tuple[str, ...] = ()
    image: Image | None = None
    services: tuple[Service, ...] = ()
    yaml_variables: tuple[YamlVariable, ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)
    when: When = "on_success"
    start_in: str | None = None
    allow_failure: AllowFailure = field(default_factory=lambda: AllowFailure(False))
    needs: tuple[Need, ...] | None = None  # None: stage ordering; () or more: DAG
    cross_needs: tuple[CrossNeed, ...] = ()
    dependencies: tuple[str, ...] | None = None  # None: every earlier job's artifacts
    parallel_index: int | None = None
    parallel_total: int | None = None
    retry: Retry | None = None
    timeout: int | None = None  # seconds
    interruptible: bool | None = None
    resource_group: str | None = None
    environment: Environment | None = None
    artifacts: Artifacts | None = None
    cache: tuple[Cache, ...] = ()
    coverage: str | None = None
    tags: tuple[str, ...] = ()
    trigger: Trigger | None = None
    release: Mapping[str, Any] | None = None
    hooks: Mapping[str, Any] | None = None
    id_tokens: Mapping[str, Any] | None = None
    secrets: Mapping[str, Any] | None = None
    manual_confirmation: str | None = None
    pages: Any = None

    @property
    def is_bridge(self) -> bool:
        return self.trigger is not None


@dataclass(frozen=True)
class PipelinePlan:
    stages: tuple[str, ...]  # stages that hold at least one job, in order
    declared_stages: tuple[str, ...]  # every stage, with .pre first and .post last
    jobs: tuple[Job, ...]
    yaml_variables: tuple[YamlVariable, ...] = ()  # global, after workflow:rules:variables
    name: str | None = None  # workflow:name, expanded
    auto_cancel: Mapping[str, str] | None = None

    def job(self, name: str) -> Job:
        for job in self.jobs:
            if job.name == name:
                return job
        raise KeyError(name)

    @property
    def job_names(self) -> list[str]:
        return [job.name for job in self.jobs]


@dataclass(frozen=True)
class CompileResult:
    """``status`` says what GitLab would do: create the pipeline, reject the YAML, or create nothing."""

    status: CompileStatus
    plan: PipelinePlan | None = None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "created"
