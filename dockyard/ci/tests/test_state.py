"""The job state machine in process: when:on_failure/always, allowed failures, and dropping stuck jobs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dockyard.accounts import services as accounts
from dockyard.ci import services
from dockyard.ci.models import Job, Pipeline, Runner
from dockyard.namespaces import services as groups
from dockyard.projects import services as projects
from dockyard.repos.git import read as git_read

pytestmark = pytest.mark.usefixtures("remove_repositories")


YAML = """\
stages: [a, b, c]
one:
  stage: a
  script: [x]
flaky:
  stage: a
  script: [x]
  allow_failure:
    exit_codes: [3]
cleanup:
  stage: b
  script: [x]
  when: on_failure
next:
  stage: b
  script: [x]
report:
  stage: c
  script: [x]
  when: always
"""


def _statuses(pipeline: Pipeline) -> dict[str, str]:
    return {j.name: j.status for j in pipeline.jobs.filter(retried=False)}


def _run(runner: Runner, name: str, status: str, exit_code: int = 0) -> Job:
    assignment = services.job_request(runner=runner, manager=None)
    assert assignment is not None and assignment.job.name == name
    return services.job_finish(job=assignment.job, status=status, failure_reason="script_failure", exit_code=exit_code)


@pytest.mark.django_db
def test_on_failure_always_and_allowed_exit_codes() -> None:
    owner = accounts.user_create(username="ci-owner", email="ci@example.com", name="CI")
    group = groups.group_create(actor=owner, name="CI grp", path="ci-grp")
    project = projects.project_create(actor=owner, namespace=group, name="app", initialize_with_readme=True)
    pipeline = services.pipeline_create(project=project, user=owner, ref="main", source="api", content=YAML)
    assert pipeline is not None and pipeline.status == "pending"
    runner, _ = services.runner_create(actor=owner, runner_type="instance_type")

    _run(runner, "one", "failed", exit_code=1)
    flaky = _run(runner, "flaky", "failed", exit_code=3)
    assert flaky.allow_failure  # exit code 3 is allowed
    pipeline.refresh_from_db()
    assert _statuses(pipeline) == {
        "one": "failed",
        "flaky": "failed",
        "cleanup": "pending",
        "next": "skipped",
        "report": "created",
    }
    _run(runner, "cleanup", "success")
    _run(runner, "report", "success")
    pipeline.refresh_from_db()
    assert pipeline.status == "failed" and pipeline.finished_at is not None


@pytest.mark.django_db
def test_stuck_and_timed_out_jobs_are_dropped() -> None:
    owner = accounts.user_create(username="ci-owner2", email="ci2@example.com", name="CI")
    group = groups.group_create(actor=owner, name="CI grp2", path="ci-grp2")
    project = projects.project_create(actor=owner, namespace=group, name="app", initialize_with_readme=True)
    content = "a:\n  script: [x]\nb:\n  script: [x]\n  timeout: 10m\nc:\n  script: [x]\n"
    pipeline = services.pipeline_create(project=project, user=owner, ref="main", source="api", content=content)
    assert pipeline is not None
    runner, _ = services.runner_create(actor=owner, runner_type="instance_type")
    silent = services.job_request(runner=runner, manager=None)
    slow = services.job_request(runner=runner, manager=None)
    assert silent is not None and slow is not None
    now = timezone.now()
    Job.objects.filter(pk=silent.job.pk).update(updated_at=now - dt.timedelta(hours=2))
    Job.objects.filter(pk=slow.job.pk).update(started_at=now - dt.timedelta(minutes=30))
    Job.objects.filter(name="c").update(queued_at=now - dt.timedelta(days=2))

    assert services.jobs_drop_stale(now=now) == 3
    reasons = {j.name: (j.status, j.failure_reason) for j in pipeline.jobs.all()}
    assert reasons == {
        "a": ("failed", "stuck_or_timeout_failure"),
        "b": ("failed", "job_execution_timeout"),
        "c": ("failed", "stuck_or_timeout_failure"),
    }
    assert services.jobs_drop_stale(now=now) == 0


def _queries(client: Client, token: str, url: str) -> int:
    client.get(url, HTTP_PRIVATE_TOKEN=token)  # warm up: the once-a-minute token/activity writes
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, HTTP_PRIVATE_TOKEN=token)
    assert response.status_code == 200, (url, response.content[:300])
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_list_query_budgets_do_not_grow_with_rows() -> None:
    owner = accounts.user_create(username="ci-budget", email="cib@example.com", name="CI", is_admin=True)
    _, token = accounts.token_create(user=owner, name="t", scopes=["api"])
    group = groups.group_create(actor=owner, name="CI grp3", path="ci-grp3")
    project = projects.project_create(actor=owner, namespace=group, name="app", initialize_with_readme=True)
    runner, _ = services.runner_create(actor=owner, runner_type="project_type", project=project)
    urls = [
        f"/api/v4/projects/{project.pk}/pipelines",
        f"/api/v4/projects/{project.pk}/jobs",
        f"/api/v4/projects/{project.pk}/runners",
        "/api/v4/runners/all",
        f"/api/v4/projects/{project.pk}/repository/commits/{git_read.Repository(project.pk).resolve('main')}/statuses",
    ]

    def grow(n: int) -> None:
        for _ in range(n):
            pipeline = services.pipeline_create(project=project, user=owner, ref="main", source="api", content=YAML)
            assert pipeline is not None
            services.job_request(runner=runner, manager=None)
            services.runner_create(actor=owner, runner_type="project_type", project=project)

    client = Client()
    grow(1)
    small = {url: _queries(client, token, url) for url in urls}
    grow(4)
    large = {url: _queries(client, token, url) for url in urls}
    assert large == small
    pipeline_id = Pipeline.objects.filter(project=project).order_by("-id").values_list("pk", flat=True).first()
    # One more than the project-wide list: the pipeline itself.
    assert _queries(client, token, f"/api/v4/projects/{project.pk}/pipelines/{pipeline_id}/jobs") == small[urls[1]] + 1


@pytest.mark.django_db
def test_a_delayed_job_is_queued_exactly_once_when_due() -> None:
    owner = accounts.user_create(username="ci-owner4", email="ci4@example.com", name="CI")
    group = groups.group_create(actor=owner, name="CI grp4", path="ci-grp4")
    project = projects.project_create(actor=owner, namespace=group, name="app", initialize_with_readme=True)
    content = "wait:\n  when: delayed\n  start_in: 10 minutes\n  script: [x]\n"
    pipeline = services.pipeline_create(project=project, user=owner, ref="main", source="api", content=content)
    assert pipeline is not None and pipeline.status == "scheduled"
    job = pipeline.jobs.get()
    assert job.status == "scheduled" and job.scheduled_at is not None
    now = timezone.now()
    assert not services.job_enqueue_scheduled(job_id=job.pk, now=now)  # not due yet
    assert services.jobs_enqueue_due(now=now) == 0
    later = now + dt.timedelta(minutes=11)
    # The task and the sweep both wake it: it is queued once.
    assert services.job_enqueue_scheduled(job_id=job.pk, now=later)
    assert services.jobs_enqueue_due(now=later) == 0
    assert not services.job_enqueue_scheduled(job_id=job.pk, now=later)
    job.refresh_from_db()
    pipeline.refresh_from_db()
    assert (job.status, pipeline.status) == ("pending", "pending")
    assert Job.objects.get(pk=job.pk).scheduled_at is None


@pytest.mark.django_db
def test_variable_list_query_budgets() -> None:
    owner = accounts.user_create(username="vars-budget", email="vb@example.com", name="V", is_admin=True)
    _, token = accounts.token_create(user=owner, name="t", scopes=["api"])
    group = groups.group_create(actor=owner, name="Vars", path="vars")
    project = projects.project_create(actor=owner, namespace=group, name="app")
    urls = [
        f"/api/v4/projects/{project.pk}/variables",
        f"/api/v4/groups/{group.pk}/variables",
        "/api/v4/admin/ci/variables",
    ]
    made = 0

    def grow(n: int) -> None:
        nonlocal made
        for _ in range(n):
            made += 1
            for owner_ in (project, group, None):
                services.variable_create(owner=owner_, key=f"K{made}", value="value-1234", masked=True)

    client = Client()
    grow(1)
    small = {url: _queries(client, token, url) for url in urls}
    grow(5)
    large = {url: _queries(client, token, url) for url in urls}
    assert large == small
