"""Handing jobs to runners in process: what ``POST /jobs/request`` costs in queries, which runner gets
what, and waking the long polls that wait for a job."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dockyard.accounts import services as accounts
from dockyard.ci import services
from dockyard.ci.models import Job, JobArtifact, Pipeline, Runner
from dockyard.ci.runner_http import _request_job, _update_job, _wait_for_jobs, _wake_long_polls
from dockyard.namespaces import services as groups
from dockyard.projects import services as projects
from dockyard.projects.models import Project

SYSTEM_ID = "s_0123456789ab"
YAML_ONE = 'job:\n  script: ["true"]\n'


pytestmark = pytest.mark.usefixtures("remove_repositories")


def _yaml(dependencies: int, variables: int) -> str:
    lines = ["stages: [build, use]", "variables:"]
    lines += [f"  GLOBAL_{i}: value-{i}" for i in range(variables)]
    for i in range(dependencies):
        lines += [f"dep{i}:", "  stage: build", "  script: [x]", "  artifacts:", "    paths: [out/]"]
    lines += [
        "use:",
        "  stage: use",
        "  script: [x]",
        f"  dependencies: [{', '.join(f'dep{i}' for i in range(dependencies))}]",
    ]
    lines += ["  variables:"] + [f"    JOB_{i}: job-{i}" for i in range(variables)]
    return "\n".join(lines) + "\n"


def _dispatch_queries(project: Project, runner: Runner, token: str, *, dependencies: int, variables: int) -> int:
    """Queries of the ``jobs/request`` that hands out ``use``, after its ``dependencies`` ran with artifacts."""
    for i in range(variables):
        services.variable_create(owner=project, key=f"PROJECT_{dependencies}_{i}", value=f"v{i}")
        services.variable_create(owner=project.namespace, key=f"GROUP_{dependencies}_{i}", value=f"g{i}")
        services.variable_create(owner=None, key=f"INSTANCE_{dependencies}_{i}", value=f"i{i}")
    content = _yaml(dependencies, variables)
    pipeline = services.pipeline_create(
        project=project, user=project.creator, ref="main", source="api", content=content
    )
    assert pipeline is not None
    for _ in range(dependencies):
        assignment = services.job_request(runner=runner, manager=None)
        assert assignment is not None
        JobArtifact.objects.create(
            job=assignment.job, project=project, file_type="archive", filename="artifacts.zip",
            storage_key=f"k/{assignment.job.pk}", size=10, sha256="0" * 64,
        )  # fmt: skip
        services.job_finish(job=assignment.job, status="success", exit_code=0)
    with CaptureQueriesContext(connection) as ctx:
        status, payload = _request_job(
            token=token, system_id=SYSTEM_ID, info={}, ip="127.0.0.1", base="http://x", heartbeat=True
        )
    assert status == 201 and payload is not None and payload["job_info"]["name"] == "use"
    assert len(payload["dependencies"]) == dependencies
    assert all(d["artifacts_file"]["filename"] == "artifacts.zip" for d in payload["dependencies"])
    keys = {v["key"] for v in payload["variables"]}
    last = f"{dependencies}_{variables - 1}"
    assert {
        f"GLOBAL_{variables - 1}",
        f"JOB_{variables - 1}",
        f"PROJECT_{last}",
        f"GROUP_{last}",
        f"INSTANCE_{last}",
    } <= keys
    services.job_finish(job=Job.objects.get(pk=payload["id"]), status="success", exit_code=0)
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_job_payload_queries_do_not_grow_with_variables_and_dependencies() -> None:
    owner = accounts.user_create(username="ci-dispatch", email="cid@example.com", name="CI")
    group = groups.group_create(actor=owner, name="CI dispatch", path="ci-dispatch-grp")
    project = projects.project_create(actor=owner, namespace=group, name="app", initialize_with_readme=True)
    runner, token = services.runner_create(actor=owner, runner_type="instance_type")
    # Nothing queued yet: a 204, which also records the runner's host (a once-a-minute write).
    assert (
        _request_job(token=token, system_id=SYSTEM_ID, info={}, ip="127.0.0.1", base="http://x", heartbeat=True)[0]
        == 204
    )

    small = _dispatch_queries(project, runner, token, dependencies=1, variables=1)
    large = _dispatch_queries(project, runner, token, dependencies=6, variables=12)
    assert large == small


@pytest.mark.django_db
def test_runners_get_only_jobs_they_may_run_oldest_first() -> None:
    owner = accounts.user_create(username="ci-tags", email="cit@example.com", name="CI")
    group = groups.group_create(actor=owner, name="CI tags", path="ci-tags-grp")
    project = projects.project_create(actor=owner, namespace=group, name="app", initialize_with_readme=True)
    content = "gpu:\n  script: [x]\n  tags: [gpu]\nplain:\n  script: [x]\nlinux:\n  script: [x]\n  tags: [linux]\n"
    pipeline = services.pipeline_create(project=project, user=owner, ref="main", source="api", content=content)
    assert pipeline is not None
    untagged, _ = services.runner_create(actor=owner, runner_type="instance_type")
    linux, _ = services.runner_create(actor=owner, runner_type="instance_type", tag_list=["linux"], run_untagged=False)
    both, _ = services.runner_create(actor=owner, runner_type="instance_type", tag_list=["gpu", "linux"])

    def take(runner: Runner) -> str | None:
        assignment = services.job_request(runner=runner, manager=None)
        return assignment.job.name if assignment else None

    assert take(linux) == "linux"  # not the older untagged or gpu jobs
    assert take(linux) is None
    assert take(untagged) == "plain"
    assert take(both) == "gpu"
    assert take(both) is None
    pipeline = Pipeline.objects.get(pk=pipeline.pk)
    assert pipeline.status == "running"
    for job in Job.objects.filter(pipeline=pipeline):
        assert job.status == "running"
        services.job_finish(job=job, status="success", exit_code=0)
    pipeline.refresh_from_db()
    assert pipeline.status == "success" and pipeline.finished_at is not None


@pytest.mark.django_db
def test_group_and_project_runners_get_only_their_projects_jobs() -> None:
    owner = accounts.user_create(username="ci-scope", email="cis@example.com", name="CI")
    group = groups.group_create(actor=owner, name="CI scope", path="ci-scope-grp")
    sub = groups.group_create(actor=owner, name="Sub", path="sub", parent=group)
    other = groups.group_create(actor=owner, name="CI other", path="ci-other-grp")
    outside = projects.project_create(actor=owner, namespace=other, name="out", initialize_with_readme=True)
    inside = projects.project_create(actor=owner, namespace=sub, name="in", initialize_with_readme=True)
    for project in (outside, inside):  # the outside job is the older one
        assert services.pipeline_create(project=project, user=owner, ref="main", source="api", content=YAML_ONE)
    group_runner, _ = services.runner_create(actor=owner, runner_type="group_type", group=group)
    project_runner, _ = services.runner_create(actor=owner, runner_type="project_type", project=outside)

    def take(runner: Runner) -> int | None:
        assignment = services.job_request(runner=runner, manager=None)
        return assignment.job.project_id if assignment else None

    assert take(group_runner) == inside.pk  # a subgroup's project, not the older job outside the group
    assert take(group_runner) is None
    assert take(project_runner) == outside.pk
    assert take(project_runner) is None


@pytest.mark.django_db
def test_a_runner_reporting_success_is_checked_and_written_in_few_queries() -> None:
    owner = accounts.user_create(username="ci-put", email="cip@example.com", name="CI")
    group = groups.group_create(actor=owner, name="CI put", path="ci-put-grp")
    project = projects.project_create(actor=owner, namespace=group, name="app", initialize_with_readme=True)
    content = "a:\n  script: [x]\nb:\n  script: [x]\n"
    pipeline = services.pipeline_create(project=project, user=owner, ref="main", source="api", content=content)
    assert pipeline is not None
    _, token = services.runner_create(actor=owner, runner_type="instance_type")
    taken = []
    for _ in range(2):
        status, payload = _request_job(
            token=token, system_id=SYSTEM_ID, info={}, ip="127.0.0.1", base="http://x", heartbeat=True
        )
        assert status == 201 and payload is not None
        taken.append((payload["id"], payload["token"]))
    (first, first_token), (second, second_token) = taken

    def put(job_id: int, job_token: str) -> tuple[int, dict[bytes, bytes]]:
        answer = _update_job(
            job_id=job_id, params={"state": "success", "exit_code": "0"}, token=job_token, base="http://x"
        )
        return answer.status, dict(answer.headers)

    # Another job's token: refused, and nothing written.
    assert put(first, second_token)[0] == 403
    assert Job.objects.get(pk=first).status == "running"
    with CaptureQueriesContext(connection) as ctx:
        status, headers = put(first, first_token)
    assert (status, headers[b"job-status"]) == (200, b"success")
    # The write that checks the token and the state, then the pipeline's other jobs (the hooks check
    # runs once this commits: never, inside this test's transaction).
    assert len(ctx.captured_queries) == 2
    assert Job.objects.get(pk=first).exit_code == 0
    # Reported twice: the job is no longer running, and says what it is.
    assert put(first, first_token) == (403, {b"job-status": b"success"})
    # A job canceled meanwhile stays canceled.
    services.job_cancel(job=Job.objects.get(pk=second))
    assert put(second, second_token) == (403, {b"job-status": b"canceled"})
    assert Job.objects.get(pk=second).status == "canceled"
    pipeline.refresh_from_db()
    assert pipeline.status == "canceled"


@pytest.mark.django_db
def test_queued_jobs_wake_the_long_polls_waiting_in_this_process(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    owner = accounts.user_create(username="ci-wake", email="ciw@example.com", name="CI")
    group = groups.group_create(actor=owner, name="CI wake", path="ci-wake-grp")
    project = projects.project_create(actor=owner, namespace=group, name="app", initialize_with_readme=True)
    with django_capture_on_commit_callbacks() as callbacks:
        pipeline = services.pipeline_create(project=project, user=owner, ref="main", source="api", content=YAML_ONE)
    assert pipeline is not None and pipeline.status == "pending"

    wakes = [callback for callback in callbacks if callback is _wake_long_polls]
    assert wakes  # queued to run once the pipeline's transaction commits

    async def poll_then_commit() -> bool:
        waiting = asyncio.create_task(_wait_for_jobs(30))
        assert not await _wait_for_jobs(0.2)  # nothing committed yet: a poll waits its time out
        # The commit happens in another thread, as the embedded task worker's does.
        await asyncio.to_thread(lambda: [wake() for wake in wakes])
        return await waiting

    assert asyncio.run(poll_then_commit())  # woken by the commit, not timed out
