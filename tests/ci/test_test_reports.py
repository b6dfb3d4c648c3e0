"""A pipeline's unit test report from its jobs' JUnit uploads, read with python-gitlab as GitLab's
``test_report`` and ``test_report_summary``, against a live server and a runner client."""

from __future__ import annotations

import gzip
from pathlib import Path

import gitlab
import requests

from tests.ci.test_pipelines import _jobs, _pipelines, _project, _register, _remote
from tests.git.conftest import Git
from tests.live import LiveServer

CI_YAML = """\
rspec:
  parallel: 2
  script: [rspec]
  artifacts:
    reports:
      junit: report.xml
lint:
  script: [ruff check]
"""

FIRST = b"""<?xml version="1.0"?>
<testsuites><testsuite name="models">
  <testcase classname="UserTest" name="creates a user" file="spec/user_spec.rb" time="0.25"/>
  <testcase classname="UserTest" name="rejects a bad email" time="0.5">
    <failure message="expected false">expected false, got true
  at spec/user_spec.rb:12</failure>
  </testcase>
</testsuite></testsuites>
"""
SECOND = (
    b"""<testsuite name="api"><testcase classname="Api" name="is slow" time="1.25"><skipped/></testcase></testsuite>"""
)
THIRD = b"""<testsuite name="jobs">
<testcase classname="Jobs" name="blows up"><error message="boom"/></testcase></testsuite>"""


def _upload_junit(server: LiveServer, job: dict[str, object], data: bytes) -> None:
    response = requests.post(
        f"{server.url}/api/v4/jobs/{job['id']}/artifacts",
        params={"artifact_format": "gzip", "artifact_type": "junit"},
        files={"file": ("junit.xml.gz", data, "application/octet-stream")},
        headers={"JOB-TOKEN": str(job["token"])},
        timeout=10,
    )
    assert response.status_code == 201, response.text


def test_junit_uploads_make_the_pipelines_test_report(
    ci_server: LiveServer, ci_root: gitlab.Gitlab, git: Git, tmp_path: Path
) -> None:
    project = _project(ci_root)
    runner = _register(ci_server, ci_root, runner_type="project_type", project_id=project.id)
    work = tmp_path / "work"
    git.run("init", "-q", str(work))
    sha = git.commit(work, ".gitlab-ci.yml", CI_YAML, "Add CI")
    git.run("push", "-q", _remote(ci_server, project), "main", cwd=work)
    pipeline = _pipelines(project, 1)[0]
    assert pipeline.sha == sha

    # gitlab-runner sends a job's JUnit files as one gzip stream, a member per file.
    for _ in range(3):
        job = runner.request_job()
        assert job is not None
        name = job["job_info"]["name"]
        if name == "rspec 1/2":
            _upload_junit(ci_server, job, gzip.compress(FIRST) + gzip.compress(SECOND))
        elif name == "rspec 2/2":
            _upload_junit(ci_server, job, gzip.compress(THIRD))
        runner.run(job)

    report = project.pipelines.get(pipeline.id, lazy=True).test_report.get()
    assert (report.total_count, report.success_count, report.failed_count) == (4, 1, 1)
    assert (report.skipped_count, report.error_count, report.total_time) == (1, 1, 2.0)
    (suite,) = report.test_suites  # the parallel jobs share the suite "rspec"; lint sent nothing
    assert suite["name"] == "rspec" and suite["total_count"] == 4
    failed = suite["test_cases"][0]  # failures first
    assert (failed["status"], failed["name"], failed["classname"]) == ("failed", "rejects a bad email", "UserTest")
    assert "at spec/user_spec.rb:12" in failed["system_output"]
    assert {case["name"]: case["status"] for case in suite["test_cases"]} == {
        "creates a user": "success",
        "rejects a bad email": "failed",
        "is slow": "skipped",
        "blows up": "error",
    }
    passed = next(case for case in suite["test_cases"] if case["status"] == "success")
    assert passed["file"] == "spec/user_spec.rb" and passed["execution_time"] == 0.25

    summary = project.pipelines.get(pipeline.id, lazy=True).test_report_summary.get()
    assert summary.total == {
        "time": 2.0, "count": 4, "success": 1, "failed": 1, "skipped": 1, "error": 1, "suite_error": None
    }  # fmt: skip
    jobs = _jobs(project.pipelines.get(pipeline.id))
    assert sorted(summary.test_suites[0]["build_ids"]) == sorted([jobs["rspec 1/2"].id, jobs["rspec 2/2"].id])
