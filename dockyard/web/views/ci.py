"""CI/CD pages under a project's ``/-/``, with GitLab's URLs: pipelines (list, run, one pipeline's stages
and jobs), jobs (list, one job's log and metadata), CI lint and the CI/CD settings (variables, runners).

Reading needs ``read_pipeline``; retry, cancel, play and running a pipeline need ``update_build`` or
``create_pipeline``; variables need ``admin_cicd_variables``. What the viewer may not do answers 404, as
the other pages do. A project with CI/CD turned off has none of these pages. Every page reads through
``dockyard.ci.selectors`` and changes things through ``dockyard.ci.services``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dockyard.accounts.models import User
from dockyard.ci import artifacts, junit, selectors, services
from dockyard.ci.models import CANCELABLE_STATUSES, Job, JobArtifact, Pipeline, Variable
from dockyard.core.errors import BadRequest, DockyardError
from dockyard.permissions import policy
from dockyard.projects.models import Project
from dockyard.web import ansi
from dockyard.web.views.common import form_errors, not_found_as_404, paginate, project_for, signed_in, viewer

NOT_FOUND = "Not Found"
RETRYABLE = frozenset({"success", "failed", "canceled"})
# The log page re-renders at most this much of a log; longer logs show their tail and a link to the raw log.
MAX_LOG_BYTES = 2 * 1024 * 1024
VARIABLE_LABELS = {"key": "Key", "value": "Value", "variable_type": "Type", "environment_scope": "Environment"}


# --- shared --------------------------------------------------------------------------------------


def _ci_project(request: HttpRequest, namespace_path: str, project_path: str, action: str = "read_pipeline") -> Project:
    """The project if CI/CD is on and the viewer may do ``action`` on it; 404 otherwise."""
    project = project_for(request, namespace_path, project_path)
    user = viewer(request)
    if not project.jobs_enabled or not policy.can_on_project_ci(user, "read_pipeline", project):
        raise Http404(NOT_FOUND)
    if action != "read_pipeline" and not policy.can_on_project_ci(user, action, project):
        raise Http404(NOT_FOUND)
    return project


def _base(project: Project) -> str:
    return f"/{project.full_path}/-"


def pipeline_url(pipeline: Pipeline) -> str:
    return f"/{pipeline.project.full_path}/-/pipelines/{pipeline.pk}"


def job_url(project: Project, job: Job) -> str:
    return f"{_base(project)}/jobs/{job.pk}"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _permissions(user: User | None, project: Project) -> dict[str, bool]:
    return {
        "can_update": policy.can_on_project_ci(user, "update_build", project),
        "can_create": policy.can_on_project_ci(user, "create_pipeline", project),
        "can_admin_variables": policy.can_on_project_ci(user, "admin_cicd_variables", project),
    }


def _page(
    request: HttpRequest, template: str, project: Project, nav: str, status: int = 200, **extra: Any
) -> HttpResponse:
    context = {"project": project, "nav": nav, **_permissions(viewer(request), project), **extra}
    return render(request, f"web/ci/{template}", context, status=status)


@dataclass
class Stage:
    name: str
    status: str
    jobs: list[Any]  # Jobs, then the pipeline page's rows for them


def stages_of(jobs: list[Job]) -> list[Stage]:
    """Jobs grouped into their stages in order, each stage with the status its jobs add up to."""
    stages: list[Stage] = []
    for job in jobs:
        if not stages or stages[-1].name != job.stage:
            stages.append(Stage(name=job.stage, status="", jobs=[]))
        stages[-1].jobs.append(job)
    for stage in stages:
        stage.status = services.composite_status(stage.jobs) or "created"
    return stages


def _job_row(project: Project, job: Job) -> dict[str, Any]:
    return {
        "job": job,
        "url": job_url(project, job),
        "duration": duration_text(job.duration),
        "needs": ", ".join(n["name"] for n in job.needs or []),
        "can_retry": job.status in RETRYABLE and not job.retried,
        "can_cancel": job.status in CANCELABLE_STATUSES or job.status == "canceling",
        "can_play": job.status in ("manual", "scheduled"),
        "can_unschedule": job.status == "scheduled",
    }


# --- pipelines -----------------------------------------------------------------------------------


@require_GET
def pipelines(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    project = _ci_project(request, namespace_path, project_path)
    scope = request.GET.get("scope") or None
    if scope not in (None, "running", "pending", "finished", "branches", "tags"):
        scope = None
    listing = paginate(
        request, selectors.pipeline_list(project=project, filters=selectors.PipelineFilters(scope=scope))
    )
    items = listing.items
    jobs = selectors.jobs_by_pipeline(pipelines=items)
    rows = [
        {
            "pipeline": p,
            "url": pipeline_url(p),
            "duration": duration_text(p.duration),
            "stages": stages_of(jobs[p.pk]),
        }
        for p in items
    ]
    return _page(request, "pipelines.html", project, "pipelines", listing=listing, rows=rows, scope=scope or "")


def _variable_rows(data: Any) -> list[dict[str, str]]:
    keys = data.getlist("variable_key")
    values = data.getlist("variable_value")
    types = data.getlist("variable_type")
    rows = []
    for i, key in enumerate(keys):
        value = values[i] if i < len(values) else ""
        kind = types[i] if i < len(types) else "env_var"
        if key.strip() or value:
            rows.append({"key": key.strip(), "value": value, "variable_type": kind or "env_var"})
    return rows


@login_required
@require_http_methods(["GET", "POST"])
def pipeline_new(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    actor = signed_in(request)
    project = _ci_project(request, namespace_path, project_path, "create_pipeline")
    data = request.POST if request.method == "POST" else request.GET
    ref = data.get("ref", "").strip() or project.default_branch or "main"
    variables = _variable_rows(data)
    errors: list[str] = []
    if request.method == "POST":
        try:
            pipeline = services.pipeline_create(
                project=project, user=actor, ref=ref, source="web", variables=variables, refuse_errors=True
            )
        except services.PipelineRefused as exc:
            message = exc.message
            errors = [str(e) for e in message.get("base", [])] if isinstance(message, dict) else [str(message)]
        except DockyardError as exc:
            errors = [str(exc.message)]
        else:
            assert pipeline is not None
            messages.success(request, f"Pipeline #{pipeline.pk} was created.")
            return redirect(pipeline_url(pipeline))
    blank_rows = [{"key": "", "value": "", "variable_type": "env_var"}] * max(1, 3 - len(variables))
    return _page(
        request,
        "pipeline_new.html",
        project,
        "pipelines",
        status=400 if errors else 200,
        ref=ref,
        variables=[*variables, *blank_rows],
        errors=errors,
    )


def _pipeline(project: Project, pipeline_id: str) -> Pipeline:
    with not_found_as_404():
        return selectors.pipeline_get(project=project, pipeline_id=pipeline_id)


@require_GET
def pipeline(request: HttpRequest, namespace_path: str, project_path: str, pipeline_id: str) -> HttpResponse:
    project = _ci_project(request, namespace_path, project_path)
    found = _pipeline(project, pipeline_id)
    jobs = list(selectors.job_list(project=project, pipeline=found))
    stages = stages_of(jobs)
    for stage in stages:
        stage.jobs = [_job_row(project, job) for job in stage.jobs]
    return _page(request, "pipeline.html", project, "pipelines", stages=stages, **_pipeline_head(found, jobs))


def _pipeline_head(found: Pipeline, jobs: list[Job]) -> dict[str, Any]:
    """What the pipeline's header (both tabs) shows."""
    return {
        "pipeline": found,
        "jobs_count": len(jobs),
        "duration": duration_text(found.duration),
        "yaml_errors": [e for e in (found.yaml_errors or "").split("; ") if e],
        "can_retry_pipeline": any(j.status in ("failed", "canceled") for j in jobs),
        "can_cancel_pipeline": any(j.status in CANCELABLE_STATUSES for j in jobs),
        "has_tests": any(a.file_type == "junit" for j in jobs for a in j.artifacts.all()),  # prefetched
    }


