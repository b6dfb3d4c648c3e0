"""Validation of the merged configuration, entry by entry, with GitLab's messages.

GitLab builds a tree of entries (root → jobs → job → rules → rule …); each error reads
``"<location> <attribute> <message>"`` lower-cased, the location being the path of keys joined by ``:``
(``jobs:build:rules:rule if invalid expression syntax``). The functions here check the same things in
the same words and, for a valid configuration, return normalized Python values ready for seeding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dockyard.ci.compiler import durations, expressions
from dockyard.ci.compiler import regex as untrusted
from dockyard.ci.compiler.loading import ruby_to_s

DEFAULT_STAGES = ("build", "test", "deploy")
EDGE_STAGES = (".pre", ".post")
PARALLEL_LIMIT = 200
MAX_NESTED_SCRIPT = 10
MAX_CACHES = 4
MAX_TAGS = 50

JOB_KEYS = [
    "tags",
    "script",
    "image",
    "services",
    "start_in",
    "artifacts",
    "cache",
    "dependencies",
    "before_script",
    "after_script",
    "hooks",
    "coverage",
    "retry",
    "parallel",
    "timeout",
    "release",
    "id_tokens",
    "publish",
    "pages",
    "manual_confirmation",
    "run",
    "secrets",
    "identity",
    "dast_configuration",
]
PROCESSABLE_KEYS = [
    "extends",
    "stage",
    "only",
    "except",
    "rules",
    "variables",
    "inherit",
    "allow_failure",
    "when",
    "needs",
    "resource_group",
    "environment",
    "interruptible",
]
BRIDGE_KEYS = ["trigger", "parallel"]
DEFAULT_KEYS = [
    "after_script",
    "artifacts",
    "before_script",
    "cache",
    "hooks",
    "id_tokens",
    "image",
    "interruptible",
    "retry",
    "services",
    "tags",
    "timeout",
]
INHERITABLE = DEFAULT_KEYS
ROOT_KEYS = (
    "default",
    "include",
    "before_script",
    "image",
    "services",
    "after_script",
    "variables",
    "stages",
    "cache",
    "workflow",
    "spec",
)
JOB_WHEN = ("on_success", "on_failure", "always", "manual", "delayed")
RULE_WHEN = ("on_success", "on_failure", "always", "never", "manual", "delayed")
RULE_KEYS = ("if", "changes", "exists", "when", "start_in", "allow_failure", "variables", "needs", "interruptible")
WORKFLOW_RULE_KEYS = ("if", "changes", "exists", "when", "variables", "auto_cancel")
RETRY_WHEN = [
    "always",
    "unknown_failure",
    "script_failure",
    "api_failure",
    "stuck_or_timeout_failure",
    "runner_system_failure",
    "runner_unsupported",
    "stale_schedule",
    "job_execution_timeout",
    "archived_failure",
    "unmet_prerequisites",
    "scheduler_failure",
    "data_integrity_failure",
]
ENVIRONMENT_ACTIONS = ("start", "prepare", "stop", "verify", "access")
ARTIFACT_KEYS = (
    "name",
    "untracked",
    "paths",
    "reports",
    "when",
    "expire_in",
    "expose_as",
    "exclude",
    "public",
    "access",
)
CACHE_KEYS = ("key", "untracked", "paths", "when", "policy", "unprotect", "fallback_keys")
IMAGE_KEYS = ("name", "entrypoint", "ports", "pull_policy", "docker", "kubernetes")
SERVICE_KEYS = ("name", "entrypoint", "command", "alias", "ports", "variables", "pull_policy", "docker", "kubernetes")
ENVIRONMENT_KEYS = ("name", "url", "action", "on_stop", "auto_stop_in", "kubernetes", "deployment_tier")
POLICY_REF_KEYWORDS = ("refs", "kubernetes", "variables", "changes")


class Errors:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, location: str, attribute: str, message: str) -> None:
        text = (
            f"{location} {attribute.replace('_', ' ')} {message}".lower()
            if attribute
            else f"{location} {message}".lower()
        )
        if text not in self.items:
            self.items.append(text)

    def __bool__(self) -> bool:
        return bool(self.items)


def is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def flatten(value: Any, max_level: int = MAX_NESTED_SCRIPT) -> list[Any] | None:
    """Nested arrays (from ``!reference``) up to ``max_level`` deep, flattened; ``None`` when deeper."""
    out: list[Any] = []

    def walk(items: list[Any], level: int) -> bool:
        for item in items:
            if isinstance(item, list):
                if level >= max_level or not walk(item, level + 1):
                    return False
            else:
                out.append(item)
        return True

    return out if walk(value, 1) else None


def commands(value: Any, location: str, key: str, errors: Errors) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        flat = flatten(value)
        if flat is not None and all(isinstance(v, str) for v in flat):
            return tuple(flat)
    errors.add(
        f"{location}:{key}",
        "config",
        f"should be a string or a nested array of strings up to {MAX_NESTED_SCRIPT} levels deep",
    )
    return None


# --- variables -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariableDef:
    value: str
    raw: bool = False
    description: str | None = None
    options: tuple[str, ...] = ()


def variables(value: Any, location: str, errors: Errors, *, root: bool) -> dict[str, VariableDef]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add(location, "config", "should be a hash")
        return {}
    allowed = ("value", "description", "expand", "options") if root else ("value", "expand")
    out: dict[str, VariableDef] = {}
    for key, raw in value.items():
        where = f"{location}:{key}"
        if is_scalar(raw):
            out[key] = VariableDef(ruby_to_s(raw))
        elif isinstance(raw, dict):
            extra = [k for k in raw if k not in allowed]
            if extra:
                errors.add(where, "config", f"uses invalid data keys: {', '.join(extra)}")
                continue
            if "value" in raw and raw["value"] is not None and not is_scalar(raw["value"]):
                errors.add(where, "config value", "must be a scalar")
                continue
            if "expand" in raw and not is_bool(raw["expand"]):
                errors.add(where, "config expand", "should be a boolean value")
                continue
            options = raw.get("options")
            if options is not None and not is_str_list(options):
                errors.add(where, "config options", "should be an array of strings")
                continue
            text = ruby_to_s(raw.get("value"))
            if options and text not in options:
                errors.add(where, "config", "value must be present in options")
                continue
            description = raw.get("description")
            out[key] = VariableDef(
                text,
                raw=raw.get("expand") is False,
                description=ruby_to_s(description) if description is not None else None,
                options=tuple(options or ()),
            )
        else:
            errors.add(where, "", "variable definition must be either a string or a hash")
    return out


# --- rules -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangesDef:
    paths: tuple[str, ...]
    compare_to: str | None = None


@dataclass(frozen=True)
class ExistsDef:
    paths: tuple[str, ...]
    project: str | None = None
    ref: str | None = None


@dataclass(frozen=True)
class RuleDef:
    if_: str | None = None
    changes: ChangesDef | None = None
    exists: ExistsDef | None = None
    when: str | None = None
    start_in: str | None = None
    allow_failure: bool | None = None
    interruptible: bool | None = None
    variables: dict[str, VariableDef] = field(default_factory=dict)
    needs: NeedsDef | None = None
    auto_cancel: dict[str, Any] | None = None


def _paths_clause(
    value: Any, location: str, errors: Errors, *, extra: tuple[str, ...]
) -> tuple[tuple[str, ...], dict[str, Any]] | None:
    if isinstance(value, dict):
        unknown = [k for k in value if k not in ("paths", *extra)]
        if unknown:
            errors.add(location, "config", f"contains unknown keys: {', '.join(unknown)}")
            return None
        paths = value.get("paths")
        if paths is None:
            errors.add(location, "paths", "can't be blank") if "compare_to" in extra else None
            paths = []
        options = {k: value[k] for k in extra if k in value}
    else:
        paths, options = value, {}
    flat = flatten(paths) if isinstance(paths, list) else None
    if flat is None or not all(isinstance(p, str) for p in flat):
        errors.add(location, "config" if not isinstance(value, dict) else "paths", "should be an array of strings")
        return None
    if len(flat) > 50:
        errors.add(location, "config" if not isinstance(value, dict) else "paths", "has too many entries (maximum 50)")
        return None
    return tuple(flat), options


def rules(  # noqa: PLR0915 - each check reports its own message, in GitLab's order
    value: Any, location: str, errors: Errors, *, workflow: bool = False
) -> tuple[RuleDef, ...] | None:
    if value is None:
        return None
    flat = flatten(value) if isinstance(value, list) else None
    if flat is None or not all(isinstance(r, dict) for r in flat):
        errors.add(
            location.rsplit(":", 1)[0] if not workflow else location,
            "rules" if not workflow else "config",
            "should be an array containing hashes and arrays of hashes"
            if not workflow
            else "should be an array of hashes",
        )
        return None
    out: list[RuleDef] = []
    where = f"{location}:rule"
    allowed_keys = WORKFLOW_RULE_KEYS if workflow else RULE_KEYS
    allowed_when = ("always", "never") if workflow else RULE_WHEN
    for rule in flat:
        if not rule:
            errors.add(where, "config", "can't be blank")
            continue
        unknown = [k for k in rule if k not in allowed_keys]
        if unknown:
            errors.add(where, "config", f"contains unknown keys: {', '.join(unknown)}")
            continue
        ok = True
        if "if" in rule and rule["if"] is not None and not expressions.is_valid(rule["if"]):
            errors.add(where, "if", "invalid expression syntax")
            ok = False
        when = rule.get("when")
        if when is not None and (not isinstance(when, str) or when not in allowed_when):
            errors.add(where, "when", f"unknown value: {ruby_to_s(when)}")
            ok = False
        if when == "delayed":
            if rule.get("start_in") is None:
                errors.add(where, "start_in", "can't be blank")
                ok = False
            elif durations.parse(rule["start_in"]) is None:
                errors.add(where, "start_in", "should be a duration")
                ok = False
            elif not durations.within(rule["start_in"], durations.WEEK):
                errors.add(where, "start_in", "should not exceed the limit")
                ok = False
        elif "start_in" in rule:
            errors.add(where, "config", "contains disallowed keys: start_in")
            ok = False
        for key in ("allow_failure", "interruptible"):
            if rule.get(key) is not None and not is_bool(rule[key]):
                errors.add(where, key, "should be a boolean value")
                ok = False
        changes = exists = None
        if "changes" in rule:
            parsed = _paths_clause(rule["changes"], f"{where}:changes", errors, extra=("compare_to",))
            if parsed is None:
                ok = False
            else:
                compare_to = parsed[1].get("compare_to")
                changes = ChangesDef(parsed[0], ruby_to_s(compare_to) if compare_to is not None else None)
        if "exists" in rule:
            parsed = _paths_clause(rule["exists"], f"{where}:exists", errors, extra=("project", "ref"))
            if parsed is None:
                ok = False
            else:
                exists = ExistsDef(parsed[0], parsed[1].get("project"), parsed[1].get("ref"))
        rule_vars = variables(rule.get("variables"), f"{where}:variables", errors, root=False)
        needs_def = None
        if "needs" in rule:
            needs_def = needs(rule["needs"], f"{where}:needs", errors)
        if ok:
            out.append(
                RuleDef(
                    if_=rule.get("if"),
                    changes=changes,
                    exists=exists,
                    when=when,
                    start_in=rule.get("start_in"),
                    allow_failure=rule.get("allow_failure"),
                    interruptible=rule.get("interruptible"),
                    variables=rule_vars,
                    needs=needs_def,
                    auto_cancel=auto_cancel_entry(rule.get("auto_cancel"), f"{where}:auto_cancel", errors),
                )
            )
    return tuple(out)


# --- needs -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NeedDef:
    job: str
    artifacts: bool = True
    optional: bool = False
    parallel_matrix: tuple[dict[str, tuple[str, ...]], ...] | None = None
    project: str | None = None
    ref: str | None = None
    pipeline: str | None = None

    @property
    def cross(self) -> bool:
        return self.project is not None or self.pipeline is not None


@dataclass(frozen=True)
class NeedsDef:
    items: tuple[NeedDef, ...]


def needs(value: Any, location: str, errors: Errors) -> NeedsDef | None:
    items = value if isinstance(value, list) else [value] if isinstance(value, (str, dict)) else None
    if items is None:
        errors.add(location, "config", "can only be a hash or an array")
        return None
    out: list[NeedDef] = []
    for item in items:
        where = f"{location}:need"
        if isinstance(item, str):
            out.append(NeedDef(item))
            continue
        if not isinstance(item, dict):
            errors.add(where, "config", "has an unsupported type")
            continue
        allowed = ("job", "artifacts", "optional", "parallel", "project", "ref", "pipeline")
        unknown = [k for k in item if k not in allowed]
        if unknown:
            errors.add(where, "config", f"contains unknown keys: {', '.join(unknown)}")
            continue
        if not isinstance(item.get("job"), str):
            errors.add(where, "job", "can't be blank" if "job" not in item else "should be a string")
            continue
        for key in ("artifacts", "optional"):
            if key in item and not is_bool(item[key]):
                errors.add(where, key, "should be a boolean value")
        matrix = None
        if "parallel" in item:
            parallel = item["parallel"]
            if not isinstance(parallel, dict) or "matrix" not in parallel:
                errors.add(f"{where}:parallel", "config", 'cannot use "parallel: <number>".')
                continue
            matrix = _matrix(parallel["matrix"], f"{where}:parallel:matrix", errors)
        out.append(
            NeedDef(
                job=item["job"],
                artifacts=item.get("artifacts", True) is not False,
                optional=item.get("optional", False) is True,
                parallel_matrix=matrix,
                project=item.get("project"),
                ref=item.get("ref"),
                pipeline=ruby_to_s(item["pipeline"]) if "pipeline" in item else None,
            )
        )
    return NeedsDef(tuple(out))


def _matrix(value: Any, location: str, errors: Errors) -> tuple[dict[str, tuple[str, ...]], ...] | None:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        errors.add(location, "config", "should be an array of hashes")
        return None
    out = []
    for index, entry in enumerate(value):
        if not entry:
            errors.add(f"{location}:{index}", "config", "requires at least 1 items")
            return None
        row: dict[str, tuple[str, ...]] = {}
        for key, raw in entry.items():
            values = raw if isinstance(raw, list) else [raw]
            if not all(is_scalar(v) for v in values):
                errors.add(
                    f"{location}:{index}", "config", "should be a hash of key value pairs, value can be an array"
                )
                return None
            row[key] = tuple(ruby_to_s(v) for v in values)
        out.append(row)
    return tuple(out)


def matrix_size(matrix: tuple[dict[str, tuple[str, ...]], ...]) -> int:
    total = 0
    for row in matrix:
        size = 1
        for values in row.values():
            size *= len(values)
        total += size
    return total


# --- policy (only/except) --------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyDef:
    refs: tuple[str, ...] | None = None
    variables: tuple[str, ...] | None = None
    changes: tuple[str, ...] | None = None
    kubernetes: str | None = None


def _refs_ok(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, str) and (not untrusted.matches_ruby_syntax(v) or untrusted.is_valid_ruby_regex(v)) for v in value
    )


def policy(value: Any, location: str, errors: Errors) -> PolicyDef | None:
    if value is None:
        return None
    if isinstance(value, list):
        if not _refs_ok(value):
            errors.add(location, "config", "should be an array of strings or regular expressions using re2 syntax")
            return None
        return PolicyDef(refs=tuple(value))
    if not isinstance(value, dict):
        errors.add(location, "", "has to be either an array of conditions or a hash")
        return None
    if not value:
        errors.add(location, "config", "can't be blank")
        return None
    unknown = [k for k in value if k not in POLICY_REF_KEYWORDS]
    if unknown:
        errors.add(location, "config", f"contains unknown keys: {', '.join(unknown)}")
        return None
    ok = True
    if "refs" in value and not _refs_ok(value["refs"]):
        errors.add(location, "refs", "should be an array of strings or regular expressions using re2 syntax")
        ok = False
    if "variables" in value and not (
        is_str_list(value["variables"]) and all(expressions.is_valid(v) for v in value["variables"])
    ):
        errors.add(f"{location}:variables", "config", "should be an array of valid expressions")
        ok = False
    changes = value.get("changes")
    if changes is not None and not is_str_list(changes):
        errors.add(f"{location}:changes", "config", "should be an array of strings")
        ok = False
    if "kubernetes" in value and value["kubernetes"] != "active":
        errors.add(location, "kubernetes", f"unknown value: {ruby_to_s(value['kubernetes'])}")
        ok = False
    if not ok:
        return None
    return PolicyDef(
        refs=tuple(value["refs"]) if "refs" in value else None,
        variables=tuple(value["variables"]) if "variables" in value else None,
        changes=tuple(changes) if changes is not None else None,
        kubernetes=value.get("kubernetes"),
    )


# --- small keyed entries ---------------------------------------------------------------------------


AUTO_CANCEL_OPTIONS = {
    "on_new_commit": ("conservative", "interruptible", "none"),
    "on_job_failure": ("none", "all"),
}


def auto_cancel_entry(value: Any, location: str, errors: Errors) -> dict[str, str] | None:
    """``workflow:auto_cancel`` (or a workflow rule's): ``on_new_commit`` and ``on_job_failure``."""
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add(location, "config", "should be a hash")
        return None
    if _unknown(value, tuple(AUTO_CANCEL_OPTIONS), location, errors):
        return None
    for key, allowed in AUTO_CANCEL_OPTIONS.items():
        if key in value and value[key] not in allowed:
            errors.add(location, key, f"must be one of: {', '.join(allowed)}")
            return None
    return dict(value)


def _unknown(value: dict[str, Any], allowed: tuple[str, ...] | list[str], location: str, errors: Errors) -> bool:
    extra = [k for k in value if k not in allowed]
    if extra:
        errors.add(location, "config", f"contains unknown keys: {', '.join(extra)}")
    return bool(extra)


def _string_or_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if is_str_list(value):
        return tuple(value)
    return None


def image(value: Any, location: str, errors: Errors) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {"name": value}
    if not isinstance(value, dict):
        errors.add(location, "config", "should be a hash or a string")
        return None
    if _unknown(value, IMAGE_KEYS, location, errors):
        return None
    if not isinstance(value.get("name"), str) or not value["name"]:
        errors.add(location, "name", "can't be blank")
        return None
    if "entrypoint" in value and not is_str_list(value["entrypoint"]):
        errors.add(location, "entrypoint", "should be an array of strings")
        return None
    if "pull_policy" in value and _string_or_list(value["pull_policy"]) is None:
        errors.add(f"{location}:pull_policy", "config", "should be a string or an array of strings")
        return None
    return dict(value)


def services(value: Any, location: str, errors: Errors) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        errors.add(location, "config", "should be a array")
        return None
    out = []
    for item in value:
        where = f"{location}:service"
        if isinstance(item, str):
            out.append({"name": item})
            continue
        if not isinstance(item, dict):
            errors.add(where, "config", "should be a hash or a string")
            return None
        if _unknown(item, SERVICE_KEYS, where, errors):
            return None
        if not isinstance(item.get("name"), str) or not item["name"]:
            errors.add(where, "name", "can't be blank")
            return None
        for key in ("entrypoint", "command"):
            if key in item and not is_str_list(item[key]):
                errors.add(where, key, "should be an array of strings")
                return None
        if "alias" in item and not isinstance(item["alias"], str):
            errors.add(where, "alias", "should be a string")
            return None
        service = dict(item)
        if "variables" in item:
            service["variables"] = variables(item["variables"], f"{where}:variables", errors, root=False)
        out.append(service)
    return out


def _cache_key(value: Any, location: str, errors: Errors) -> dict[str, Any] | None:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        text = ruby_to_s(value)
        if "/" in text or "%2f" in text.lower():
            errors.add(location, "config", 'cannot contain the "/" character')
            return None
        if text in (".", ".."):
            errors.add(location, "config", 'cannot be "." or ".."')
            return None
        return {"value": text}
    if isinstance(value, dict):
        if _unknown(value, ("files", "prefix"), location, errors):
            return None
        files = value.get("files")
        if not is_str_list(files) or not files:
            errors.add(f"{location}:files", "config", "should be an array of strings")
            return None
        if len(files) > 2:
            errors.add(f"{location}:files", "config", "has too many entries (maximum 2)")
            return None
        prefix = value.get("prefix")
        return {"files": tuple(files), "prefix": ruby_to_s(prefix) if prefix is not None else None}
    errors.add(location, "config", "should be a hash, a string or a symbol")
    return None


def caches(value: Any, location: str, errors: Errors) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_CACHES:
        errors.add(location, "config", f"no more than {MAX_CACHES} caches can be created")
        return None
    out = []
    for item in items:
        if not isinstance(item, dict):
            errors.add(location, "config", "should be a hash")
            return None
        if _unknown(item, CACHE_KEYS, location, errors):
            return None
        entry: dict[str, Any] = {}
        if "key" in item:
            key = _cache_key(item["key"], f"{location}:key", errors)
            if key is None:
                return None
            entry["key"] = key
        if "paths" in item and not is_str_list(item["paths"]):
            errors.add(f"{location}:paths", "config", "should be an array of strings")
            return None
        policy_value = item.get("policy", "pull-push")
        if not isinstance(policy_value, str) or (
            policy_value not in ("pull-push", "push", "pull") and "$" not in policy_value
        ):
            errors.add(location, "policy", "should be a variable or one of: pull-push, push, pull")
            return None
        when = item.get("when", "on_success")
        if when not in ("on_success", "on_failure", "always"):
            errors.add(location, "when", "should be one of: on_success, on_failure, always")
            return None
        for flag in ("untracked", "unprotect"):
            if flag in item and not is_bool(item[flag]):
                errors.add(location, flag, "should be a boolean value")
                return None
        if "fallback_keys" in item and not is_str_list(item["fallback_keys"]):
            errors.add(location, "fallback_keys", "should be an array of strings")
            return None
        entry.update({k: item[k] for k in ("paths", "untracked", "unprotect", "fallback_keys") if k in item})
        entry["policy"] = policy_value
        entry["when"] = when
        out.append(entry)
    return out


def artifacts(value: Any, location: str, errors: Errors) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add(location, "config", "should be a hash")
        return None
    if _unknown(value, ARTIFACT_KEYS, location, errors):
        return None
    for key in ("paths", "exclude"):
        if key in value and not is_str_list(value[key]):
            errors.add(location, key, "should be an array of strings")
            return None
    if "when" in value and value["when"] not in ("on_success", "on_failure", "always"):
        errors.add(location, "when", "should be on_success, on_failure or always")
        return None
    if "expire_in" in value and value["expire_in"] != "never" and durations.parse(value["expire_in"]) is None:
        errors.add(location, "expire_in", "should be a duration")
        return None
    if "expose_as" in value:
        if not isinstance(value["expose_as"], str):
            errors.add(location, "expose_as", "should be a string")
            return None
        if not value.get("paths"):
            errors.add(location, "paths", "can't be blank")
            return None
    if "reports" in value:
        if not isinstance(value["reports"], dict):
            errors.add(f"{location}:reports", "config", "should be a hash")
            return None
        for name, report in value["reports"].items():
            if name in ("coverage_report", "cyclonedx") or isinstance(report, dict):
                continue
            if _string_or_list(report) is None:
                errors.add(f"{location}:reports", name, "should be an array of strings or a string")
                return None
    if "untracked" in value and not is_bool(value["untracked"]):
        errors.add(location, "untracked", "should be a boolean value")
        return None
    if "public" in value and "access" in value:
        errors.add(location, "config", "these keys cannot be used together: public, access")
        return None
    if "access" in value and value["access"] not in ("none", "developer", "maintainer", "all"):
        errors.add(location, "access", "should be 'none', 'developer', 'maintainer', or 'all'")
        return None
    return dict(value)


def environment(value: Any, location: str, errors: Errors) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {"name": value, "action": "start"}
    if not isinstance(value, dict):
        errors.add(location, "config", "should be a hash or a string")
        return None
    if _unknown(value, ENVIRONMENT_KEYS, location, errors):
        return None
    if not isinstance(value.get("name"), str) or not value["name"]:
        errors.add(location, "name", "can't be blank")
        return None
    action = value.get("action", "start")
    if action not in ENVIRONMENT_ACTIONS:
        errors.add(location, "action", "should be start, stop, prepare, verify, or access")
        return None
    for key in ("url", "on_stop", "auto_stop_in", "deployment_tier"):
        if key in value and value[key] is not None and not isinstance(value[key], str):
            errors.add(location, key, "should be a string" if key != "url" else "must be a string")
            return None
    if value.get("deployment_tier") not in (None, "production", "staging", "testing", "development", "other"):
        errors.add(location, "deployment_tier", "must be one of production, staging, testing, development, other")
        return None
    return {**value, "action": action}


def retry(value: Any, location: str, errors: Errors) -> dict[str, Any] | None:
    if value is None:
        return None
    if is_int(value):
        if not 0 <= value <= 2:
            errors.add(
                location,
                "config",
                "must be greater than or equal to 0" if value < 0 else "must be less than or equal to 2",
            )
            return None
        return {"max": value}
    if not isinstance(value, dict):
        errors.add(location, "config", "should be a hash or an integer")
        return None
    if _unknown(value, ("max", "when", "exit_codes"), location, errors):
        return None
    out: dict[str, Any] = {}
    if "max" in value:
        if not is_int(value["max"]) or not 0 <= value["max"] <= 2:
            errors.add(location, "max", "must be an integer between 0 and 2")
            return None
        out["max"] = value["max"]
    if "when" in value:
        when = _string_or_list(value["when"])
        if when is None:
            errors.add(location, "when", "should be a string or an array of strings")
            return None
        unknown = [w for w in when if w not in RETRY_WHEN]
        if unknown:
            errors.add(
                location,
                "when",
                f"contains unknown values: {', '.join(unknown)}"
                if len(when) > 1 or isinstance(value["when"], list)
                else f"unknown value: {unknown[0]}",
            )
            return None
        out["when"] = when
    if "exit_codes" in value:
        codes = value["exit_codes"]
        codes = [codes] if is_int(codes) else codes
        if not isinstance(codes, list) or not all(is_int(c) for c in codes):
            errors.add(location, "exit_codes", "should be an array of integers or an integer")
            return None
        out["exit_codes"] = tuple(codes)
    return out


def allow_failure(value: Any, location: str, errors: Errors) -> dict[str, Any] | None:
    if value is None:
        return None
    if is_bool(value):
        return {"allowed": value}
    if isinstance(value, dict):
        if _unknown(value, ("exit_codes",), f"{location}:allow_failure", errors):
            return None
        codes = value.get("exit_codes")
        codes = [codes] if is_int(codes) else codes
        if not isinstance(codes, list) or not all(is_int(c) for c in codes):
            errors.add(f"{location}:allow_failure", "exit_codes", "should be an array of integers or an integer")
            return None
        return {"allowed": False, "exit_codes": tuple(codes)}
    errors.add(location, "allow_failure", "should be a hash or a boolean value")
    return None


def parallel(value: Any, location: str, errors: Errors) -> dict[str, Any] | None:
    if value is None:
        return None
    if is_int(value):
        if value < 1:
            errors.add(location, "config", "must be greater than or equal to 1")
            return None
        if value > PARALLEL_LIMIT:
            errors.add(location, "config", f"must be less than or equal to {PARALLEL_LIMIT}")
            return None
        return {"number": value}
    if isinstance(value, dict):
        if _unknown(value, ("matrix",), location, errors):
            return None
        if "matrix" not in value:
            errors.add(location, "config", "missing required keys: matrix")
            return None
        matrix = _matrix(value["matrix"], f"{location}:matrix", errors)
        if matrix is None:
            return None
        if matrix_size(matrix) > PARALLEL_LIMIT:
            errors.add(f"{location}:matrix", "config", f"generates too many jobs (maximum is {PARALLEL_LIMIT})")
            return None
        return {"matrix": matrix}
    errors.add(location, "", "should be an integer or a hash")
    return None


def inherit(value: Any, location: str, errors: Errors) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add(location, "config", "should be a hash")
        return {}
    if _unknown(value, ("default", "variables"), location, errors):
        return {}
    for key in ("default", "variables"):
        if key in value and not (is_bool(value[key]) or is_str_list(value[key])):
            errors.add(f"{location}:{key}", "config", "should be a boolean value or an array of strings")
            return {}
    if isinstance(value.get("default"), list):
        unknown = [k for k in value["default"] if k not in DEFAULT_KEYS]
        if unknown:
            errors.add(f"{location}:default", "config", f"contains unknown values: {', '.join(unknown)}")
            return {}
    return dict(value)


def trigger(value: Any, location: str, errors: Errors) -> dict[str, Any] | None:
    if isinstance(value, str):
        if not value:
            errors.add(location, "config", "can't be blank")
            return None
        return {"project": value}
    if not isinstance(value, dict):
        errors.add(location, "", "has to be either a string or a hash")
        return None
    allowed = ("project", "branch", "strategy", "forward", "include", "inputs")
    if _unknown(value, allowed, location, errors):
        return None
    if "project" in value and "include" in value:
        errors.add(location, "config", "these keys cannot be used together: project, include")
        return None
    if "strategy" in value and value["strategy"] not in ("depend", "mirror"):
        errors.add(location, "strategy", "should be depend or mirror")
        return None
    return dict(value)


# --- jobs and root ---------------------------------------------------------------------------------


@dataclass
class JobDef:
    """One job after validation, before seeding (rules, only/except, parallel expansion)."""

    name: str
    config: dict[str, Any]  # the validated, normalized values by key (defaults not yet applied)
    bridge: bool = False
    stage: str = "test"
    script: tuple[str, ...] = ()
    rules: tuple[RuleDef, ...] | None = None
    only: PolicyDef | None = None
    except_: PolicyDef | None = None
    needs: NeedsDef | None = None
    variables: dict[str, VariableDef] = field(default_factory=dict)
    inherit: dict[str, Any] = field(default_factory=dict)
    # filled by parallel expansion
    instance: int | None = None
    total: int | None = None
    matrix_variables: dict[str, str] = field(default_factory=dict)
    source_name: str = ""  # the name in the YAML (before "name 1/3" or "name: [a]")


@dataclass
class RootDef:
    stages: tuple[str, ...]
    default: dict[str, Any]
    variables: dict[str, VariableDef]
    workflow_rules: tuple[RuleDef, ...] | None
    workflow_name: str | None
    workflow_auto_cancel: dict[str, Any] | None
    jobs: list[JobDef]
    warnings: list[str]


def _job_like(name: str, value: Any) -> str | None:
    """GitLab's ``Jobs.find_type``: hidden, a job (``script``/``run``) or a bridge (``trigger``)."""
    if name.startswith("."):
        return "hidden"
    if isinstance(value, dict) and ("script" in value or "run" in value):
        return "job"
    if isinstance(value, dict) and "trigger" in value:
        return "bridge"
    return None


def _humanized_job(name: str) -> str:
    """How GitLab names a job in "jobs <name> config should implement …": ActiveModel humanizes the key,
    the message is lower-cased, then names made only of letters and spaces get their underscores back."""
    text = name.replace("_", " ").lower()
    return text.replace(" ", "_") if re.fullmatch(r"[a-z\s]+", text) else text


def _validate_default(value: Any, errors: Errors) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add("default", "config", "should be a hash")
        return {}
    if _unknown(value, DEFAULT_KEYS, "default", errors):
        return {}
    return _inheritable_values(value, "default", errors)


def _inheritable_values(value: dict[str, Any], location: str, errors: Errors) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("before_script", "after_script"):
        if key in value:
            out[key] = commands(value[key], location, key, errors)
    if "image" in value:
        out["image"] = image(value["image"], f"{location}:image", errors)
    if "services" in value:
        out["services"] = services(value["services"], f"{location}:services", errors)
    if "cache" in value:
        out["cache"] = caches(value["cache"], f"{location}:cache", errors)
    if "artifacts" in value:
        out["artifacts"] = artifacts(value["artifacts"], f"{location}:artifacts", errors)
    if "retry" in value:
        out["retry"] = retry(value["retry"], f"{location}:retry", errors)
    if "timeout" in value:
        if durations.parse(value["timeout"]) is None:
            errors.add(f"{location}:timeout", "config", "should be a duration")
        elif not durations.within(value["timeout"], 30 * 86400):
            errors.add(f"{location}:timeout", "config", "should not exceed the limit")
        else:
            out["timeout"] = durations.parse(value["timeout"])
    if "interruptible" in value:
        if not is_bool(value["interruptible"]):
            errors.add(f"{location}:interruptible", "config", "should be a boolean value")
        else:
            out["interruptible"] = value["interruptible"]
    if "tags" in value:
        tags = value["tags"]
        flat = flatten(tags) if isinstance(tags, list) else None
        if flat is None or not all(isinstance(t, str) for t in flat):
            errors.add(f"{location}:tags", "config", "should be an array of strings")
        elif len(flat) > MAX_TAGS:
            errors.add(f"{location}:tags", "config", f"must be less than the limit of {MAX_TAGS} tags")
        else:
            out["tags"] = tuple(flat)
    for key in ("hooks", "id_tokens"):
        if key in value:
            if not isinstance(value[key], dict):
                errors.add(f"{location}:{key}", "config", "should be a hash")
            else:
                out[key] = value[key]
    return out


def _validate_job(  # noqa: PLR0915 - one check per keyword, in GitLab's order
    name: str, value: dict[str, Any], kind: str, errors: Errors, *, has_workflow_rules: bool, warnings: list[str]
) -> JobDef | None:
    location = f"jobs:{name}"
    bridge = kind == "bridge"
    allowed = (BRIDGE_KEYS if bridge else JOB_KEYS) + PROCESSABLE_KEYS
    start = len(errors.items)
    _unknown(value, allowed, location, errors)
    if len(name) > 255:
        errors.add(location, "name", "is too long (maximum is 255 characters)")
    if "rules" in value:
        present = [k for k in ("only", "except", "start_in") if value.get(k) is not None]
        if present:
            errors.add(location, "config", f"key may not be used with `rules`: {', '.join(present)}")
    if not bridge and "script" in value and "run" in value:
        errors.add(location, "config", "these keys cannot be used together: script, run")
    script: tuple[str, ...] = ()
    if not bridge and "run" not in value:
        raw_script = value.get("script")
        if raw_script is None or raw_script in ("", []):
            errors.add(location, "script", "can't be blank")
        else:
            script = commands(raw_script, location, "script", errors) or ()
    when = value.get("when")
    if when is not None and (not isinstance(when, str) or when not in JOB_WHEN):
        errors.add(location, "when", f"should be one of: {', '.join(JOB_WHEN)}")
    if when == "delayed":
        if durations.parse(value.get("start_in")) is None:
            errors.add(location, "start_in", "should be a duration")
        elif not durations.within(value.get("start_in"), durations.WEEK):
            errors.add(location, "start_in", "should not exceed the limit")
    elif value.get("start_in") is not None and "rules" not in value:
        errors.add(location, "start_in", "must be blank")
    if "dependencies" in value and not is_str_list(value["dependencies"]):
        errors.add(location, "dependencies", "should be an array of strings")
    if "extends" in value and _string_or_list(value["extends"]) is None:
        errors.add(location, "extends", "should be an array of strings or a string")
    if "resource_group" in value and not isinstance(value["resource_group"], str):
        errors.add(location, "resource_group", "should be a string")
    stage = value.get("stage", "test")
    if not isinstance(stage, str):
        errors.add(f"{location}:stage", "config", "should be a string")
    if "interruptible" in value and not is_bool(value["interruptible"]):
        errors.add(f"{location}:interruptible", "config", "should be a boolean value")
    if "coverage" in value and not untrusted.is_valid_ruby_regex(value["coverage"]):
        errors.add(f"{location}:coverage", "config", "must be a regular expression with re2 syntax")
    if "manual_confirmation" in value and not isinstance(value["manual_confirmation"], str):
        errors.add(location, "manual_confirmation", "should be a string")

    config: dict[str, Any] = {}
    config.update(_inheritable_values({k: v for k, v in value.items() if k in INHERITABLE}, location, errors))
    if "when" in value:
        config["when"] = when
    if "start_in" in value:
        config["start_in"] = value["start_in"]
    config["allow_failure"] = allow_failure(value.get("allow_failure"), location, errors)
    config["environment"] = environment(value.get("environment"), f"{location}:environment", errors)
    config["parallel"] = parallel(value.get("parallel"), f"{location}:parallel", errors)
    if bridge:
        config["trigger"] = trigger(value.get("trigger"), f"{location}:trigger", errors)
    for key in (
        "dependencies",
        "coverage",
        "resource_group",
        "release",
        "secrets",
        "pages",
        "publish",
        "manual_confirmation",
        "identity",
    ):
        if key in value:
            config[key] = value[key]
    if "interruptible" in value:
        config["interruptible"] = value["interruptible"]

    job_rules = rules(value.get("rules"), f"{location}:rules", errors) if "rules" in value else None
    only = policy(value.get("only"), f"{location}:only", errors)
    except_ = policy(value.get("except"), f"{location}:except", errors)
    job_needs = (
        needs(value["needs"], f"{location}:needs", errors) if "needs" in value and value["needs"] is not None else None
    )
    job_vars = variables(value.get("variables"), f"{location}:variables", errors, root=False)
    job_inherit = inherit(value.get("inherit"), f"{location}:inherit", errors)

    if job_needs is not None and config.get("dependencies"):
        need_names = {n.job for n in job_needs.items if not n.cross}
        missing = [d for d in config["dependencies"] if d not in need_names]
        if missing:
            errors.add(location, "dependencies", f"the {', '.join(missing)} should be part of needs")

    if len(errors.items) > start:
        return None
    if job_rules and not has_workflow_rules:
        last = job_rules[-1]
        if last.when not in (None, "never") and last == RuleDef(when=last.when):
            warnings.append(
                f"jobs:{name} may allow multiple pipelines to run for a single action due to `rules:when` clause "
                "with no `workflow:rules` - read more: "
                "https://docs.gitlab.com/ee/ci/jobs/job_troubleshooting.html#job-may-allow-multiple-pipelines-to-run-for-a-single-action-warning"
            )
    return JobDef(
        name=name,
        source_name=name,
        config=config,
        bridge=bridge,
        stage=stage if isinstance(stage, str) else "test",
        script=script,
        rules=job_rules,
        only=only,
        except_=except_,
        needs=job_needs,
        variables=job_vars,
        inherit=job_inherit,
    )


def validate_root(  # noqa: PLR0915 - the root entry and its children, in GitLab's order
    config: dict[str, Any],
) -> tuple[RootDef | None, list[str]]:
    errors = Errors()
    warnings: list[str] = []

    raw_stages = config.get("stages")
    stages: list[str]
    if raw_stages is None:
        stages = list(DEFAULT_STAGES)
    elif not is_str_list(raw_stages):
        errors.add("stages", "config", "should be an array of strings")
        stages = list(DEFAULT_STAGES)
    else:
        stages = []
        for stage in raw_stages:
            if stage not in stages and stage not in EDGE_STAGES:
                stages.append(stage)
    all_stages = (".pre", *stages, ".post")

    default = _validate_default(config.get("default"), errors)
    # The deprecated top-level keywords act as `default:` when `default:` does not set them.
    legacy = {k: config[k] for k in ("image", "services", "cache", "before_script", "after_script") if k in config}
    if legacy:
        for key, value in _inheritable_values(legacy, "root", errors).items():
            default.setdefault(key, value)

    global_vars = variables(config.get("variables"), "variables", errors, root=True)

    workflow = config.get("workflow")
    workflow_rules = None
    workflow_name = None
    auto_cancel = None
    if workflow is not None:
        if not isinstance(workflow, dict):
            errors.add("workflow", "config", "should be a hash")
        elif not _unknown(workflow, ("rules", "name", "auto_cancel"), "workflow", errors):
            if "rules" in workflow:
                workflow_rules = rules(workflow["rules"], "workflow:rules", errors, workflow=True)
            if "name" in workflow:
                if not isinstance(workflow["name"], str):
                    errors.add("workflow", "name", "should be a string")
                elif len(workflow["name"]) > 255:
                    errors.add("workflow", "name", "is too long (maximum is 255 characters)")
                else:
                    workflow_name = workflow["name"]
            if "auto_cancel" in workflow:
                auto_cancel = auto_cancel_entry(workflow["auto_cancel"], "workflow:auto_cancel", errors)

    jobs: list[JobDef] = []
    visible = False
    for name, value in config.items():
        if name in ROOT_KEYS:
            continue
        kind = _job_like(name, value)
        if kind is None:
            errors.add(
                "jobs", "", f"{_humanized_job(name)} config should implement the script:, run:, or trigger: keyword"
            )
            continue
        if kind == "hidden":
            continue
        visible = True
        job = _validate_job(name, value, kind, errors, has_workflow_rules=workflow_rules is not None, warnings=warnings)
        if job is not None:
            jobs.append(job)
    if not visible and not any(_job_like(n, v) is None for n, v in config.items() if n not in ROOT_KEYS):
        errors.add("jobs", "config", "should contain at least one visible job")

    if errors:
        # GitLab lower-cases the whole message, but a job name keeps its underscores in "jobs <name> config".
        return None, errors.items
    return RootDef(
        stages=all_stages,
        default=default,
        variables=global_vars,
        workflow_rules=workflow_rules,
        workflow_name=workflow_name,
        workflow_auto_cancel=auto_cancel,
        jobs=jobs,
        warnings=warnings,
    ), []
