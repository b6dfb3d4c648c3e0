"""Merge Request, Note (on merge requests), Pipeline and Job hooks end to end: python-gitlab opens, edits,
comments on, approves and merges a merge request; a pushed ``.gitlab-ci.yml`` runs through a client that
speaks the runner protocol. A real HTTP receiver on 127.0.0.1 checks every payload against the keys and
JSON types of GitLab's documented examples (``webhook_events.md``).

Uses the session's live server; local requests are allowed for this module and the setting restored."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import gitlab
import pytest
import requests

from tests.ci.test_pipelines import RunnerClient, wait_for
from tests.live import LiveServer
from tests.webhooks.test_webhooks import PROJECT_KEYS, Receiver

# The module-scoped fixtures (here they use the session's live server).
from tests.webhooks.test_webhooks import api as api  # noqa: PLC0414
from tests.webhooks.test_webhooks import receiver as receiver  # noqa: PLC0414

NULL = type(None)
OPT_STR = (str, NULL)
OPT_INT = (int, NULL)
OPT_NUM = (int, float, NULL)

USER_KEYS = {"id": int, "name": str, "username": str, "avatar_url": OPT_STR, "email": str}
SHORT_REPOSITORY_KEYS = {"name": str, "url": str, "description": str, "homepage": str}
LAST_COMMIT_KEYS = {"id": str, "message": str, "title": str, "timestamp": str, "url": str, "author": dict}
MR_ATTRIBUTE_KEYS: dict[str, Any] = {
    "id": int,
    "iid": int,
    "target_branch": str,
    "source_branch": str,
    "source_project_id": int,
    "author_id": int,
    "assignee_ids": list,
    "assignee_id": OPT_INT,
    "reviewer_ids": list,
    "title": str,
    "created_at": str,
    "updated_at": str,
    "last_edited_at": OPT_STR,
    "last_edited_by_id": OPT_INT,
    "milestone_id": OPT_INT,
    "state_id": int,
    "state": str,
    "blocking_discussions_resolved": bool,
    "work_in_progress": bool,
    "draft": bool,
    "first_contribution": bool,
    "merge_status": str,
    "target_project_id": int,
    "description": str,
    "prepared_at": OPT_STR,
    "total_time_spent": int,
    "time_change": int,
    "human_total_time_spent": OPT_STR,
    "human_time_change": OPT_STR,
    "human_time_estimate": OPT_STR,
    "url": str,
    "source": dict,
    "target": dict,
    "last_commit": dict,
    "labels": list,
    "action": str,
    "detailed_merge_status": str,
}
MR_KEYS = {
    "object_kind": str,
    "event_type": str,
    "user": dict,
    "project": dict,
    "repository": dict,
    "object_attributes": dict,
    "labels": list,
    "changes": dict,
}
PERSON_KEYS = {"id": int, "name": str, "username": str, "avatar_url": OPT_STR}
NOTE_ATTRIBUTE_KEYS = {
    "id": int,
    "note": str,
    "noteable_type": str,
    "author_id": int,
    "created_at": str,
    "updated_at": str,
    "project_id": int,
    "attachment": NULL,
    "line_code": OPT_STR,
    "commit_id": str,
    "noteable_id": int,
    "system": bool,
    "st_diff": NULL,
    "action": str,
    "url": str,
}
NOTE_MR_KEYS = {
    "id": int,
    "target_branch": str,
    "source_branch": str,
    "source_project_id": int,
    "author_id": int,
    "assignee_id": OPT_INT,
    "title": str,
    "created_at": str,
    "updated_at": str,
    "milestone_id": OPT_INT,
    "state": str,
    "merge_status": str,
    "target_project_id": int,
    "iid": int,
    "description": str,
    "position": int,
    "labels": list,
    "source": dict,
    "target": dict,
    "last_commit": dict,
    "work_in_progress": bool,
    "draft": bool,
    "assignee": dict,
    "detailed_merge_status": str,
}


def has_shape(data: dict[str, Any], keys: dict[str, Any]) -> None:
    """Every key of GitLab's example is there with its JSON type (GitLab's builders send a few more)."""
    missing = set(keys) - set(data)
    assert not missing, missing
    for key, kind in keys.items():
        assert isinstance(data[key], kind), (key, data[key])


@pytest.fixture(scope="module", autouse=True)
def allow_local(api: Callable[..., requests.Response]) -> Iterator[None]:
    setting = "allow_local_requests_from_web_hooks_and_services"
    before = api("GET", "/application/settings").json()[setting]
    assert api("PUT", "/application/settings", json={setting: True}).status_code == 200
    yield
    api("PUT", "/application/settings", json={setting: before})


def _project(root: gitlab.Gitlab, member_id: int | None = None) -> Any:
    group = root.groups.create({"name": f"MH{secrets.token_hex(3)}", "path": f"mh-{secrets.token_hex(3)}"})
    if member_id is not None:
        group.members.create({"user_id": member_id, "access_level": 40})
    return root.projects.create(
        {"name": f"mr-hooks-{secrets.token_hex(3)}", "namespace_id": group.id, "initialize_with_readme": True}
    )


def _commit(project: Any, branch: str, path: str, text: str, message: str) -> Any:
    action = {"action": "create", "file_path": path, "content": text}
    return project.commits.create({"branch": branch, "commit_message": message, "actions": [action]})


def _events(receiver: Receiver, path: str, kind: str, count: int) -> list[dict[str, Any]]:
    def enough() -> list[dict[str, Any]] | None:
        got = [r.body for r in receiver.at(path) if r.body.get("object_kind") == kind]
        return got if len(got) >= count else None

    return wait_for(enough, timeout=60)


def test_merge_request_and_note_hooks(
    root: gitlab.Gitlab, live_server: LiveServer, receiver: Receiver, api: Callable[..., requests.Response]
) -> None:
    assert root.user is not None
    root_id = root.user.id
    name = f"dev-{secrets.token_hex(3)}"
    dev = root.users.create(
        {"username": name, "email": f"{name}@example.com", "name": "Dev", "password": "pw-" + secrets.token_hex(8)}
    )
    dev_token = dev.personal_access_tokens.create({"name": "api", "scopes": ["api"]}).token
    as_dev = gitlab.Gitlab(live_server.url, private_token=dev_token)
    project = _project(root, dev.id)
    project.labels.create({"name": "bug", "color": "#ff0000"})
    hook = project.hooks.create(
        {"url": receiver.url("/mr"), "push_events": False, "merge_requests_events": True, "note_events": True}
    )
    system = root.hooks.create({"url": receiver.url("/system-mr"), "merge_requests_events": True})
    try:
        project.branches.create({"branch": "feature", "ref": "main"})
        _commit(project, "feature", "a.txt", "a\n", "Add a")
        dev_project = as_dev.projects.get(project.id)
        mr = dev_project.mergerequests.create(
            {
                "source_branch": "feature",
                "target_branch": "main",
                "title": "Add a",
                "labels": "bug",
                "assignee_ids": [dev.id],
                "reviewer_ids": [root_id],
            }
        )
        (opened,) = _events(receiver, "/mr", "merge_request", 1)
        has_shape(opened, MR_KEYS)
        has_shape(opened["object_attributes"], MR_ATTRIBUTE_KEYS)
        has_shape(opened["user"], USER_KEYS)
        has_shape(opened["project"], PROJECT_KEYS)
        has_shape(opened["repository"], SHORT_REPOSITORY_KEYS)
        has_shape(opened["object_attributes"]["last_commit"], LAST_COMMIT_KEYS)
        has_shape(opened["object_attributes"]["source"], PROJECT_KEYS)
        for person in (*opened["assignees"], *opened["reviewers"]):
            has_shape(person, PERSON_KEYS)
        attrs = opened["object_attributes"]
        assert opened["object_kind"] == opened["event_type"] == "merge_request"
        assert attrs["action"] == "open" and attrs["state"] == "opened" and attrs["iid"] == mr.iid
        assert opened["user"]["username"] == name
        assert attrs["assignee_ids"] == [dev.id] and attrs["reviewer_ids"] == [root_id]
        assert [label["title"] for label in opened["labels"]] == ["bug"]
        assert attrs["url"].endswith(f"/{project.path_with_namespace}/-/merge_requests/{mr.iid}")
        assert attrs["last_commit"]["title"] == "Add a" and "oldrev" not in attrs

        mr.title = "Draft: Add a and b"
        mr.save()
        _commit(project, "feature", "b.txt", "b\n", "Add b")  # new code on the source branch
        dev_project.mergerequests.get(mr.iid).notes.create({"body": "Ready soon"})
        mr.title = "Add a and b"
        mr.save()
        root.projects.get(project.id).mergerequests.get(mr.iid).approve()
        # Deliveries run in the worker, the push's after the push's own task: their order may vary.
        events = _events(receiver, "/mr", "merge_request", 5)
        actions = sorted(e["object_attributes"]["action"] for e in events)
        assert actions == ["approved", "open", "update", "update", "update"], actions
        (retitled,) = [e for e in events if "title" in e["changes"] and e["changes"]["draft"]["current"]]
        (pushed,) = [e for e in events if "oldrev" in e["object_attributes"]]
        (approved,) = [e for e in events if e["object_attributes"]["action"] == "approved"]
        assert retitled["changes"]["title"] == {"previous": "Add a", "current": "Draft: Add a and b"}
        assert retitled["changes"]["draft"] == {"previous": False, "current": True}
        assert retitled["object_attributes"]["draft"] is True
        assert pushed["object_attributes"]["oldrev"] == attrs["last_commit"]["id"]
        assert pushed["object_attributes"]["last_commit"]["title"] == "Add b"
        assert approved["user"]["id"] == root_id

        (note,) = _events(receiver, "/mr", "note", 1)
        has_shape(note["object_attributes"], NOTE_ATTRIBUTE_KEYS)
        has_shape(note["merge_request"], NOTE_MR_KEYS)
        assert note["event_type"] == "note" and note["object_attributes"]["noteable_type"] == "MergeRequest"
        assert note["object_attributes"]["noteable_id"] == mr.id and note["merge_request"]["iid"] == mr.iid
        assert note["object_attributes"]["url"].endswith(
            f"/-/merge_requests/{mr.iid}#note_{note['object_attributes']['id']}"
        )

        merged = wait_for(lambda: _merge(root, project.id, mr.iid))
        assert merged["state"] == "merged"
        (merge,) = [
            e for e in _events(receiver, "/mr", "merge_request", 6) if e["object_attributes"]["action"] == "merge"
        ]
        assert merge["object_attributes"]["state"] == "merged"
        assert merge["object_attributes"]["merge_commit_sha"] == merged["merge_commit_sha"]

        # The system hook asked for merge request events: the same payloads, as "System Hook".
        def system_events() -> list[Any] | None:
            got = [
                r
                for r in receiver.at("/system-mr")
                if r.body.get("object_kind") == "merge_request" and r.body["project"]["id"] == project.id
            ]
            return got if len(got) >= 6 else None

        ours = wait_for(system_events)
        assert {r.headers["X-Gitlab-Event"] for r in ours} == {"System Hook"}
        assert sorted(r.body["object_attributes"]["action"] for r in ours) == sorted([*actions, "merge"])
        assert {r.headers["X-Gitlab-Event"] for r in receiver.at("/mr")} == {"Merge Request Hook", "Note Hook"}

        # The test endpoint sends the newest merge request as an "open" event, while the caller waits.
        hook.test("merge_requests_events")
        sample = receiver.at("/mr")[-1]
        assert sample.headers["X-Gitlab-Event"] == "Merge Request Hook"
        has_shape(sample.body["object_attributes"], MR_ATTRIBUTE_KEYS)
        assert (
            sample.body["object_attributes"]["iid"] == mr.iid and sample.body["object_attributes"]["action"] == "open"
        )
    finally:
        system.delete()


def _merge(root: gitlab.Gitlab, project_id: int, iid: int) -> dict[str, Any] | None:
    try:
        return dict(root.projects.get(project_id).mergerequests.get(iid).merge())
    except gitlab.GitlabMRClosedError:  # still being checked
        return None


CI_YAML = """
stages: [build, test]
build:
  stage: build
  script: [make]