# A suite shows this many cases, failures first; the API has them all.
MAX_CASES_SHOWN = 500


@require_GET
def pipeline_test_report(
    request: HttpRequest, namespace_path: str, project_path: str, pipeline_id: str
) -> HttpResponse:
    """The Tests tab: the JUnit reports of the pipeline's jobs, failures first with their output."""
    project = _ci_project(request, namespace_path, project_path)
    found = _pipeline(project, pipeline_id)
    jobs = list(selectors.job_list(project=project, pipeline=found))
    report = junit.pipeline_report(found).json()
    for suite in report["test_suites"]:
        suite["shown_cases"] = suite["test_cases"][:MAX_CASES_SHOWN]
    return _page(
        request,
        "test_report.html",
        project,
        "pipelines",
        report=report,
        max_cases=MAX_CASES_SHOWN,
        **_pipeline_head(found, jobs),
    )


@login_required
@require_POST
def pipeline_retry(request: HttpRequest, namespace_path: str, project_path: str, pipeline_id: str) -> HttpResponse:
    actor = signed_in(request)
    project = _ci_project(request, namespace_path, project_path, "update_build")
    found = _pipeline(project, pipeline_id)
    try:
        services.pipeline_retry(pipeline=found, user=actor)
    except DockyardError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, f"Pipeline #{found.pk} is running again.")
    return redirect(pipeline_url(found))


