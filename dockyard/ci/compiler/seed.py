"""From validated job definitions to the jobs GitLab would create for one pipeline.

Three steps, as in GitLab: expand ``parallel`` (Normalizer), run the logical checks that reject a
configuration (YamlProcessor), then decide job by job with ``rules`` or ``only``/``except`` (Seed::Build).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from dockyard.ci.compiler import expressions, globs
from dockyard.ci.compiler import regex as untrusted
from dockyard.ci.compiler.entries import JobDef, NeedDef, NeedsDef, PolicyDef, RootDef, RuleDef, VariableDef
from dockyard.ci.compiler.plan import (
    AllowFailure,
    Artifacts,
    Cache,
    CacheKey,
    CompileContext,
    CrossNeed,
    Environment,
    Image,
    Job,
    Need,
    Reports,
    Retry,
    Service,
    Trigger,
    YamlVariable,
)
from dockyard.ci.compiler.variables import expand, expand_existing, slugify

MAX_NEEDS = 50


class SeedError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- parallel --------------------------------------------------------------------------------------


def _matrix_rows(matrix: tuple[dict[str, tuple[str, ...]], ...]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for entry in matrix:
        keys = list(entry)
        for combo in itertools.product(*(entry[k] for k in keys)):
            rows.append(dict(zip(keys, combo, strict=True)))
    return rows


def matrix_name(job: str, row: Mapping[str, str]) -> str:
    return f"{job}: [{', '.join(row.values())}]"


def _instance_names(name: str, parallel: Mapping[str, Any]) -> list[str]:
    if "number" in parallel:
        total = parallel["number"]
        return [f"{name} {i}/{total}" for i in range(1, total + 1)]
    return [matrix_name(name, row) for row in _matrix_rows(parallel["matrix"])]


def expand_parallel(jobs: list[JobDef], max_jobs: int) -> list[JobDef]:
    parallelized: dict[str, list[str]] = {}
    out: list[JobDef] = []
    for job in jobs:
        spec = job.config.get("parallel")
        if not spec:
            out.append(job)
            continue
        if "number" in spec:
            total = spec["number"]
            names = _instance_names(job.name, spec)
            for index, name in enumerate(names, start=1):
                out.append(replace(job, name=name, instance=index, total=total))
        else:
            rows = _matrix_rows(spec["matrix"])
            names = []
            for index, row in enumerate(rows, start=1):
                name = matrix_name(job.name, row)
                names.append(name)
                out.append(replace(job, name=name, instance=index, total=len(rows), matrix_variables=row))
        parallelized[job.name] = names
        if len(out) > max_jobs:
            raise SeedError(f"The configuration would create more than {max_jobs} jobs; the pipeline is refused")
    if len(out) > max_jobs:
        raise SeedError(f"The configuration would create more than {max_jobs} jobs; the pipeline is refused")
    if not parallelized:
        return out

    def expand_needs(needs: NeedsDef | None) -> NeedsDef | None:
        if needs is None:
            return None
        items: list[NeedDef] = []
        for need in needs.items:
            if need.cross or need.job not in parallelized:
                items.append(need)
            elif need.parallel_matrix is not None:
                items.extend(
                    replace(need, job=n, parallel_matrix=None)
                    for n in _instance_names(need.job, {"matrix": need.parallel_matrix})
                )
            else:
                items.extend(replace(need, job=n) for n in parallelized[need.job])
        return NeedsDef(tuple(items))

    result = []
    for job in out:
        config = job.config
        if config.get("dependencies"):
            deps = [n for d in config["dependencies"] for n in parallelized.get(d, [d])]
            config = {**config, "dependencies": deps}
        rules = job.rules
        if rules:
            rules = tuple(replace(r, needs=expand_needs(r.needs)) for r in rules)
        result.append(replace(job, config=config, needs=expand_needs(job.needs), rules=rules))
    return result


# --- logical validation ----------------------------------------------------------------------------


def _ruby_inspect(names: list[str]) -> str:
    return "[" + ", ".join(json.dumps(n) for n in names) + "]"


def validate_logic(root: RootDef, jobs: list[JobDef]) -> str | None:
    """GitLab's YamlProcessor checks; like GitLab, report the first failure only."""
    stages = list(root.stages)
    by_name = {job.name: job for job in jobs}

    def stage_index(name: str) -> int | None:
        job = by_name.get(name)
        return stages.index(job.stage) if job and job.stage in stages else None

    def check_dependency(name: str, dependency: str, kind: str, optional: bool = False) -> str | None:
        if dependency not in by_name:
            return None if optional else f"{name} job: undefined {kind}: {dependency}"
        own, theirs = stage_index(name), stage_index(dependency)
        if theirs is None or own is None or theirs > own:
            return f"{name} job: {kind} {dependency} is not defined in current or prior stages"
        return None

    for job in jobs:
        if job.stage not in stages:
            return f"{job.name} job: chosen stage {job.stage} does not exist; available stages are {', '.join(stages)}"
    for job in jobs:
        for dependency in job.config.get("dependencies") or []:
            if error := check_dependency(job.name, dependency, "dependency"):
                return error
        need_lists = [job.needs] + [r.needs for r in job.rules or () if r.needs is not None]
        for needs in need_lists:
            if needs is None:
                continue
            local = [n for n in needs.items if not n.cross]
            for need in local:
                if error := check_dependency(job.name, need.job, "need", need.optional):
                    return error
            seen: dict[str, int] = {}
            for need in local:
                seen[need.job] = seen.get(need.job, 0) + 1
            duplicated = [n for n, count in seen.items() if count > 1]
            if duplicated:
                return f"{job.name} has the following needs duplicated: {', '.join(duplicated)}."
        env = job.config.get("environment")
        if env and env.get("on_stop"):
            on_stop = env["on_stop"]
            stop_job = by_name.get(on_stop)
            if stop_job is None:
                return f"{job.name} job: on_stop job {on_stop} is not defined"
            stop_env = stop_job.config.get("environment")
            if not stop_env:
                return f"{job.name} job: on_stop job {on_stop} does not have environment defined"
            if stop_env.get("name") != env.get("name"):
                return f"{job.name} job: on_stop job {on_stop} have different environment name"
            if stop_env.get("action") != "stop":
                return f"{job.name} job: on_stop job {on_stop} needs to have action stop defined"
    return _circular(jobs)


