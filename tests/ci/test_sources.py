"""Pipeline sources beyond pushes: merge request pipelines, "pipelines must succeed" and automatic merges,
trigger tokens and pipeline schedules, driven with python-gitlab, real git and the runner-protocol client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import gitlab
import pytest
import requests

from tests.ci.test_pipelines import RunnerClient, _jobs, _project, _register, _remote, wait_for
from tests.git.conftest import Git
from tests.live import LiveServer

RULES_YAML = """\
workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH
    - if: $CI_COMMIT_TAG

build:
  script: [make]

mr-check:
  script: [check]
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"

docs:
  script: [mkdocs build]
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      changes: [docs/**/*]

branch-only:
  script: [publish-snapshot]
  rules:
    - if: $CI_COMMIT_BRANCH

release:
  script: [release]
  rules:
    - if: $CI_COMMIT_TAG
"""


def _pipeline_where(project: Any, **filters: Any) -> Any:
    def found() -> Any:
        rows = project.pipelines.list(get_all=True, **filters)
        return rows[0] if rows else None

    return wait_for(found)


def _run_pipeline(runner: RunnerClient, project: Any, pipeline_id: int, results: dict[str, int]) -> dict[str, Any]:
    """Take this pipeline's pending jobs as they come and finish each with its exit code (0 by default)."""
    seen: dict[str, Any] = {}
    while True:
        pending = [j for j in project.pipelines.get(pipeline_id).jobs.list(get_all=True) if j.status == "pending"]
        if not pending:
            return seen
        job = wait_for(runner.request_job, timeout=15)
        assert job["job_info"]["pipeline_id"] == pipeline_id, job["job_info"]
        name = job["job_info"]["name"]
        seen[name] = job
        runner.run(job, exit_code=results.get(name, 0))


