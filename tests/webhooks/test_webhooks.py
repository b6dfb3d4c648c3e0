"""Web hooks end to end: a live ``dockyard serve`` with its worker, real git pushes, and a real HTTP
receiver on 127.0.0.1 in this process (local requests allowed through the settings API)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import gitlab
import pytest
import requests

from tests.conftest import BACKEND
from tests.git.conftest import Account, Git
from tests.live import LiveServer

# The keys and JSON types of GitLab's documented Push Hook example (webhook_events.md), ``message`` and
# ``push_options`` from the hook events API example.
PUSH_KEYS: dict[str, type | tuple[type, ...]] = {
    "object_kind": str,
    "event_name": str,
    "before": str,
    "after": str,
    "ref": str,
    "ref_protected": bool,
    "checkout_sha": str,
    "message": (str, type(None)),
    "user_id": int,
    "user_name": str,
    "user_username": str,
    "user_email": (str, type(None)),
    "user_avatar": (str, type(None)),
    "project_id": int,
    "project": dict,
    "commits": list,
    "total_commits_count": int,
    "push_options": dict,
    "repository": dict,
}
PROJECT_KEYS = {
    "id": int,
    "name": str,
    "description": str,
    "web_url": str,
    "avatar_url": type(None),
    "git_ssh_url": str,
    "git_http_url": str,
    "namespace": str,
    "visibility_level": int,
    "path_with_namespace": str,
    "default_branch": str,
    "ci_config_path": type(None),
    "homepage": str,
    "url": str,
    "ssh_url": str,
    "http_url": str,
}
REPOSITORY_KEYS = {
    "name": str,
    "url": str,
    "description": str,
    "homepage": str,
    "git_http_url": str,
    "git_ssh_url": str,
    "visibility_level": int,
}
COMMIT_KEYS = {
    "id": str,
    "message": str,
    "title": str,
    "timestamp": str,
    "url": str,
    "author": dict,
    "added": list,
    "modified": list,
    "removed": list,
}


def assert_shape(data: dict[str, Any], keys: dict[str, Any]) -> None:
    assert set(data) == set(keys), set(data) ^ set(keys)
    for key, kind in keys.items():
        assert isinstance(data[key], kind), (key, data[key])


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """A web hook receiver. ``status[path]`` sets the answer for a path (200 by default)."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def wait(self, path: str, count: int = 1, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.at(path)
            if len(got) >= count:
                return got
            time.sleep(0.1)
        raise AssertionError(f"{path}: {len(self.at(path))} of {count} deliveries after {timeout}s")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            with state.lock:
                state.requests.append(Received(self.path, dict(self.headers.items()), body))
            code = state.status.get(self.path, 200)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}' if code < 400 else b'{"error": "boom"}')

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield state
    httpd.shutdown()


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    # Short retry delays so a failing receiver is retried within the test.
    server = LiveServer(backend=BACKEND, extra_env={"DOCKYARD_WEBHOOK_RETRY_DELAYS": "0.3,0.3"}).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def root(live_server: LiveServer) -> gitlab.Gitlab:
    gl = gitlab.Gitlab(live_server.url, private_token=live_server.root_token)
    gl.auth()
    return gl


@pytest.fixture(scope="module")
def api(live_server: LiveServer) -> Callable[..., requests.Response]:
    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"PRIVATE-TOKEN": live_server.root_token}
        return requests.request(method, f"{live_server.url}/api/v4{path}", headers=headers, timeout=60, **kwargs)

    return call


