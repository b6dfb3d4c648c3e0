"""Pipelines from real pushes, taken through to the end by a runner speaking GitLab's runner protocol.

The runner here is a small client written with ``requests`` that makes the same calls, with the same
bodies and headers, as gitlab-runner does (register, verify, ``jobs/request``, ``PUT /jobs/:id``, trace
patches, artifact upload and download); it runs no scripts, it reports what a script would have done.
"""

from __future__ import annotations

import io
import secrets
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import gitlab
import requests

from tests.git.conftest import Git
from tests.live import LiveServer

T = TypeVar("T")

CI_YAML = """\
stages: [build, test, deploy]

build:
  stage: build
  script: [make]
  artifacts:
    paths: [out/]

test:
  stage: test
  parallel:
    matrix:
      - PY: ["3.11", "3.12"]
  script: ["pytest --python $PY"]

lint:
  stage: test
  needs: []
  script: [ruff check]
  allow_failure: true

deploy:
  stage: deploy
  script: [./deploy]
  when: manual
  rules:
    - if: $CI_COMMIT_BRANCH == "main"

release:
  stage: deploy
  script: [./release]
  rules:
    - if: $CI_COMMIT_TAG
"""


def wait_for(fetch: Callable[[], T | None], timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fetch()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


@dataclass
class RunnerClient:
    """A GitLab Runner, as far as the server can tell."""

    url: str
    token: str
    system_id: str = field(default_factory=lambda: "s_" + secrets.token_hex(6))
    last_update: str = ""
    features: dict[str, Any] = field(default_factory=lambda: {"cancelable": True})

    def api(self, path: str) -> str:
        return f"{self.url}/api/v4/{path}"

    def verify(self) -> requests.Response:
        return requests.post(self.api("runners/verify"), json={"token": self.token, "system_id": self.system_id})

    def request_job(self) -> dict[str, Any] | None:
        body: dict[str, Any] = {
            "token": self.token,
            "system_id": self.system_id,
            "last_update": self.last_update,
            "info": {
                "name": "gitlab-runner",
                "version": "17.0.0",
                "executor": "shell",
                "features": self.features,
            },
        }
        response = requests.post(self.api("jobs/request"), json=body, timeout=30)
        self.last_update = response.headers.get("X-GitLab-Last-Update", "")
        if response.status_code == 204:
            return None
        assert response.status_code == 201, response.text
        job: dict[str, Any] = response.json()
        return job

    def take(self, name: str) -> dict[str, Any]:
        job = wait_for(self.request_job, timeout=15)
        assert job["job_info"]["name"] == name, job["job_info"]["name"]
        return job

    def update(self, job: dict[str, Any], state: str, **extra: Any) -> requests.Response:
        return requests.put(
            self.api(f"jobs/{job['id']}"),
            json={"token": job["token"], "state": state, **extra},
            headers={"JOB-TOKEN": job["token"]},
        )

    def trace(self, job: dict[str, Any], start: int, data: bytes) -> requests.Response:
        return requests.patch(
            self.api(f"jobs/{job['id']}/trace"),
            data=data,
            headers={
                "JOB-TOKEN": job["token"],
                "Content-Type": "text/plain",
                "Content-Range": f"{start}-{start + len(data) - 1}",
            },
        )

    def upload(self, job: dict[str, Any], content: bytes) -> requests.Response:
        return requests.post(
            self.api(f"jobs/{job['id']}/artifacts"),
            params={"artifact_format": "zip", "artifact_type": "archive", "expire_in": "1 week"},
            files={"file": ("artifacts.zip", content, "application/octet-stream")},
            headers={"JOB-TOKEN": job["token"]},
        )

    def run(self, job: dict[str, Any], *, exit_code: int = 0, log: bytes = b"ok\n") -> None:
        assert self.update(job, "running").status_code == 200
        assert self.trace(job, 0, log).status_code == 202
        if exit_code:
            result = self.update(job, "failed", failure_reason="script_failure", exit_code=exit_code)
        else:
            result = self.update(job, "success", exit_code=0)
        assert result.status_code == 200, result.text


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _project(gl: gitlab.Gitlab, **attrs: Any) -> Any:
    group = gl.groups.create({"name": f"CI {secrets.token_hex(3)}", "path": f"ci-{secrets.token_hex(3)}"})
    return gl.projects.create({"name": f"app-{secrets.token_hex(3)}", "namespace_id": group.id, **attrs})


def _remote(server: LiveServer, project: Any, user: str = "root", secret: str | None = None) -> str:
    return f"http://{user}:{secret or server.root_token}@127.0.0.1:{server.port}/{project.path_with_namespace}.git"


def _register(server: LiveServer, gl: gitlab.Gitlab, **attrs: Any) -> RunnerClient:
    response = requests.post(
        f"{server.url}/api/v4/user/runners",
        json={"runner_type": "instance_type", "description": "test runner", **attrs},
        headers={"PRIVATE-TOKEN": server.root_token},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token"].startswith("glrt-") and body["id"]
    runner = RunnerClient(server.url, body["token"])
    verified = runner.verify()
    assert verified.status_code == 200 and verified.json()["id"] == body["id"]
    return runner


def _jobs(pipeline: Any) -> dict[str, Any]:
    return {job.name: job for job in pipeline.jobs.list(get_all=True)}


def _pipelines(project: Any, count: int) -> list[Any]:
    def enough() -> list[Any] | None:
        pipelines: list[Any] = project.pipelines.list(get_all=True)
        return pipelines if len(pipelines) >= count else None

    return wait_for(enough)


def test_push_pipeline_runner_protocol_through_to_the_end(
    ci_server: LiveServer, ci_root: gitlab.Gitlab, git: Git, tmp_path: Path
) -> None:
    gl = ci_root
    project = _project(gl)
    other = _project(gl, initialize_with_readme=True)
    work = tmp_path / "work"
    git.run("init", "-q", str(work))
    git.commit(work, "src/app.py", "print('hi')\n")
    sha = git.commit(work, ".gitlab-ci.yml", CI_YAML, "Add CI")
    git.run("push", "-q", _remote(ci_server, project), "main", cwd=work)

    [pipeline_ref] = _pipelines(project, 1)
    pipeline = project.pipelines.get(pipeline_ref.id)
    assert (pipeline.ref, pipeline.sha, pipeline.source, pipeline.status) == ("main", sha, "push", "pending")
    jobs = _jobs(pipeline)
    assert sorted(jobs) == ["build", "deploy", "lint", "test: [3.11]", "test: [3.12]"]
    assert jobs["build"].status == "pending" and jobs["lint"].status == "pending"  # lint: needs []
    assert jobs["test: [3.11]"].status == "created" and jobs["deploy"].status == "created"

    runner = _register(ci_server, gl)

    # build: the payload, a log in two chunks (and a refused gap), an artifact, success.
    build = runner.take("build")
    assert build["token"].startswith("glcbt-")
    assert build["git_info"]["sha"] == sha and build["git_info"]["ref"] == "main"
    assert build["git_info"]["repo_url"].startswith("http://gitlab-ci-token:")
    assert build["steps"][0]["script"] == ["make"]
    assert build["artifacts"][0]["paths"] == ["out/"]
    variables = {v["key"]: v for v in build["variables"]}
    assert variables["CI_JOB_TOKEN"]["value"] == build["token"] and variables["CI_JOB_TOKEN"]["masked"]
    assert variables["CI_COMMIT_SHA"]["value"] == sha and variables["CI_COMMIT_BRANCH"]["value"] == "main"
    assert variables["CI_PROJECT_PATH"]["value"] == project.path_with_namespace
    assert variables["CI_API_V4_URL"]["value"].endswith("/api/v4")
    assert runner.update(build, "running").status_code == 200
    first = runner.trace(build, 0, b"$ make\n")
    assert first.status_code == 202 and first.headers["Range"] == "0-7"
    gap = runner.trace(build, 100, b"lost")
    assert gap.status_code == 416 and gap.headers["Range"] == "0-7"
    assert runner.trace(build, 7, b"built\n").status_code == 202
    odd = runner.update(build, "sleeping")
    assert odd.status_code == 400 and odd.json() == {"message": "400 Bad request - Unknown state"}
    assert runner.update({**build, "id": build["id"] + 10_000}, "running").json() == {"message": "404 Not Found"}
    assert runner.update({**build, "token": "glcbt-wrong"}, "running").status_code == 403
    assert project.jobs.get(build["id"]).status == "running"
    assert project.jobs.get(build["id"]).trace() == b"$ make\nbuilt\n"

    # While the job runs its token clones its own project over HTTP, and nothing else.
    clone = git.run("clone", "-q", build["git_info"]["repo_url"], str(tmp_path / "ci-clone"), check=False)
    assert clone.returncode == 0, clone.stderr
    assert (tmp_path / "ci-clone" / ".gitlab-ci.yml").exists()
    elsewhere = _remote(ci_server, other, "gitlab-ci-token", build["token"])
    assert git.run("ls-remote", elsewhere, check=False).returncode != 0

    archive = _zip({"out/app.bin": "binary", "out/report/summary.txt": "all good\n"})
    assert runner.upload(build, archive).status_code == 201
    assert runner.update(build, "success", exit_code=0).status_code == 200
    # The job is over: its token no longer clones, and the runner is told the job is done.
    assert git.run("ls-remote", build["git_info"]["repo_url"], check=False).returncode != 0
    late = runner.update(build, "running")
    assert late.status_code == 403 and late.headers["Job-Status"] == "success"
    assert project.pipelines.get(pipeline.id).status == "running"

    # The matrix jobs get their variable and the build's artifacts.
    test_311 = runner.take("test: [3.11]")
    assert {"key": "PY", "value": "3.11", "public": True, "masked": False} in test_311["variables"]
    [dependency] = test_311["dependencies"]
    assert dependency["name"] == "build" and dependency["artifacts_file"]["size"] == len(archive)
    download = requests.get(
        f"{ci_server.url}/api/v4/jobs/{dependency['id']}/artifacts", headers={"JOB-TOKEN": test_311["token"]}
    )
    assert download.status_code == 200 and download.content == archive
    runner.run(test_311)
    runner.run(runner.take("test: [3.12]"), exit_code=1)
    runner.run(runner.take("lint"), exit_code=1)  # lint fails, but may

    pipeline = project.pipelines.get(pipeline.id)
    assert pipeline.status == "failed"
    jobs = _jobs(pipeline)
    assert jobs["lint"].status == "failed" and jobs["lint"].allow_failure
    assert jobs["test: [3.12]"].failure_reason == "script_failure"
    assert jobs["deploy"].status == "skipped"

    # Retry the failed job: a new job, and the skipped manual job comes back.
    retried = project.jobs.get(jobs["test: [3.12]"].id, lazy=True).retry()
    assert retried["id"] != jobs["test: [3.12]"].id and retried["status"] == "pending"
    runner.run(runner.take("test: [3.12]"))
    pipeline = project.pipelines.get(pipeline.id)
    jobs = _jobs(pipeline)
    assert jobs["deploy"].status == "manual"
    assert pipeline.status == "success"  # a manual job that may fail does not hold the pipeline
    all_jobs = pipeline.jobs.list(get_all=True, include_retried=True)
    assert len(all_jobs) == 6

    project.jobs.get(jobs["deploy"].id, lazy=True).play()
    deploy = runner.take("deploy")
    assert {"key": "CI_JOB_MANUAL", "value": "true", "public": True, "masked": False} in deploy["variables"]
    runner.run(deploy)
    assert project.pipelines.get(pipeline.id).status == "success"
    assert runner.request_job() is None  # nothing left: a 204 after the (short) long poll

    # Logs and artifacts through the API, as python-gitlab reads them.
    build_job = project.jobs.get(build["id"])
    assert build_job.status == "success" and build_job.artifacts_file["size"] == len(archive)
    assert build_job.trace() == b"$ make\nbuilt\n"
    assert build_job.artifacts() == archive
    # One file of it, by job and by the branch's latest successful pipeline (GitLab's ref endpoints).
    assert build_job.artifact("out/report/summary.txt") == b"all good\n"
    assert project.artifacts.download(ref_name="main", job="build") == archive
    assert project.artifacts.raw("main", "out/app.bin", "build") == b"binary"
    api = f"{ci_server.url}/api/v4/projects/{project.id}/jobs"
    headers = {"PRIVATE-TOKEN": ci_server.root_token}
    missing = requests.get(f"{api}/{build['id']}/artifacts/out/nothing.txt", headers=headers, timeout=10)
    assert missing.status_code == 404
    climbing = requests.get(f"{api}/{build['id']}/artifacts/out/%2E%2E/%2E%2E/etc/passwd", headers=headers, timeout=10)
    assert climbing.status_code == 400 and climbing.json() == {"error": "Invalid path"}
    no_job = requests.get(f"{api}/artifacts/main/download", headers=headers, timeout=10)
    assert no_job.status_code == 400 and no_job.json() == {"error": "job is missing"}
    assert requests.get(f"{api}/artifacts/main/download?job=lint", headers=headers, timeout=10).status_code == 404
    assert requests.get(f"{api}/artifacts/nope/download?job=build", headers=headers, timeout=10).status_code == 404
    assert [p.id for p in project.pipelines.list(status="success", ref="main")] == [pipeline.id]
    assert project.pipelines.list(ref="nope") == []

    # A tag pipeline has the tag's jobs; canceling it reaches the runner holding one of them.
    git.run("tag", "v1.0", cwd=work)
    git.run("push", "-q", _remote(ci_server, project), "v1.0", cwd=work)
    tag_pipeline = next(p for p in _pipelines(project, 2) if p.ref == "v1.0")
    assert sorted(_jobs(tag_pipeline)) == ["build", "lint", "release", "test: [3.11]", "test: [3.12]"]
    tag_build = runner.take("build")
    assert tag_build["git_info"]["ref_type"] == "tag"
    assert runner.update(tag_build, "running").status_code == 200
    project.pipelines.get(tag_pipeline.id, lazy=True).cancel()
    refused = runner.update(tag_build, "running")
    assert refused.status_code == 403 and refused.headers["Job-Status"] == "canceled"
    assert runner.trace(tag_build, 0, b"more").status_code == 403
    tag_pipeline = project.pipelines.get(tag_pipeline.id)
    assert tag_pipeline.status == "canceled"
    assert {j.status for j in tag_pipeline.jobs.list(get_all=True)} == {"canceled"}

    # Retrying the canceled pipeline runs it again.
    project.pipelines.get(tag_pipeline.id, lazy=True).retry()
    assert project.pipelines.get(tag_pipeline.id).status == "pending"


def test_skip_invalid_yaml_api_pipeline_variables_and_lint(
    ci_server: LiveServer, ci_root: gitlab.Gitlab, git: Git, tmp_path: Path
) -> None:
    gl = ci_root
    project = _project(gl)
    remote = _remote(ci_server, project)
    work = tmp_path / "work"
    git.run("init", "-q", str(work))
    git.commit(work, ".gitlab-ci.yml", "job:\n  script: [echo $GREETING]\n", "Add CI [ci skip]")
    git.run("push", "-q", remote, "main", cwd=work)
    git.commit(work, "README.md", "skipped too\n", "Docs")
    git.run("push", "-q", "-o", "ci.skip", remote, "main", cwd=work)
    git.commit(work, ".gitlab-ci.yml", "job:\n  script: [echo]\n  when: sometimes\n", "Break CI")
    git.run("push", "-q", remote, "main", cwd=work)

    # Pushes are processed in order, so once the broken one has its pipeline the skipped ones had their turn.
    [broken] = _pipelines(project, 1)
    broken = project.pipelines.get(broken.id)
    assert broken.status == "failed" and "when" in broken.yaml_errors
    assert broken.jobs.list() == []

    lint = project.ci_lint.create({"content": "job:\n  script: [echo]\n  when: sometimes\n"})
    assert lint.valid is False and lint.errors
    assert project.ci_lint.create({"content": "job:\n  script: [echo]\n"}).valid is True

    # Project variables and the run's variables reach the job; masked ones are marked for the runner.
    project.variables.create({"key": "GREETING", "value": "hello-from-project", "masked": True})
    git.commit(work, ".gitlab-ci.yml", "job:\n  tags: [linux]\n  script: [echo $GREETING]\n", "Fix CI")
    git.run("push", "-q", remote, "main", cwd=work)
    pushed = next(p for p in _pipelines(project, 2) if p.id != broken.id)
    created = project.pipelines.create({"ref": "main", "variables": [{"key": "EXTRA", "value": "1"}]})
    assert created.source == "api" and created.status == "pending"
    assert [v.key for v in project.pipelines.get(created.id).variables.list()] == ["EXTRA"]

    # The job is tagged: an untagged-only runner does not get it, a runner with the tag does.
    # Project runners: they only see this project's jobs (the other test left pending ones behind).
    scope = {"runner_type": "project_type", "project_id": project.id}
    untagged = _register(ci_server, gl, run_untagged=True, **scope)
    assert untagged.request_job() is None
    runner = _register(ci_server, gl, tag_list=["linux", "docker"], **scope)
    job = runner.take("job")
    assert job["job_info"]["pipeline_id"] == pushed.id
    variables = {v["key"]: v for v in job["variables"]}
    assert variables["GREETING"]["value"] == "hello-from-project" and variables["GREETING"]["masked"]
    runner.run(job)
    api_job = runner.take("job")
    assert api_job["job_info"]["pipeline_id"] == created.id
    assert {v["key"]: v["value"] for v in api_job["variables"]}["EXTRA"] == "1"
    runner.run(api_job)
    assert project.pipelines.get(created.id).status == "success"

    refused = requests.post(
        f"{ci_server.url}/api/v4/projects/{project.id}/pipeline",
        json={"ref": "no-such-branch"},
        headers={"PRIVATE-TOKEN": ci_server.root_token},
    )
    assert refused.status_code == 400 and refused.json()["message"]["base"]
    bad_runner = requests.post(f"{ci_server.url}/api/v4/jobs/request", json={"token": "glrt-nope"})
    assert bad_runner.status_code == 403