def _circular(jobs: list[JobDef]) -> str | None:
    graph = {job.name: [n.job for n in (job.needs.items if job.needs else ()) if not n.cross] for job in jobs}
    for name, deps in graph.items():
        if name in deps:
            return f"The pipeline has circular dependencies: self-dependency: {name}"
    # Tarjan's strongly connected components; any component of two or more jobs is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    counter = [0]
    cycle: list[str] = []

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for child in graph.get(node, []):
            if child not in graph:
                continue
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1 and not cycle:
                cycle.extend(reversed(component))

    for node in graph:
        if node not in index:
            visit(node)
    if cycle:
        return f"The pipeline has circular dependencies: topological sort failed: {_ruby_inspect(cycle)}"
    return None


# --- seeding ---------------------------------------------------------------------------------------


def _changes_match(
    paths: tuple[str, ...], compare_to: str | None, ctx: CompileContext, variables: Mapping[str, str]
) -> bool:
    patterns = [expand_existing(p, variables) for p in paths]
    if compare_to is not None:
        if ctx.changed_paths_since is None:
            return True
        changed = ctx.changed_paths_since(expand_existing(compare_to, variables))
        if changed is None:
            raise SeedError("rules:changes:compare_to is not a valid ref")
        return globs.any_match(patterns, list(changed))
    if ctx.changed_paths is None:
        return True
    return globs.any_match(patterns, list(ctx.changed_paths))


def _exists_match(paths: tuple[str, ...], ctx: CompileContext, variables: Mapping[str, str]) -> bool:
    if ctx.files_exist is None:
        return False
    patterns = [expand_existing(p, variables) for p in paths]
    return bool(ctx.files_exist(patterns))


def rule_matches(rule: RuleDef, ctx: CompileContext, variables: Mapping[str, str]) -> bool:
    if rule.if_ is not None and not expressions.truthful(rule.if_, variables):
        return False
    if rule.changes is not None and not _changes_match(rule.changes.paths, rule.changes.compare_to, ctx, variables):
        return False
    return not (rule.exists is not None and not _exists_match(rule.exists.paths, ctx, variables))


def first_matching_rule(
    rules: tuple[RuleDef, ...], ctx: CompileContext, variables: Mapping[str, str]
) -> RuleDef | None:
    for rule in rules:
        if rule_matches(rule, ctx, variables):
            return rule
    return None


