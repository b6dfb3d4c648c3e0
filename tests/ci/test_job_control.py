"""Delayed jobs, canceling a job its runner still runs, auto-cancel of redundant pipelines, and commit
statuses from an external CI: python-gitlab, real pushes and a runner-protocol client."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import gitlab

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
