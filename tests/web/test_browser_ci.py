"""CI/CD pages in a real browser (headless Chromium against ``dockyard serve``): a pipeline made through the
API and moved on by a runner speaking the runner protocol, its page, a job's log with colours and
collapsible sections, and a running job's log followed as it grows. Screenshots for a human to judge."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import gitlab
import requests
from playwright.sync_api import Page, expect

from tests.live import LiveServer
from tests.web.test_browser import page  # noqa: F401  # the fixture

SHOTS = Path("/tmp/dockyard-ci")
YAML = """\
stages: [build, test, deploy]
build:
  stage: build
  script: [make]
test:
  stage: test
  needs: [build]
  script: [make test]
lint:
  stage: test
  script: [ruff check]
  allow_failure: true
deploy:
  stage: deploy
  script: [./deploy]
  when: manual
"""
LOG = (
    "\x1b[0KRunning with gitlab-runner 17.0.0 (abc123)\n"
    'section_start:1700000000:prepare_executor\r\x1b[0K\x1b[0K\x1b[36;1mPreparing the "shell" executor\x1b[0;m\n'
    "Using Shell (bash) executor...\n"
    "section_end:1700000002:prepare_executor\r\x1b[0K\n"
    'section_start:1700000002:step_script\r\x1b[0K\x1b[0K\x1b[36;1mExecuting "step_script" stage\x1b[0;m\n'
    "\x1b[32;1m$ make\x1b[0;m\n"
    "cc -O2 -o app main.c\n"
    'echo "<script>alert(1)</script>"\n'
    "\x1b[33;1mwarning:\x1b[0m unused variable 'x'\n"
    "downloading  42%\rdownloading 100%\n"
    "section_end:1700000047:step_script\r\x1b[0K\n"
    "\x1b[32;1mJob succeeded\x1b[0;m\n"
)


def _runner(base: str, token: str) -> str:
    response = requests.post(
        f"{base}/api/v4/user/runners",
        json={"runner_type": "instance_type", "description": "browser runner"},
        headers={"PRIVATE-TOKEN": token},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def _take(base: str, runner: str, name: str) -> dict[str, Any]:
    for _ in range(20):
        response = requests.post(
            f"{base}/api/v4/jobs/request",
            json={"token": runner, "system_id": "s_browser", "info": {"features": {"cancelable": True}}},
            timeout=70,
        )
        if response.status_code == 201:
            job: dict[str, Any] = response.json()
            assert job["job_info"]["name"] == name, job["job_info"]["name"]
            return job
        time.sleep(0.3)
    raise AssertionError(f"no job {name}")


def _trace(base: str, job: dict[str, Any], start: int, data: bytes) -> None:
    response = requests.patch(
        f"{base}/api/v4/jobs/{job['id']}/trace",
        data=data,
        headers={
            "JOB-TOKEN": job["token"],
            "Content-Type": "text/plain",
            "Content-Range": f"{start}-{start + len(data) - 1}",
        },
        timeout=10,
    )
    assert response.status_code == 202, response.text


def _state(base: str, job: dict[str, Any], state: str, **extra: Any) -> None:
    response = requests.put(
        f"{base}/api/v4/jobs/{job['id']}",
        json={"token": job["token"], "state": state, **extra},
        headers={"JOB-TOKEN": job["token"]},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_pipeline_and_job_log(live_server: LiveServer, root: gitlab.Gitlab, page: Page) -> None:  # noqa: F811
    assert live_server.root_password is not None
    base = live_server.url
    SHOTS.mkdir(exist_ok=True)
    project = root.projects.create({"name": f"Engine {secrets.token_hex(3)}", "initialize_with_readme": True})
    project.files.create({"file_path": ".gitlab-ci.yml", "branch": "main", "content": YAML, "commit_message": "Add CI"})
    time.sleep(1)
    pipelines = project.pipelines.list(get_all=True)
    pipeline = pipelines[0] if pipelines else project.pipelines.create({"ref": "main"})
    runner = _runner(base, live_server.root_token)
    build = _take(base, runner, "build")
    _state(base, build, "running")
    _trace(base, build, 0, LOG.encode())
    _state(base, build, "success", exit_code=0)
    test = _take(base, runner, "test")
    _state(base, test, "running")
    first = b"\x1b[32;1m$ make test\x1b[0;m\n"
    _trace(base, test, 0, first)

    page.goto(f"{base}/users/sign_in")
    page.get_by_label("Username or email").fill("root")
    page.get_by_label("Password").fill(live_server.root_password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()

    # The pipelines list, from the project's sidebar.
    full_path = project.path_with_namespace
    page.goto(f"{base}/{full_path}")
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Pipelines").click()
    expect(page).to_have_url(f"{base}/{full_path}/-/pipelines")
    expect(page.get_by_role("link", name=f"#{pipeline.id}", exact=True)).to_be_visible()
    page.screenshot(path=str(SHOTS / "pipelines.png"), full_page=True)

    # The pipeline: three stage columns with their jobs; needs shown as text.
    page.get_by_role("link", name=f"#{pipeline.id}", exact=True).click()
    expect(page.get_by_role("heading", name=f"Pipeline #{pipeline.id}")).to_be_visible()
    stages = page.get_by_role("list", name="Stages").get_by_role("listitem").filter(has=page.locator("h2"))
    expect(stages).to_have_count(3)
    expect(page.get_by_text("needs: build")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel test")).to_be_visible()
    page.screenshot(path=str(SHOTS / "pipeline.png"), full_page=True)

    # The finished job's log: colours, collapsible sections, HTML shown as text.
    page.get_by_role("link", name="build").first.click()
    expect(page.get_by_role("heading", name="build")).to_be_visible()
    log = page.locator("#job-log")
    expect(log.get_by_text('echo "<script>alert(1)</script>"')).to_be_visible()
    expect(log.locator(".term-fg-green").first).to_have_text("$ make")
    expect(log.get_by_text("downloading 100%")).to_be_visible()
    expect(page.get_by_role("button", name="Retry build")).to_be_visible()
    page.screenshot(path=str(SHOTS / "job-log.png"), full_page=True)
    log.locator("summary", has_text="Executing").click()
    expect(log.get_by_text("cc -O2 -o app main.c")).to_be_hidden()
    page.screenshot(path=str(SHOTS / "job-log-collapsed.png"), full_page=True)

    # The running job's log follows what the runner sends, then the page shows it finished.
    page.goto(f"{base}/{full_path}/-/jobs/{test['id']}")
    expect(page.locator("#job-log")).to_contain_text("$ make test")
    _trace(base, test, len(first), b"\x1b[31mFAILED\x1b[0m tests/test_engine.py::test_start\n")
    expect(page.locator("#job-log .term-fg-red")).to_have_text("FAILED", timeout=10_000)
    page.screenshot(path=str(SHOTS / "job-running.png"), full_page=True)
    _state(base, test, "failed", failure_reason="script_failure", exit_code=1)
    expect(page.get_by_role("button", name="Retry test")).to_be_visible(timeout=10_000)
    page.screenshot(path=str(SHOTS / "job-failed.png"), full_page=True)

    # The CI/CD settings (a masked variable stays hidden) and the run-pipeline form.
    project.variables.create({"key": "DEPLOY_TOKEN", "value": "masked-secret-value", "masked": True})
    project.variables.create({"key": "REGION", "value": "eu-west-1"})
    page.goto(f"{base}/{full_path}/-/settings/ci_cd")
    expect(page.get_by_role("row", name="REGION")).to_contain_text("eu-west-1")
    expect(page.get_by_text("masked-secret-value")).to_have_count(0)
    page.get_by_label("Edit variable REGION").click()
    page.screenshot(path=str(SHOTS / "settings.png"), full_page=True)
    page.goto(f"{base}/{full_path}/-/pipelines/new")
    page.get_by_label("Key of variable 1").fill("EXTRA")
    page.get_by_label("Value of variable 1").fill("yes")
    page.screenshot(path=str(SHOTS / "pipeline-new.png"), full_page=True)
    page.get_by_role("button", name="Run pipeline").click()
    expect(page.get_by_role("heading", name="Pipeline #")).to_be_visible()
