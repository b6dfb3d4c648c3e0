"""Delayed jobs, canceling a job its runner still runs, auto-cancel of redundant pipelines, and commit
statuses from an external CI: python-gitlab, real pushes and a runner-protocol client."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import gitlab
import pytest
import requests

from tests.ci.test_pipelines import _jobs, _pipelines, _register, _remote
from tests.git.conftest import Git
from tests.live import LiveServer

DELAYED_YAML = """\
stages: [build, deploy]
build:
  stage: build
  script: [make]
soon:
  stage: deploy
  when: delayed
  start_in: 1 second
  script: [./deploy soon]
later:
  stage: deploy
  when: delayed
  start_in: 30 minutes
  script: [./deploy later]
never:
  stage: deploy
  when: delayed
  start_in: 30 minutes
  script: [./deploy never]
"""


def _project(gl: gitlab.Gitlab) -> Any:
    group = gl.groups.create({"name": f"Ctl {secrets.token_hex(3)}", "path": f"ctl-{secrets.token_hex(3)}"})
    return gl.projects.create({"name": "app", "namespace_id": group.id})


def _push(server: LiveServer, git: Git, project: Any, work: Path, text: str, message: str = "CI") -> str:
    if not work.exists():
        git.run("init", "-q", str(work))
    sha = git.commit(work, ".gitlab-ci.yml", text, message)
    git.run("push", "-q", _remote(server, project), "main", cwd=work)
    return sha


def test_delayed_jobs_wait_then_run_once_and_can_be_played_or_canceled(
    ci_server: LiveServer, ci_root: gitlab.Gitlab, git: Git, tmp_path: Path
) -> None:
    project = _project(ci_root)
    _push(ci_server, git, project, tmp_path / "work", DELAYED_YAML)
    runner = _register(ci_server, ci_root, runner_type="project_type", project_id=project.id)
    [pipeline] = _pipelines(project, 1)
    runner.run(runner.take("build"))

    jobs = _jobs(pipeline)
    assert jobs["later"].status == "scheduled" and jobs["later"].scheduled_at
    # Due after a second: the worker queues it, once, and a runner gets it.
    soon = runner.take("soon")
    assert project.jobs.get(soon["id"]).scheduled_at is None
    runner.run(soon)
    assert runner.request_job() is None  # nothing else is due
    assert project.pipelines.get(pipeline.id).status == "scheduled"

    # Played before its time, a delayed job runs now; canceled, it never runs.
    played = project.jobs.get(jobs["later"].id, lazy=True).play()
    assert played is None or played.get("status") in (None, "pending")
    runner.run(runner.take("later"))
    project.jobs.get(jobs["never"].id, lazy=True).cancel()
    jobs = _jobs(pipeline)
    assert jobs["never"].status == "canceled" and jobs["never"].scheduled_at is None
    assert {name: job.status for name, job in jobs.items()} == {
        "build": "success", "soon": "success", "later": "success", "never": "canceled",
    }  # fmt: skip
    assert project.pipelines.get(pipeline.id).status == "canceled"
    assert runner.request_job() is None


def test_canceling_waits_for_a_runner_that_stops_gracefully(
    ci_server: LiveServer, ci_root: gitlab.Gitlab, git: Git, tmp_path: Path
) -> None:
    project = _project(ci_root)
    _push(ci_server, git, project, tmp_path / "work", "job:\n  script: [sleep 100]\n  after_script: [cleanup]\n")
    runner = _register(ci_server, ci_root, runner_type="project_type", project_id=project.id)
    runner.features = {"cancelable": True, "cancel_gracefully": True}
    [pipeline] = _pipelines(project, 1)
    job = runner.take("job")
    assert runner.update(job, "running").status_code == 200

    project.jobs.get(job["id"], lazy=True).cancel()
    assert project.jobs.get(job["id"]).status == "canceling"
    assert project.pipelines.get(pipeline.id).status == "canceling"
    # The runner is told, may still send its log (its after_script runs), then reports.
    told = runner.update(job, "running")
    assert told.status_code == 200 and told.headers["Job-Status"] == "canceling"
    assert runner.trace(job, 0, b"$ cleanup\n").status_code == 202
    done = runner.update(job, "failed", failure_reason="script_failure", exit_code=143)
    assert done.status_code == 200 and done.headers["Job-Status"] == "canceled"
    assert project.jobs.get(job["id"]).status == "canceled"
    assert project.pipelines.get(pipeline.id).status == "canceled"
    assert runner.update(job, "running").status_code == 403


STAGED_YAML = """\
stages: [build, test]
build:
  stage: build
  interruptible: true
  script: [make]