@login_required
@require_POST
def pipeline_cancel(request: HttpRequest, namespace_path: str, project_path: str, pipeline_id: str) -> HttpResponse:
    signed_in(request)
    project = _ci_project(request, namespace_path, project_path, "update_build")
    found = _pipeline(project, pipeline_id)
    services.pipeline_cancel(pipeline=found)
    messages.success(request, f"Pipeline #{found.pk} was canceled.")
    return redirect(pipeline_url(found))


# --- jobs ----------------------------------------------------------------------------------------


@require_GET
def jobs(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    project = _ci_project(request, namespace_path, project_path)
    listing = paginate(request, selectors.job_list(project=project))
    rows = [_job_row(project, job) for job in listing.items]
    return _page(request, "jobs.html", project, "jobs", listing=listing, rows=rows)


def _job(project: Project, job_id: str) -> Job:
    with not_found_as_404():
        return selectors.job_get(project=project, job_id=job_id)


def _log(job: Job) -> tuple[str, bool]:
    """The log as HTML, and whether it was cut to its tail."""
    data = selectors.trace_read(job=job)
    cut = len(data) > MAX_LOG_BYTES
    if cut:
        data = data[-MAX_LOG_BYTES:]
        data = data[data.find(b"\n") + 1 :]
    return ansi.render(data.decode("utf-8", errors="replace")), cut


@require_GET
def job(request: HttpRequest, namespace_path: str, project_path: str, job_id: str) -> HttpResponse:
    project = _ci_project(request, namespace_path, project_path)
    found = _job(project, job_id)
    log_html, cut = _log(found)
    artifacts = [a for a in found.artifacts.all() if a.file_type == "archive"]
    return _page(
        request,
        "job.html",
        project,
        "jobs",
        job=found,
        row=_job_row(project, found),
        pipeline=found.pipeline,
        pipeline_url=pipeline_url(found.pipeline),
        log_html=mark_safe(log_html),  # ansi.render escapes every piece of the log
        log_cut=cut,
        running=found.status in ("pending", "running", "created"),
        artifact=artifacts[0] if artifacts else None,
        duration=duration_text(found.duration),
        queued=duration_text(found.queued_duration),
    )


@require_GET
def job_trace(request: HttpRequest, namespace_path: str, project_path: str, job_id: str) -> JsonResponse:
    """What the log page's script polls: the whole log as HTML again when it grew past ``offset``."""
    project = _ci_project(request, namespace_path, project_path)
    found = _job(project, job_id)
    try:
        offset = int(request.GET.get("offset", "-1"))
    except ValueError:
        offset = -1
    complete = found.status not in ("pending", "running", "created")
    body: dict[str, Any] = {"offset": found.trace_size, "status": found.status, "complete": complete}
    if offset != found.trace_size:
        body["html"], _ = _log(found)
    return JsonResponse(body)


@require_GET
def job_raw(request: HttpRequest, namespace_path: str, project_path: str, job_id: str) -> StreamingHttpResponse:
    project = _ci_project(request, namespace_path, project_path)
    found = _job(project, job_id)
    response = StreamingHttpResponse(selectors.trace_chunks(job=found), content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def job_artifacts(request: HttpRequest, namespace_path: str, project_path: str, job_id: str) -> StreamingHttpResponse:
    project = _ci_project(request, namespace_path, project_path)
    _, artifact = _archive(project, job_id)
    return artifacts.archive_response(artifact)


def _archive(project: Project, job_id: str) -> tuple[Job, JobArtifact]:
    with not_found_as_404():
        return selectors.job_archive(project=project, job_id=job_id)


@contextlib.contextmanager
def _inside_archive() -> Iterator[None]:
    """A path missing from the archive, or one that climbs out of it: the 404 page either way."""
    try:
        with not_found_as_404():
            yield
    except BadRequest as exc:
        raise Http404(NOT_FOUND) from exc


@require_GET
def job_artifacts_browse(
    request: HttpRequest, namespace_path: str, project_path: str, job_id: str, path: str | None = None
) -> HttpResponse:
    """The archive's files, a directory at a time, without downloading it."""
    project = _ci_project(request, namespace_path, project_path)
    found, artifact = _archive(project, job_id)
    with _inside_archive():
        listing = artifacts.listing(artifact, path or "")
    base = f"{job_url(project, found)}/artifacts"
    crumbs, so_far = [], []
    for part in listing.directory.split("/") if listing.directory else []:
        so_far.append(part)
        crumbs.append((part, f"{base}/browse/{quote('/'.join(so_far))}"))
    parent = listing.directory.rpartition("/")[0] if listing.directory else None
    return _page(
        request,
        "artifacts.html",
        project,
        "jobs",
        job=found,
        artifact=artifact,
        listing=listing,
        crumbs=crumbs,
        root_url=f"{base}/browse",
        parent_url=None if parent is None else f"{base}/browse/{quote(parent)}".rstrip("/"),
        directories=[(entry, f"{base}/browse/{quote(entry.path)}") for entry in listing.directories],
        files=[(entry, f"{base}/raw/{quote(entry.path)}") for entry in listing.files],
        download_url=f"{base}/download",
    )


@require_GET
def job_artifacts_raw(
    request: HttpRequest, namespace_path: str, project_path: str, job_id: str, path: str
) -> StreamingHttpResponse:
    """One file of the archive: text shown as plain text, anything else downloaded."""
    project = _ci_project(request, namespace_path, project_path)
    _, artifact = _archive(project, job_id)
    with _inside_archive():
        return artifacts.member_response(artifacts.member(artifact, path))


def _job_action(request: HttpRequest, namespace_path: str, project_path: str, job_id: str) -> tuple[User, Job]:
    actor = signed_in(request)
    project = _ci_project(request, namespace_path, project_path, "update_build")
    return actor, _job(project, job_id)


@login_required
@require_POST
def job_retry(request: HttpRequest, namespace_path: str, project_path: str, job_id: str) -> HttpResponse:
    actor, found = _job_action(request, namespace_path, project_path, job_id)
    try:
        new = services.job_retry(job=found, user=actor)
    except DockyardError as exc:
        messages.error(request, str(exc.message))
        return redirect(job_url(found.project, found))
    messages.success(request, f"Job {found.name} was retried.")
    return redirect(job_url(found.project, new))


@login_required
@require_POST
def job_cancel(request: HttpRequest, namespace_path: str, project_path: str, job_id: str) -> HttpResponse:
    _, found = _job_action(request, namespace_path, project_path, job_id)
    services.job_cancel(job=found)
    messages.success(request, f"Job {found.name} was canceled.")
    back = pipeline_url(found.pipeline) if request.POST.get("next") == "pipeline" else job_url(found.project, found)
    return redirect(back)


@login_required
@require_POST
def job_play(request: HttpRequest, namespace_path: str, project_path: str, job_id: str) -> HttpResponse:
    actor, found = _job_action(request, namespace_path, project_path, job_id)
    try:
        services.job_play(job=found, user=actor)
    except DockyardError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, f"Job {found.name} was started.")
    return redirect(job_url(found.project, found))


@login_required
@require_POST
def job_unschedule(request: HttpRequest, namespace_path: str, project_path: str, job_id: str) -> HttpResponse:
    _, found = _job_action(request, namespace_path, project_path, job_id)
    try:
        services.job_unschedule(job=found)
    except DockyardError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, f"Job {found.name} was unscheduled.")
    return redirect(job_url(found.project, found))