def test_branch_tag_and_merge_request_pipelines_and_pipelines_must_succeed(
    ci_server: LiveServer, ci_root: gitlab.Gitlab, git: Git, tmp_path: Path
) -> None:
    gl = ci_root
    project = _project(gl)
    remote = _remote(ci_server, project)
    work = tmp_path / "work"
    git.run("init", "-q", str(work))
    git.commit(work, "docs/index.md", "# Docs\n")
    git.commit(work, ".gitlab-ci.yml", RULES_YAML, "Add CI")
    git.run("push", "-q", remote, "main", cwd=work)
    main_pipeline = _pipeline_where(project, ref="main")
    assert sorted(_jobs(main_pipeline)) == ["branch-only", "build"]

    git.run("tag", "v1.0", cwd=work)
    git.run("push", "-q", remote, "v1.0", cwd=work)
    tag_pipeline = _pipeline_where(project, ref="v1.0")
    assert sorted(_jobs(tag_pipeline)) == ["build", "release"]

    # The feature branch touches the docs first, then only code: its branch pipeline has the branch jobs.
    git.run("checkout", "-q", "-b", "feature", cwd=work)
    git.commit(work, "docs/guide.md", "# Guide\n", "Document the feature")
    head = git.commit(work, "src/feature.py", "x = 1\n", "Add the feature")
    git.run("push", "-q", remote, "feature", cwd=work)
    branch_pipeline = _pipeline_where(project, ref="feature")
    assert sorted(_jobs(branch_pipeline)) == ["branch-only", "build"]

    project.labels.create({"name": "backend", "color": "#00aa00"})
    mr = project.mergerequests.create(
        {"source_branch": "feature", "target_branch": "main", "title": "Add the feature", "labels": ["backend"]}
    )
    # Opening it runs a merge request pipeline; rules:changes compare with the target branch, so the docs
    # job is there although the last push changed no docs.
    mr_pipeline = _pipeline_where(project, source="merge_request_event")
    assert (mr_pipeline.ref, mr_pipeline.sha) == (f"refs/merge-requests/{mr.iid}/head", head)
    assert sorted(_jobs(mr_pipeline)) == ["build", "docs", "mr-check"]
    assert [p.id for p in mr.pipelines.list(get_all=True)] == [mr_pipeline.id, branch_pipeline.id]

    # Asking for another one (the "Run pipeline" button) makes a new merge request pipeline.
    again = mr.pipelines.create()
    assert again.source == "merge_request_event" and again.id != mr_pipeline.id
    for old in (main_pipeline, tag_pipeline, branch_pipeline, mr_pipeline):
        project.pipelines.get(old.id, lazy=True).cancel()

    # Pipelines must succeed: the merge request waits for its head pipeline.
    project.only_allow_merge_if_pipeline_succeeds = True
    project.save()
    assert gl.projects.get(project.id).only_allow_merge_if_pipeline_succeeds is True
    mr.title = "Add the feature!"  # an edit rechecks the merge status
    mr.save()
    mr = wait_for(lambda: (m := project.mergerequests.get(mr.iid)).detailed_merge_status == "ci_still_running" and m)
    assert mr.head_pipeline["id"] == again.id and mr.pipeline["status"] == "pending"
    with pytest.raises(gitlab.GitlabError) as refused:
        mr.merge()
    assert refused.value.response_code == 405

    # Merge when the pipeline succeeds; cancel it; set it again.
    assert mr.merge(merge_when_pipeline_succeeds=True)["merge_when_pipeline_succeeds"] is True
    assert mr.cancel_merge_when_pipeline_succeeds() == {"status": "success"}
    assert project.mergerequests.get(mr.iid).merge_when_pipeline_succeeds is False
    with pytest.raises(gitlab.GitlabError) as nothing_to_cancel:
        mr.cancel_merge_when_pipeline_succeeds()
    assert nothing_to_cancel.value.response_code == 406
    assert mr.merge(merge_when_pipeline_succeeds=True)["merge_when_pipeline_succeeds"] is True

    # The jobs see the merge request; one fails, so the pipeline fails and nothing merges.
    runner = _register(ci_server, gl, runner_type="project_type", project_id=project.id)
    jobs = _run_pipeline(runner, project, again.id, {"mr-check": 1})
    variables = {v["key"]: v["value"] for v in jobs["mr-check"]["variables"]}
    assert variables["CI_PIPELINE_SOURCE"] == "merge_request_event"
    assert variables["CI_MERGE_REQUEST_IID"] == str(mr.iid) and variables["CI_MERGE_REQUEST_ID"] == str(mr.id)
    assert variables["CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"] == "feature"
    assert variables["CI_MERGE_REQUEST_TARGET_BRANCH_NAME"] == "main"
    assert variables["CI_MERGE_REQUEST_TITLE"] == "Add the feature!"
    assert variables["CI_MERGE_REQUEST_LABELS"] == "backend"
    assert variables["CI_MERGE_REQUEST_EVENT_TYPE"] == "detached"
    assert variables["CI_OPEN_MERGE_REQUESTS"] == f"{project.path_with_namespace}!{mr.iid}"
    assert variables["CI_MERGE_REQUEST_PROJECT_PATH"] == project.path_with_namespace
    assert variables["CI_MERGE_REQUEST_DIFF_BASE_SHA"] == mr.diff_refs["base_sha"]
    assert variables["CI_COMMIT_REF_NAME"] == "feature" and "CI_COMMIT_BRANCH" not in variables
    assert jobs["mr-check"]["git_info"]["sha"] == head
    mr = wait_for(lambda: (m := project.mergerequests.get(mr.iid)).detailed_merge_status == "ci_must_pass" and m)
    assert mr.state == "opened" and mr.merge_when_pipeline_succeeds is True

    # Retried, the job passes, the pipeline passes, and the merge request merges by itself.
    failed = next(j for j in project.pipelines.get(again.id).jobs.list(get_all=True) if j.name == "mr-check")
    project.jobs.get(failed.id, lazy=True).retry()
    runner.run(runner.take("mr-check"))
    merged = wait_for(lambda: (m := project.mergerequests.get(mr.iid)).state == "merged" and m)
    assert merged.merge_user["username"] == "root" and merged.merge_when_pipeline_succeeds is False
    assert project.branches.get("main").commit["id"] == merged.merge_commit_sha
    # The merge runs main's pipeline; cancel it so no job is left for other tests' runners.
    _pipeline_where(project, sha=merged.merge_commit_sha).cancel()