def _source_name(ctx: CompileContext) -> str:
    return ctx.source.removesuffix("_event")


def _pluralize(word: str) -> str:
    if word.endswith(("s", "sh", "ch", "x")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _is_branch(ctx: CompileContext) -> bool:
    return ctx.ref_type == "branch" and ctx.source != "merge_request_event"


def _is_tag(ctx: CompileContext) -> bool:
    return ctx.ref_type == "tag" and ctx.source != "merge_request_event"


def _ref_matches(pattern: str, ctx: CompileContext) -> bool:
    pattern, _, path = pattern.partition("@")
    if path and path != ctx.project_path:
        return False
    if _is_tag(ctx) and pattern == "tags":
        return True
    if _is_branch(ctx) and pattern == "branches":
        return True
    source = _source_name(ctx)
    if pattern in (source, _pluralize(source)):
        return True
    if not (_is_branch(ctx) or _is_tag(ctx)):
        return False  # patterns never match the ref of a merge request pipeline
    if untrusted.matches_ruby_syntax(pattern):
        try:
            return untrusted.search(untrusted.fabricate(pattern), ctx.ref)
        except untrusted.UntrustedRegexError:
            return pattern == ctx.ref
    return pattern == ctx.ref


def _policy_satisfied(policy: PolicyDef, ctx: CompileContext, variables: Mapping[str, str]) -> list[bool]:
    """One answer per specification present (refs, variables, changes, kubernetes)."""
    answers = []
    if policy.refs is not None:
        answers.append(any(_ref_matches(p, ctx) for p in policy.refs))
    if policy.variables is not None:
        answers.append(any(expressions.truthful(v, variables) for v in policy.variables))
    if policy.changes is not None:
        answers.append(_changes_match(policy.changes, None, ctx, variables))
    if policy.kubernetes is not None:
        answers.append(False)  # no deployment platform is known to the compiler
    return answers


def _inherited_globals(root: RootDef, job: JobDef, workflow_vars: Mapping[str, VariableDef]) -> dict[str, VariableDef]:
    merged = {**root.variables, **workflow_vars}
    choice = job.inherit.get("variables", True)
    if choice is True:
        return merged
    if choice is False:
        return {}
    return {k: v for k, v in merged.items() if k in choice}


def _inherits(job: JobDef, key: str) -> bool:
    choice = job.inherit.get("default", True)
    return choice is True or (isinstance(choice, list) and key in choice)


def _inherited_defaults(root: RootDef, job: JobDef) -> dict[str, Any]:
    choice = job.inherit.get("default", True)
    if choice is False:
        return {}
    defaults = root.default
    if isinstance(choice, list):
        defaults = {k: v for k, v in defaults.items() if k in choice}
    return {k: v for k, v in defaults.items() if v is not None}


def _variables_of(defs: Mapping[str, VariableDef]) -> dict[str, str]:
    return {k: v.value for k, v in defs.items()}


def job_predefined(name: str, stage: str, job: JobDef) -> dict[str, str]:
    values = {
        "CI_JOB_NAME": name,
        "CI_JOB_NAME_SLUG": slugify(name),
        "CI_JOB_STAGE": stage,
        "CI_NODE_TOTAL": str(job.total or 1),
    }
    if job.instance is not None:
        values["CI_NODE_INDEX"] = str(job.instance)
    return values


def seed_job(  # noqa: PLR0915 - one pass over the job, in the order GitLab decides things
    job: JobDef,
    root: RootDef,
    ctx: CompileContext,
    *,
    base_variables: Mapping[str, str],
    workflow_vars: Mapping[str, VariableDef],
    has_workflow_rules: bool,
) -> Job | None:
    """The job GitLab would create, or ``None`` when its rules, ``only`` or ``except`` leave it out."""
    stages = list(root.stages)
    global_defs = _inherited_globals(root, job, workflow_vars)
    job_defs: dict[str, VariableDef] = {**job.variables}
    for key, value in job.matrix_variables.items():
        job_defs[key] = VariableDef(value)
    evaluation = {
        **base_variables,
        **job_predefined(job.name, job.stage, job),
        **_variables_of(global_defs),
        **_variables_of(job_defs),
        **ctx.user_variables,
    }

    config = job.config
    job_when = config.get("when")
    when = job_when or "on_success"
    allow = config.get("allow_failure")
    allowed = allow["allowed"] if allow is not None else job_when == "manual"
    exit_codes: tuple[int, ...] = allow.get("exit_codes", ()) if allow else ()
    start_in = config.get("start_in")
    interruptible = config.get(
        "interruptible", root.default.get("interruptible") if _inherits(job, "interruptible") else None
    )
    needs = job.needs

    if job.rules is not None:
        rule = first_matching_rule(job.rules, ctx, evaluation)
        if rule is None or rule.when == "never":
            return None
        when = rule.when or when
        if rule.allow_failure is not None:
            allowed = rule.allow_failure
            exit_codes = ()
        if rule.start_in is not None:
            start_in = rule.start_in
        if rule.interruptible is not None:
            interruptible = rule.interruptible
        if rule.needs is not None:
            needs = rule.needs
        job_defs.update(rule.variables)
    else:
        only = job.only
        if only is None and not has_workflow_rules:
            only = PolicyDef(refs=("branches", "tags"))
        if only is not None and not all(_policy_satisfied(only, ctx, evaluation)):
            return None
        if job.except_ is not None and any(_policy_satisfied(job.except_, ctx, evaluation)):
            return None
    if when == "never":
        return None
    if when != "delayed":
        start_in = None

    defaults = _inherited_defaults(root, job)
    values = {**defaults, **{k: v for k, v in config.items() if v is not None}}
    yaml_vars = {**global_defs, **job_defs}
    effective = {
        **base_variables,
        **job_predefined(job.name, job.stage, job),
        **_variables_of(yaml_vars),
        **ctx.user_variables,
    }
    environment = _environment(values.get("environment"), effective)
    if environment is not None:
        effective = {**effective, "CI_ENVIRONMENT_NAME": environment.name, "CI_ENVIRONMENT_ACTION": environment.action}
        if environment.url:
            effective["CI_ENVIRONMENT_URL"] = environment.url
        if environment.deployment_tier:
            effective["CI_ENVIRONMENT_TIER"] = environment.deployment_tier
    resource_group = values.get("resource_group")

    plan_needs: tuple[Need, ...] | None = None
    cross: tuple[CrossNeed, ...] = ()
    if needs is not None:
        plan_needs = tuple(Need(n.job, n.artifacts, n.optional) for n in needs.items if not n.cross)
        cross = tuple(CrossNeed(n.job, n.project, n.ref, n.pipeline, n.artifacts) for n in needs.items if n.cross)

    return Job(
        name=job.name,
        stage=job.stage,
        stage_idx=stages.index(job.stage),
        script=job.script,
        before_script=tuple(values.get("before_script") or ()),
        after_script=tuple(values.get("after_script") or ()),
        image=_image(values.get("image")),
        services=tuple(_service(s) for s in values.get("services") or ()),
        yaml_variables=tuple(YamlVariable(k, v.value, v.raw) for k, v in yaml_vars.items()),
        variables=effective,
        when=when,  # type: ignore[arg-type]
        start_in=start_in,
        allow_failure=AllowFailure(allowed, exit_codes),
        needs=plan_needs,
        cross_needs=cross,
        dependencies=tuple(config["dependencies"]) if config.get("dependencies") is not None else None,
        parallel_index=job.instance,
        parallel_total=job.total,
        retry=_retry(values.get("retry")),
        timeout=values.get("timeout"),
        interruptible=interruptible,
        resource_group=expand(resource_group, effective) if isinstance(resource_group, str) else None,
        environment=environment,
        artifacts=_artifacts(values.get("artifacts")),
        cache=tuple(_cache(c) for c in values.get("cache") or ()),
        coverage=values.get("coverage"),
        tags=tuple(values.get("tags") or ()),
        trigger=_trigger(values.get("trigger"), effective) if job.bridge else None,
        release=values.get("release"),
        hooks=values.get("hooks"),
        id_tokens=values.get("id_tokens"),
        secrets=values.get("secrets"),
        manual_confirmation=values.get("manual_confirmation"),
        pages=values.get("pages"),
    )


def check_needs_present(jobs: list[Job]) -> list[str]:
    names = {job.name for job in jobs}
    errors: list[str] = []
    for job in jobs:
        if job.needs is None:
            continue
        if len(job.needs) > MAX_NEEDS:
            errors.append(
                f"{job.name}: one job can only need {MAX_NEEDS} others, but you have listed {len(job.needs)}. "
                "See needs keyword documentation for more details"
            )
            continue
        for need in job.needs:
            if not need.optional and need.job not in names:
                errors.append(f"'{job.name}' job needs '{need.job}' job, but '{need.job}' is not in any previous stage")
    return errors


def drop_absent_optional_needs(jobs: list[Job]) -> list[Job]:
    names = {job.name for job in jobs}
    out = []
    for job in jobs:
        if job.needs is not None and any(n.job not in names for n in job.needs):
            out.append(replace(job, needs=tuple(n for n in job.needs if n.job in names)))
        else:
            out.append(job)
    return out


# --- conversions to plan dataclasses ---------------------------------------------------------------


def _tuple_or_none(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


def _image(value: Mapping[str, Any] | None) -> Image | None:
    if not value:
        return None
    return Image(
        name=value["name"],
        entrypoint=_tuple_or_none(value.get("entrypoint")),
        pull_policy=_tuple_or_none(value.get("pull_policy")),
        docker=value.get("docker"),
    )


def _service(value: Mapping[str, Any]) -> Service:
    variables: Mapping[str, VariableDef] = value.get("variables") or {}
    return Service(
        name=value["name"],
        alias=value.get("alias"),
        entrypoint=_tuple_or_none(value.get("entrypoint")),
        command=_tuple_or_none(value.get("command")),
        variables=tuple(YamlVariable(k, v.value, v.raw) for k, v in variables.items()),
        pull_policy=_tuple_or_none(value.get("pull_policy")),
    )


def _retry(value: Mapping[str, Any] | None) -> Retry | None:
    if value is None:
        return None
    return Retry(
        max=value.get("max", 0),
        when=tuple(value.get("when", ("always",))),
        exit_codes=tuple(value.get("exit_codes", ())),
    )


def _environment(value: Mapping[str, Any] | None, variables: Mapping[str, str]) -> Environment | None:
    if not value:
        return None
    url = value.get("url")
    return Environment(
        name=expand(value["name"], variables),
        url=expand(url, variables) if isinstance(url, str) else None,
        action=value.get("action", "start"),
        on_stop=value.get("on_stop"),
        auto_stop_in=value.get("auto_stop_in"),
        deployment_tier=value.get("deployment_tier"),
        kubernetes=value.get("kubernetes"),
    )


def _artifacts(value: Mapping[str, Any] | None) -> Artifacts | None:
    if not value:
        return None
    reports = dict(value.get("reports") or {})
    junit = _tuple_or_none(reports.pop("junit", None)) or ()
    dotenv = _tuple_or_none(reports.pop("dotenv", None)) or ()
    return Artifacts(
        paths=tuple(value.get("paths") or ()),
        exclude=tuple(value.get("exclude") or ()),
        name=value.get("name"),
        expire_in=value.get("expire_in"),
        when=value.get("when", "on_success"),
        expose_as=value.get("expose_as"),
        untracked=bool(value.get("untracked", False)),
        public=value.get("public"),
        access=value.get("access"),
        reports=Reports(junit=junit, dotenv=dotenv, other=reports),
    )


def _cache(value: Mapping[str, Any]) -> Cache:
    key = value.get("key") or {"value": "default"}
    return Cache(
        key=CacheKey(value=key.get("value"), files=tuple(key.get("files") or ()), prefix=key.get("prefix")),
        paths=tuple(value.get("paths") or ()),
        untracked=bool(value.get("untracked", False)),
        policy=value.get("policy", "pull-push"),
        when=value.get("when", "on_success"),
        unprotect=bool(value.get("unprotect", False)),
        fallback_keys=tuple(value.get("fallback_keys") or ()),
    )


def _trigger(value: Mapping[str, Any] | None, variables: Mapping[str, str]) -> Trigger | None:
    if not value:
        return None
    include = value.get("include")
    includes: tuple[Mapping[str, Any], ...] = ()
    if isinstance(include, str):
        includes = ({"local": include},)
    elif isinstance(include, list):
        includes = tuple({"local": i} if isinstance(i, str) else i for i in include)
    elif isinstance(include, dict):
        includes = (include,)
    project = value.get("project")
    branch = value.get("branch")
    return Trigger(
        project=expand(project, variables) if isinstance(project, str) else None,
        branch=expand(branch, variables) if isinstance(branch, str) else None,
        strategy=value.get("strategy"),
        include=includes,
        forward=value.get("forward"),
    )