# --- lint ----------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def lint(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    project = _ci_project(request, namespace_path, project_path)
    content = request.POST.get("content", "") if request.method == "POST" else ""
    result = None
    if request.method == "POST":
        result = services.lint(project=project, user=viewer(request), content=content)
    return _page(request, "lint.html", project, "ci_lint", content=content, result=result)


# --- settings: variables and runners -------------------------------------------------------------


def _settings_url(project: Project) -> str:
    return f"{_base(project)}/settings/ci_cd"


def _variable_values(data: Any) -> dict[str, Any]:
    return {
        "key": data.get("key", "").strip(),
        "value": data.get("value", ""),
        "variable_type": data.get("variable_type", "env_var"),
        "environment_scope": data.get("environment_scope", "").strip() or "*",
        "protected": data.get("protected") == "on",
        "masked": data.get("masked") == "on",
        "raw": data.get("raw") == "on",
        "description": data.get("description", ""),
    }


def _settings_page(
    request: HttpRequest, project: Project, *, values: dict[str, Any], errors: dict[str, list[str]]
) -> HttpResponse:
    variables = list(selectors.variable_list(owner=project))
    runners = list(selectors.runner_list_for_project(project=project, filters=selectors.RunnerFilters()))
    return _page(
        request,
        "settings.html",
        project,
        "ci_settings",
        status=400 if errors else 200,
        variables=variables,
        runners=runners,
        values=values,
        errors=errors,
        types=Variable.Type.choices,
        editing=request.GET.get("edit", ""),
    )


