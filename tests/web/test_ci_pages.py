"""The CI/CD pages (pipelines, a pipeline's stages and jobs, a job's log, CI lint, CI/CD settings) through
Django's test client, on pipelines made by the CI services in process and moved on by them."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import secrets
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dockyard.ci import selectors as ci_selectors
from dockyard.ci import services as ci
from dockyard.ci.models import Job, Pipeline, Runner
from dockyard.config.env import Env
from dockyard.core.storage import object_storage
from dockyard.core.visibility import Visibility
from dockyard.namespaces import services as groups
from dockyard.permissions import services as members
from dockyard.permissions.models import AccessLevel
from dockyard.projects import services as projects
from dockyard.web import ansi
from tests.web.test_pages import make_user, signed_in

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
deploy:
  stage: deploy
  script: [./deploy]
  when: manual
"""
LOG = (
    "\x1b[0KRunning with gitlab-runner 17.0.0\n"
    "section_start:1700000000:prepare_script\r\x1b[0K\x1b[36;1mPreparing environment\x1b[0m\n"
    "Running on host-1...\n"
    "section_end:1700000003:prepare_script\r\x1b[0K\n"
    "section_start:1700000003:step_script\r\x1b[0K\x1b[0;m\x1b[32;1m$ make\x1b[0;m\n"
    'echo "<script>alert(1)</script>"\n'
    "progress  10%\rprogress 100%\n"
    "\x1b[31;1mERROR: Job failed: exit code 1\x1b[0m\n"
    "section_end:1700000075:step_script\r\x1b[0K\n"
)
BASE = "/acme/rocket/-"