lint:
  stage: build
  script: [lint]
test:
  stage: test
  script: [make test]
"""


def test_a_new_push_cancels_redundant_pipelines(
    ci_server: LiveServer, ci_root: gitlab.Gitlab, git: Git, tmp_path: Path
) -> None:
    project = _project(ci_root)
    work = tmp_path / "work"
    yaml = STAGED_YAML.replace("lint:\n  stage: build\n  script: [lint]\n", "")
    _push(ci_server, git, project, work, yaml, "one")
    runner = _register(ci_server, ci_root, runner_type="project_type", project_id=project.id)
    [first] = _pipelines(project, 1)
    build = runner.take("build")
    assert runner.update(build, "running").status_code == 200

    # Conservative (the default): only interruptible jobs have started, so the whole pipeline goes.
    _push(ci_server, git, project, work, yaml + "# two\n", "two")
    second = next(p for p in _pipelines(project, 2) if p.id != first.id)
    assert project.pipelines.get(first.id).status == "canceled"
    assert {j.status for j in first.jobs.list(get_all=True)} == {"canceled"}
    assert runner.update(build, "running").headers["Job-Status"] == "canceled"

    # A started job that is not interruptible keeps its pipeline.
    runner.run(runner.take("build"))
    test = runner.take("test")
    assert runner.update(test, "running").status_code == 200
    _push(ci_server, git, project, work, yaml + "# three\n", "three")
    third = next(p for p in _pipelines(project, 3) if p.id not in (first.id, second.id))
    assert project.pipelines.get(second.id).status == "running"

    # The project setting turns it off.
    project.auto_cancel_pending_pipelines = "disabled"
    project.save()
    assert ci_root.projects.get(project.id).auto_cancel_pending_pipelines == "disabled"
    interruptible = "workflow:\n  auto_cancel:\n    on_new_commit: interruptible\n" + STAGED_YAML
    _push(ci_server, git, project, work, interruptible, "four")
    fourth = next(p for p in _pipelines(project, 4) if p.id not in (first.id, second.id, third.id))
    assert project.pipelines.get(third.id).status == "pending"

    # on_new_commit: interruptible cancels only the interruptible jobs of the older pipeline.
    project.auto_cancel_pending_pipelines = "enabled"
    project.save()
    _push(ci_server, git, project, work, interruptible + "# five\n", "five")
    _pipelines(project, 5)
    statuses = {j.name: j.status for j in fourth.jobs.list(get_all=True)}
    assert statuses == {"build": "canceled", "lint": "pending", "test": "created"}
    assert project.pipelines.get(third.id).status == "canceled"  # conservative: nothing had started
    for pipeline in project.pipelines.list(get_all=True):
        pipeline.cancel()  # leave no pending job for other tests' instance runners


FAIL_FAST_YAML = """\
workflow:
  auto_cancel:
    on_job_failure: all
stages: [build, test]
build:
  stage: build
  script: [make]
lint:
  stage: build
  allow_failure: true
  script: [lint]
slow:
  stage: build
  script: [sleep 600]
test:
  stage: test
  script: [make test]
