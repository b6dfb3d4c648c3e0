"""Forks driven by python-gitlab and real git against a live ``dockyard serve``: forking, the fork
relation endpoints, permissions and visibility, and a merge request from a fork that is refreshed by a
push to the fork, rebased (the fork's branch rewritten) and merged into the upstream."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gitlab
import pytest
import requests
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dockyard.accounts import services as accounts
from dockyard.core.visibility import Visibility
from dockyard.namespaces import services as groups
from dockyard.permissions import services as members
from dockyard.projects import services as projects
from tests.api.test_gitlab_client import _name
from tests.api.test_merge_requests import _commit
from tests.git import conftest as git_fixtures
from tests.git.conftest import Account, Git
from tests.live import LiveServer

GUEST, REPORTER = 10, 20
git = git_fixtures.git
make_user = git_fixtures.make_user


def _upstream(root: gitlab.Gitlab, visibility: str = "public") -> Any:
    group = root.groups.create({"name": _name("Up"), "path": _name("up"), "visibility": visibility})
    return root.projects.create(
        {
            "name": _name("lib"),
            "namespace_id": group.id,
            "initialize_with_readme": True,
            "visibility": visibility,
        }
    )


def _settled(project: Any, iid: int) -> Any:
    """The merge request once its background mergeability check has run (patient: the machine is shared)."""
    deadline = time.monotonic() + 30
    while True:
        mr = project.mergerequests.get(iid)
        if mr.detailed_merge_status not in ("checking", "unchecked") or time.monotonic() > deadline:
            return mr
        time.sleep(0.05)


def _client(root: gitlab.Gitlab, account: Account) -> gitlab.Gitlab:
    return gitlab.Gitlab(root.url, private_token=account.token)


def _api(root: gitlab.Gitlab, account: Account, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(
        method, f"{root.url}/api/v4/{path}", headers={"PRIVATE-TOKEN": account.token}, timeout=30, **kw
    )


def _push_branch(git: Git, server: LiveServer, account: Account, path: str, work: Path, branch: str) -> str:
    """Clone ``path`` with real git, commit a file on a new ``branch`` and push it; the new head."""
    git.run("clone", "-q", account.url(server, path), str(work))
    git.run("checkout", "-q", "-b", branch, cwd=work)
    head = git.commit(work, f"{branch}.txt", f"from the fork: {branch}\n", f"Add {branch}.txt")
    git.run("push", "-q", "origin", branch, cwd=work)
    return head


def test_merge_request_from_a_fork_is_refreshed_rebased_and_merged(
    root: gitlab.Gitlab, live_server: LiveServer, git: Git, make_user: Callable[[str], Account], tmp_path: Path
) -> None:
    upstream = _upstream(root)
    outsider = make_user("contrib")
    gl = _client(root, outsider)

    fork = gl.projects.get(upstream.id).forks.create({})
    assert fork.forked_from_project["id"] == upstream.id
    assert fork.namespace["path"] == outsider.username and fork.visibility == "public"
    assert root.projects.get(upstream.id).forks_count == 1
    assert [p.id for p in root.projects.get(upstream.id).forks.list()] == [fork.id]

    work = tmp_path / "fork"
    head = _push_branch(git, live_server, outsider, fork.path_with_namespace, work, "feature")
    mine = gl.projects.get(fork.id)
    mr = mine.mergerequests.create(
        {"source_branch": "feature", "target_branch": "main", "title": "Contribute", "target_project_id": upstream.id}
    )
    assert (mr.project_id, mr.source_project_id, mr.target_project_id) == (upstream.id, fork.id, upstream.id)
    assert mr.sha == head
    # The upstream keeps the fork's head as GitLab does, and no client may move it.
    upstream_url = (
        f"http://root:{live_server.root_token}@127.0.0.1:{live_server.port}/{upstream.path_with_namespace}.git"
    )
    mr_ref = f"refs/merge-requests/{mr.iid}/head"
    assert git.run("ls-remote", upstream_url, mr_ref, cwd=work).stdout.split() == [head, mr_ref]
    tamper = git.run("push", "--force", upstream_url, f"HEAD~1:{mr_ref}", cwd=work, check=False)
    assert tamper.returncode != 0 and "hidden ref" in tamper.stderr

    # The merge request lives upstream: its diff and commits are read there.
    target = root.projects.get(upstream.id)
    changes: Any = target.mergerequests.get(mr.iid).changes()
    assert [c["new_path"] for c in changes["changes"]] == ["feature.txt"]
    assert [c.id for c in target.mergerequests.get(mr.iid).commits()] == [head]

    # A push to the fork's branch refreshes it.
    head = git.commit(work, "feature.txt", "from the fork: feature, improved\n", "Improve feature.txt")
    git.run("push", "-q", "origin", "feature", cwd=work)
    settled = _settled(target, mr.iid)
    assert settled.sha == head and settled.detailed_merge_status == "mergeable"
    assert len(target.mergerequests.get(mr.iid).diffs.list()) == 2

    # The contributor cannot merge upstream; a maintainer can, and upstream's main gets the commit.
    with pytest.raises(gitlab.GitlabAuthenticationError):  # GitLab answers 401 here
        gl.projects.get(upstream.id, lazy=True).mergerequests.get(mr.iid, lazy=True).merge()
    merged = target.mergerequests.get(mr.iid)
    merged.merge(sha=head)
    assert target.mergerequests.get(mr.iid).state == "merged"
    assert target.files.get("feature.txt", ref="main").decode() == b"from the fork: feature, improved\n"

    # Fast-forward only upstream, and upstream moved: the contributor rebases, which rewrites the fork's
    # branch, then the maintainer merges by fast-forward.
    target.merge_method = "ff"
    target.save()
    _push_branch(git, live_server, outsider, fork.path_with_namespace, tmp_path / "fork2", "second")
    mr2 = mine.mergerequests.create(
        {"source_branch": "second", "target_branch": "main", "title": "Second", "target_project_id": upstream.id}
    )
    upstream_head = _commit(target, "main", {"upstream.txt": "moved on\n"}, "Upstream moves on")
    assert _settled(target, mr2.iid).detailed_merge_status == "need_rebase"
    gl.projects.get(upstream.id).mergerequests.get(mr2.iid).rebase()
    rebased = mine.branches.get("second").commit
    assert rebased["parent_ids"] == [upstream_head]
    ready = _settled(target, mr2.iid)
    assert ready.sha == rebased["id"] and ready.detailed_merge_status == "mergeable"
    target.mergerequests.get(mr2.iid).merge()
    assert target.branches.get("main").commit["id"] == rebased["id"]


def test_fork_permissions_visibility_and_relations(
    root: gitlab.Gitlab, live_server: LiveServer, make_user: Callable[[str], Account]
) -> None:
    secret = _upstream(root, "private")
    outsider, guest, reporter = make_user("out"), make_user("guest"), make_user("rep")
    secret.members.create({"user_id": guest.user_id, "access_level": GUEST})
    secret.members.create({"user_id": reporter.user_id, "access_level": REPORTER})

    # Who may not see the code may not fork it: 404, as for a project they cannot see; 401 signed out.
    for account in (outsider, guest):
        refused = _api(root, account, "POST", f"projects/{secret.id}/fork")
        assert refused.status_code == 404, refused.text
    assert requests.post(f"{root.url}/api/v4/projects/{secret.id}/fork", timeout=30).status_code == 401

    # A reporter may; asking for a public fork of a private project still gives a private one.
    fork = _api(root, reporter, "POST", f"projects/{secret.id}/fork", json={"visibility": "public", "branches": "main"})
    assert fork.status_code == 201, fork.text
    body = fork.json()
    assert body["visibility"] == "private" and body["forked_from_project"]["id"] == secret.id
    branches = _api(root, reporter, "GET", f"projects/{body['id']}/repository/branches").json()
    assert [b["name"] for b in branches] == ["main"]
    # The outsider cannot see the private fork either.
    assert _api(root, outsider, "GET", f"projects/{body['id']}").status_code == 404

    # Same place again: 409 with the field errors; a group they cannot create in: 404 Target Namespace.
    again = _api(root, reporter, "POST", f"projects/{secret.id}/fork")
    assert again.status_code == 409 and "has already been taken" in str(again.json()["message"])
    other = root.groups.create({"name": _name("Other"), "path": _name("other")})
    elsewhere = _api(root, reporter, "POST", f"projects/{secret.id}/fork", json={"namespace_id": other.id})
    assert elsewhere.status_code == 404 and elsewhere.json()["message"] == "404 Namespace Not Found"
    other.members.create({"user_id": reporter.user_id, "access_level": GUEST})
    elsewhere = _api(root, reporter, "POST", f"projects/{secret.id}/fork", json={"namespace_path": other.full_path})
    assert elsewhere.status_code == 404 and elsewhere.json()["message"] == "404 Target Namespace Not Found"

    # A merge request from the fork into a project outside its fork network is refused.
    unrelated = _upstream(root)
    refused = _api(
        root,
        reporter,
        "POST",
        f"projects/{body['id']}/merge_requests",
        json={"source_branch": "main", "target_branch": "main", "title": "x", "target_project_id": unrelated.id},
    )
    assert refused.status_code == 400 and "validate_fork" in refused.json()["message"]

    # A reporter of the upstream may propose a change from their fork.
    commit = {
        "branch": "topic",
        "start_branch": "main",
        "commit_message": "Topic",
        "actions": [{"action": "create", "file_path": "topic.txt", "content": "topic\n"}],
    }
    assert _api(root, reporter, "POST", f"projects/{body['id']}/repository/commits", json=commit).status_code == 201
    proposal = {"source_branch": "topic", "target_branch": "main", "title": "Topic", "target_project_id": secret.id}
    opened = _api(root, reporter, "POST", f"projects/{body['id']}/merge_requests", json=proposal)
    assert opened.status_code == 201, opened.text

    # The relation: only owners change it; unlinking twice is 304; linking twice 409. Unlinking closes
    # the fork's merge requests into the upstream, as in GitLab.
    assert _api(root, outsider, "DELETE", f"projects/{body['id']}/fork").status_code == 404
    assert _api(root, reporter, "DELETE", f"projects/{body['id']}/fork").status_code == 204
    assert secret.mergerequests.get(opened.json()["iid"]).state == "closed"
    assert _api(root, reporter, "GET", f"projects/{body['id']}").json()["forked_from_project"] is None
    assert root.projects.get(secret.id).forks_count == 0
    assert _api(root, reporter, "DELETE", f"projects/{body['id']}/fork").status_code == 304
    assert _api(root, reporter, "POST", f"projects/{body['id']}/fork/{secret.id}").status_code == 201
    assert root.projects.get(secret.id).forks_count == 1
    assert _api(root, reporter, "POST", f"projects/{body['id']}/fork/{secret.id}").status_code == 409


def test_deleting_the_source_leaves_the_fork_cloneable(
    root: gitlab.Gitlab, live_server: LiveServer, git: Git, make_user: Callable[[str], Account], tmp_path: Path
) -> None:
    source = _upstream(root)
    _commit(source, "main", {"big.txt": "x" * 10000}, "A file worth keeping")
    user = make_user("keeper")
    fork = _client(root, user).projects.get(source.id).forks.create({"name": "kept", "path": "kept"})
    assert fork.path == "kept"
    source.delete()
    clone = tmp_path / "clone"
    git.run("clone", "-q", user.url(live_server, fork.path_with_namespace), str(clone))
    assert (clone / "big.txt").read_text() == "x" * 10000
    git.run("fsck", "--strict", cwd=clone)
    assert _client(root, user).projects.get(fork.id).forked_from_project is None


@pytest.mark.django_db
def test_forks_list_queries_do_not_grow_with_rows() -> None:
    owner = accounts.user_create(username="fork-owner", email="fork-owner@example.com", name="Owner")
    viewer = accounts.user_create(username="fork-viewer", email="fork-viewer@example.com", name="Viewer")
    _, token = accounts.token_create(user=viewer, name="api", scopes=["api"])
    group = groups.group_create(actor=owner, name="Forked", path="forked")
    source = projects.project_create(actor=owner, namespace=group, name="src", visibility=Visibility.PRIVATE)
    members.member_add(actor=owner, source=source, user=viewer, access_level=REPORTER)

    def add_forks(n: int) -> None:
        for _ in range(n):
            name = f"f{secrets.token_hex(3)}"
            user = accounts.user_create(username=name, email=f"{name}@example.com", name=name)
            members.member_add(actor=owner, source=source, user=user, access_level=REPORTER)
            fork = projects.project_fork(actor=user, source=source)
            members.member_add(actor=user, source=fork, user=viewer, access_level=REPORTER)

    client = Client()
    url = f"/api/v4/projects/{source.id}/forks"

    def count() -> int:
        client.get(url, HTTP_PRIVATE_TOKEN=token)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url, HTTP_PRIVATE_TOKEN=token)
        assert response.status_code == 200
        assert all(p["forked_from_project"]["id"] == source.id for p in response.json())
        return len(ctx.captured_queries)

    add_forks(2)
    small = count()
    add_forks(5)
    assert count() == small
