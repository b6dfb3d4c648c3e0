"""The CI REST API for people and tools: pipelines, jobs (logs, artifacts, retry/cancel/play/erase), CI/CD
variables, runners and ``ci/lint``, with GitLab's paths, entities and status codes."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Query, Router, Schema

from dockyard.accounts.auth import current_user, require_admin, require_user
from dockyard.accounts.models import User
from dockyard.ci import artifacts, junit, schedules, selectors, services, triggers
from dockyard.ci.models import (
    Job,
    Pipeline,
    PipelineSchedule,
    PipelineScheduleVariable,
    Runner,
    Trigger,
    Variable,
)
from dockyard.ci.schemas import (
    CommitStatusIn,
    CommitStatusOut,
    InstanceVariableOut,
    JobOut,
    LintIn,
    PipelineBasic,
    PipelineCreateIn,
    PipelineOut,
    PipelineVariableOut,
    RunnerBasic,
    RunnerCreatedOut,
    RunnerCreateIn,
    RunnerDetails,
    RunnerJobOut,
    RunnerUpdateIn,
    ScheduleDetailOut,
    ScheduleIn,
    ScheduleOut,
    ScheduleVariableIn,
    ScheduleVariableOut,
    TriggerIn,
    TriggerOut,
    VariableCreateIn,
    VariableOut,
    VariableUpdateIn,
)
from dockyard.core.errors import BadRequest, DockyardError, Forbidden, NotFound
from dockyard.core.pagination import paginate
from dockyard.merge_requests import selectors as mr_selectors
from dockyard.namespaces import selectors as namespace_selectors
from dockyard.namespaces.models import Namespace
from dockyard.permissions import policy
from dockyard.projects import selectors as project_selectors
from dockyard.projects.models import Project

router = Router(tags=["ci"])


def _project(request: HttpRequest, project_id: str, action: str = "read_pipeline") -> tuple[User | None, Project]:
    """The project if the caller may see it (else 404), and may do ``action`` on its CI (else 403)."""
    viewer = current_user(request)
    project = project_selectors.project_get_for(viewer=viewer, ref=project_id)
    if not policy.can_on_project_ci(viewer, "read_pipeline", project):
        raise NotFound("Project") if not policy.can_read_project(viewer, project) else Forbidden()
    if action != "read_pipeline" and not policy.can_on_project_ci(viewer, action, project):
        if viewer is None:
            require_user(request)
        raise Forbidden()
    return viewer, project


def _actor(request: HttpRequest, project_id: str, action: str) -> tuple[User, Project]:
    require_user(request)
    viewer, project = _project(request, project_id, action)
    assert viewer is not None
    return viewer, project


# --- pipelines ---------------------------------------------------------------------------------------


class PipelineQuery(Schema):
    scope: str | None = None
    status: str | None = None
    ref: str | None = None
    sha: str | None = None
    source: str | None = None
    username: str | None = None
    yaml_errors: bool | None = None
    name: str | None = None
    order_by: str = "id"
    sort: str = "desc"


@router.get("/projects/{project_id}/pipelines", response=list[PipelineBasic])
def list_pipelines(
    request: HttpRequest, response: HttpResponse, project_id: str, query: Query[PipelineQuery]
) -> list[Pipeline]:
    _, project = _project(request, project_id)
    filters = selectors.PipelineFilters(**query.dict())
    return paginate(request, response, selectors.pipeline_list(project=project, filters=filters))


@router.get("/projects/{project_id}/pipelines/latest", response=PipelineOut)
def latest_pipeline(request: HttpRequest, project_id: str, ref: str | None = None) -> Pipeline:
    _, project = _project(request, project_id)
    return selectors.pipeline_latest(project=project, ref=ref or project.default_branch)


@router.get("/projects/{project_id}/pipelines/{pipeline_id}", response=PipelineOut)
def get_pipeline(request: HttpRequest, project_id: str, pipeline_id: int) -> Pipeline:
    _, project = _project(request, project_id)
    return selectors.pipeline_get(project=project, pipeline_id=pipeline_id)


@router.post("/projects/{project_id}/pipeline", response={201: PipelineOut})
def create_pipeline(request: HttpRequest, project_id: str, payload: PipelineCreateIn) -> tuple[int, Pipeline]:
    user, project = _actor(request, project_id, "create_pipeline")
    pipeline = services.pipeline_create(
        project=project,
        user=user,
        ref=payload.ref,
        source="api" if getattr(request.auth, "token", None) is not None else "web",  # type: ignore[attr-defined]
        variables=[v.dict() for v in payload.variables],
        refuse_errors=True,
    )
    assert pipeline is not None
    return 201, pipeline


@router.post("/projects/{project_id}/pipelines/{pipeline_id}/retry", response={201: PipelineOut})
def retry_pipeline(request: HttpRequest, project_id: str, pipeline_id: int) -> tuple[int, Pipeline]:
    user, project = _actor(request, project_id, "update_build")
    pipeline = selectors.pipeline_get(project=project, pipeline_id=pipeline_id)
    services.pipeline_retry(pipeline=pipeline, user=user)
    return 201, selectors.pipeline_get(project=project, pipeline_id=pipeline_id)


@router.post("/projects/{project_id}/pipelines/{pipeline_id}/cancel", response={201: PipelineOut})
def cancel_pipeline(request: HttpRequest, project_id: str, pipeline_id: int) -> tuple[int, Pipeline]:
    _, project = _actor(request, project_id, "update_build")
    pipeline = selectors.pipeline_get(project=project, pipeline_id=pipeline_id)
    services.pipeline_cancel(pipeline=pipeline)
    return 201, selectors.pipeline_get(project=project, pipeline_id=pipeline_id)


@router.delete("/projects/{project_id}/pipelines/{pipeline_id}", response={204: None})
def delete_pipeline(request: HttpRequest, project_id: str, pipeline_id: int) -> tuple[int, None]:
    _, project = _actor(request, project_id, "destroy_pipeline")
    services.pipeline_delete(pipeline=selectors.pipeline_get(project=project, pipeline_id=pipeline_id))
    return 204, None


@router.get("/projects/{project_id}/pipelines/{pipeline_id}/variables", response=list[PipelineVariableOut])
def pipeline_variables(request: HttpRequest, project_id: str, pipeline_id: int) -> list[dict[str, str]]:
    _, project = _actor(request, project_id, "update_build")
    return list(selectors.pipeline_get(project=project, pipeline_id=pipeline_id).variables)


@router.get("/projects/{project_id}/pipelines/{pipeline_id}/test_report")
def pipeline_test_report(request: HttpRequest, project_id: str, pipeline_id: int) -> dict[str, Any]:
    """The JUnit reports of the pipeline's jobs, suite by suite with every case (GitLab's
    ``TestReportEntity``); an empty report when no job uploaded one."""
    _, project = _project(request, project_id)
    pipeline = selectors.pipeline_get(project=project, pipeline_id=pipeline_id)
    return junit.pipeline_report(pipeline).json()


@router.get("/projects/{project_id}/pipelines/{pipeline_id}/test_report_summary")
def pipeline_test_report_summary(request: HttpRequest, project_id: str, pipeline_id: int) -> dict[str, Any]:
    _, project = _project(request, project_id)
    pipeline = selectors.pipeline_get(project=project, pipeline_id=pipeline_id)
    return junit.pipeline_report(pipeline).summary_json()


# --- merge request pipelines ----------------------------------------------------------------------------


@router.get("/projects/{project_id}/merge_requests/{mr_iid}/pipelines", response=list[PipelineBasic])
def list_merge_request_pipelines(
    request: HttpRequest, response: HttpResponse, project_id: str, mr_iid: str
) -> list[Pipeline]:
    viewer, project = _project(request, project_id)
    mr = mr_selectors.merge_request_get_for(viewer=viewer, project=project, iid=mr_iid)
    return paginate(request, response, selectors.pipeline_list_for_merge_request(mr=mr))


@router.post("/projects/{project_id}/merge_requests/{mr_iid}/pipelines", response={201: PipelineOut})
def create_merge_request_pipeline(request: HttpRequest, project_id: str, mr_iid: str) -> tuple[int, Pipeline]:
    user, project = _actor(request, project_id, "create_pipeline")
    mr = mr_selectors.merge_request_get_for(viewer=user, project=project, iid=mr_iid)
    pipeline = services.pipeline_create_for_merge_request(mr=mr, user=user, refuse_errors=True)
    assert pipeline is not None
    return 201, pipeline


# --- trigger tokens ----------------------------------------------------------------------------------


def _trigger_params(request: HttpRequest) -> dict[str, Any]:
    """The trigger's parameters as GitLab takes them: a form (``variables[KEY]=value``) or a JSON body."""
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            raise BadRequest("The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("The request body is not valid JSON")
        return {**request.GET.dict(), **body}
    params: dict[str, Any] = {**request.GET.dict(), **request.POST.dict()}
    variables = {k[len("variables[") : -1]: v for k, v in params.items() if k.startswith("variables[") and k[-1] == "]"}
    params = {k: v for k, v in params.items() if not k.startswith("variables[")}
    if variables:
        params["variables"] = variables
    return params


def _trigger(request: HttpRequest, project_id: str, ref: str | None) -> tuple[int, Pipeline]:
    if request.headers.get("X-Gitlab-Event") == "Pipeline Hook":
        raise Forbidden()  # a pipeline webhook must not start pipelines (GitLab refuses the loop)
    params = _trigger_params(request)
    variables = params.get("variables") or {}
    if not isinstance(variables, dict):
        raise DockyardError("variables needs to be a map of key-valued strings")
    pipeline = triggers.pipeline_create_for_trigger(
        project_ref=project_id,
        token=str(params.get("token") or ""),
        ref=ref or str(params.get("ref") or ""),
        variables=variables,
        params=params,
    )
    return 201, selectors.pipeline_get(project=pipeline.project, pipeline_id=pipeline.pk)


@router.post("/projects/{project_id}/trigger/pipeline", response={201: PipelineOut}, auth=None)
def trigger_pipeline(request: HttpRequest, project_id: str) -> tuple[int, Pipeline]:
    return _trigger(request, project_id, None)


@router.post("/projects/{project_id}/ref/{path:ref}/trigger/pipeline", response={201: PipelineOut}, auth=None)
def trigger_pipeline_for_ref(request: HttpRequest, project_id: str, ref: str) -> tuple[int, Pipeline]:
    return _trigger(request, project_id, ref)


@router.get("/projects/{project_id}/triggers", response=list[TriggerOut])
def list_triggers(request: HttpRequest, response: HttpResponse, project_id: str) -> list[Trigger]:
    _, project = _actor(request, project_id, "admin_trigger")
    return paginate(request, response, triggers.trigger_list(project_id=project.pk))


@router.get("/projects/{project_id}/triggers/{trigger_id}", response=TriggerOut)
def get_trigger(request: HttpRequest, project_id: str, trigger_id: str) -> Trigger:
    _, project = _actor(request, project_id, "admin_trigger")
    return triggers.trigger_get(project_id=project.pk, trigger_id=trigger_id)


@router.post("/projects/{project_id}/triggers", response={201: TriggerOut})
def create_trigger(request: HttpRequest, project_id: str, payload: TriggerIn) -> tuple[int, Trigger]:
    user, project = _actor(request, project_id, "admin_trigger")
    if payload.description is None:
        raise BadRequest("description is missing")
    trigger, token = triggers.trigger_create(project_id=project.pk, owner=user, description=payload.description)
    trigger.plain_token = token  # type: ignore[attr-defined]  # shown this once
    return 201, trigger


@router.put("/projects/{project_id}/triggers/{trigger_id}", response=TriggerOut)
def update_trigger(request: HttpRequest, project_id: str, trigger_id: str, payload: TriggerIn) -> Trigger:
    _, project = _actor(request, project_id, "admin_trigger")
    trigger = triggers.trigger_get(project_id=project.pk, trigger_id=trigger_id)
    return triggers.trigger_update(trigger=trigger, description=payload.description)


@router.delete("/projects/{project_id}/triggers/{trigger_id}", response={204: None})
def delete_trigger(request: HttpRequest, project_id: str, trigger_id: str) -> tuple[int, None]:
    _, project = _actor(request, project_id, "admin_trigger")
    triggers.trigger_delete(trigger=triggers.trigger_get(project_id=project.pk, trigger_id=trigger_id))
    return 204, None


# --- pipeline schedules ------------------------------------------------------------------------------

SCHEDULE = "/projects/{project_id}/pipeline_schedules/{schedule_id}"


def _schedule(
    request: HttpRequest, project_id: str, schedule_id: str, *, change: bool = False
) -> tuple[User, PipelineSchedule]:
    """The schedule, for developers; ``change``: only its owner (GitLab makes others take it over first)."""
    user, project = _actor(request, project_id, "create_pipeline_schedule")
    schedule = schedules.schedule_get(project=project, schedule_id=schedule_id)
    if change and schedule.owner_id != user.pk and not user.is_admin:
        raise Forbidden()
    return user, schedule


def _detail(schedule: PipelineSchedule) -> PipelineSchedule:
    schedule.last_pipeline = schedules.schedule_last_pipeline(schedule=schedule)  # type: ignore[attr-defined]
    return schedule


@router.get("/projects/{project_id}/pipeline_schedules", response=list[ScheduleOut])
def list_schedules(
    request: HttpRequest, response: HttpResponse, project_id: str, scope: str | None = None
) -> list[PipelineSchedule]:
    _, project = _actor(request, project_id, "create_pipeline_schedule")
    return paginate(request, response, schedules.schedule_list(project=project, scope=scope))


@router.get(SCHEDULE, response=ScheduleDetailOut)
def get_schedule(request: HttpRequest, project_id: str, schedule_id: str) -> PipelineSchedule:
    return _detail(_schedule(request, project_id, schedule_id)[1])


@router.get(f"{SCHEDULE}/pipelines", response=list[PipelineBasic])
def list_schedule_pipelines(
    request: HttpRequest, response: HttpResponse, project_id: str, schedule_id: str
) -> list[Pipeline]:
    _, schedule = _schedule(request, project_id, schedule_id)
    filters = selectors.PipelineFilters(sort="asc")
    qs = selectors.pipeline_list(project=schedule.project, filters=filters).filter(pipeline_schedule=schedule)
    return paginate(request, response, qs)


@router.post("/projects/{project_id}/pipeline_schedules", response={201: ScheduleDetailOut})
def create_schedule(request: HttpRequest, project_id: str, payload: ScheduleIn) -> tuple[int, PipelineSchedule]:
    user, project = _actor(request, project_id, "create_pipeline_schedule")
    schedule = schedules.schedule_create(project=project, owner=user, **payload.dict())
    return 201, _detail(schedule)


@router.put(SCHEDULE, response=ScheduleDetailOut)
def update_schedule(request: HttpRequest, project_id: str, schedule_id: str, payload: ScheduleIn) -> PipelineSchedule:
    _, schedule = _schedule(request, project_id, schedule_id, change=True)
    return _detail(schedules.schedule_update(schedule=schedule, **payload.dict()))


@router.post(f"{SCHEDULE}/take_ownership", response={201: ScheduleDetailOut})
def take_schedule_ownership(request: HttpRequest, project_id: str, schedule_id: str) -> tuple[int, PipelineSchedule]:
    user, schedule = _schedule(request, project_id, schedule_id)
    if schedule.owner_id != user.pk and not policy.can_on_project_ci(user, "admin_pipeline_schedule", schedule.project):
        raise Forbidden()
    return 201, _detail(schedules.schedule_take_ownership(schedule=schedule, user=user))


@router.delete(SCHEDULE, response={204: None})
def delete_schedule(request: HttpRequest, project_id: str, schedule_id: str) -> tuple[int, None]:
    user, schedule = _schedule(request, project_id, schedule_id)
    if schedule.owner_id != user.pk and not policy.can_on_project_ci(user, "admin_pipeline_schedule", schedule.project):
        raise Forbidden()
    schedules.schedule_delete(schedule=schedule)
    return 204, None


@router.post(f"{SCHEDULE}/play", response={201: dict[str, str]})
def play_schedule(request: HttpRequest, project_id: str, schedule_id: str) -> tuple[int, dict[str, str]]:
    """Run it now; its next scheduled run stays as it was."""
    _, schedule = _schedule(request, project_id, schedule_id)
    schedules.schedule_run(schedule=schedule)
    return 201, {"message": "201 Created"}


@router.post(f"{SCHEDULE}/variables", response={201: ScheduleVariableOut})
def create_schedule_variable(
    request: HttpRequest, project_id: str, schedule_id: str, payload: ScheduleVariableIn
) -> tuple[int, PipelineScheduleVariable]:
    _, schedule = _schedule(request, project_id, schedule_id, change=True)
    if payload.key is None or payload.value is None:
        raise BadRequest("key is missing" if payload.key is None else "value is missing")
    variable = schedules.schedule_variable_create(
        schedule=schedule, key=payload.key, value=payload.value, variable_type=payload.variable_type
    )
    return 201, variable


@router.put(f"{SCHEDULE}/variables/{{key}}", response=ScheduleVariableOut)
def update_schedule_variable(
    request: HttpRequest, project_id: str, schedule_id: str, key: str, payload: ScheduleVariableIn
) -> PipelineScheduleVariable:
    _, schedule = _schedule(request, project_id, schedule_id, change=True)
    variable = schedules.schedule_variable_get(schedule=schedule, key=key)
    return schedules.schedule_variable_update(
        variable=variable, value=payload.value, variable_type=payload.variable_type
    )


@router.delete(f"{SCHEDULE}/variables/{{key}}", response=ScheduleVariableOut)
def delete_schedule_variable(
    request: HttpRequest, project_id: str, schedule_id: str, key: str
) -> PipelineScheduleVariable:
    _, schedule = _schedule(request, project_id, schedule_id, change=True)
    variable = schedules.schedule_variable_get(schedule=schedule, key=key)
    schedules.schedule_variable_delete(variable=variable)
    return variable


# --- jobs ----------------------------------------------------------------------------------------------


class JobQuery(Schema):
    scope: list[str] | None = None
    include_retried: bool = False


@router.get("/projects/{project_id}/pipelines/{pipeline_id}/jobs", response=list[JobOut])
def list_pipeline_jobs(
    request: HttpRequest, response: HttpResponse, project_id: str, pipeline_id: int, query: Query[JobQuery]
) -> list[Job]:
    _, project = _project(request, project_id)
    pipeline = selectors.pipeline_get(project=project, pipeline_id=pipeline_id)
    qs = selectors.job_list(
        project=project, pipeline=pipeline, scope=query.scope, include_retried=query.include_retried
    )
    return paginate(request, response, qs)


@router.get("/projects/{project_id}/jobs", response=list[JobOut])
def list_jobs(request: HttpRequest, response: HttpResponse, project_id: str, query: Query[JobQuery]) -> list[Job]:
    _, project = _project(request, project_id)
    return paginate(request, response, selectors.job_list(project=project, scope=query.scope))


@router.get("/projects/{project_id}/jobs/{job_id}", response=JobOut)
def get_job(request: HttpRequest, project_id: str, job_id: int) -> Job:
    _, project = _project(request, project_id)
    return selectors.job_get(project=project, job_id=job_id)


@router.get("/projects/{project_id}/jobs/{job_id}/trace")
def job_trace(request: HttpRequest, project_id: str, job_id: int) -> StreamingHttpResponse:
    _, project = _project(request, project_id)
    job = selectors.job_get(project=project, job_id=job_id)
    return StreamingHttpResponse(selectors.trace_chunks(job=job), content_type="text/plain")


@router.get("/projects/{project_id}/jobs/{job_id}/artifacts")
def job_artifacts(request: HttpRequest, project_id: str, job_id: int) -> StreamingHttpResponse:
    _, project = _project(request, project_id)
    _, artifact = selectors.job_archive(project=project, job_id=job_id)
    return artifacts.archive_response(artifact)


def _job_name(job: str | None) -> str:
    if not job:
        raise BadRequest("job is missing")
    return job


@router.get("/projects/{project_id}/jobs/artifacts/{path:ref_name}/download")
def ref_artifacts(
    request: HttpRequest, project_id: str, ref_name: str, job: str | None = None
) -> StreamingHttpResponse:
    """The archive of job ``job`` in the branch's or tag's latest successful pipeline."""
    _, project = _project(request, project_id)
    _, artifact = selectors.job_artifact_for_ref(project=project, ref=ref_name, name=_job_name(job))
    return artifacts.archive_response(artifact)


@router.get("/projects/{project_id}/jobs/artifacts/{path:ref_name}/raw/{path:artifact_path}")
def ref_artifact_file(
    request: HttpRequest, project_id: str, ref_name: str, artifact_path: str, job: str | None = None
) -> StreamingHttpResponse:
    """One file of that archive."""
    _, project = _project(request, project_id)
    _, artifact = selectors.job_artifact_for_ref(project=project, ref=ref_name, name=_job_name(job))
    return artifacts.member_response(artifacts.member(artifact, artifact_path))


def _job_action(request: HttpRequest, project_id: str, job_id: int, action: str = "update_build") -> tuple[User, Job]:
    user, project = _actor(request, project_id, action)
    return user, selectors.job_get(project=project, job_id=job_id)


@router.post("/projects/{project_id}/jobs/{job_id}/retry", response={201: JobOut})
def retry_job(request: HttpRequest, project_id: str, job_id: int) -> tuple[int, Job]:
    user, job = _job_action(request, project_id, job_id)
    new = services.job_retry(job=job, user=user)
    return 201, selectors.job_get(project=job.project, job_id=new.pk)


@router.post("/projects/{project_id}/jobs/{job_id}/cancel", response={201: JobOut})
def cancel_job(request: HttpRequest, project_id: str, job_id: int) -> tuple[int, Job]:
    _, job = _job_action(request, project_id, job_id)
    services.job_cancel(job=job)
    return 201, selectors.job_get(project=job.project, job_id=job.pk)


@router.post("/projects/{project_id}/jobs/{job_id}/play", response={200: JobOut})
def play_job(request: HttpRequest, project_id: str, job_id: int) -> tuple[int, Job]:
    user, job = _job_action(request, project_id, job_id)
    services.job_play(job=job, user=user)
    return 200, selectors.job_get(project=job.project, job_id=job.pk)


@router.post("/projects/{project_id}/jobs/{job_id}/erase", response={201: JobOut})
def erase_job(request: HttpRequest, project_id: str, job_id: int) -> tuple[int, Job]:
    user, job = _job_action(request, project_id, job_id)
    if job.user_id != user.pk and not policy.can_on_project_ci(user, "erase_build", job.project):
        raise Forbidden()
    services.job_erase(job=job, user=user)
    return 201, selectors.job_get(project=job.project, job_id=job.pk)


@router.post("/projects/{project_id}/jobs/{job_id}/artifacts/keep", response={200: JobOut})
def keep_job_artifacts(request: HttpRequest, project_id: str, job_id: int) -> tuple[int, Job]:
    _, job = _job_action(request, project_id, job_id)
    services.artifacts_keep(job=job)
    return 200, selectors.job_get(project=job.project, job_id=job.pk)


@router.delete("/projects/{project_id}/jobs/{job_id}/artifacts", response={204: None})
def delete_job_artifacts(request: HttpRequest, project_id: str, job_id: int) -> tuple[int, None]:
    _, job = _job_action(request, project_id, job_id, "destroy_artifacts")
    services.artifacts_delete(job=job)
    return 204, None


@router.delete("/projects/{project_id}/artifacts", response={202: dict[str, str]})
def delete_project_artifacts(request: HttpRequest, project_id: str) -> tuple[int, dict[str, str]]:
    _, project = _actor(request, project_id, "destroy_artifacts")
    services.artifacts_expire_project(project=project)
    return 202, {"message": "202 Accepted"}  # GitLab's ``accepted!``: removed by the next expiry pass


# --- CI/CD variables: the project's, a group's and the instance's, with one set of rules ---------------


def _group_owner(request: HttpRequest, group_id: str) -> Namespace:
    user = require_user(request)
    group = namespace_selectors.group_get_for(viewer=user, ref=group_id)
    if not policy.can_on_group_ci(user, "admin_cicd_variables", group):
        raise Forbidden()
    return group


def _instance_owner(request: HttpRequest) -> None:
    require_admin(request)


def _filter_scope(request: HttpRequest) -> str | None:
    return request.GET.get("filter[environment_scope]")


def _create(owner: selectors.VariableOwner, payload: VariableCreateIn) -> Variable:
    data = payload.dict(exclude={"masked_and_hidden"})
    data["masked"] = bool(payload.masked or payload.masked_and_hidden)
    return services.variable_create(owner=owner, **data)


def _update(owner: selectors.VariableOwner, key: str, payload: VariableUpdateIn) -> Variable:
    scope = (payload.filter or {}).get("environment_scope")
    variable = selectors.variable_get(owner=owner, key=key, environment_scope=scope)
    return services.variable_update(variable=variable, **payload.dict(exclude={"filter"}))


def _delete(request: HttpRequest, owner: selectors.VariableOwner, key: str) -> tuple[int, None]:
    variable = selectors.variable_get(owner=owner, key=key, environment_scope=_filter_scope(request))
    services.variable_delete(variable=variable)
    return 204, None


@router.get("/projects/{project_id}/variables", response=list[VariableOut])
def list_variables(request: HttpRequest, response: HttpResponse, project_id: str) -> list[Variable]:
    _, project = _actor(request, project_id, "admin_cicd_variables")
    return paginate(request, response, selectors.variable_list(owner=project))


@router.get("/projects/{project_id}/variables/{key}", response=VariableOut)
def get_variable(request: HttpRequest, project_id: str, key: str) -> Variable:
    _, project = _actor(request, project_id, "admin_cicd_variables")
    return selectors.variable_get(owner=project, key=key, environment_scope=_filter_scope(request))


@router.post("/projects/{project_id}/variables", response={201: VariableOut})
def create_variable(request: HttpRequest, project_id: str, payload: VariableCreateIn) -> tuple[int, Variable]:
    _, project = _actor(request, project_id, "admin_cicd_variables")
    return 201, _create(project, payload)


@router.put("/projects/{project_id}/variables/{key}", response=VariableOut)
def update_variable(request: HttpRequest, project_id: str, key: str, payload: VariableUpdateIn) -> Variable:
    _, project = _actor(request, project_id, "admin_cicd_variables")
    return _update(project, key, payload)


@router.delete("/projects/{project_id}/variables/{key}", response={204: None})
def delete_variable(request: HttpRequest, project_id: str, key: str) -> tuple[int, None]:
    _, project = _actor(request, project_id, "admin_cicd_variables")
    return _delete(request, project, key)


@router.get("/groups/{group_id}/variables", response=list[VariableOut])
def list_group_variables(request: HttpRequest, response: HttpResponse, group_id: str) -> list[Variable]:
    return paginate(request, response, selectors.variable_list(owner=_group_owner(request, group_id)))


@router.get("/groups/{group_id}/variables/{key}", response=VariableOut)
def get_group_variable(request: HttpRequest, group_id: str, key: str) -> Variable:
    group = _group_owner(request, group_id)
    return selectors.variable_get(owner=group, key=key, environment_scope=_filter_scope(request))


@router.post("/groups/{group_id}/variables", response={201: VariableOut})
def create_group_variable(request: HttpRequest, group_id: str, payload: VariableCreateIn) -> tuple[int, Variable]:
    return 201, _create(_group_owner(request, group_id), payload)


@router.put("/groups/{group_id}/variables/{key}", response=VariableOut)
def update_group_variable(request: HttpRequest, group_id: str, key: str, payload: VariableUpdateIn) -> Variable:
    return _update(_group_owner(request, group_id), key, payload)


@router.delete("/groups/{group_id}/variables/{key}", response={204: None})
def delete_group_variable(request: HttpRequest, group_id: str, key: str) -> tuple[int, None]:
    return _delete(request, _group_owner(request, group_id), key)


@router.get("/admin/ci/variables", response=list[InstanceVariableOut])
def list_instance_variables(request: HttpRequest, response: HttpResponse) -> list[Variable]:
    _instance_owner(request)
    return paginate(request, response, selectors.variable_list(owner=None))


@router.get("/admin/ci/variables/{key}", response=InstanceVariableOut)
def get_instance_variable(request: HttpRequest, key: str) -> Variable:
    _instance_owner(request)
    return selectors.variable_get(owner=None, key=key)


@router.post("/admin/ci/variables", response={201: InstanceVariableOut})
def create_instance_variable(request: HttpRequest, payload: VariableCreateIn) -> tuple[int, Variable]:
    _instance_owner(request)
    return 201, _create(None, payload)


@router.put("/admin/ci/variables/{key}", response=InstanceVariableOut)
def update_instance_variable(request: HttpRequest, key: str, payload: VariableUpdateIn) -> Variable:
    _instance_owner(request)
    return _update(None, key, payload)


@router.delete("/admin/ci/variables/{key}", response={204: None})
def delete_instance_variable(request: HttpRequest, key: str) -> tuple[int, None]:
    _instance_owner(request)
    return _delete(request, None, key)


# --- commit statuses ---------------------------------------------------------------------------------


@router.post("/projects/{project_id}/statuses/{sha}", response={201: CommitStatusOut})
def create_commit_status(request: HttpRequest, project_id: str, sha: str, payload: CommitStatusIn) -> tuple[int, Job]:
    user, project = _actor(request, project_id, "update_build")
    job = services.commit_status_create(
        project=project,
        user=user,
        sha=sha,
        state=payload.state,
        ref=payload.ref,
        name=payload.name or payload.context,
        target_url=payload.target_url,
        description=payload.description,
        coverage=payload.coverage,
        pipeline_id=payload.pipeline_id,
    )
    return 201, job


class StatusQuery(Schema):
    ref: str | None = None
    stage: str | None = None
    name: str | None = None
    pipeline_id: int | None = None
    all: bool = False


@router.get("/projects/{project_id}/repository/commits/{sha}/statuses", response=list[CommitStatusOut])
def list_commit_statuses(
    request: HttpRequest, response: HttpResponse, project_id: str, sha: str, query: Query[StatusQuery]
) -> list[Job]:
    _, project = _project(request, project_id)
    filters = selectors.StatusFilters(**query.dict())
    return paginate(request, response, selectors.commit_statuses(project=project, sha=sha, filters=filters))


# --- lint ----------------------------------------------------------------------------------------------------


@router.post("/projects/{project_id}/ci/lint")
def lint(request: HttpRequest, project_id: str, payload: LintIn) -> dict[str, object]:
    viewer, project = _project(request, project_id)
    result = services.lint(project=project, user=viewer, content=payload.content, ref=payload.ref)
    if not payload.include_jobs:
        result.pop("jobs")
    return result


# --- runners ---------------------------------------------------------------------------------------------


class RunnerQuery(Schema):
    type: str | None = None
    status: str | None = None
    paused: bool | None = None
    tag_list: list[str] | None = None

    def filters(self) -> selectors.RunnerFilters:
        tags = [t.strip() for item in self.tag_list or [] for t in item.split(",") if t.strip()]
        return selectors.RunnerFilters(type=self.type, status=self.status, paused=self.paused, tag_list=tags)


@router.get("/runners/all", response=list[RunnerBasic])
def list_all_runners(request: HttpRequest, response: HttpResponse, query: Query[RunnerQuery]) -> list[Runner]:
    require_admin(request)
    return paginate(request, response, selectors.runner_list_all(filters=query.filters()))


@router.get("/runners/{runner_id}", response=RunnerDetails)
def get_runner(request: HttpRequest, runner_id: int) -> Runner:
    return selectors.runner_get_for(viewer=require_user(request), runner_id=runner_id)


@router.put("/runners/{runner_id}", response=RunnerDetails)
def update_runner(request: HttpRequest, runner_id: int, payload: RunnerUpdateIn) -> Runner:
    runner = selectors.runner_get_for(viewer=require_user(request), runner_id=runner_id)
    fields = payload.dict(exclude={"active"})
    if payload.active is not None and payload.paused is None:
        fields["paused"] = not payload.active
    return services.runner_update(runner=runner, **fields)


@router.delete("/runners/{runner_id}", response={204: None})
def delete_runner(request: HttpRequest, runner_id: int) -> tuple[int, None]:
    runner = selectors.runner_get_for(viewer=require_user(request), runner_id=runner_id)
    services.runner_delete(runner=runner)
    return 204, None


@router.get("/projects/{project_id}/runners", response=list[RunnerBasic])
def list_project_runners(
    request: HttpRequest, response: HttpResponse, project_id: str, query: Query[RunnerQuery]
) -> list[Runner]:
    _, project = _actor(request, project_id, "admin_runner")
    return paginate(request, response, selectors.runner_list_for_project(project=project, filters=query.filters()))


class RunnerAssignIn(Schema):
    runner_id: int


@router.post("/projects/{project_id}/runners", response={201: RunnerBasic})
def assign_runner(request: HttpRequest, project_id: str, payload: RunnerAssignIn) -> tuple[int, Runner]:
    user, project = _actor(request, project_id, "admin_runner")
    runner = selectors.runner_get_for(viewer=user, runner_id=payload.runner_id)
    return 201, services.runner_project_assign(runner=runner, project=project)


class RunnerJobsQuery(Schema):
    system_id: str | None = None
    status: str | None = None
    order_by: str | None = None
    sort: str = "desc"


@router.get("/runners/{runner_id}/jobs", response=list[RunnerJobOut])
def list_runner_jobs(
    request: HttpRequest, response: HttpResponse, runner_id: int, query: Query[RunnerJobsQuery]
) -> list[Job]:
    """The jobs a runner took, each with its pipeline and project (GitLab's ``JobBasicWithProject``)."""
    viewer = require_user(request)
    filters = selectors.RunnerJobFilters(**query.dict())
    return paginate(request, response, selectors.runner_jobs(viewer=viewer, runner_id=runner_id, filters=filters))


@router.post("/user/runners", response={201: RunnerCreatedOut})
def create_runner(request: HttpRequest, payload: RunnerCreateIn) -> tuple[int, dict[str, object]]:
    """Create a runner first, then ``gitlab-runner register --token glrt-…`` (GitLab ≥ 15.10)."""
    user = require_user(request)
    project = group = None
    if payload.runner_type == Runner.Type.INSTANCE:
        if not user.is_admin:
            raise Forbidden()
    elif payload.runner_type == Runner.Type.PROJECT:
        if payload.project_id is None:
            raise BadRequest("project_id is missing")
        project = project_selectors.project_get_for(viewer=user, ref=payload.project_id)
        if not policy.can_on_project_ci(user, "admin_runner", project):
            raise Forbidden()
    elif payload.runner_type == Runner.Type.GROUP:
        if payload.group_id is None:
            raise BadRequest("group_id is missing")
        group = namespace_selectors.group_get_for(viewer=user, ref=payload.group_id)
        if not policy.can(user, "admin_group", group):
            raise Forbidden()
    runner, token = services.runner_create(
        actor=user,
        runner_type=payload.runner_type,
        project=project,
        group=group,
        description=payload.description,
        maintenance_note=payload.maintenance_note,
        tag_list=payload.tag_list,
        run_untagged=payload.run_untagged,
        locked=payload.locked,
        paused=payload.paused,
        access_level=payload.access_level,
        maximum_timeout=payload.maximum_timeout,
    )
    return 201, {"id": runner.pk, "token": token, "token_expires_at": None}


# Last: its path would otherwise take ``jobs/:id/artifacts/keep`` and the like from the routes above.
@router.get("/projects/{project_id}/jobs/{job_id}/artifacts/{path:artifact_path}")
def job_artifact_file(request: HttpRequest, project_id: str, job_id: int, artifact_path: str) -> StreamingHttpResponse:
    """One file of a job's artifacts archive."""
    _, project = _project(request, project_id)
    _, artifact = selectors.job_archive(project=project, job_id=job_id)
    return artifacts.member_response(artifacts.member(artifact, artifact_path))
