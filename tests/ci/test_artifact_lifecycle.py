"""Job artifacts after the job: keeping them, deleting one job's, deleting a project's (which the server's
periodic expiry pass carries out), with python-gitlab against a live server and a runner-protocol client
that uploads them with ``expire_in``."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import gitlab
import pytest
import requests

from tests.ci.test_pipelines import RunnerClient, _pipelines, _register, _remote, _zip, wait_for
from tests.ci.test_variables import _user
from tests.git.conftest import Git
from tests.live import LiveServer

YAML = "build:\n  script: [make]\n  artifacts:\n    paths: [out/]\n    expire_in: 1 week\n"


def _build(runner: RunnerClient, content: bytes) -> int:
    """Runs the pipeline's ``build`` job: uploads its archive (expiring in a week), then succeeds."""
    job = runner.take("build")
    assert runner.update(job, "running").status_code == 200
    assert runner.upload(job, content).status_code == 201
    assert runner.update(job, "success", exit_code=0).status_code == 200
    return int(job["id"])


def _gone(job: Any) -> bool:
    try:
        job.artifacts()
    except gitlab.exceptions.GitlabGetError as error:
        assert error.response_code == 404
        return True
    return False


def _refused(call: Any) -> int:
    with pytest.raises(gitlab.exceptions.GitlabError) as raised:
        call()
    assert raised.value.response_code is not None
    return raised.value.response_code


def test_keep_delete_and_project_wide_delete_of_job_artifacts(
    ci_server: LiveServer, ci_root: gitlab.Gitlab, git: Git, tmp_path: Path
) -> None:
    suffix = secrets.token_hex(3)
    group = ci_root.groups.create({"name": f"Art {suffix}", "path": f"art-{suffix}"})
    project = ci_root.projects.create({"name": "app", "namespace_id": group.id})
    work = tmp_path / "work"
    git.run("init", "-q", str(work))
    git.commit(work, ".gitlab-ci.yml", YAML, "CI")
    git.run("push", "-q", _remote(ci_server, project), "main", cwd=work)
    runner = _register(ci_server, ci_root, runner_type="project_type", project_id=project.id)
    _pipelines(project, 1)
    older_archive, latest_archive = _zip({"out/a": "older"}), _zip({"out/a": "latest"})
    older = project.jobs.get(_build(runner, older_archive))
    project.pipelines.create({"ref": "main"})
    latest = project.jobs.get(_build(runner, latest_archive))
    assert older.artifacts() == older_archive and latest.artifacts() == latest_archive

    # Keep: the artifacts no longer expire; the job comes back as GitLab's job entity.
    assert older.artifacts_expire_at is not None
    keep = requests.post(
        f"{ci_server.url}/api/v4/projects/{project.id}/jobs/{older.id}/artifacts/keep",
        headers={"PRIVATE-TOKEN": ci_server.root_token},
        timeout=10,
    )
    assert keep.status_code == 200 and keep.json()["id"] == older.id and keep.json()["artifacts_expire_at"] is None
    latest.keep_artifacts()
    assert project.jobs.get(older.id).artifacts_expire_at is None
    assert project.jobs.get(latest.id).artifacts_expire_at is None

    # Deleting needs a maintainer: a developer may keep them, not delete them.
    developer, as_developer = _user(ci_root, "dev")
    group.members.create({"user_id": developer.id, "access_level": 30})
    theirs = as_developer.projects.get(project.id)
    assert _refused(theirs.jobs.get(latest.id, lazy=True).delete_artifacts) == 403
    assert _refused(theirs.artifacts.delete) == 403
    theirs.jobs.get(older.id, lazy=True).keep_artifacts()
    assert older.artifacts() == older_archive
    assert _refused(project.jobs.get(10**9, lazy=True).delete_artifacts) == 404

    # The project's artifacts: 202, then the expiry pass removes them, kept ones included, except the
    # latest successful pipeline's, which GitLab keeps for each ref.
    project.artifacts.delete()
    wait_for(lambda: _gone(older), timeout=20)
    assert project.jobs.get(older.id).artifacts_file is None
    assert latest.artifacts() == latest_archive

    # One job's: gone at once, whatever its expiry; the job and its log stay.
    latest.delete_artifacts()
    assert _gone(latest)
    job = project.jobs.get(latest.id)
    assert job.status == "success" and job.artifacts_file is None and job.artifacts_expire_at is None