"""


def test_on_job_failure_all_cancels_the_rest_of_the_pipeline(
    ci_server: LiveServer, ci_root: gitlab.Gitlab, git: Git, tmp_path: Path
) -> None:
    project = _project(ci_root)
    _push(ci_server, git, project, tmp_path / "work", FAIL_FAST_YAML)
    runner = _register(ci_server, ci_root, runner_type="project_type", project_id=project.id)
    [pipeline] = _pipelines(project, 1)
    build, lint, slow = runner.take("build"), runner.take("lint"), runner.take("slow")
    for job in (build, lint, slow):
        assert runner.update(job, "running").status_code == 200

    # A failure that is allowed cancels nothing.
    assert runner.update(lint, "failed", failure_reason="script_failure", exit_code=1).status_code == 200
    assert {j.name: j.status for j in pipeline.jobs.list(get_all=True)}["slow"] == "running"

    # One that is not cancels every job still going: the running one is told, the waiting one never runs.
    assert runner.update(build, "failed", failure_reason="script_failure", exit_code=1).status_code == 200
    statuses = {j.name: j.status for j in pipeline.jobs.list(get_all=True)}
    assert statuses == {"build": "failed", "lint": "failed", "slow": "canceled", "test": "canceled"}
    assert runner.update(slow, "running").status_code == 403  # this runner can't stop gracefully: it is over
    assert project.pipelines.get(pipeline.id).status == "failed"
    assert runner.request_job() is None


def test_commit_statuses_from_an_external_ci(
    ci_server: LiveServer, ci_root: gitlab.Gitlab, git: Git, tmp_path: Path
) -> None:
    project = _project(ci_root)
    work = tmp_path / "work"
    git.run("init", "-q", str(work))
    sha = git.commit(work, "README.md", "no CI file here\n", "Start")
    git.run("push", "-q", _remote(ci_server, project), "main", cwd=work)
    commit = project.commits.get(sha)

    # No pipeline yet: the first status creates an external one on the branch holding the commit.
    first = commit.statuses.create({"state": "pending", "name": "jenkins", "target_url": "https://ci.example/1"})
    assert (first.status, first.name, first.ref, first.sha) == ("pending", "jenkins", "main", sha)
    assert first.target_url == "https://ci.example/1" and first.author["username"] == "root"
    [pipeline] = project.pipelines.list(get_all=True)
    assert (pipeline.id, pipeline.source, pipeline.status) == (first.pipeline_id, "external", "pending")

    # The same name moves on while it is pending or running; GitLab's transitions only.
    running = commit.statuses.create({"state": "running", "context": "jenkins", "description": "building"})
    assert running.id == first.id and running.status == "running" and running.description == "building"
    with pytest.raises(gitlab.GitlabCreateError) as again:
        commit.statuses.create({"state": "running", "name": "jenkins"})
    assert again.value.response_code == 400 and "Cannot transition status via :run from :running" in str(again.value)
    done = commit.statuses.create({"state": "success", "name": "jenkins", "coverage": 87.5})
    assert done.id == first.id and done.coverage == 87.5
    lint = commit.statuses.create({"state": "failed", "name": "lint", "ref": "main"})
    assert lint.pipeline_id == pipeline.id
    assert project.pipelines.get(pipeline.id).status == "failed"
    # A finished status posted again is a new one; the list shows the latest of each name.
    rerun = commit.statuses.create({"state": "success", "name": "lint"})
    assert rerun.id != lint.id
    assert project.pipelines.get(pipeline.id).status == "success"
    latest = {s.name: s.status for s in commit.statuses.list(get_all=True)}
    assert latest == {"jenkins": "success", "lint": "success"}
    assert len(commit.statuses.list(get_all=True, all=True)) == 3
    detail = project.commits.get(sha)
    assert detail.last_pipeline["id"] == pipeline.id and detail.status == "success"
    assert [s.name for s in commit.statuses.list(get_all=True, name="lint")] == ["lint"]

    # External statuses are never handed to a runner.
    commit.statuses.create({"state": "pending", "name": "waiting"})
    runner = _register(ci_server, ci_root, runner_type="project_type", project_id=project.id)
    assert runner.request_job() is None
    commit.statuses.create({"state": "canceled", "name": "waiting"})
    missing = requests.post(
        f"{ci_server.url}/api/v4/projects/{project.id}/statuses/{'0' * 40}",
        json={"state": "success"},
        headers={"PRIVATE-TOKEN": ci_server.root_token},
    )
    assert missing.status_code == 404