@pytest.fixture(scope="module", autouse=True)
def allow_local(api: Callable[..., requests.Response]) -> None:
    answer = api("PUT", "/application/settings", json={"allow_local_requests_from_web_hooks_and_services": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["allow_local_requests_from_web_hooks_and_services"] is True


@pytest.fixture
def git(tmp_path: Path) -> Git:
    home = tmp_path / "home"
    home.mkdir()
    g = Git(home)
    g.run("config", "--global", "init.defaultBranch", "main")
    return g


@pytest.fixture
def owner(root: gitlab.Gitlab) -> Account:
    username = f"hooks-{secrets.token_hex(3)}"
    password = "pw-" + secrets.token_hex(8)
    user = root.users.create(
        {"username": username, "email": f"{username}@example.com", "name": "Hook Owner", "password": password}
    )
    token = user.personal_access_tokens.create({"name": "git", "scopes": ["api"]})
    return Account(username, password, token.token, user.id)


def _project(root: gitlab.Gitlab, owner: Account, *, readme: bool = True) -> Any:
    group = root.groups.create({"name": f"H{secrets.token_hex(3)}", "path": f"h-{secrets.token_hex(3)}"})
    group.members.create({"user_id": owner.user_id, "access_level": 50})
    return root.projects.create(
        {"name": f"hooked-{secrets.token_hex(3)}", "namespace_id": group.id, "initialize_with_readme": readme}
    )


def test_push_and_tag_push_payloads(
    root: gitlab.Gitlab, live_server: LiveServer, receiver: Receiver, git: Git, owner: Account, tmp_path: Path
) -> None:
    project = _project(root, owner, readme=False)
    hook = project.hooks.create(
        {"url": receiver.url("/push"), "push_events": True, "tag_push_events": True, "token": "s3cret"}
    )
    assert "token" not in hook.attributes and hook.token_present is True
    assert "token" not in project.hooks.get(hook.id).attributes
    assert all("token" not in h.attributes for h in project.hooks.list())

    work = tmp_path / "work"
    git.run("clone", owner.url(live_server, project.path_with_namespace), str(work))
    first = git.commit(work, "README.md", "# hi\n", "Add readme\n\nWith a body.")
    (work / "gone.txt").write_text("x")
    git.run("add", "gone.txt", cwd=work)
    git.run("commit", "-q", "-m", "Add gone", cwd=work)
    git.run("rm", "-q", "gone.txt", cwd=work)
    (work / "README.md").write_text("# hello\n")
    git.run("commit", "-qam", "Edit readme, drop gone", cwd=work)
    head = git.run("rev-parse", "HEAD", cwd=work).stdout.strip()
    git.run("push", "-q", "origin", "main", cwd=work)

    (delivery,) = receiver.wait("/push")
    assert delivery.headers["X-Gitlab-Event"] == "Push Hook"
    assert delivery.headers["X-Gitlab-Token"] == "s3cret"
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers["User-Agent"].startswith("GitLab/")
    assert delivery.headers["X-Gitlab-Instance"].startswith("http")
    for name in ("X-Gitlab-Event-UUID", "X-Gitlab-Webhook-UUID", "Idempotency-Key"):
        assert len(delivery.headers[name]) == 36
    data = delivery.body
    assert_shape(data, PUSH_KEYS)
    assert_shape(data["project"], PROJECT_KEYS)
    assert_shape(data["repository"], REPOSITORY_KEYS)
    assert data["object_kind"] == data["event_name"] == "push"
    assert data["before"] == "0" * 40 and data["after"] == head and data["checkout_sha"] == head
    assert data["ref"] == "refs/heads/main" and data["ref_protected"] is True
    assert data["user_username"] == owner.username and data["user_id"] == owner.user_id
    assert data["project_id"] == project.id and data["project"]["path_with_namespace"] == project.path_with_namespace
    assert data["total_commits_count"] == 3 and len(data["commits"]) == 3
    for commit in data["commits"]:
        assert_shape(commit, COMMIT_KEYS)
        assert set(commit["author"]) == {"name", "email"}
    oldest, middle, newest = data["commits"]  # newest last
    assert oldest["id"] == first and oldest["title"] == "Add readme" and oldest["added"] == ["README.md"]
    assert oldest["message"].startswith("Add readme\n\nWith a body.")
    assert middle["added"] == ["gone.txt"]
    assert newest["id"] == head and newest["modified"] == ["README.md"] and newest["removed"] == ["gone.txt"]
    assert newest["url"].endswith(f"/{project.path_with_namespace}/-/commit/{head}")
    assert newest["timestamp"][10] == "T" and newest["author"]["email"] == "tester@example.com"

    git.run("tag", "-a", "v1.0", "-m", "Release 1.0", cwd=work)
    git.run("push", "-q", "origin", "v1.0", cwd=work)
    (tag,) = receiver.wait("/push", 2)[1:]
    assert tag.headers["X-Gitlab-Event"] == "Tag Push Hook"
    data = tag.body
    assert_shape(data, PUSH_KEYS)
    assert data["object_kind"] == data["event_name"] == "tag_push"
    assert data["ref"] == "refs/tags/v1.0" and data["before"] == "0" * 40
    assert data["checkout_sha"] == head and data["after"] != head  # an annotated tag: the tag object
    assert data["message"] == "Release 1.0" and data["ref_protected"] is False

    events = project.hooks.get(hook.id).manager.gitlab.http_get(f"/projects/{project.id}/hooks/{hook.id}/events")
    assert [e["trigger"] for e in events] == ["tag_push_hooks", "push_hooks"]
    assert events[0]["request_headers"]["X-Gitlab-Token"] == "[REDACTED]"
    assert events[0]["response_status"] == "200" and events[0]["response_body"] == '{"ok": true}'


def test_branch_filter(root: gitlab.Gitlab, receiver: Receiver, owner: Account) -> None:
    project = _project(root, owner)
    project.hooks.create({"url": receiver.url("/all"), "push_events": True})
    project.hooks.create(
        {"url": receiver.url("/release"), "push_events": True, "push_events_branch_filter": "release/*"}
    )
    project.files.create(
        {"file_path": "a.txt", "branch": "main", "content": "a", "commit_message": "a", "author_name": "A"}
    )
    project.branches.create({"branch": "feature/x", "ref": "main"})
    project.branches.create({"branch": "release/1.0", "ref": "main"})
    receiver.wait("/all", 3)
    (release,) = receiver.wait("/release", 1)
    time.sleep(1)
    assert [r.body["ref"] for r in receiver.at("/release")] == ["refs/heads/release/1.0"]
    assert release.body["total_commits_count"] == 0 and release.body["commits"] == []


def test_system_hook_for_project_create(root: gitlab.Gitlab, receiver: Receiver, owner: Account) -> None:
    hook = root.hooks.create({"url": receiver.url("/system"), "token": "sys"})
    try:
        project = _project(root, owner)
        username = f"sys-{secrets.token_hex(3)}"
        root.users.create(
            {
                "username": username,
                "email": f"{username}@example.com",
                "name": "S",
                "password": "pw-" + secrets.token_hex(8),
            }
        )
        events = [r for r in receiver.wait("/system", 3) if r.body.get("event_name") == "project_create"]
        (created,) = [e for e in events if e.body["project_id"] == project.id]
        assert created.headers["X-Gitlab-Event"] == "System Hook" and created.headers["X-Gitlab-Token"] == "sys"
        assert set(created.body) == {
            "created_at",
            "updated_at",
            "event_name",
            "name",
            "owner_email",
            "owner_name",
            "owners",
            "path",
            "path_with_namespace",
            "project_id",
            "project_namespace_id",
            "project_visibility",
        }
        assert created.body["path_with_namespace"] == project.path_with_namespace
        assert created.body["project_visibility"] == "private"
        assert created.body["created_at"].endswith("Z")
        assert any(r.body.get("event_name") == "group_create" for r in receiver.at("/system"))
        (user,) = [r.body for r in receiver.at("/system") if r.body.get("event_name") == "user_create"]
        assert user["username"] == username and set(user) == {
            "created_at",
            "updated_at",
            "email",
            "event_name",
            "name",
            "username",
            "user_id",
        }
    finally:
        hook.delete()


def test_failing_receiver_is_retried_then_disabled_and_resend_works(
    root: gitlab.Gitlab, api: Callable[..., requests.Response], receiver: Receiver, owner: Account
) -> None:
    project = _project(root, owner)
    receiver.status["/fail"] = 500
    hook = project.hooks.create({"url": receiver.url("/fail"), "push_events": True})
    commit = {"branch": "main", "content": "x", "commit_message": "x", "author_name": "A"}
    project.files.create({"file_path": "one.txt", **commit})
    receiver.wait("/fail", 3)  # the first attempt and two retries
    assert project.hooks.get(hook.id).alert_status == "executable"  # 3 failures: still within the grace
    project.files.create({"file_path": "two.txt", **commit})
    receiver.wait("/fail", 4)
    deadline = time.monotonic() + 30
    while project.hooks.get(hook.id).alert_status != "temporarily_disabled" and time.monotonic() < deadline:
        time.sleep(0.2)
    disabled = project.hooks.get(hook.id)
    assert disabled.alert_status == "temporarily_disabled" and disabled.disabled_until is not None
    time.sleep(1.5)
    assert len(receiver.at("/fail")) == 4  # the 4th failure disabled it: no further retries
    project.files.create({"file_path": "three.txt", **commit})
    time.sleep(2)
    assert len(receiver.at("/fail")) == 4  # a disabled hook gets nothing

    events = api("GET", f"/projects/{project.id}/hooks/{hook.id}/events").json()
    assert len(events) == 4 and {e["response_status"] for e in events} == {"500"}
    assert api("GET", f"/projects/{project.id}/hooks/{hook.id}/events?status=server_failure").json() == events
    assert api("GET", f"/projects/{project.id}/hooks/{hook.id}/events?status=successful").json() == []

    receiver.status["/fail"] = 200
    resent = api("POST", f"/projects/{project.id}/hooks/{hook.id}/events/{events[-1]['id']}/resend")
    assert resent.status_code == 201 and resent.json() == {"response_status": 200}
    assert receiver.at("/fail")[-1].body == events[-1]["request_data"]
    assert project.hooks.get(hook.id).alert_status == "executable"  # a success re-enables it

    receiver.status["/fail"] = 500
    failed_test = api("POST", f"/projects/{project.id}/hooks/{hook.id}/test/push_events")
    assert failed_test.status_code == 422
    receiver.status["/fail"] = 200
    ok = api("POST", f"/projects/{project.id}/hooks/{hook.id}/test/push_events")
    assert ok.status_code == 201 and ok.json() == {"message": "201 Created"}
    sample = receiver.at("/fail")[-1]
    assert sample.headers["X-Gitlab-Event"] == "Push Hook" and sample.body["object_kind"] == "push"
    assert api("POST", f"/projects/{project.id}/hooks/{hook.id}/test/bogus").status_code == 400
    no_issues = api("POST", f"/projects/{project.id}/hooks/{hook.id}/test/issues_events")
    assert no_issues.status_code == 422 and no_issues.json() == {"message": "Ensure the project has issues."}


def test_local_urls_are_refused_when_saved(
    root: gitlab.Gitlab, api: Callable[..., requests.Response], receiver: Receiver, owner: Account
) -> None:
    project = _project(root, owner)
    create = f"/projects/{project.id}/hooks"
    try:
        assert api("PUT", "/application/settings", json={"allow_local_requests_from_web_hooks_and_services": False}).ok
        metadata = api("POST", create, json={"url": "http://169.254.169.254/latest/meta-data"})
        assert metadata.status_code == 400
        assert metadata.json() == {
            "message": {"url": ["is blocked: Requests to the link local network are not allowed"]}
        }
        refused = api("POST", create, json={"url": receiver.url("/local")})
        assert refused.status_code == 400
        assert refused.json() == {"message": {"url": ["is blocked: Requests to localhost are not allowed"]}}
        listed = api("PUT", "/application/settings", json={"outbound_local_requests_whitelist": ["127.0.0.1"]})
        assert listed.json()["outbound_local_requests_whitelist"] == ["127.0.0.1"]
        assert api("POST", create, json={"url": receiver.url("/local")}).status_code == 201
        assert api("POST", create, json={"url": "http://10.0.0.1/"}).status_code == 400
    finally:
        api(
            "PUT",
            "/application/settings",
            json={"allow_local_requests_from_web_hooks_and_services": True, "outbound_local_requests_whitelist": []},
        )
    user = root.users.create(
        {
            "username": f"n-{secrets.token_hex(3)}",
            "email": f"n{secrets.token_hex(3)}@example.com",
            "name": "N",
            "password": "pw-" + secrets.token_hex(8),
        }
    )
    user_token = user.personal_access_tokens.create({"name": "t", "scopes": ["api"]}).token
    plain = requests.get(f"{root.url}/api/v4/application/settings", headers={"PRIVATE-TOKEN": user_token}, timeout=30)
    assert plain.status_code == 403


def test_a_burst_of_pushes_loses_nothing(root: gitlab.Gitlab, receiver: Receiver, owner: Account) -> None:
    project = _project(root, owner)
    project.files.create(
        {"file_path": "a.txt", "branch": "main", "content": "a", "commit_message": "a", "author_name": "A"}
    )
    project.hooks.create({"url": receiver.url("/burst"), "push_events": True})
    for n in range(100):
        project.branches.create({"branch": f"b{n}", "ref": "main"})
    got = receiver.wait("/burst", 100, timeout=240)
    assert sorted(r.body["ref"] for r in got) == sorted(f"refs/heads/b{n}" for n in range(100))


def test_issue_and_note_events_reach_hooks_that_asked(root: gitlab.Gitlab, receiver: Receiver, owner: Account) -> None:
    """Issue Hook on open/update/close, Note Hook on a comment; confidential ones only to hooks that asked."""
    project = _project(root, owner)
    project.hooks.create(
        {"url": receiver.url("/issues"), "push_events": False, "issues_events": True, "note_events": True}
    )
    project.hooks.create(
        {
            "url": receiver.url("/confidential"),
            "push_events": False,
            "confidential_issues_events": True,
            "confidential_note_events": True,
        }
    )
    issue = project.issues.create({"title": "Broken build"})
    issue.description = "details"
    issue.save()
    issue.notes.create({"body": "looking into it"})
    issue.state_event = "close"
    issue.save()
    got = receiver.wait("/issues", 4)
    kinds = [(r.headers.get("X-Gitlab-Event"), r.body["object_kind"]) for r in got]
    assert ("Issue Hook", "issue") in kinds and ("Note Hook", "note") in kinds
    actions = [r.body["object_attributes"].get("action") for r in got if r.body["object_kind"] == "issue"]
    assert actions[:3] == ["open", "update", "close"]
    note = next(r.body for r in got if r.body["object_kind"] == "note")
    assert note["object_attributes"]["note"] == "looking into it" and note["issue"]["iid"] == issue.iid

    secret = project.issues.create({"title": "Security hole", "confidential": True})
    (confidential,) = receiver.wait("/confidential", 1)
    assert confidential.body["event_type"] == "confidential_issue"
    assert confidential.body["object_attributes"]["iid"] == secret.iid
    time.sleep(1)
    assert all(r.body["object_attributes"].get("iid") != secret.iid for r in receiver.at("/issues"))
