"""Instance, group and project CI/CD variables through python-gitlab, and what a job receives: GitLab's
precedence (pipeline > project > closest group > instance > dotenv > job yaml > global yaml > predefined)
as the runner applies the list it is given (a later entry overrides an earlier one)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import gitlab
import pytest

from tests.ci.test_job_control import _push
from tests.ci.test_pipelines import _pipelines, _register, _remote
from tests.git.conftest import Git
from tests.live import LiveServer

CI_YAML = """\
variables:
  LEVEL: global-yaml
  GLOBAL_ONLY: from-global
job:
  environment: production
  variables:
    LEVEL: job-yaml
    JOB_ONLY: from-job
  script: [env]
"""


def effective(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The variables as the runner sees them: where a key repeats, the later entry wins."""
    return {v["key"]: v for v in job["variables"]}


def _user(root: gitlab.Gitlab, prefix: str) -> tuple[Any, gitlab.Gitlab]:
    username = f"{prefix}-{secrets.token_hex(3)}"
    user = root.users.create(
        {"username": username, "email": f"{username}@example.com", "name": username, "password": "s3cret-pass-1"}
    )
    token = user.personal_access_tokens.create({"name": "t", "scopes": ["api"]})
    return user, gitlab.Gitlab(root.url, private_token=token.token)


def test_instance_group_and_project_variables_with_precedence(
    ci_server: LiveServer, ci_root: gitlab.Gitlab, git: Git, tmp_path: Path
) -> None:
    gl = ci_root
    suffix = secrets.token_hex(3)
    top = gl.groups.create({"name": f"Top {suffix}", "path": f"top-{suffix}"})
    sub = gl.groups.create({"name": "Sub", "path": "sub", "parent_id": top.id})
    project = gl.projects.create({"name": "app", "namespace_id": sub.id})
    outsider = gl.groups.create({"name": f"Else {suffix}", "path": f"else-{suffix}"})

    # Who may manage them: admins the instance's, group maintainers (inherited) the group's.
    developer, as_developer = _user(gl, "dev")
    maintainer, as_maintainer = _user(gl, "mnt")
    top.members.create({"user_id": developer.id, "access_level": 30})
    top.members.create({"user_id": maintainer.id, "access_level": 40})
    with pytest.raises(gitlab.GitlabListError) as denied:
        as_maintainer.variables.list()
    assert denied.value.response_code == 403
    with pytest.raises(gitlab.GitlabCreateError) as denied_create:
        as_developer.groups.get(sub.id, lazy=True).variables.create({"key": "NOPE", "value": "x"})
    assert denied_create.value.response_code == 403
    with pytest.raises(gitlab.GitlabListError) as hidden:
        as_maintainer.groups.get(outsider.id, lazy=True).variables.list()
    assert hidden.value.response_code == 404

    instance_key = f"INSTANCE_{suffix.upper()}"
    instance = gl.variables.create({"key": instance_key, "value": "instance-secret-1", "masked": True})
    assert (instance.key, instance.masked, instance.variable_type) == (instance_key, True, "env_var")
    assert not hasattr(instance, "environment_scope")
    try:
        gl.variables.create({"key": "LEVEL", "value": "instance", "description": "lowest of the user levels"})
        top.variables.create({"key": "LEVEL", "value": "top-group"})
        top.variables.create({"key": "TOP_ONLY", "value": "from-top", "variable_type": "file"})
        top.variables.create({"key": "PROTECTED_ONLY", "value": "secret", "protected": True})
        mine = as_maintainer.groups.get(sub.id, lazy=True).variables.create(
            {"key": "SUB_LEVEL", "value": "sub-group-value", "masked": True}
        )
        assert (mine.environment_scope, mine.hidden) == ("*", False)
        sub.variables.create({"key": "LEVEL", "value": "sub-group"})
        sub.variables.create({"key": "SCOPED", "value": "any-env"})
        sub.variables.create({"key": "SCOPED", "value": "prod-only", "environment_scope": "prod*"})
        sub.variables.create({"key": "SCOPED", "value": "staging-only", "environment_scope": "staging"})
        with pytest.raises(gitlab.GitlabCreateError) as taken:
            sub.variables.create({"key": "LEVEL", "value": "again"})
        assert taken.value.response_code == 400
        assert sorted(v.key for v in sub.variables.list(get_all=True)) == [
            "LEVEL",
            "SCOPED",
            "SCOPED",
            "SCOPED",
            "SUB_LEVEL",
        ]
        assert sub.variables.get("SCOPED", filter={"environment_scope": "staging"}).value == "staging-only"
        updated = gl.variables.update("LEVEL", {"value": "instance-level", "raw": True})
        assert updated["value"] == "instance-level" and updated["raw"] is True

        work = tmp_path / "work"
        _push(ci_server, git, project, work, CI_YAML)
        runner = _register(ci_server, gl, runner_type="project_type", project_id=project.id)

        _pipelines(project, 1)
        job = runner.take("job")
        seen = effective(job)
        assert seen["LEVEL"]["value"] == "sub-group"  # the closest group beats its parent and the instance
        assert seen["GLOBAL_ONLY"]["value"] == "from-global" and seen["JOB_ONLY"]["value"] == "from-job"
        assert seen[instance_key]["value"] == "instance-secret-1" and seen[instance_key]["masked"] is True
        assert seen["SUB_LEVEL"]["masked"] is True and seen["SUB_LEVEL"]["public"] is False
        assert seen["TOP_ONLY"]["value"] == "from-top" and seen["TOP_ONLY"]["file"] is True
        assert seen["SCOPED"]["value"] == "prod-only"  # environment "production" matches "prod*"
        assert seen["PROTECTED_ONLY"]["value"] == "secret"  # main, the default branch, is protected
        runner.run(job)
        git.run("push", "-q", _remote(ci_server, project), "main:feature", cwd=work)
        assert "PROTECTED_ONLY" not in effective(runner.take("job"))  # an unprotected branch

        # The project beats its groups; a pipeline's own variables beat everything.
        project.variables.create({"key": "LEVEL", "value": "project"})
        created = project.pipelines.create({"ref": "main"})
        assert effective(runner.take("job"))["LEVEL"]["value"] == "project"
        project.pipelines.get(created.id, lazy=True).cancel()
        created = project.pipelines.create({"ref": "main", "variables": [{"key": "LEVEL", "value": "run"}]})
        assert effective(runner.take("job"))["LEVEL"]["value"] == "run"
        project.pipelines.get(created.id, lazy=True).cancel()

        sub.variables.delete("SUB_LEVEL")
        assert "SUB_LEVEL" not in [v.key for v in sub.variables.list(get_all=True)]
    finally:
        for variable in gl.variables.list(get_all=True):
            if variable.key in (instance_key, "LEVEL"):
                gl.variables.delete(variable.key)


