"""Issue and Note Hook payloads against the keys of GitLab's documented examples, and
``hook_event_emit`` sending confidential events only to hooks that asked for them."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dockyard.accounts import services as accounts
from dockyard.core.instance_settings import instance_settings_update
from dockyard.issues import services as issues
from dockyard.namespaces import services as groups
from dockyard.notes.models import Note
from dockyard.projects import services as projects
from dockyard.webhooks import services
from dockyard.webhooks.models import WebHook
from dockyard.webhooks.payloads import issue as issue_payloads
from dockyard.webhooks.payloads import note as note_payloads

BASE = "https://dockyard.example"
# GitLab's Issue Hook example minus the EE-only fields (health_status, escalation_*), plus closed_at.
ISSUE_ATTRS = {
    "id", "title", "assignee_ids", "assignee_id", "author_id", "project_id", "created_at", "updated_at",
    "updated_by_id", "last_edited_at", "last_edited_by_id", "relative_position", "description", "milestone_id",
    "state_id", "confidential", "discussion_locked", "due_date", "moved_to_id", "duplicated_to_id",
    "time_estimate", "total_time_spent", "time_change", "human_total_time_spent", "human_time_estimate",
    "human_time_change", "weight", "type", "iid", "url", "state", "action", "severity", "labels", "closed_at",
}  # fmt: skip
NOTE_ATTRS = {
    "id", "note", "noteable_type", "author_id", "created_at", "updated_at", "project_id", "attachment",
    "line_code", "commit_id", "noteable_id", "system", "st_diff", "action", "url",
}  # fmt: skip
LABEL_KEYS = {
    "id", "title", "color", "project_id", "created_at", "updated_at", "template", "description", "type", "group_id"
}  # fmt: skip


@pytest.fixture
def world(db: None) -> dict[str, Any]:
    owner = accounts.user_create(username="hooker", email="h@example.com", name="Hook Er")
    group = groups.group_create(actor=owner, name="Grp", path="grp")
    project = projects.project_create(actor=owner, namespace=group, name="proj")
    return {"owner": owner, "group": group, "project": project}


def test_issue_payload(world: dict[str, Any]) -> None:
    owner, project = world["owner"], world["project"]
    issue = issues.issue_create(actor=owner, project=project, title="Broken", labels=["bug"], assignee_ids=[owner.id])
    data = issue_payloads.build(issue=issue, user=owner, action="open", base=BASE)
    assert set(data) == {
        "object_kind", "event_type", "user", "project", "object_attributes", "labels", "changes", "repository",
        "assignees", "assignee",
    }  # fmt: skip
    assert data["object_kind"] == "issue" and data["event_type"] == "issue"
    assert set(data["object_attributes"]) == ISSUE_ATTRS
    attrs = data["object_attributes"]
    assert attrs["iid"] == issue.iid and attrs["action"] == "open" and attrs["state"] == "opened"
    assert attrs["url"] == f"{BASE}/grp/proj/-/issues/{issue.iid}"
    assert attrs["assignee_ids"] == [owner.id] and attrs["assignee_id"] == owner.id
    assert attrs["created_at"].endswith("Z") and attrs["type"] == "Issue"
    assert [set(label) for label in data["labels"]] == [LABEL_KEYS] and data["labels"][0]["title"] == "bug"
    assert set(data["user"]) == {"id", "name", "username", "avatar_url", "email"}
    assert data["user"]["email"] == "[REDACTED]"  # no public email
    assert set(data["repository"]) == {"name", "url", "description", "homepage"}


def test_note_payload(world: dict[str, Any]) -> None:
    owner, project = world["owner"], world["project"]
    issue = issues.issue_create(actor=owner, project=project, title="Ask", confidential=True)
    note = issues.issue_note_create(actor=owner, issue=issue, body="Hello world")
    assert isinstance(note, Note)
    data = note_payloads.build(note=note, user=owner, action="create", base=BASE)
    assert set(data) == {"object_kind", "event_type", "user", "project_id", "project", "repository",
                         "object_attributes", "issue"}  # fmt: skip
    assert data["event_type"] == "confidential_note"  # a comment on a confidential issue
    assert set(data["object_attributes"]) == NOTE_ATTRS
    assert data["object_attributes"]["url"].endswith(f"/-/issues/{issue.iid}#note_{note.id}")
    assert data["object_attributes"]["created_at"].endswith(" UTC")
    assert data["issue"]["iid"] == issue.iid


@pytest.fixture
def receiver() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    got: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            got.append((f"{self.path} {self.headers['X-Gitlab-Event']}", body))
            self.send_response(204)
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    got.append((str(httpd.server_address[1]), {}))
    yield got
    httpd.shutdown()


def test_confidential_events_reach_only_hooks_that_asked(
    world: dict[str, Any],
    receiver: list[tuple[str, dict[str, Any]]],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    owner, project, group = world["owner"], world["project"], world["group"]
    port = receiver.pop(0)[0]
    instance_settings_update(allow_local_requests_from_web_hooks_and_services=True)
    url = f"http://127.0.0.1:{port}"
    services.hook_create(kind=WebHook.Kind.PROJECT, project=project, url=f"{url}/plain", issues_events=True)
    services.hook_create(
        kind=WebHook.Kind.GROUP, group=group, url=f"{url}/secret", issues_events=True, confidential_issues_events=True
    )
    public = issues.issue_create(actor=owner, project=project, title="Open")
    secret = issues.issue_create(actor=owner, project=project, title="Hidden", confidential=True)

    def builder(issue: Any) -> Callable[[str], dict[str, Any]]:
        def build(base: str) -> dict[str, Any]:
            return issue_payloads.build(issue=issue, user=owner, action="open", base=base)

        return build

    with django_capture_on_commit_callbacks(execute=True):
        for issue in (public, secret):
            scope = "confidential_issue_hooks" if issue.confidential else "issue_hooks"
            services.hook_event_emit(project=project, scope=scope, payload_builder=builder(issue))
    seen = sorted((where, body["object_attributes"]["title"]) for where, body in receiver)
    assert seen == [
        ("/plain Issue Hook", "Open"),
        ("/secret Confidential Issue Hook", "Hidden"),
        ("/secret Issue Hook", "Open"),
    ]
