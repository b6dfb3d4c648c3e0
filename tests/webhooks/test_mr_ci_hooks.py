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

from tests.ci.test_pipelines import wait_for
from tests.live import LiveServer
from tests.webhooks.test_webhooks import PROJECT_KEYS, Receiver
from tests.webhooks.test_webhooks import receiver as receiver  # noqa: PLC0414  # the module-scoped fixture

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


@pytest.fixture(scope="module")
def api(live_server: LiveServer) -> Callable[..., requests.Response]:
    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"PRIVATE-TOKEN": live_server.root_token}
        return requests.request(method, f"{live_server.url}/api/v4{path}", headers=headers, timeout=60, **kwargs)

    return call


@pytest.fixture(scope="module", autouse=True)
def allow_local(api: Callable[..., requests.Response]) -> Iterator[None]:
    setting = "allow_local_requests_from_web_hooks_and_services"
    before = api("GET", "/application/settings").json()[setting]
    assert api("PUT", "/application/settings", json={setting: True}).status_code == 200
    yield
    api("PUT", "/application/settings", json={setting: before})


def _project(root: gitlab.Gitlab, member_id: int) -> Any:
    group = root.groups.create({"name": f"MH{secrets.token_hex(3)}", "path": f"mh-{secrets.token_hex(3)}"})
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
    name = f"dev-{secrets.token_hex(3)}"
    dev = root.users.create(
        {"username": name, "email": f"{name}@example.com", "name": "Dev", "password": "pw-" + secrets.token_hex(8)}
    )
    dev_token = dev.personal_access_tokens.create({"name": "api", "scopes": ["api"]}).token
    as_dev = gitlab.Gitlab(live_server.url, private_token=dev_token)
    project = _project(root, dev.id)
    project.labels.create({"name": "bug", "color": "#ff0000"})
    project.hooks.create(
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
                "reviewer_ids": [root.user.id],
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
        assert attrs["assignee_ids"] == [dev.id] and attrs["reviewer_ids"] == [root.user.id]
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
        assert approved["user"]["id"] == root.user.id

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
    finally:
        system.delete()


def _merge(root: gitlab.Gitlab, project_id: int, iid: int) -> dict[str, Any] | None:
    try:
        return dict(root.projects.get(project_id).mergerequests.get(iid).merge())
    except gitlab.GitlabMRClosedError:  # still being checked
        return None
