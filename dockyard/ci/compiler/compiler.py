"""``compile_pipeline``: YAML text and a context in, the pipeline GitLab would create (or its errors) out."""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.ci.compiler import loading, seed
from dockyard.ci.compiler.entries import RootDef, VariableDef, validate_root
from dockyard.ci.compiler.plan import CompileContext, CompileResult, Job, PipelinePlan, YamlVariable
from dockyard.ci.compiler.variables import expand, slugify

WORKFLOW_FILTERED = "Pipeline filtered out by workflow rules."
NO_JOBS = (
    "Pipeline will not run for the selected trigger. "
    "The rules configuration prevented any jobs from being added to the pipeline."
)
BLANK = "Please provide content of .gitlab-ci.yml"


def predefined_variables(ctx: CompileContext) -> dict[str, str]:
    """The predefined variables that follow from the context alone; ``ctx.variables`` adds to and overrides
    them (the caller knows the server URL, the project id, the commit message …)."""
    values = {
        "CI": "true",
        "GITLAB_CI": "true",
        "CI_PIPELINE_SOURCE": ctx.source,
        "CI_COMMIT_SHA": ctx.sha,
        "CI_COMMIT_SHORT_SHA": ctx.sha[:8],
        "CI_COMMIT_BEFORE_SHA": ctx.before_sha,
        "CI_COMMIT_REF_NAME": ctx.ref,
        "CI_COMMIT_REF_SLUG": slugify(ctx.ref),
        "CI_DEFAULT_BRANCH": ctx.default_branch,
        "CI_CONFIG_PATH": ".gitlab-ci.yml",
    }
    if ctx.project_path:
        values["CI_PROJECT_PATH"] = ctx.project_path
        values["CI_PROJECT_PATH_SLUG"] = slugify(ctx.project_path)
        values["CI_PROJECT_NAME"] = ctx.project_path.rsplit("/", 1)[-1]
        values["CI_PROJECT_NAMESPACE"] = ctx.project_path.rsplit("/", 1)[0] if "/" in ctx.project_path else ""
    if ctx.source != "merge_request_event":
        if ctx.ref_type == "tag":
            values["CI_COMMIT_TAG"] = ctx.ref
        else:
            values["CI_COMMIT_BRANCH"] = ctx.ref
    return values


def _invalid(errors: list[str] | tuple[str, ...], warnings: list[str] | None = None) -> CompileResult:
    return CompileResult(status="invalid", errors=tuple(errors), warnings=tuple(warnings or ()))


def compile_pipeline(yaml_text: str, ctx: CompileContext) -> CompileResult:
    """Plan the pipeline GitLab would create from ``yaml_text`` for ``ctx``. Never raises for bad input."""
    if not yaml_text or not yaml_text.strip():
        return _invalid([BLANK])
    base = {**predefined_variables(ctx), **ctx.variables}
    # Includes see the predefined, project, group, instance and pipeline variables, not the YAML ones.
    include_variables = {**base, **ctx.user_variables}
    try:
        config = loading.load_yaml(yaml_text)
        config = loading.resolve_includes(config, ctx, include_variables)
        config = loading.resolve_extends(config)
        config = loading.resolve_references(config)
    except loading.ConfigError as exc:
        return _invalid([exc.message])
    except RecursionError:
        return _invalid(["The parsed YAML is too deep"])

    root, errors = validate_root(config)
    if root is None:
        return _invalid(errors)
    warnings = root.warnings

    try:
        jobs = seed.expand_parallel(root.jobs, ctx.max_jobs)
    except seed.SeedError as exc:
        return _invalid([exc.message], warnings)
    if error := seed.validate_logic(root, jobs):
        return _invalid([error], warnings)

    global_values = {k: v.value for k, v in root.variables.items()}
    workflow_vars: dict[str, VariableDef] = {}
    auto_cancel = None
    if root.workflow_rules is not None:
        evaluation = {**base, **global_values, **ctx.user_variables}
        try:
            rule = seed.first_matching_rule(root.workflow_rules, ctx, evaluation)
        except seed.SeedError as exc:
            return _invalid([exc.message], warnings)
        if rule is None or rule.when == "never":
            return CompileResult(status="filtered", errors=(WORKFLOW_FILTERED,), warnings=tuple(warnings))
        workflow_vars = dict(rule.variables)
        auto_cancel = rule.auto_cancel

    planned: list[Job] = []
    try:
        for job in jobs:
            created = seed.seed_job(
                job,
                root,
                ctx,
                base_variables=base,
                workflow_vars=workflow_vars,
                has_workflow_rules=root.workflow_rules is not None,
            )
            if created is not None:
                planned.append(created)
    except seed.SeedError as exc:
        return _invalid([exc.message], warnings)

    planned.sort(key=lambda j: j.stage_idx)  # stable: jobs keep their file order inside a stage
    if not [j for j in planned if j.stage not in (".pre", ".post")]:
        return CompileResult(status="empty", errors=(NO_JOBS,), warnings=tuple(warnings))
    if needs_errors := seed.check_needs_present(planned):
        return _invalid(needs_errors, warnings)
    planned = seed.drop_absent_optional_needs(planned)

    return CompileResult(
        status="created",
        plan=_plan(root, planned, workflow_vars=workflow_vars, auto_cancel=auto_cancel, base=base, ctx=ctx),
        warnings=tuple(warnings),
    )


def _plan(
    root: RootDef,
    jobs: list[Job],
    *,
    workflow_vars: Mapping[str, VariableDef],
    auto_cancel: Mapping[str, str] | None,
    base: Mapping[str, str],
    ctx: CompileContext,
) -> PipelinePlan:
    merged = {**root.variables, **workflow_vars}
    name = None
    if root.workflow_name is not None:
        name = expand(root.workflow_name, {**base, **{k: v.value for k, v in merged.items()}, **ctx.user_variables})
    used = {job.stage for job in jobs}
    return PipelinePlan(
        stages=tuple(stage for stage in root.stages if stage in used),
        declared_stages=root.stages,
        jobs=tuple(jobs),
        yaml_variables=tuple(YamlVariable(k, v.value, v.raw) for k, v in merged.items()),
        name=name or None,
        # A matching workflow rule's keys override the file's, key by key (GitLab's PopulateMetadata).
        auto_cancel={**(root.workflow_auto_cancel or {}), **(auto_cancel or {})} or None,
    )