TRIGGER_YAML = """\
deploy:
  script: [./deploy $DEPLOY_TO]
  rules:
    - if: $CI_PIPELINE_SOURCE == "trigger" || $CI_PIPELINE_SOURCE == "pipeline"

test:
  script: [make test]
  rules:
    - if: $CI_PIPELINE_SOURCE == "push"
"""


def test_trigger_tokens_and_job_tokens_start_pipelines(
    ci_server: LiveServer, ci_root: gitlab.Gitlab, git: Git, tmp_path: Path
) -> None:
    gl = ci_root
    project, other = _project(gl), _project(gl)
    work = tmp_path / "work"
    git.run("init", "-q", str(work))
    git.commit(work, ".gitlab-ci.yml", TRIGGER_YAML, "Add CI")
    git.run("push", "-q", _remote(ci_server, project), "main", cwd=work)
    _pipeline_where(project, ref="main").cancel()

    trigger = project.triggers.create({"description": "deploy from chat"})
    token = trigger.token
    assert token.startswith("glptt-") and len(token) > 20
    [listed] = project.triggers.list()
    assert listed.description == "deploy from chat" and token.startswith(listed.token) and listed.token != token
    assert listed.owner["username"] == "root" and listed.last_used is None

    pipeline = project.trigger_pipeline("main", token, variables={"DEPLOY_TO": "staging"})
    assert pipeline.source == "trigger" and pipeline.ref == "main"
    assert sorted(_jobs(pipeline)) == ["deploy"]
    keys = {v.key: v.value for v in pipeline.variables.list()}
    assert keys["DEPLOY_TO"] == "staging" and "TRIGGER_PAYLOAD" in keys and token not in keys["TRIGGER_PAYLOAD"]
    assert project.triggers.get(trigger.id).last_used is not None

    # A form, as curl sends it, to the ref-in-path route.
    url = f"{ci_server.url}/api/v4/projects/{project.id}/ref/main/trigger/pipeline"
    form = requests.post(url, data={"token": token, "variables[DEPLOY_TO]": "production"}, timeout=30)
    assert form.status_code == 201, form.text
    assert form.json()["source"] == "trigger"
    # A wrong token, or this token on another project, finds nothing.
    elsewhere = f"{ci_server.url}/api/v4/projects/{other.id}/trigger/pipeline"
    assert requests.post(elsewhere, data={"token": token, "ref": "main"}, timeout=30).status_code == 404
    assert requests.post(url, data={"token": "glptt-nope"}, timeout=30).status_code == 404
    bad = requests.post(url, json={"token": token, "variables": {"N": 1}}, timeout=30)
    assert bad.status_code == 400 and bad.json()["message"] == "variables needs to be a map of key-valued strings"

    # The job runs with the trigger's variables; while it runs its job token starts a pipeline too.
    runner = _register(ci_server, gl, runner_type="project_type", project_id=project.id)
    job = runner.take("deploy")
    variables = {v["key"]: v for v in job["variables"]}
    assert variables["DEPLOY_TO"]["value"] == "staging" and variables["TRIGGER_PAYLOAD"].get("file") is True
    assert variables["CI_PIPELINE_SOURCE"]["value"] == "trigger"
    trigger_url = f"{ci_server.url}/api/v4/projects/{project.id}/trigger/pipeline"
    by_job = requests.post(trigger_url, data={"token": job["token"], "ref": "main"}, timeout=30)
    assert by_job.status_code == 201 and by_job.json()["source"] == "pipeline", by_job.text
    runner.run(job)
    after = requests.post(trigger_url, data={"token": job["token"], "ref": "main"}, timeout=30)
    assert after.status_code == 404

    project.triggers.delete(trigger.id)
    assert requests.post(trigger_url, data={"token": token, "ref": "main"}, timeout=30).status_code == 404
    for row in project.pipelines.list(get_all=True, scope="pending"):
        row.cancel()


SCHEDULE_YAML = """\
nightly:
  script: [./nightly $TARGET]
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"

test:
  script: [make test]
  rules:
    - if: $CI_PIPELINE_SOURCE == "push"
"""


