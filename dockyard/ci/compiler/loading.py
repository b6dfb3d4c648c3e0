"""From YAML text to one merged hash: parsing (with ``!reference``), ``include``, ``extends`` and
``!reference`` resolution, in GitLab's order (includes → extends → references).

Every failure is a ``ConfigError`` carrying GitLab's message; nothing else escapes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from dockyard.ci.compiler import expressions, globs
from dockyard.ci.compiler.plan import CompileContext, IncludeNotFound, IncludeRequest
from dockyard.ci.compiler.variables import expand

MAX_YAML_DEPTH = 100
MAX_YAML_NODES = 200_000  # expanded size, so an alias bomb is refused instead of exhausting memory
MAX_YAML_BYTES = 1 << 20
MAX_EXTENDS_NESTING = 10  # GitLab: more than 10 ancestors is "nesting too deep"
MAX_REFERENCE_NESTING = 10


class ConfigError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Reference:
    """A ``!reference [job, key, …]`` tag, resolved after ``extends``."""

    path: tuple[Any, ...]

    def inspect(self) -> str:
        # Ruby's Array#inspect, which GitLab puts in its messages: ["a", "b"]
        return "[" + ", ".join(json.dumps(str(part)) for part in self.path) + "]"


class _Loader(yaml.SafeLoader):
    pass


def _construct_reference(loader: yaml.SafeLoader, node: yaml.Node) -> Reference:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(None, None, "!reference needs a sequence", node.start_mark)
    return Reference(tuple(loader.construct_sequence(node, deep=True)))


_Loader.add_constructor("!reference", _construct_reference)


def ruby_to_s(value: Any) -> str:
    """How Ruby prints a YAML scalar: ``true``, ``1.5``, ``""`` for nil."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        text = repr(value)
        return text.replace("inf", "Infinity").replace("nan", "NaN")
    return str(value)


def _normalize(value: Any, depth: int, budget: list[int]) -> Any:
    """Copy the tree with string keys, counting nodes as if aliases were expanded."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ConfigError("The parsed YAML is too big")
    if depth > MAX_YAML_DEPTH:
        raise ConfigError("The parsed YAML is too deep")
    if isinstance(value, dict):
        return {ruby_to_s(k): _normalize(v, depth + 1, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v, depth + 1, budget) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    if hasattr(value, "isoformat"):  # dates and timestamps: GitLab keeps them as written, we keep ISO text
        return value.isoformat()
    return value


def load_yaml(text: str, *, where: str = "") -> dict[str, Any]:
    if len(text.encode("utf-8", "replace")) > MAX_YAML_BYTES:
        raise ConfigError("The parsed YAML is too big")
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        parts = [part for part in (exc.problem, exc.context) if part]
        raise ConfigError(f"{where}(<unknown>): {' '.join(parts)}{position}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}(<unknown>): {exc}") from exc
    except RecursionError as exc:
        raise ConfigError("The parsed YAML is too deep") from exc
    documents = [doc for doc in documents if doc is not None] or [None]
    content = documents[0]
    # A header (`spec:` with inputs) comes first, separated by `---` from the pipeline itself.
    if len(documents) > 1 and isinstance(content, dict) and set(content) == {"spec"}:
        content = documents[1]
    try:
        normalized = _normalize(content, 0, [MAX_YAML_NODES])
    except RecursionError as exc:
        raise ConfigError("The parsed YAML is too deep") from exc
    if normalized is None:
        return {}
    if not isinstance(normalized, dict):
        raise ConfigError(f"{where}Invalid configuration format")
    return normalized


def deep_merge(base: dict[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Ruby's ``Hash#deep_merge``: hashes merge key by key, everything else (arrays too) is replaced."""
    result = dict(base)
    for key, value in other.items():
        if isinstance(result.get(key), dict) and isinstance(value, dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = value
    return result


# --- include ---------------------------------------------------------------------------------------

_SUBKEYS = ("local", "project", "remote", "template", "artifact", "component")


@dataclass
class _IncludeState:
    ctx: CompileContext
    variables: Mapping[str, str]
    count: int = 0
    chain: list[str] = field(default_factory=list)


def _yaml_extension(location: str) -> bool:
    name = location.rsplit("/", 1)[-1].lower()
    return len(name) > 4 and (name.endswith(".yml") or name.endswith(".yaml"))


def _include_rules_pass(rules: Any, state: _IncludeState) -> bool:
    if not isinstance(rules, list):
        raise ConfigError("include rules should be an array of hashes")
    for rule in rules:
        if not isinstance(rule, dict):
            raise ConfigError("include:rules:rule config should be a hash")
        unknown = [k for k in rule if k not in ("if", "exists", "changes", "when")]
        if unknown:
            raise ConfigError(f"include:rules:rule config contains unknown keys: {', '.join(unknown)}")
        if "if" in rule and not expressions.is_valid(rule["if"]):
            raise ConfigError("include:rules:rule if invalid expression syntax")
        matched = True
        if "if" in rule:
            matched = expressions.truthful(rule["if"], state.variables)
        if matched and "exists" in rule:
            patterns = rule["exists"]["paths"] if isinstance(rule["exists"], dict) else rule["exists"]
            patterns = [
                expand(str(p), state.variables) for p in (patterns if isinstance(patterns, list) else [patterns])
            ]
            matched = bool(state.ctx.files_exist(patterns)) if state.ctx.files_exist else False
        if matched and "changes" in rule:
            changes = rule["changes"]["paths"] if isinstance(rule["changes"], dict) else rule["changes"]
            paths = state.ctx.changed_paths
            if paths is not None:
                matched = globs.any_match([str(p) for p in changes], list(paths))
        if matched:
            return bool(rule.get("when", "always") != "never")
    return False


def _normalize_locations(raw: Any) -> list[dict[str, Any]]:
    items = raw if isinstance(raw, list) else [raw]
    out: list[dict[str, Any]] = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, str):
            if item.startswith(("http://", "https://")):
                out.append({"remote": item})
            else:
                out.append({"local": item})
        elif isinstance(item, dict):
            if "project" in item and isinstance(item.get("file"), list):
                for file in item["file"]:
                    out.append({**item, "file": file})
            else:
                out.append(item)
        else:
            raise ConfigError("include config should be a hash, a string or an array of hashes and strings")
    return out


