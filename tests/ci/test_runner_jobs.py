"""``GET /runners/:id/jobs`` as python-gitlab reads it: the jobs a runner took, with their pipeline and
project, filtered, sorted and paginated as GitLab does, and only for those who administer the runner."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import gitlab
import pytest
import requests
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dockyard.accounts import services as accounts
from dockyard.ci import services as ci
from dockyard.config.env import Env
from dockyard.namespaces import services as groups
from dockyard.permissions import services as members
from dockyard.permissions.models import AccessLevel
from dockyard.projects import services as projects
from tests.ci.test_pipelines import RunnerClient, _register
from tests.ci.test_variables import _user
from tests.live import LiveServer


def _ci_project(gl: gitlab.Gitlab, group: Any, jobs: list[str]) -> Any:
    project = gl.projects.create(
        {"name": f"app-{secrets.token_hex(3)}", "namespace_id": group.id, "initialize_with_readme": True}
    )
    content = "".join(f"{name}:\n  script: [make {name}]\n" for name in jobs)
    # No push pipeline: the test makes exactly one through the API.
    project.files.create(
        {"file_path": ".gitlab-ci.yml", "branch": "main", "content": content, "commit_message": "CI [skip ci]"}
    )
    return project


def _runner_id(runner: RunnerClient) -> int:
    response = runner.verify()
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def _names(jobs: list[Any]) -> list[str]:
    return [job.name for job in jobs]


def test_runner_jobs_filters_order_pagination_and_access(ci_server: LiveServer, ci_root: gitlab.Gitlab) -> None:
    gl = ci_root
    group = gl.groups.create({"name": f"Fleet {secrets.token_hex(3)}", "path": f"fleet-{secrets.token_hex(3)}"})
    app = _ci_project(gl, group, ["a1", "a2", "a3", "a4"])
    lib = _ci_project(gl, group, ["b1"])
    assert app.pipelines.list(get_all=True) == []

    # Runner `fleet` is app's and also serves lib; `own` is another runner of app.
    fleet = _register(ci_server, gl, runner_type="project_type", project_id=app.id, locked=False)
    own = _register(ci_server, gl, runner_type="project_type", project_id=app.id)
    fleet_id = _runner_id(fleet)
    lib.runners.create({"runner_id": fleet_id})

    app_pipeline = app.pipelines.create({"ref": "main"})
    lib_pipeline = lib.pipelines.create({"ref": "main"})
    fleet.run(fleet.take("a1"))
    fleet.run(fleet.take("a2"), exit_code=1)
    own.run(own.take("a3"))
    fleet.run(fleet.take("a4"))
    fleet.run(fleet.take("b1"))
    assert fleet.request_job() is None and own.request_job() is None

    runner = gl.runners.get(fleet_id)
    finished = runner.jobs.list(status="success", get_all=True)
    assert _names(finished) == ["b1", "a4", "a1"]  # newest first; a3 was another runner's
    b1 = finished[0]
    assert b1.status == "success" and b1.stage == "test" and b1.ref == "main"
    assert b1.pipeline["id"] == lib_pipeline.id and b1.pipeline["project_id"] == lib.id
    assert b1.pipeline["ref"] == "main" and b1.pipeline["sha"] == lib_pipeline.sha
    assert b1.pipeline["status"] == "success"
    assert {k: b1.project[k] for k in ("id", "name", "path", "path_with_namespace", "name_with_namespace")} == {
        "id": lib.id,
        "name": lib.name,
        "path": lib.path,
        "path_with_namespace": lib.path_with_namespace,
        "name_with_namespace": lib.name_with_namespace,
    }
    assert finished[1].project["id"] == app.id and finished[1].pipeline["id"] == app_pipeline.id
    assert b1.runner["id"] == fleet_id

    assert _names(runner.jobs.list(get_all=True)) == ["b1", "a4", "a2", "a1"]
    assert _names(runner.jobs.list(order_by="id", sort="asc", get_all=True)) == ["a1", "a2", "a4", "b1"]
    # As GitLab: ``sort`` alone changes nothing, it needs ``order_by``.
    assert _names(runner.jobs.list(sort="asc", get_all=True)) == ["b1", "a4", "a2", "a1"]
    [failed] = runner.jobs.list(status="failed")
    assert failed.name == "a2" and failed.failure_reason == "script_failure"
    assert runner.jobs.list(status="running") == []
    assert _names(runner.jobs.list(system_id=fleet.system_id, get_all=True)) == ["b1", "a4", "a2", "a1"]
    assert runner.jobs.list(system_id="s_elsewhere") == []

    # Offset pagination with GitLab's headers, which python-gitlab follows to the end.
    page = runner.jobs.list(per_page=3, iterator=True)
    assert page.total == 4 and page.total_pages == 2 and page.next_page == 2
    assert _names(runner.jobs.list(per_page=3, page=2)) == ["a1"]
    assert _names(list(runner.jobs.list(per_page=1, iterator=True))) == ["b1", "a4", "a2", "a1"]

    for name, value in [("status", "sleeping"), ("order_by", "name"), ("sort", "up")]:
        with pytest.raises(gitlab.GitlabListError) as bad:
            runner.jobs.list(query_parameters={name: value})
        assert bad.value.response_code == 400
        assert bad.value.error_message == f"{name} does not have a valid value"

    missing = gl.runners.get(10**9, lazy=True)
    with pytest.raises(gitlab.GitlabListError) as unknown:
        missing.jobs.list()
    assert unknown.value.response_code == 404 and unknown.value.error_message == "404 Runner Not Found"
    anonymous = requests.get(f"{ci_server.url}/api/v4/runners/{fleet_id}/jobs", timeout=10)
    assert anonymous.status_code == 401

    # A maintainer of app administers its runner, and sees only app's jobs of it, not lib's.
    maintainer, as_maintainer = _user(gl, "maint")
    app.members.create({"user_id": maintainer.id, "access_level": AccessLevel.MAINTAINER})
    assert _names(as_maintainer.runners.get(fleet_id).jobs.list(get_all=True)) == ["a4", "a2", "a1"]
    # The group's runner is not theirs: missing, as for ``GET /runners/:id``.
    group_runner_id = _runner_id(_register(ci_server, gl, runner_type="group_type", group_id=group.id))
    with pytest.raises(gitlab.GitlabListError) as hidden:
        as_maintainer.runners.get(group_runner_id, lazy=True).jobs.list()
    assert hidden.value.response_code == 404 and hidden.value.error_message == "404 Runner Not Found"
    # An instance runner is no secret in GitLab, only its jobs are: 403.
    shared_id = _runner_id(_register(ci_server, gl, runner_type="instance_type"))
    with pytest.raises(gitlab.GitlabListError) as forbidden:
        as_maintainer.runners.get(shared_id, lazy=True).jobs.list()
    assert forbidden.value.response_code == 403
    assert forbidden.value.error_message == "403 Forbidden - No access granted"
    assert gl.runners.get(shared_id).jobs.list() == []

    # An owner of the group administers its runner.
    owner, as_owner = _user(gl, "owner")
    group.members.create({"user_id": owner.id, "access_level": AccessLevel.OWNER})
    assert as_owner.runners.get(group_runner_id, lazy=True).jobs.list() == []


# --- query budget (in-process) ----------------------------------------------------------------------

BUDGET_YAML = "".join(f"j{i}:\n  script: [make]\n" for i in range(3))


@pytest.fixture
def _own_repositories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Project ids repeat between tests (rolled back); each test gets its own repository storage."""
    monkeypatch.setattr(Env, "repositories", property(lambda self: tmp_path / "repositories"))