@pytest.fixture(autouse=True)
def _own_repositories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Project ids repeat between tests (rolled back); each test gets its own repository storage."""
    monkeypatch.setattr(Env, "repositories", property(lambda self: tmp_path / "repositories"))


@pytest.fixture
def setup(db: None) -> dict[str, Any]:
    owner = make_user("owner")
    maintainer = make_user("maint")
    reporter = make_user("reporter")
    outsider = make_user("outsider")
    group = groups.group_create(actor=owner, name="Acme", path="acme", visibility=Visibility.PRIVATE)
    project = projects.project_create(actor=owner, namespace=group, name="Rocket", initialize_with_readme=True)
    members.member_add(actor=owner, source=project, user=maintainer, access_level=AccessLevel.MAINTAINER)
    members.member_add(actor=owner, source=project, user=reporter, access_level=AccessLevel.REPORTER)
    runner, _ = ci.runner_create(actor=owner, runner_type="instance_type", description="shared runner")
    return {
        "owner": owner,
        "maintainer": maintainer,
        "reporter": reporter,
        "outsider": outsider,
        "project": project,
        "runner": runner,
    }


def _pipeline(setup: dict[str, Any], content: str = YAML) -> Pipeline:
    pipeline = ci.pipeline_create(
        project=setup["project"], user=setup["owner"], ref="main", source="web", content=content
    )
    assert pipeline is not None
    return pipeline


def _run(runner: Runner, name: str, status: str | None, log: str = "") -> Job:
    """Take the next pending job (it must be ``name``), write its log and finish it with ``status``."""
    assignment = ci.job_request(runner=runner, manager=None)
    assert assignment is not None and assignment.job.name == name
    job = assignment.job
    if log:
        ci.trace_append(job=job, start=0, data=log.encode())
    if status is not None:
        job = ci.job_finish(job=job, status=status, failure_reason="script_failure", exit_code=1)
    return job


def _html(client: Client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.content.decode()


# --- pipelines ------------------------------------------------------------------------------------


def test_pipelines_list_shows_status_ref_commit_and_stages(setup: dict[str, Any]) -> None:
    pipeline = _pipeline(setup)
    _run(setup["runner"], "build", "success")
    html = _html(signed_in(setup["reporter"]), f"{BASE}/pipelines")
    assert f'href="{BASE}/pipelines/{pipeline.pk}"' in html
    assert f">#{pipeline.pk}</a>" in html and f"(#{pipeline.iid})" in html
    assert pipeline.sha[:8] in html and ">main<" in html
    stages = re.findall(r'<span class="ci-mini-name">([^<]+)</span>', html)
    assert stages == ["build", "test", "deploy"]
    assert "ci-status-running" in html  # the pipeline runs: build passed, test is pending
    # A reporter may not run pipelines; the sidebar leads to the CI pages.
    assert "Run pipeline" not in html
    assert f'href="{BASE}/pipelines" aria-current="page"' in html
    assert f'href="{BASE}/ci/lint"' in html


def test_run_pipeline_form_creates_through_the_service(setup: dict[str, Any]) -> None:
    client = signed_in(setup["maintainer"])
    # No .gitlab-ci.yml in the repository: the form says so.
    html = _html(client, f"{BASE}/pipelines/new")
    assert 'name="variable_key"' in html
    response = client.post(f"{BASE}/pipelines/new", {"ref": "main"})
    assert response.status_code == 400 and "Missing CI config file" in response.content.decode()
    response = client.post(f"{BASE}/pipelines/new", {"ref": "nope"})
    assert response.status_code == 400 and "Reference not found" in response.content.decode()
    # With a configuration on the branch, a pipeline with the given variables.
    from dockyard.repos import services as repos
    from dockyard.repos.git.write import FileAction

    repos.commit_create(
        project=setup["project"],
        user=setup["owner"],
        branch="main",
        message="Add CI",
        actions=[FileAction(action="create", path=".gitlab-ci.yml", content=YAML.encode())],
    )
    data = {"ref": "main", "variable_key": ["DEPLOY_ENV", ""], "variable_value": ["staging", ""]}
    data["variable_type"] = ["env_var", "env_var"]
    response = client.post(f"{BASE}/pipelines/new", data)
    assert response.status_code == 302
    pipeline = Pipeline.objects.get(project=setup["project"], source="web")
    assert response["Location"] == f"{BASE}/pipelines/{pipeline.pk}"
    assert pipeline.variables == [{"key": "DEPLOY_ENV", "value": "staging", "variable_type": "env_var"}]
    # A reporter gets 404 for the form.
    assert signed_in(setup["reporter"]).get(f"{BASE}/pipelines/new").status_code == 404


def test_pipeline_page_shows_stages_jobs_needs_and_buttons(setup: dict[str, Any]) -> None:
    pipeline = _pipeline(setup)
    _run(setup["runner"], "build", "failed")
    url = f"{BASE}/pipelines/{pipeline.pk}"
    html = _html(signed_in(setup["maintainer"]), url)
    titles = re.findall(r'<h2 class="ci-stage-title"[^>]*>.*?</span></span>([^<]+)</h2>', html)
    assert titles == ["build", "test", "deploy"]
    names = re.findall(r'<span class="ci-job-name">([^<]+)</span>', html)
    assert names == ["build", "test", "lint", "deploy"]
    assert "needs: build" in html
    build = Job.objects.get(pipeline=pipeline, name="build")
    deploy = Job.objects.get(pipeline=pipeline, name="deploy")
    assert f'action="{BASE}/jobs/{build.pk}/retry"' in html
    assert f'action="{BASE}/jobs/{deploy.pk}/play"' not in html  # skipped after the failure
    assert f'action="{BASE}/pipelines/{pipeline.pk}/retry"' in html
    # A reporter sees the same page without a single button.
    reporter_html = _html(signed_in(setup["reporter"]), url)
    assert "ci-job-name" in reporter_html
    assert "/retry" not in reporter_html and "/cancel" not in reporter_html and "/play" not in reporter_html


def test_yaml_errors_show_on_a_failed_pipeline(setup: dict[str, Any]) -> None:
    pipeline = _pipeline(setup, content="build:\n  stage: nowhere\n  script: [x]\n")
    assert pipeline.status == "failed" and pipeline.yaml_errors
    html = _html(signed_in(setup["reporter"]), f"{BASE}/pipelines/{pipeline.pk}")
    assert "This pipeline's configuration is invalid." in html
    assert "nowhere" in html
    assert "yaml invalid" in _html(signed_in(setup["reporter"]), f"{BASE}/pipelines")


def test_maintainer_cancels_retries_and_plays_reporter_is_refused(setup: dict[str, Any]) -> None:
    pipeline = _pipeline(setup)
    build = _run(setup["runner"], "build", None)  # running
    reporter = signed_in(setup["reporter"])
    maintainer = signed_in(setup["maintainer"])
    for url in (
        f"{BASE}/jobs/{build.pk}/cancel",
        f"{BASE}/jobs/{build.pk}/retry",
        f"{BASE}/pipelines/{pipeline.pk}/cancel",
        f"{BASE}/pipelines/{pipeline.pk}/retry",
    ):
        assert reporter.post(url).status_code == 404, url
    assert Job.objects.get(pk=build.pk).status == "running"

    response = maintainer.post(f"{BASE}/jobs/{build.pk}/cancel", {"next": "pipeline"})
    assert response.status_code == 302 and response["Location"] == f"{BASE}/pipelines/{pipeline.pk}"
    assert Job.objects.get(pk=build.pk).status == "canceled"
    response = maintainer.post(f"{BASE}/jobs/{build.pk}/retry")
    new = Job.objects.get(pipeline=pipeline, name="build", retried=False)
    assert new.pk != build.pk and new.status == "pending"
    assert response["Location"] == f"{BASE}/jobs/{new.pk}"
    # Cancel the whole pipeline, then retry it.
    maintainer.post(f"{BASE}/pipelines/{pipeline.pk}/cancel")
    assert Pipeline.objects.get(pk=pipeline.pk).status == "canceled"
    maintainer.post(f"{BASE}/pipelines/{pipeline.pk}/retry")
    assert Pipeline.objects.get(pk=pipeline.pk).status in ("pending", "running")
    # Play the manual job once the earlier stages passed.
    _run(setup["runner"], "build", "success")
    _run(setup["runner"], "test", "success")
    _run(setup["runner"], "lint", "success")
    deploy = Job.objects.get(pipeline=pipeline, name="deploy", retried=False)
    assert deploy.status == "manual"
    html = _html(maintainer, f"{BASE}/pipelines/{pipeline.pk}")
    assert f'action="{BASE}/jobs/{deploy.pk}/play"' in html
    assert reporter.post(f"{BASE}/jobs/{deploy.pk}/play").status_code == 404
    maintainer.post(f"{BASE}/jobs/{deploy.pk}/play")
    assert Job.objects.get(pk=deploy.pk).status == "pending"
    # Without a session, the forms send to sign-in.
    assert Client().post(f"{BASE}/jobs/{deploy.pk}/cancel").status_code == 302


# --- jobs -----------------------------------------------------------------------------------------


def test_job_log_converts_colours_sections_and_escapes_html(setup: dict[str, Any]) -> None:
    _pipeline(setup)
    job = _run(setup["runner"], "build", "failed", log=LOG)
    html = _html(signed_in(setup["reporter"]), f"{BASE}/jobs/{job.pk}")
    log = html.split('id="job-log"', 1)[1].split("</section>", 1)[0]
    assert '<span class="term-bold term-fg-cyan">Preparing environment</span>' in log
    assert '<span class="term-bold term-fg-red">ERROR: Job failed: exit code 1</span>' in log
    assert '<details class="log-section" open data-section="prepare_script">' in log
    assert '<details class="log-section" open data-section="step_script">' in log
    assert '<span class="log-duration">01:12</span>' in log  # 75 - 3 seconds
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in log and "<script>alert" not in html
    assert "progress 100%" in log and "progress  10%" not in log
    assert "section_start" not in log and "\x1b" not in log
    # The sidebar: status, stage, runner, no artifacts; a finished job is not followed.
    assert "shared runner" in html and "script_failure" in html
    assert "ci-log.js" not in html and 'http-equiv="refresh"' not in html
    # The raw log is the bytes as sent.
    raw = signed_in(setup["reporter"]).get(f"{BASE}/jobs/{job.pk}/raw")
    assert b"".join(raw.streaming_content) == LOG.encode()  # type: ignore[attr-defined]


def test_running_job_is_followed_and_trace_json_answers_growth(setup: dict[str, Any]) -> None:
    _pipeline(setup)
    job = _run(setup["runner"], "build", None, log="first line\n")
    client = signed_in(setup["reporter"])
    html = _html(client, f"{BASE}/jobs/{job.pk}")
    assert "web/ci-log.js" in html and 'http-equiv="refresh"' in html
    assert f'data-trace-url="{BASE}/jobs/{job.pk}/trace.json"' in html
    size = len(b"first line\n")
    body = json.loads(client.get(f"{BASE}/jobs/{job.pk}/trace.json?offset={size}").content)
    assert body == {"offset": size, "status": "running", "complete": False}
    ci.trace_append(job=job, start=size, data=b"\x1b[32msecond\x1b[0m\n")
    body = json.loads(client.get(f"{BASE}/jobs/{job.pk}/trace.json?offset={size}").content)
    assert body["offset"] > size and '<span class="term-fg-green">second</span>' in body["html"]
    ci.job_finish(job=Job.objects.get(pk=job.pk), status="success")
    body = json.loads(client.get(f"{BASE}/jobs/{job.pk}/trace.json?offset=0").content)
    assert body["complete"] is True and body["status"] == "success"


def test_jobs_list(setup: dict[str, Any]) -> None:
    pipeline = _pipeline(setup)
    _run(setup["runner"], "build", "success")
    html = _html(signed_in(setup["reporter"]), f"{BASE}/jobs")
    assert re.findall(r'<a href="/acme/rocket/-/jobs/\d+">([^<]+)</a>', html) == ["deploy", "lint", "test", "build"]
    assert f'href="{BASE}/pipelines/{pipeline.pk}"' in html


# --- lint and settings ----------------------------------------------------------------------------


def test_lint_page(setup: dict[str, Any]) -> None:
    client = signed_in(setup["reporter"])
    assert "Validate your CI/CD configuration" in _html(client, f"{BASE}/ci/lint")
    html = client.post(f"{BASE}/ci/lint", {"content": YAML}).content.decode()
    assert "Syntax is correct." in html and '<th scope="row" class="mono">deploy</th>' in html
    html = client.post(f"{BASE}/ci/lint", {"content": "build:\n  stage: nowhere\n  script: [x]\n"}).content.decode()
    assert "This configuration is invalid." in html and "nowhere" in html
    html = client.post(f"{BASE}/ci/lint", {"content": "<script>x</script>: ["}).content.decode()
    assert "<script>x</script>" not in html.split("</head>", 1)[1]


def test_variables_page_hides_masked_values_and_manages_variables(setup: dict[str, Any]) -> None:
    project = setup["project"]
    ci.variable_create(owner=project, key="PLAIN", value="visible-value")
    ci.variable_create(owner=project, key="SECRET", value="super-secret-token", masked=True)
    ci.runner_create(actor=setup["owner"], runner_type="project_type", project=project, description="own runner")
    client = signed_in(setup["maintainer"])
    url = f"{BASE}/settings/ci_cd"
    html = _html(client, url)
    assert "visible-value" in html and "super-secret-token" not in html
    assert "SECRET" in html and "Masked value" in html
    assert "shared runner" in html and "own runner" in html
    # Add, with an error first.
    response = client.post(f"{url}/variables", {"key": "bad key", "value": "x"})
    assert response.status_code == 400 and "Key can contain only letters" in response.content.decode()
    response = client.post(f"{url}/variables", {"key": "TOKEN", "value": "short", "masked": "on"})
    assert response.status_code == 400 and "Value is invalid" in response.content.decode()
    assert client.post(f"{url}/variables", {"key": "NEW", "value": "v1", "protected": "on"}).status_code == 302
    new = ci_selectors.variable_get(owner=project, key="NEW")
    assert new.value == "v1" and new.protected
    # Edit: an empty value keeps the stored one; flags change.
    client.post(f"{url}/variables/update", {"key": "SECRET", "environment_scope": "*", "value": "", "raw": "on"})
    secret = ci_selectors.variable_get(owner=project, key="SECRET")
    assert secret.value == "super-secret-token" and secret.raw and not secret.masked
    client.post(f"{url}/variables/update", {"key": "NEW", "environment_scope": "*", "value": "v2"})
    assert ci_selectors.variable_get(owner=project, key="NEW").value == "v2"
    client.post(f"{url}/variables/remove", {"key": "NEW", "environment_scope": "*"})
    assert [v.key for v in ci_selectors.variable_list(owner=project)] == ["PLAIN", "SECRET"]
    # Reporters (and below) get 404, even for posts.
    reporter = signed_in(setup["reporter"])
    assert reporter.get(url).status_code == 404
    assert reporter.post(f"{url}/variables/remove", {"key": "PLAIN"}).status_code == 404
    assert "Masked" not in _html(reporter, f"{BASE}/pipelines")  # no settings link either


# --- artifacts --------------------------------------------------------------------------------------


def _store_artifact(job: Job, data: bytes, file_type: str = "archive") -> None:
    """An upload as the runner's lands: the object stored, then recorded (zip archive, gzip reports)."""
    key = f"test-artifacts/{job.pk}-{secrets.token_hex(4)}"
    with object_storage().open_write(key) as writer:
        writer.write(data)
        writer.commit()
    file_format, filename = ("zip", "artifacts.zip") if file_type == "archive" else ("gzip", f"{file_type}.gz")
    ci.artifact_create(
        job=job, file_type=file_type, file_format=file_format, filename=filename, storage_key=key,
        size=len(data), sha256=hashlib.sha256(data).hexdigest(), expire_in=None,
    )  # fmt: skip