def _fetch(  # noqa: PLR0915 - one branch per include type, each with its own messages
    location: dict[str, Any], state: _IncludeState, project: str | None, ref: str | None
) -> tuple[str, str, str | None, str | None]:
    """Return (display name, content, project, ref) for one include entry."""
    ctx = state.ctx
    v = state.variables
    matching = [key for key in _SUBKEYS if location.get(key)]
    if location.get("project") and not location.get("file"):
        matching.remove("project")
    if len(matching) > 1:
        raise ConfigError("Each include must use only one of: `" + "`, `".join(_SUBKEYS) + "`")
    if not matching:
        shown = json.dumps(location, separators=(",", ":"))
        raise ConfigError(
            f"`{shown}` does not have a valid subkey for include. Valid subkeys are: `" + "`, `".join(_SUBKEYS) + "`"
        )
    kind = matching[0]
    if kind in ("artifact", "component"):
        raise ConfigError(f"Included file `{location[kind]}` cannot be used here: `include:{kind}` is not supported")
    key = "file" if kind == "project" else kind
    raw_location = location[key]
    if not isinstance(raw_location, str):
        raise ConfigError(f"Included file `{raw_location}` needs to be a string")
    where = expand(raw_location, v)
    if kind in ("local", "project"):
        where = where.lstrip("/")
    if kind == "template":
        if not where.endswith(".gitlab-ci.yml"):
            raise ConfigError(f"Template file `{where}` is not a valid location!")
    elif not _yaml_extension(where):
        raise ConfigError(f"Included file `{where}` does not have YAML extension!")
    loader = ctx.include_loader
    content: str | None = None
    if kind == "remote":
        if not ctx.allow_remote_includes or ctx.remote_fetcher is None:
            raise ConfigError(f"Remote file `{where}` could not be fetched because remote includes are disabled!")
        try:
            content = ctx.remote_fetcher(where)
        except Exception as exc:  # the caller's HTTP client: any failure is "could not be fetched"
            raise ConfigError(f"Remote file `{where}` could not be fetched because of a connection error!") from exc
        if content is None:
            raise ConfigError(f"Remote file `{where}` could not be fetched because of a connection error!")
        return where, content, None, None
    if kind == "project":
        target = expand(str(location["project"]), v).lower()
        target_ref = expand(str(location["ref"]), v) if location.get("ref") is not None else None
        request = IncludeRequest(kind="project", location=where, project=target, ref=target_ref)
        try:
            content = loader(request) if loader else None
        except IncludeNotFound as exc:
            if exc.reason == "project":
                raise ConfigError(
                    f"Project `{target}` not found or access denied! Make sure any includes in the pipeline "
                    "configuration are correctly defined."
                ) from exc
            if exc.reason == "ref":
                raise ConfigError(f"Project `{target}` reference `{target_ref or 'HEAD'}` does not exist!") from exc
            content = None
        if content is None:
            raise ConfigError(f"Project `{target}` file `{where}` does not exist!")
        if not content.strip():
            raise ConfigError(f"Project `{target}` file `{where}` is empty!")
        return f"{target}:{where}", content, target, target_ref
    if kind == "template":
        try:
            content = loader(IncludeRequest(kind="template", location=where)) if loader else None
        except IncludeNotFound:
            content = None
        if content is None:
            raise ConfigError(f"Included file `{where}` is empty or does not exist!")
        return f"template:{where}", content, None, None
    # local: read from the project (and ref) of the including file
    try:
        content = (
            loader(IncludeRequest(kind="local", location=where, context_project=project, context_ref=ref))
            if loader
            else None
        )
    except IncludeNotFound:
        content = None
    if content is None:
        raise ConfigError(f"Local file `{where}` does not exist!")
    if not content.strip():
        raise ConfigError(f"Local file `{where}` is empty!")
    prefix = f"{project}:" if project else ""
    return f"{prefix}{where}", content, project, ref


