"""The job a runner receives from ``POST /jobs/request`` (GitLab's ``Entities::Ci::JobRequest::Response``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from dockyard.ci import selectors
from dockyard.ci.compiler.variables import slugify
from dockyard.ci.models import Job, Runner, Variable
from dockyard.ci.services import (
    FAILURE_REASONS,
    JOB_TOKEN_PREFIX,
    REGISTRATION_TOKEN_PREFIX,
    RUNNER_TOKEN_PREFIX,
    _server_variables,
    commit_variables,
    job_timeout,
    merge_request_variables,
    open_merge_requests_variable,
    project_variables,
)
from dockyard.repos.git.write import ZERO_SHA

MASK_PREFIXES = ["glpat-", RUNNER_TOKEN_PREFIX, REGISTRATION_TOKEN_PREFIX, JOB_TOKEN_PREFIX, "gldt-", "gloas-"]


def _var(
    key: str, value: str, *, public: bool = True, masked: bool = False, file: bool = False, raw: bool = False
) -> dict[str, Any]:
    item: dict[str, Any] = {"key": key, "value": value, "public": public, "masked": masked}
    if file:
        item["file"] = True
    if raw:
        item["raw"] = True
    return item


def _repo_url(base: str, path: str, token: str) -> str:
    parts = urlsplit(base)
    return f"{parts.scheme}://gitlab-ci-token:{quote(token, safe='')}@{parts.netloc}{parts.path}/{path}.git"


def job_variables(
    *, job: Job, token: str, base: str, runner: Runner, upstream: list[selectors.Upstream] | None = None
) -> list[dict[str, Any]]:
    """GitLab's precedence, lowest first (the runner lets a later entry override an earlier one):
    predefined, the file's global then job variables, the dotenv reports of the jobs this one depends
    on, the instance's, the groups' (closest last), the project's, then the run's own variables."""
    pipeline, project = job.pipeline, job.project
    # A merge request pipeline's ref is refs/merge-requests/:iid/head; its jobs see the source branch.
    mr = pipeline.merge_request if pipeline.merge_request_id else None
    ref_name = mr.source_branch if mr is not None else pipeline.ref
    job_url = f"{base}/{project.full_path}/-/jobs/{job.pk}"
    options = job.options
    out = [
        _var("CI_PIPELINE_ID", str(pipeline.pk)),
        _var("CI_PIPELINE_URL", f"{base}/{project.full_path}/-/pipelines/{pipeline.pk}"),
        _var("CI_JOB_ID", str(job.pk)),
        _var("CI_JOB_URL", job_url),
        _var("CI_JOB_TOKEN", token, public=False, masked=True),
        _var("CI_JOB_STARTED_AT", job.started_at.isoformat() if job.started_at else ""),
        _var("CI_JOB_TIMEOUT", str(job_timeout(job=job, runner=runner))),
        _var("CI_REGISTRY_USER", "gitlab-ci-token"),
        _var("CI_REGISTRY_PASSWORD", token, public=False, masked=True),
        _var("CI_REPOSITORY_URL", _repo_url(base, project.full_path, token), public=False),
        _var("CI_JOB_NAME", job.name),
        _var("CI_JOB_NAME_SLUG", slugify(job.name)),
        _var("CI_JOB_STAGE", job.stage),
        _var("CI_NODE_TOTAL", str(options.get("parallel_total") or 1)),
        _var("CI", "true"),
        _var("GITLAB_CI", "true"),
    ]
    if options.get("parallel_index"):
        out.append(_var("CI_NODE_INDEX", str(options["parallel_index"])))
    if job.when == "manual":
        out.append(_var("CI_JOB_MANUAL", "true"))
    values = {
        **_server_variables(base),
        **project_variables(project=project, base=base),
        "CI_CONFIG_PATH": ".gitlab-ci.yml",
        "CI_PIPELINE_IID": str(pipeline.iid),
        "CI_PIPELINE_SOURCE": pipeline.source,
        "CI_PIPELINE_CREATED_AT": pipeline.created_at.isoformat(),
        "CI_COMMIT_SHA": pipeline.sha,
        "CI_COMMIT_SHORT_SHA": pipeline.sha[:8],
        "CI_COMMIT_BEFORE_SHA": pipeline.before_sha,
        "CI_COMMIT_REF_NAME": ref_name,
        "CI_COMMIT_REF_SLUG": slugify(ref_name),
        "CI_COMMIT_REF_PROTECTED": "true" if pipeline.protected else "false",
        **commit_variables(project_id=project.id, sha=pipeline.sha),
    }
    if mr is not None:
        values.update(merge_request_variables(mr=mr, base=base))
    else:
        values["CI_COMMIT_TAG" if pipeline.tag else "CI_COMMIT_BRANCH"] = pipeline.ref
    values.update(open_merge_requests_variable(project=project, ref=pipeline.ref, tag=pipeline.tag, merge_request=mr))
    if pipeline.name:
        values["CI_PIPELINE_NAME"] = pipeline.name
    values.update(
        CI_RUNNER_ID=str(runner.pk),
        CI_RUNNER_DESCRIPTION=runner.description,
        CI_RUNNER_TAGS=",".join(runner.tag_list or []),
    )
    if job.user is not None:
        values.update(
            GITLAB_USER_ID=str(job.user.pk), GITLAB_USER_EMAIL=job.user.email, GITLAB_USER_LOGIN=job.user.username,
            GITLAB_USER_NAME=job.user.name,
        )  # fmt: skip
    out += [_var(k, v) for k, v in values.items()]
    out += [_var(v["key"], v["value"], raw=bool(v.get("raw"))) for v in pipeline.yaml_variables]
    out += [_var(v["key"], v["value"], raw=bool(v.get("raw"))) for v in options.get("yaml_variables", [])]
    for dependency in selectors.upstream_jobs(job=job) if upstream is None else upstream:
        out += [_var(v["key"], v["value"]) for v in dependency.dotenv_variables]
    environment = (options.get("environment") or {}).get("name")
    for variable in selectors.variables_for_project(
        project=project, protected=pipeline.protected, environment=environment
    ):
        out.append(
            _var(
                variable.key,
                variable.value,
                public=False,
                masked=variable.masked,
                file=variable.variable_type == Variable.Type.FILE,
                raw=variable.raw,
            )
        )
    for variable in pipeline.variables:
        out.append(_var(variable["key"], variable["value"], public=False, file=variable.get("variable_type") == "file"))
    return out


def _image(image: dict[str, Any] | None) -> dict[str, Any] | None:
    if not image:
        return None
    return {
        "name": image["name"],
        "entrypoint": image.get("entrypoint"),
        "ports": [],
        "pull_policy": image.get("pull_policy"),
        "executor_opts": {"docker": image["docker"]} if image.get("docker") else {},
    }


def _services(services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": s["name"],
            "alias": s.get("alias"),
            "entrypoint": s.get("entrypoint"),
            "command": s.get("command"),
            "ports": [],
            "pull_policy": s.get("pull_policy"),
            "variables": [_var(v["key"], v["value"]) for v in s.get("variables") or []],
        }
        for s in services
    ]


def _artifacts(artifacts: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not artifacts:
        return []
    out = []
    if artifacts.get("paths") or artifacts.get("untracked"):
        out.append(
            {
                "name": artifacts.get("name") or "artifacts",
                "untracked": bool(artifacts.get("untracked")),
                "paths": artifacts.get("paths") or [],
                "exclude": artifacts.get("exclude") or [],
                "when": artifacts.get("when") or "on_success",
                "expire_in": artifacts.get("expire_in"),
                "artifact_type": "archive",
                "artifact_format": "zip",
            }
        )
    reports = artifacts.get("reports") or {}
    for kind in ("junit", "dotenv"):
        paths = reports.get(kind) or []
        if paths:
            out.append(
                {
                    "name": kind,
                    "untracked": False,
                    "paths": paths,
                    "exclude": [],
                    "when": "always" if kind == "junit" else artifacts.get("when") or "on_success",
                    "expire_in": artifacts.get("expire_in"),
                    "artifact_type": kind,
                    "artifact_format": "gzip",
                }
            )
    return out


def _cache(caches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for cache in caches:
        key = cache.get("key") or {}
        value = key.get("value") or "default"
        if key.get("files"):
            value = f"{key.get('prefix') or ''}{'-' if key.get('prefix') else ''}{'-'.join(key['files'])}"
        out.append(
            {
                "key": value,
                "untracked": bool(cache.get("untracked")),
                "policy": cache.get("policy") or "pull-push",
                "paths": cache.get("paths") or [],
                "when": cache.get("when") or "on_success",
                "fallback_keys": cache.get("fallback_keys") or [],
            }
        )
    return out


def job_payload(*, job: Job, token: str, base: str, runner: Runner) -> dict[str, Any]:
    """The 201 body of ``POST /jobs/request`` for a job just assigned to ``runner``."""
    pipeline, project = job.pipeline, job.project
    options = job.options
    timeout = job_timeout(job=job, runner=runner)
    full_ref = f"refs/tags/{pipeline.ref}" if pipeline.tag else f"refs/heads/{pipeline.ref}"
    remote = f"refs/tags/{pipeline.ref}" if pipeline.tag else f"refs/remotes/origin/{pipeline.ref}"
    if pipeline.merge_request_id:
        full_ref = remote = pipeline.ref
    steps = [
        {
            "name": "script",
            "script": [*options.get("before_script", []), *options.get("script", [])],
            "timeout": timeout,
            "when": "on_success",
            "allow_failure": False,
        }
    ]
    if options.get("after_script"):
        steps.append(
            {
                "name": "after_script",
                "script": options["after_script"],
                "timeout": timeout,
                "when": "always",
                "allow_failure": True,
            }
        )
    upstream = selectors.upstream_jobs(job=job)
    dependencies = []
    for dep in upstream:
        entry: dict[str, Any] = {"id": dep.job_id, "name": dep.name, "token": token}
        if dep.archive is not None:
            entry["artifacts_file"] = {"filename": dep.archive[0], "size": dep.archive[1]}
        dependencies.append(entry)
    return {
        "id": job.pk,
        "token": token,
        "allow_git_fetch": True,
        "job_info": {
            "id": job.pk,
            "name": job.name,
            "stage": job.stage,
            "pipeline_id": pipeline.pk,
            "project_id": project.pk,
            "project_name": project.name,
            "project_full_path": project.full_path,
            "namespace_id": project.namespace_id,
            "root_namespace_id": project.namespace.ancestor_ids[0]
            if project.namespace.ancestor_ids
            else project.namespace_id,
            "user_id": job.user_id,
            "time_in_queue_seconds": int(job.queued_duration or 0),
        },
        "git_info": {
            "repo_url": _repo_url(base, project.full_path, token),
            "repo_object_format": "sha1",
            "ref": pipeline.ref,
            "sha": pipeline.sha,
            "before_sha": pipeline.before_sha or ZERO_SHA,
            "ref_type": "tag" if pipeline.tag else "branch",
            "refspecs": [f"+refs/pipelines/{pipeline.pk}:refs/pipelines/{pipeline.pk}", f"+{full_ref}:{remote}"],
            "depth": 20,
            "protected": pipeline.protected,
        },
        "runner_info": {"timeout": timeout, "runner_session_url": None},
        "variables": job_variables(job=job, token=token, base=base, runner=runner, upstream=upstream),
        "steps": steps,
        "image": _image(options.get("image")),
        "services": _services(options.get("services") or []),
        "artifacts": _artifacts(options.get("artifacts")),
        "cache": _cache(options.get("cache") or []),
        "credentials": [],
        "dependencies": dependencies,
        "features": {
            "trace_sections": True,
            "token_mask_prefixes": MASK_PREFIXES,
            "failure_reasons": list(FAILURE_REASONS),
        },
        "hooks": [],
    }
