"""The ``.gitlab-ci.yml`` compiler: a pure function from YAML text and a context to the pipeline GitLab
would create, or GitLab's error messages.

No Django, no database, no network: files come through the loader callables on ``CompileContext``.

    result = compile_pipeline(text, CompileContext(ref="main", source="push"))
    if result.ok:
        for job in result.plan.jobs: ...
    else:
        result.status  # "invalid" | "filtered" | "empty"
        result.errors
"""

from dockyard.ci.compiler.compiler import compile_pipeline, predefined_variables
from dockyard.ci.compiler.plan import (
    AllowFailure,
    Artifacts,
    Cache,
    CacheKey,
    CompileContext,
    CompileResult,
    CrossNeed,
    Environment,
    Image,
    IncludeLoader,
    IncludeNotFound,
    IncludeRequest,
    Job,
    Need,
    PipelinePlan,
    Reports,
    Retry,
    Service,
    Trigger,
    YamlVariable,
)

__all__ = [
    "AllowFailure",
    "Artifacts",
    "Cache",
    "CacheKey",
    "CompileContext",
    "CompileResult",
    "CrossNeed",
    "Environment",
    "Image",
    "IncludeLoader",
    "IncludeNotFound",
    "IncludeRequest",
    "Job",
    "Need",
    "PipelinePlan",
    "Reports",
    "Retry",
    "Service",
    "Trigger",
    "YamlVariable",
    "compile_pipeline",
    "predefined_variables",
]