def _manage_shell(server: LiveServer, code: str) -> None:
    """Run Python in the server's own environment, as an operator's ``dockyard manage shell`` would."""
    done = subprocess.run(
        [sys.executable, "-m", "dockyard.cli", "manage", "shell", "-c", code],
        env=server.env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_pipeline_schedules_play_and_a_due_schedule_runs_once(
    ci_server: LiveServer, ci_root: gitlab.Gitlab, git: Git, tmp_path: Path
) -> None:
    project = _project(ci_root)
    work = tmp_path / "work"
    git.run("init", "-q", str(work))
    git.commit(work, ".gitlab-ci.yml", SCHEDULE_YAML, "Add CI")
    git.run("push", "-q", _remote(ci_server, project), "main", cwd=work)
    _pipeline_where(project, ref="main").cancel()

    schedule = project.pipelineschedules.create(
        {"description": "Nightly", "ref": "main", "cron": "0 3 * * *", "cron_timezone": "Asia/Tokyo"}
    )
    assert schedule.ref == "refs/heads/main" and schedule.active is True and schedule.owner["username"] == "root"
    assert schedule.next_run_at.endswith("T18:00:00.000Z")  # 03:00 in Tokyo
    schedule_id, next_run_at = schedule.id, schedule.next_run_at
    schedule.variables.create({"key": "TARGET", "value": "nightly-env"})
    for bad in ({"cron": "every night"}, {"cron_timezone": "Mars/Olympus"}):
        with pytest.raises(gitlab.GitlabError) as refused:
            project.pipelineschedules.create({"description": "x", "ref": "main", "cron": "0 3 * * *", **bad})
        assert refused.value.response_code == 400 and next(iter(bad)) in str(refused.value.error_message)

    # Play runs it now, with its variables, and leaves the next run where it was.
    assert schedule.play() == {"message": "201 Created"}  # python-gitlab keeps only this answer
    schedule = project.pipelineschedules.get(schedule_id)
    played = _pipeline_where(project, source="schedule")
    assert played.ref == "main" and sorted(_jobs(played)) == ["nightly"]
    assert {v.key: v.value for v in played.variables.list()} == {"TARGET": "nightly-env"}
    detail = project.pipelineschedules.get(schedule_id)
    assert detail.last_pipeline["id"] == played.id and detail.next_run_at == next_run_at
    assert detail.attributes["variables"] == [
        {"key": "TARGET", "variable_type": "env_var", "value": "nightly-env", "raw": False}
    ]
    assert [p.id for p in schedule.pipelines.list()] == [played.id]

    # Its time comes (moved into the past, as if the night had passed): the worker runs it once.
    _manage_shell(
        ci_server,
        "import datetime as dt; from django.utils import timezone; from dockyard.ci.models import PipelineSchedule; "
        f"PipelineSchedule.objects.filter(pk={schedule_id}).update(next_run_at=timezone.now() - dt.timedelta(hours=1))",
    )
    wait_for(lambda: len(project.pipelines.list(source="schedule", get_all=True)) == 2)
    moved = project.pipelineschedules.get(schedule_id)
    assert moved.next_run_at.endswith("T18:00:00.000Z") and moved.last_pipeline["id"] != played.id
    wait_for(lambda: project.pipelineschedules.get(schedule_id).next_run_at == moved.next_run_at)
    assert len(project.pipelines.list(source="schedule", get_all=True)) == 2

    # Edits reschedule; inactive schedules are listed apart.
    schedule.cron = "30 4 * * *"
    schedule.active = False
    schedule.save()
    assert project.pipelineschedules.get(schedule_id).next_run_at.endswith("T19:30:00.000Z")
    assert [s.id for s in project.pipelineschedules.list(scope="inactive")] == [schedule_id]
    assert project.pipelineschedules.list(scope="active") == []
    schedule.take_ownership()
    schedule.variables.delete("TARGET")
    project.pipelineschedules.delete(schedule_id)
    for row in project.pipelines.list(get_all=True, scope="pending"):
        row.cancel()