DOTENV_YAML = """\
stages: [build, deploy]
variables:
  VERSION: from-yaml
build:
  stage: build
  script: [echo VERSION=1.2.3 >> build.env]
  artifacts:
    reports:
      dotenv: build.env
deploy:
  stage: deploy
  needs: [build]
  script: [echo $VERSION]
blind:
  stage: deploy
  needs: [{job: build, artifacts: false}]
  script: [echo $VERSION]
"""


def _upload_dotenv(server: LiveServer, job: dict[str, Any], text: str) -> Any:
    import gzip

    import requests

    return requests.post(
        f"{server.url}/api/v4/jobs/{job['id']}/artifacts",
        params={"artifact_format": "gzip", "artifact_type": "dotenv"},
        files={"file": ("dotenv.gz", gzip.compress(text.encode()), "application/octet-stream")},
        headers={"JOB-TOKEN": job["token"]},
    )


def test_dotenv_report_variables_reach_the_jobs_that_need_them(
    ci_server: LiveServer, ci_root: gitlab.Gitlab, git: Git, tmp_path: Path
) -> None:
    gl = ci_root
    group = gl.groups.create({"name": f"Dotenv {secrets.token_hex(3)}", "path": f"dotenv-{secrets.token_hex(3)}"})
    project = gl.projects.create({"name": "app", "namespace_id": group.id})
    _push(ci_server, git, project, tmp_path / "work", DOTENV_YAML)
    runner = _register(ci_server, gl, runner_type="project_type", project_id=project.id)
    _pipelines(project, 1)

    build = runner.take("build")
    assert [a["artifact_type"] for a in build["artifacts"]] == ["dotenv"]
    assert runner.update(build, "running").status_code == 200
    # GitLab's rules: KEY=VALUE lines only, valid keys, at most 20 variables; a broken report is refused.
    bad = _upload_dotenv(ci_server, build, "VERSION=1\nnot a line\n")
    assert bad.status_code == 400 and bad.json()["message"] == "Invalid Format"
    bad_key = _upload_dotenv(ci_server, build, "MY-KEY=1\n")
    assert bad_key.status_code == 400 and "Key" in bad_key.json()["message"]
    too_many = _upload_dotenv(ci_server, build, "".join(f"K{i}=v\n" for i in range(21)))
    assert too_many.status_code == 400
    assert too_many.json()["message"] == "Dotenv files cannot have more than 20 variables"
    ok = _upload_dotenv(ci_server, build, "VERSION = 1.2.3\nBUILD_ID=42\nBUILD_ID=43\n")
    assert ok.status_code == 201, ok.text
    assert runner.update(build, "success", exit_code=0).status_code == 200

    first, second = runner.request_job(), runner.request_job()
    assert first is not None and second is not None
    taken = {job["job_info"]["name"]: effective(job) for job in (first, second)}
    assert taken["deploy"]["VERSION"]["value"] == "1.2.3"  # the report beats the file's variables
    assert taken["deploy"]["BUILD_ID"]["value"] == "43"
    assert taken["blind"]["VERSION"]["value"] == "from-yaml"  # needs without artifacts: no report
    assert "BUILD_ID" not in taken["blind"]
    assert [a["file_type"] for a in project.jobs.get(build["id"]).attributes["artifacts"]] == ["dotenv"]