test:
  stage: test
  script: [pytest]
  environment: {name: review, action: start}
"""
PIPELINE_ATTRIBUTE_KEYS = {
    "id": int,
    "iid": int,
    "name": OPT_STR,
    "ref": str,
    "tag": bool,
    "sha": str,
    "before_sha": str,
    "source": str,
    "status": str,
    "detailed_status": str,
    "stages": list,
    "created_at": str,
    "finished_at": OPT_STR,
    "duration": OPT_INT,
    "queued_duration": OPT_INT,
    "protected_ref": bool,
    "variables": list,
    "url": str,
}
PIPELINE_KEYS = {
    "object_kind": str,
    "object_attributes": dict,
    "merge_request": (dict, NULL),
    "user": dict,
    "project": dict,
    "commit": dict,
    "builds": list,
}
PIPELINE_PROJECT_KEYS = {k: v for k, v in PROJECT_KEYS.items() if k not in ("homepage", "url", "ssh_url", "http_url")}
BUILD_KEYS = {
    "id": int,
    "stage": str,
    "name": str,
    "status": str,
    "created_at": str,
    "started_at": OPT_STR,
    "finished_at": OPT_STR,
    "duration": OPT_NUM,
    "queued_duration": OPT_NUM,
    "failure_reason": OPT_STR,
    "when": str,
    "manual": bool,
    "allow_failure": bool,
    "user": dict,
    "runner": (dict, NULL),
    "artifacts_file": dict,
    "environment": (dict, NULL),
}
RUNNER_KEYS = {"id": int, "description": str, "active": bool, "runner_type": str, "is_shared": bool, "tags": list}
JOB_KEYS = {
    "object_kind": str,
    "ref": str,
    "tag": bool,
    "before_sha": str,
    "sha": str,
    "build_id": int,
    "build_name": str,
    "build_stage": str,
    "build_status": str,
    "build_created_at": str,
    "build_created_at_iso": str,
    "build_started_at": OPT_STR,
    "build_started_at_iso": OPT_STR,
    "build_finished_at": OPT_STR,
    "build_finished_at_iso": OPT_STR,
    "build_duration": OPT_NUM,
    "build_queued_duration": OPT_NUM,
    "build_allow_failure": bool,
    "build_failure_reason": OPT_STR,
    "retries_count": int,
    "pipeline_id": int,
    "project_id": int,
    "project_name": str,
    "user": dict,
    "commit": dict,
    "repository": dict,
    "project": dict,
    "runner": (dict, NULL),
    "environment": (dict, NULL),
}
JOB_COMMIT_KEYS = {
    "id": int,
    "name": OPT_STR,
    "sha": str,
    "message": str,
    "author_name": str,
    "author_email": str,
    "status": str,
    "duration": OPT_INT,
    "started_at": OPT_STR,
    "started_at_iso": OPT_STR,
    "finished_at": OPT_STR,
    "finished_at_iso": OPT_STR,
}
JOB_REPOSITORY_KEYS = {
    "name": str,
    "description": str,
    "homepage": str,
    "git_ssh_url": str,
    "git_http_url": str,
    "visibility_level": int,
}


def test_pipeline_and_job_hooks(root: gitlab.Gitlab, live_server: LiveServer, receiver: Receiver) -> None:
    assert root.user is not None
    root_id = root.user.id
    project = _project(root)
    hook = project.hooks.create(
        {"url": receiver.url("/ci"), "push_events": False, "pipeline_events": True, "job_events": True}
    )
    with pytest.raises(gitlab.GitlabHookTestError, match="Ensure the project has CI pipelines"):
        hook.test("pipeline_events")
    registered = requests.post(
        f"{live_server.url}/api/v4/user/runners",
        json={"runner_type": "project_type", "project_id": project.id, "description": "hook runner"},
        headers={"PRIVATE-TOKEN": live_server.root_token},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    runner = RunnerClient(live_server.url, registered.json()["token"])
    commit = _commit(project, "main", ".gitlab-ci.yml", CI_YAML, "Add CI\n\nWith a body.")

    # Only ask for a job once one is pending: the session's server long-polls for 50 s otherwise.
    _events(receiver, "/ci", "build", 1)
    build = runner.take("build")
    runner.run(build)
    _events(receiver, "/ci", "build", 4)  # build pending, running, success; test pending
    runner.run(runner.take("test"), exit_code=1)

    jobs = _events(receiver, "/ci", "build", 6)
    statuses = sorted((j["build_name"], j["build_status"]) for j in jobs)
    assert statuses == sorted(
        [(name, status) for name in ("build", "test") for status in ("pending", "running")]
        + [("build", "success"), ("test", "failed")]
    ), statuses
    (failed,) = [j for j in jobs if j["build_status"] == "failed"]
    has_shape(failed, JOB_KEYS)
    has_shape(failed["commit"], JOB_COMMIT_KEYS)
    has_shape(failed["repository"], JOB_REPOSITORY_KEYS)
    has_shape(failed["project"], PIPELINE_PROJECT_KEYS)
    has_shape(failed["runner"], RUNNER_KEYS)
    has_shape(failed["user"], USER_KEYS)
    assert failed["object_kind"] == "build" and failed["build_failure_reason"] == "script_failure"
    assert failed["sha"] == commit.id and failed["ref"] == "main" and failed["retries_count"] == 0
    assert failed["commit"]["id"] == failed["pipeline_id"] and failed["commit"]["sha"] == commit.id
    # The job is committed before its pipeline is processed: the pipeline may not have failed yet.
    assert failed["commit"]["message"].startswith("Add CI") and failed["commit"]["status"] in ("running", "failed")
    assert failed["runner"]["runner_type"] == "project_type" and failed["runner"]["is_shared"] is False
    assert failed["environment"] == {"name": "review", "action": "start"}
    assert failed["project_name"].endswith(f" / {project.name}") and failed["build_duration"] is not None

    pipelines = _events(receiver, "/ci", "pipeline", 3)
    assert sorted(p["object_attributes"]["status"] for p in pipelines) == ["failed", "pending", "running"]
    (done,) = [p for p in pipelines if p["object_attributes"]["status"] == "failed"]
    has_shape(done, PIPELINE_KEYS)
    has_shape(done["object_attributes"], PIPELINE_ATTRIBUTE_KEYS)
    has_shape(done["project"], PIPELINE_PROJECT_KEYS)
    has_shape(done["commit"], LAST_COMMIT_KEYS)
    attrs = done["object_attributes"]
    assert attrs["id"] == failed["pipeline_id"] and attrs["sha"] == commit.id and attrs["source"] == "push"
    assert attrs["stages"] == ["build", "test"] and attrs["detailed_status"] == "failed"
    assert attrs["url"].endswith(f"/{project.path_with_namespace}/-/pipelines/{attrs['id']}")
    assert done["merge_request"] is None and done["user"]["id"] == root_id
    builds = {b["name"]: b for b in done["builds"]}
    for one in builds.values():
        has_shape(one, BUILD_KEYS)
        has_shape(one["runner"], RUNNER_KEYS)
    assert builds["build"]["status"] == "success" and builds["build"]["failure_reason"] is None
    assert builds["test"]["failure_reason"] == "script_failure"
    assert builds["test"]["environment"] == {"name": "review", "action": "start", "deployment_tier": None}
    assert {r.headers["X-Gitlab-Event"] for r in receiver.at("/ci")} == {"Pipeline Hook", "Job Hook"}

    for trigger, header, kind in (
        ("pipeline_events", "Pipeline Hook", "pipeline"),
        ("job_events", "Job Hook", "build"),
    ):
        hook.test(trigger)
        sample = receiver.at("/ci")[-1]
        assert sample.headers["X-Gitlab-Event"] == header and sample.body["object_kind"] == kind
    has_shape(sample.body, JOB_KEYS)
    assert sample.body["build_name"] == "test"

    # A configuration that does not compile makes a failed pipeline, and its hook says so (GitLab drops
    # such a pipeline with config_error, which runs the pipeline hooks).
    action = {"action": "update", "file_path": ".gitlab-ci.yml", "content": "build: [not, a, job]\n"}
    broken = project.commits.create({"branch": "main", "commit_message": "Break CI", "actions": [action]})

    def broken_pipeline_hook() -> dict[str, Any] | None:
        bodies = [r.body for r in receiver.at("/ci") if r.body.get("object_kind") == "pipeline"]
        return next((b for b in bodies if b["object_attributes"]["sha"] == broken.id), None)

    event = wait_for(broken_pipeline_hook, timeout=60)
    assert event["object_attributes"]["status"] == "failed" and event["builds"] == []
    has_shape(event["object_attributes"], PIPELINE_ATTRIBUTE_KEYS)