def _store_archive(job: Job, files: dict[str, bytes]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    _store_artifact(job, buffer.getvalue())


def _streamed(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_artifacts_are_browsed_a_directory_at_a_time_and_files_served_safely(setup: dict[str, Any]) -> None:
    _pipeline(setup)
    job = _run(setup["runner"], "build", "success", log="built\n")
    _store_archive(
        job,
        {
            "out/app.bin": b"\x00\x01binary",
            "out/docs/readme.txt": b"hello <b>world</b>\n",
            "index.html": b"<script>alert(1)</script>",
        },
    )
    reporter = signed_in(setup["reporter"])
    base = f"{BASE}/jobs/{job.pk}/artifacts"
    assert f'href="{base}/browse"' in _html(reporter, f"{BASE}/jobs/{job.pk}")  # the job page links to it
    root = _html(reporter, f"{base}/browse")
    assert f'href="{base}/browse/out"' in root and f'href="{base}/raw/index.html"' in root
    assert "app.bin" not in root  # one directory at a time
    out = _html(reporter, f"{base}/browse/out")
    assert f'href="{base}/browse/out/docs"' in out and f'href="{base}/raw/out/app.bin"' in out
    assert f'href="{base}/browse"' in out  # up to the root
    assert "readme.txt" in _html(reporter, f"{base}/browse/out/docs")

    text = reporter.get(f"{base}/raw/out/docs/readme.txt")
    assert text.status_code == 200 and _streamed(text) == b"hello <b>world</b>\n"
    assert text["Content-Type"] == "text/plain; charset=utf-8" and text["X-Content-Type-Options"] == "nosniff"
    page = reporter.get(f"{base}/raw/index.html")  # the job's HTML is shown as text, never run
    assert page["Content-Type"].startswith("text/plain") and "sandbox" in page["Content-Security-Policy"]
    binary = reporter.get(f"{base}/raw/out/app.bin")
    assert binary["Content-Type"] == "application/octet-stream"
    assert binary["Content-Disposition"].startswith("attachment")
    assert _streamed(binary) == b"\x00\x01binary"

    for missing in ("browse/nothing", "raw/out/nothing.txt", "raw/out/docs", "raw/out/%2E%2E/%2E%2E/x"):
        assert reporter.get(f"{base}/{missing}").status_code == 404, missing
    assert signed_in(setup["outsider"]).get(f"{base}/browse").status_code == 404
    assert Client().get(f"{base}/raw/index.html").status_code == 404


def test_the_tests_tab_shows_the_junit_report_failures_first(setup: dict[str, Any]) -> None:
    pipeline = _pipeline(setup)
    job = _run(setup["runner"], "build", "failed", log="tests failed\n")
    reporter = signed_in(setup["reporter"])
    page = f"{BASE}/pipelines/{pipeline.pk}"
    assert "/test_report" not in _html(reporter, page)  # no report yet: no tab
    junit = (
        b'<testsuite><testcase name="adds" classname="Calc" time="0.5"/>'
        b'<testcase name="divides &lt;by zero&gt;" classname="Calc"><failure>ZeroDivisionError at calc.py:9</failure>'
        b"</testcase></testsuite>"
    )
    _store_artifact(job, gzip.compress(junit), "junit")
    assert f'href="{page}/test_report"' in _html(reporter, page)
    html = _html(reporter, f"{page}/test_report")
    assert "2 tests" in html and "<strong>1</strong> failed" in html
    assert "divides &lt;by zero&gt;" in html and "ZeroDivisionError at calc.py:9" in html  # escaped, with output
    assert html.index("divides") < html.index("adds")  # failures first
    assert signed_in(setup["outsider"]).get(f"{page}/test_report").status_code == 404


# --- visibility and budgets -----------------------------------------------------------------------


def test_outsiders_and_anonymous_get_404_on_private_projects(setup: dict[str, Any]) -> None:
    pipeline = _pipeline(setup)
    job = _run(setup["runner"], "build", "success", log="hello\n")
    urls = [
        f"{BASE}/pipelines",
        f"{BASE}/pipelines/{pipeline.pk}",
        f"{BASE}/jobs",
        f"{BASE}/jobs/{job.pk}",
        f"{BASE}/jobs/{job.pk}/trace.json",
        f"{BASE}/jobs/{job.pk}/raw",
        f"{BASE}/jobs/{job.pk}/artifacts/download",
        f"{BASE}/ci/lint",
    ]
    for client in (signed_in(setup["outsider"]), Client()):
        for url in urls:
            assert client.get(url).status_code == 404, url
    # Missing ids and jobs of other projects are 404 for members too.
    reporter = signed_in(setup["reporter"])
    assert reporter.get(f"{BASE}/pipelines/999999").status_code == 404
    assert reporter.get(f"{BASE}/jobs/999999").status_code == 404
    assert reporter.get(f"{BASE}/jobs/{job.pk}/artifacts/download").status_code == 404  # no artifacts


def test_ci_pages_are_gone_when_ci_is_off(setup: dict[str, Any]) -> None:
    project = setup["project"]
    projects.project_update(actor=setup["owner"], project=project, jobs_enabled=False)
    client = signed_in(setup["owner"])
    assert client.get(f"{BASE}/pipelines").status_code == 404
    assert f"{BASE}/pipelines" not in _html(client, "/acme/rocket")


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_pipeline_pages_query_budget(setup: dict[str, Any]) -> None:
    client = signed_in(setup["reporter"])
    first = _pipeline(setup)
    few_list = _queries(client, f"{BASE}/pipelines")
    few_page = _queries(client, f"{BASE}/pipelines/{first.pk}")
    for _ in range(4):
        _pipeline(setup)
    many = _pipeline(setup, content=YAML + "".join(f"extra{i}:\n  stage: test\n  script: [x]\n" for i in range(8)))
    _run(setup["runner"], "build", "success")
    assert _queries(client, f"{BASE}/pipelines") == few_list
    assert _queries(client, f"{BASE}/pipelines/{many.pk}") == few_page
    assert few_list <= 16 and few_page <= 16, (few_list, few_page)


def test_ansi_converter_edge_cases() -> None:
    assert ansi.render("") == ""
    assert ansi.render("a & b <i>\n") == '<span class="log-line">a &amp; b &lt;i&gt;</span>'
    # Colours carry over lines until reset; bright and background colours; unknown codes dropped.
    out = ansi.render("\x1b[1;91;44mhot\ncold\x1b[0m plain\x1b[38;5;208m odd\x1b[2J\n")
    assert '<span class="term-bold term-fg-l-red term-bg-blue">hot</span>' in out
    assert '<span class="term-bold term-fg-l-red term-bg-blue">cold</span> plain odd' in out
    # A section never closed still renders, without a duration; nested sections nest.
    out = ansi.render("section_start:1:outer\r\x1b[0Kouter\nsection_start:2:inner\r\x1b[0Kinner\nx\n")
    assert out.count("<details") == 2 and "log-duration" not in out
    assert ansi.render("ab\rX\n") == '<span class="log-line">X\x1b[0mb</span>'.replace("\x1b[0m", "")