@pytest.mark.django_db
@pytest.mark.usefixtures("_own_repositories")
@pytest.mark.parametrize("as_admin", [True, False])
def test_runner_jobs_queries_do_not_grow_with_rows(as_admin: bool) -> None:
    owner = accounts.user_create(username="owner", email="owner@example.com", name="Owner", is_admin=as_admin)
    viewer = owner
    if not as_admin:
        # A maintainer of the projects, not of the group: the Reporter condition is in play.
        viewer = accounts.user_create(username="maint", email="maint@example.com", name="Maint")
    _, token = accounts.token_create(user=viewer, name="api", scopes=["api"])
    group = groups.group_create(actor=owner, name="Acme", path="acme")
    apps = [
        projects.project_create(actor=owner, namespace=group, name=f"App {i}", initialize_with_readme=True)
        for i in range(2)
    ]
    runner, _ = ci.runner_create(actor=owner, runner_type="project_type", project=apps[0], locked=False)
    ci.runner_project_assign(runner=runner, project=apps[1])
    for app in apps:
        members.member_add(actor=owner, source=app, user=viewer, access_level=AccessLevel.MAINTAINER)
        ci.pipeline_create(project=app, user=owner, ref="main", source="web", content=BUDGET_YAML)

    def run(n: int) -> None:
        for _ in range(n):
            assignment = ci.job_request(runner=runner, manager=None)
            assert assignment is not None
            ci.job_finish(job=assignment.job, status="success")

    client = Client()
    url = f"/api/v4/runners/{runner.pk}/jobs"

    def count() -> tuple[int, int]:
        client.get(url, HTTP_PRIVATE_TOKEN=token)  # warm up: the once-a-minute token/activity writes
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url, HTTP_PRIVATE_TOKEN=token)
        assert response.status_code == 200, response.content[:300]
        return len(response.json()), len(ctx.captured_queries)

    run(2)
    rows, small = count()
    assert rows == 2
    run(4)
    rows, large = count()
    assert rows == 6 and large == small
