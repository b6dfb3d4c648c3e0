"""The embedded runner of a live ``dockyard serve`` takes a real pushed pipeline through to the end:
git fetch with the job token, stages, artifacts passed to a dependent job, an allowed failure,
``after_script``, a masked variable, section markers, and artifacts downloadable through the API."""

from __future__ import annotations

import io
import secrets
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import pytest
import requests

from tests.conftest import BACKEND
from tests.git.conftest import Git
from tests.live import LiveServer

SECRET = "s3cr3t-" + secrets.token_hex(8)

CI_YAML = """\
stages: [build, test]

build:
  stage: build
  script:
    - mkdir -p out
    - echo "built $CI_COMMIT_SHORT_SHA" > out/result.txt
    - echo "the secret is $MY_SECRET and the token is $CI_JOB_TOKEN"
  after_script:
    - echo "after_script ran with status $CI_JOB_STATUS"
  artifacts:
    paths: [out/]

consume:
  stage: test
  dependencies: [build]
  script:
    - cat out/result.txt
    - test -f out/result.txt

flaky:
  stage: test
  script:
    - echo "about to fail"
    - exit 3
  after_script:
    - echo "cleanup after failure"
  allow_failure: true
"""


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer(
        backend=BACKEND, extra_env={"DOCKYARD_CI_LONG_POLL_SECONDS": "1", "DOCKYARD_EMBEDDED_RUNNER": "1"}
    ).start()
    try:
        yield live
    finally:
        live.close()


def _api(server: LiveServer, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method, f"{server.url}/api/v4/{path}", headers={"PRIVATE-TOKEN": server.root_token}, timeout=30, **kwargs
    )


def test_embedded_runner_runs_a_pushed_pipeline(server: LiveServer, git: Git, tmp_path: Path) -> None:
    gl = gitlab.Gitlab(server.url, private_token=server.root_token)
    project = gl.projects.create({"name": f"app-{secrets.token_hex(3)}"})
    created = _api(
        server, "POST", f"projects/{project.id}/variables", json={"key": "MY_SECRET", "value": SECRET, "masked": True}
    )
    assert created.status_code == 201, created.text
    work = tmp_path / "work"
    git.run("init", "-q", str(work))
    git.commit(work, "README.md", "hello\n")
    git.commit(work, ".gitlab-ci.yml", CI_YAML, "Add CI")
    remote = f"http://root:{server.root_token}@127.0.0.1:{server.port}/{project.path_with_namespace}.git"
    git.run("push", "-q", remote, "main", cwd=work)

    deadline = time.monotonic() + 120
    pipeline = None
    while time.monotonic() < deadline:
        pipelines = project.pipelines.list(get_all=True)
        if pipelines:
            pipeline = project.pipelines.get(pipelines[0].id)
            if pipeline.status in ("success", "failed", "canceled"):
                break
        time.sleep(0.5)
    assert pipeline is not None, server.log()
    jobs = {job.name: job for job in pipeline.jobs.list(get_all=True)}
    traces = {name: project.jobs.get(job.id).trace().decode() for name, job in jobs.items()}
    assert pipeline.status == "success", (pipeline.status, {n: j.status for n, j in jobs.items()}, traces)
    assert jobs["build"].status == "success" and jobs["consume"].status == "success"
    assert jobs["flaky"].status == "failed" and jobs["flaky"].allow_failure

    build = traces["build"]
    assert "section_start:" in build and "section_end:" in build and ":step_script\r\x1b[0K" in build
    assert "the secret is [MASKED] and the token is [MASKED]" in build
    assert all(SECRET not in trace and "glcbt-" not in trace for trace in traces.values())
    assert "after_script ran with status success" in build
    assert "built " in traces["consume"]
    assert "about to fail" in traces["flaky"] and "cleanup after failure" in traces["flaky"]
    assert "exit code 3" in traces["flaky"]
    assert project.jobs.get(jobs["flaky"].id).failure_reason == "script_failure"

    download = _api(server, "GET", f"projects/{project.id}/jobs/{jobs['build'].id}/artifacts")
    assert download.status_code == 200
    with zipfile.ZipFile(io.BytesIO(download.content)) as zf:
        assert zf.read("out/result.txt").decode().startswith("built ")
    log = (server.home / "serve.log").read_text(errors="replace")
    assert "Embedded runner" in log and "sandbox executor" in log