def _expand_local_wildcards(locations: list[dict[str, Any]], state: _IncludeState) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for location in locations:
        local = location.get("local")
        if isinstance(local, str) and "*" in local:
            pattern = expand(local, state.variables).lstrip("/")
            matches = state.ctx.files_exist([pattern]) if state.ctx.files_exist else []
            out.extend({**location, "local": path} for path in sorted(p for p in matches if globs.fnmatch(pattern, p)))
        else:
            out.append(location)
    return out


def _process_includes(
    config: dict[str, Any], state: _IncludeState, project: str | None, ref: str | None
) -> dict[str, Any]:
    if "include" not in config:
        return config
    locations = _normalize_locations(config["include"])
    kept = []
    for location in locations:
        if "rules" in location and not _include_rules_pass(location["rules"], state):
            continue
        ignored = ("rules", "inputs", "with", "integrity", "cache")
        kept.append({k: val for k, val in location.items() if k not in ignored})
    kept = _expand_local_wildcards(kept, state)
    merged: dict[str, Any] = {}
    for location in kept:
        state.count += 1
        if state.count > state.ctx.max_includes:
            raise ConfigError(f"Maximum of {state.ctx.max_includes} nested includes are allowed!")
        name, content, sub_project, sub_ref = _fetch(location, state, project, ref)
        if name in state.chain:
            cycle = " → ".join([*state.chain[state.chain.index(name) :], name])
            raise ConfigError(
                f"Maximum of {state.ctx.max_includes} nested includes are allowed! (include cycle: {cycle})"
            )
        try:
            included = load_yaml(content)
        except ConfigError as exc:
            shown = next(str(location[k]) for k in ("local", "file", "template", "remote") if location.get(k))
            raise ConfigError(f"`{shown}`: {exc.message}") from exc
        if not included:
            raise ConfigError(f"Included file `{name}` does not have valid YAML syntax!")
        state.chain.append(name)
        included = _process_includes(included, state, sub_project, sub_ref)
        state.chain.pop()
        merged = deep_merge(merged, included)
    own = {k: val for k, val in config.items() if k != "include"}
    return deep_merge(merged, own)


def resolve_includes(config: dict[str, Any], ctx: CompileContext, variables: Mapping[str, str]) -> dict[str, Any]:
    state = _IncludeState(ctx=ctx, variables=variables, chain=[".gitlab-ci.yml"])
    return _process_includes(config, state, None, None)


# --- extends ---------------------------------------------------------------------------------------


def _extend(key: str, config: dict[str, Any], ancestors: list[str], done: set[str]) -> dict[str, Any]:
    value = config[key]
    if not isinstance(value, dict) or "extends" not in value:
        return value
    if key in done:
        return value
    extends = value["extends"]
    names = [extends] if isinstance(extends, str) else extends
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return value  # reported later as "extends should be an array of strings or a string"
    unknown = [n for n in names if n not in config]
    if unknown:
        raise ConfigError(f"{key}: unknown keys in `extends` ({', '.join(unknown)})")
    invalid = [n for n in names if not isinstance(config[n], dict)]
    if invalid:
        raise ConfigError(f"{key}: invalid base hashes in `extends` ({', '.join(invalid)})")
    if len(ancestors) > MAX_EXTENDS_NESTING:
        raise ConfigError(f"{key}: nesting too deep in `extends`")
    if key in ancestors:
        raise ConfigError(f"{key}: circular dependency detected in `extends`")
    merged: dict[str, Any] = {}
    for name in names:
        merged = deep_merge(merged, _extend(name, config, [*ancestors, key], done))
    config[key] = deep_merge(merged, value)
    done.add(key)
    return config[key]  # type: ignore[no-any-return]


def resolve_extends(config: dict[str, Any]) -> dict[str, Any]:
    config = dict(config)
    done: set[str] = set()
    for key in list(config):
        _extend(key, config, [], done)
    return config


# --- !reference ------------------------------------------------------------------------------------


def _lookup(root: dict[str, Any], ref: Reference) -> Any:
    node: Any = root
    for part in ref.path:
        if not isinstance(node, dict) or str(part) not in node:
            raise ConfigError(f"!reference {ref.inspect()} could not be found")
        node = node[str(part)]
    return node


def _resolve(node: Any, root: dict[str, Any], stack: tuple[Reference, ...]) -> Any:
    if isinstance(node, Reference):
        if node in stack:
            raise ConfigError(f"!reference {node.inspect()} is part of a circular chain")
        if len(stack) >= MAX_REFERENCE_NESTING:
            raise ConfigError(f"!reference {node.inspect()} is nested too deeply")
        return _resolve(copy.deepcopy(_lookup(root, node)), root, (*stack, node))
    if isinstance(node, dict):
        return {k: _resolve(v, root, stack) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, root, stack) for v in node]
    return node


def resolve_references(config: dict[str, Any]) -> dict[str, Any]:
    return _resolve(config, config, ())  # type: ignore[no-any-return]