@login_required
@require_GET
def settings(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    signed_in(request)
    project = _ci_project(request, namespace_path, project_path, "admin_cicd_variables")
    return _settings_page(request, project, values=_variable_values({}), errors={})


@login_required
@require_POST
def variable_add(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    signed_in(request)
    project = _ci_project(request, namespace_path, project_path, "admin_cicd_variables")
    values = _variable_values(request.POST)
    try:
        services.variable_create(owner=project, **values)
    except DockyardError as exc:
        errors = form_errors(exc, labels=VARIABLE_LABELS)
        return _settings_page(request, project, values={**values, "value": ""}, errors=errors)
    messages.success(request, f"Variable {values['key']} was added.")
    return redirect(_settings_url(project))


def _variable(project: Project, data: Any) -> Variable:
    with not_found_as_404():
        return selectors.variable_get(
            owner=project, key=data.get("key", ""), environment_scope=data.get("environment_scope") or None
        )


@login_required
@require_POST
def variable_update(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    signed_in(request)
    project = _ci_project(request, namespace_path, project_path, "admin_cicd_variables")
    variable = _variable(project, request.POST)
    values = _variable_values(request.POST)
    fields: dict[str, Any] = {
        "variable_type": values["variable_type"],
        "protected": values["protected"],
        "masked": values["masked"],
        "raw": values["raw"],
        "description": values["description"],
    }
    # An empty value field keeps the stored value (masked values are never sent back to the browser).
    if values["value"]:
        fields["value"] = values["value"]
    try:
        services.variable_update(variable=variable, **fields)
    except DockyardError as exc:
        messages.error(request, " ".join(m for ms in form_errors(exc, labels=VARIABLE_LABELS).values() for m in ms))
    else:
        messages.success(request, f"Variable {variable.key} was updated.")
    return redirect(_settings_url(project))


@login_required
@require_POST
def variable_remove(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    signed_in(request)
    project = _ci_project(request, namespace_path, project_path, "admin_cicd_variables")
    variable = _variable(project, request.POST)
    services.variable_delete(variable=variable)
    messages.success(request, f"Variable {variable.key} was removed.")
    return redirect(_settings_url(project))
