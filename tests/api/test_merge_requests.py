"""Merge requests driven by python-gitlab and real git against a live ``dockyard serve``: changes, diff
threads, approvals, every merge method, squash, rebase, conflicts, stale heads, permissions and races."""

from __future__ import annotations

import secrets
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gitlab
import pytest
import requests

from tests.api.test_gitlab_client import _name, _user
from tests.git import conftest as git_fixtures
from tests.git.conftest import Account, Git
from tests.live import LiveServer

REPORTER, DEVELOPER, MAINTAINER = 20, 30, 40
git = git_fixtures.git  # the real-git fixtures of tests/git, used here too
make_user = git_fixtures.make_user


def _project(root: gitlab.Gitlab, **attrs: Any) -> gitlab.v4.objects.Project:
    group = root.groups.create({"name": _name("MR"), "path": _name("mr")})
    return root.projects.create(
        {"name": f"repo-{secrets.token_hex(3)}", "namespace_id": group.id, "initialize_with_readme": True, **attrs}
    )


def _commit(project: Any, branch: str, files: dict[str, str], message: str, *, start: str | None = None) -> str:
    """A commit through the commits API (creating ``branch`` from ``start`` when given)."""
    existing = {f["path"] for f in project.repository_tree(ref=start or branch, get_all=True, recursive=True)}
    actions = [
        {"action": "update" if path in existing else "create", "file_path": path, "content": content}
        for path, content in files.items()
    ]
    data: dict[str, Any] = {"branch": branch, "commit_message": message, "actions": actions}
    if start:
        data["start_branch"] = start
    return str(project.commits.create(data).id)


def _settled(project: Any, iid: int) -> Any:
    """python-gitlab's own fixture pattern: poll until the mergeability check has run."""
    deadline = time.monotonic() + 30  # generous: the check runs in the worker, which a loaded machine slows
    while time.monotonic() < deadline:
        mr = project.mergerequests.get(iid)
        if mr.detailed_merge_status not in ("checking", "unchecked"):
            return mr
        time.sleep(0.05)
    raise AssertionError("merge status never settled")


def _http(root: gitlab.Gitlab, token: str | None = None) -> requests.Session:
    session = requests.Session()
    session.headers["PRIVATE-TOKEN"] = token or str(root.private_token)
    return session


def test_changes_line_comment_approve_merge_and_close_issue(root: gitlab.Gitlab) -> None:
    project = _project(root)
    issue = project.issues.create({"title": "Greeting is missing"})
    _commit(project, "feature", {"hello.txt": "hello\n"}, "Add hello", start="main")
    head = _commit(project, "feature", {"hello.txt": "hello\nworld\n"}, "Add world")

    mr = project.mergerequests.create(
        {
            "source_branch": "feature",
            "target_branch": "main",
            "title": "Add a greeting",
            "description": f"Closes #{issue.iid}",
            "remove_source_branch": True,
        }
    )
    assert mr.iid == 1 and mr.state == "opened" and mr.source_branch == "feature" and mr.sha == head
    assert mr.references["full"] == f"{project.path_with_namespace}!1"
    assert mr.web_url.endswith(f"/{project.path_with_namespace}/-/merge_requests/1")
    mr = _settled(project, 1)
    assert (mr.merge_status, mr.detailed_merge_status, mr.has_conflicts) == ("can_be_merged", "mergeable", False)

    changes = mr.changes()
    assert [c["new_path"] for c in changes["changes"]] == ["hello.txt"]
    assert "+world" in changes["changes"][0]["diff"] and changes["changes_count"] == "1"
    assert [c.title for c in mr.commits()] == ["Add world", "Add hello"]
    versions = mr.diffs.list(get_all=True)
    assert len(versions) == 1 and versions[0].head_commit_sha == head
    version = mr.diffs.get(versions[0].id)
    assert [d["new_path"] for d in version.diffs] == ["hello.txt"] and len(version.commits) == 2
    refs = mr.diff_refs
    assert refs["head_sha"] == head and refs["start_sha"] == refs["base_sha"]

    # A line comment: a resolvable diff thread on line 2 of the new file.
    position = {
        "base_sha": refs["base_sha"],
        "start_sha": refs["start_sha"],
        "head_sha": refs["head_sha"],
        "position_type": "text",
        "new_path": "hello.txt",
        "old_path": "hello.txt",
        "new_line": 2,
    }
    thread = mr.discussions.create({"body": "Capitalise this?", "position": position})
    note = thread.attributes["notes"][0]
    assert note["type"] == "DiffNote" and note["resolvable"] and note["resolved"] is False
    assert note["position"]["new_line"] == 2 and note["position"]["new_path"] == "hello.txt"
    assert note["noteable_type"] == "MergeRequest" and note["noteable_iid"] == 1
    thread.notes.create({"body": "Fine as it is."})
    thread.resolved = True
    thread.save()
    assert all(n["resolved"] for n in mr.discussions.get(thread.id).attributes["notes"])
    with pytest.raises(gitlab.GitlabCreateError) as bad:
        mr.discussions.create({"body": "?", "position": {**position, "new_path": "nope.txt", "old_path": "nope.txt"}})
    assert bad.value.response_code == 400

    reviewer, reviewer_gl = _user(root, "reviewer")
    project.members.create({"user_id": reviewer.id, "access_level": DEVELOPER})
    reviewer_gl.projects.get(project.id).mergerequests.get(1).approve(sha=head)
    approvals = mr.approvals.get()
    assert approvals.approved and [a["user"]["username"] for a in approvals.approved_by] == [reviewer.username]
    merged = mr.merge(sha=head)
    assert merged["state"] == "merged" and merged["merged_by"]["username"] == "root"
    mr = project.mergerequests.get(1)
    assert mr.state == "merged" and mr.merged_at and mr.merge_commit_sha
    main = project.commits.get("main")
    assert main.id == mr.merge_commit_sha and main.parent_ids[1] == head
    assert main.message.startswith("Merge branch 'feature' into 'main'")
    assert f"See merge request {project.path_with_namespace}!1" in main.message
    closed = project.issues.get(issue.iid)
    assert closed.state == "closed"
    assert "closed via merge request !1" in [n.body for n in closed.notes.list(get_all=True) if n.system]
    system = [n.body for n in mr.notes.list(get_all=True, sort="asc") if n.system]
    assert "approved this merge request" in system and "merged" in system, system
    with pytest.raises(gitlab.GitlabGetError):
        project.branches.get("feature")  # remove_source_branch
    with pytest.raises(gitlab.GitlabMRClosedError) as again:
        mr.merge()
    assert again.value.response_code == 405


def _setup_two_branches(project: Any) -> None:
    _commit(project, "feature", {"a.txt": "a\n"}, "feature work", start="main")
    _commit(project, "main", {"b.txt": "b\n"}, "main moved on")


def test_semi_linear_needs_rebase_then_merges(root: gitlab.Gitlab) -> None:
    project = _project(root, merge_method="rebase_merge")
    assert root.projects.get(project.id).merge_method == "rebase_merge"
    _setup_two_branches(project)
    mr = project.mergerequests.create({"source_branch": "feature", "target_branch": "main", "title": "Semi"})
    mr = _settled(project, mr.iid)
    assert mr.detailed_merge_status == "need_rebase"
    with pytest.raises(gitlab.GitlabMRClosedError) as refused:
        mr.merge()
    assert refused.value.response_code == 405
    assert mr.rebase() == {"rebase_in_progress": False}
    mr = _settled(project, mr.iid)
    assert mr.detailed_merge_status == "mergeable" and mr.merge_error is None
    assert len(mr.diffs.list(get_all=True)) == 2  # the rebase pushed a new version
    main_before = project.commits.get("main").id
    mr.merge()
    main = project.commits.get("main")
    assert main.parent_ids[0] == main_before and len(main.parent_ids) == 2
    feature_tip = project.commits.get(main.parent_ids[1])
    assert feature_tip.parent_ids == [main_before]  # linear history under the merge commit


def test_fast_forward_and_squash(root: gitlab.Gitlab) -> None:
    project = _project(root)
    project.merge_method = "ff"
    project.save()
    _commit(project, "ff", {"one.txt": "1\n"}, "one", start="main")
    _commit(project, "ff", {"two.txt": "2\n"}, "two")
    head = project.commits.get("ff").id
    mr = project.mergerequests.create({"source_branch": "ff", "target_branch": "main", "title": "FF"})
    mr = _settled(project, mr.iid)
    assert mr.detailed_merge_status == "mergeable"
    mr.merge()
    mr = project.mergerequests.get(mr.iid)
    assert project.commits.get("main").id == head and mr.merge_commit_sha is None

    # Squash with a merge commit: one squash commit, then the merge.
    project.merge_method = "merge"
    project.save()
    _commit(project, "sq", {"x.txt": "x\n"}, "x1", start="main")
    _commit(project, "sq", {"x.txt": "xx\n"}, "x2")
    _commit(project, "sq", {"y.txt": "y\n"}, "y")
    mr = project.mergerequests.create({"source_branch": "sq", "target_branch": "main", "title": "Squashed work"})
    _settled(project, mr.iid)
    mr.merge(squash=True, squash_commit_message="All of it")
    mr = project.mergerequests.get(mr.iid)
    assert mr.squash and mr.squash_commit_sha
    squash = project.commits.get(mr.squash_commit_sha)
    assert squash.message.strip() == "All of it" and squash.parent_ids == [head]
    main = project.commits.get("main")
    assert main.parent_ids == [head, mr.squash_commit_sha]
    assert project.files.get("x.txt", ref="main").decode() == b"xx\n"


def test_conflict_rebase_failure_and_stale_sha(root: gitlab.Gitlab) -> None:
    project = _project(root)
    _commit(project, "left", {"README.md": "left\n"}, "left", start="main")
    _commit(project, "main", {"README.md": "right\n"}, "right")
    mr = project.mergerequests.create({"source_branch": "left", "target_branch": "main", "title": "Clash"})
    mr = _settled(project, mr.iid)
    assert (mr.detailed_merge_status, mr.merge_status, mr.has_conflicts) == ("conflict", "cannot_be_merged", True)
    main = project.commits.get("main").id
    with pytest.raises(gitlab.GitlabMRClosedError) as refused:
        mr.merge()
    assert refused.value.response_code == 422 and "Branch cannot be merged" in str(refused.value.error_message)
    mr.rebase()
    assert "Rebase failed" in project.mergerequests.get(mr.iid).merge_error
    assert project.commits.get("main").id == main

    # A stale sha: 409 and nothing changes.
    _commit(project, "ok", {"ok.txt": "1\n"}, "ok", start="main")
    ok = project.mergerequests.create({"source_branch": "ok", "target_branch": "main", "title": "OK"})
    ok = _settled(project, ok.iid)
    old = ok.sha
    _commit(project, "ok", {"ok.txt": "2\n"}, "ok again")
    with pytest.raises(gitlab.GitlabMRClosedError) as stale:
        ok.merge(sha=old)
    assert stale.value.response_code == 409
    assert "SHA does not match HEAD of source branch" in str(stale.value.error_message)
    assert project.commits.get("main").id == main
    assert project.mergerequests.get(ok.iid).state == "opened"
    with pytest.raises(gitlab.GitlabCreateError) as dup:
        project.mergerequests.create({"source_branch": "ok", "target_branch": "main", "title": "again"})
    assert dup.value.response_code == 409
    assert f"Another open merge request already exists for this source branch: !{ok.iid}" in str(
        dup.value.error_message
    )
    with pytest.raises(gitlab.GitlabCreateError) as missing:
        project.mergerequests.create({"source_branch": "nope", "target_branch": "main", "title": "x"})
    assert missing.value.response_code == 422


def test_permissions_and_required_approvals(root: gitlab.Gitlab) -> None:
    project = _project(root)
    reporter, reporter_gl = _user(root, "rep")
    dev, dev_gl = _user(root, "dev")
    project.members.create({"user_id": reporter.id, "access_level": REPORTER})
    project.members.create({"user_id": dev.id, "access_level": DEVELOPER})
    project.approvals_before_merge = 1
    project.save()
    # Developers may merge into main when its protection lets them.
    project.protectedbranches.delete("main")
    project.protectedbranches.create({"name": "main", "merge_access_level": DEVELOPER, "push_access_level": 40})
    _commit(project, "dev-work", {"d.txt": "d\n"}, "dev work", start="main")
    dev_project = dev_gl.projects.get(project.id)
    mr = dev_project.mergerequests.create({"source_branch": "dev-work", "target_branch": "main", "title": "Dev"})
    mr = _settled(dev_project, mr.iid)
    assert mr.detailed_merge_status == "not_approved"

    rep_mr = reporter_gl.projects.get(project.id).mergerequests.get(mr.iid)
    rep_mr.notes.create({"body": "Looks good to me"})
    with pytest.raises(gitlab.GitlabAuthenticationError):
        rep_mr.merge()
    with pytest.raises(gitlab.GitlabError) as no_approve:
        rep_mr.approve()
    assert no_approve.value.response_code in (401, 403)
    with pytest.raises(gitlab.GitlabError) as own:
        mr.approve()  # the author may not approve their own merge request
    assert own.value.response_code == 401
    with pytest.raises(gitlab.GitlabMRClosedError) as blocked:
        mr.merge()
    assert blocked.value.response_code == 405

    root_mr = project.mergerequests.get(mr.iid)
    root_mr.approve()
    assert _settled(project, mr.iid).detailed_merge_status == "mergeable"
    root_mr.unapprove()
    assert _settled(project, mr.iid).detailed_merge_status == "not_approved"
    r = _http(root).post(
        f"{root.url}/api/v4/projects/{project.id}/merge_requests/{mr.iid}/notes", json={"body": "/approve"}
    )
    assert r.status_code == 202
    mr.merge()
    assert project.mergerequests.get(mr.iid).state == "merged"


def test_draft_quick_actions_and_lists(root: gitlab.Gitlab) -> None:
    project = _project(root)
    dev, _ = _user(root, "rev")
    project.members.create({"user_id": dev.id, "access_level": DEVELOPER})
    _commit(project, "wip", {"w.txt": "w\n"}, "wip", start="main")
    mr = project.mergerequests.create(
        {"source_branch": "wip", "target_branch": "main", "title": "Draft: not yet", "labels": "backend"}
    )
    assert mr.draft and mr.work_in_progress and mr.labels == ["backend"]
    assert _settled(project, mr.iid).detailed_merge_status == "draft_status"
    mr.notes.create({"body": f"/ready\n/assign_reviewer @{dev.username}\nready now"})
    mr = _settled(project, mr.iid)
    assert not mr.draft and mr.title == "not yet" and [r["username"] for r in mr.reviewers] == [dev.username]
    assert mr.detailed_merge_status == "mergeable"
    assert [m.iid for m in project.mergerequests.list(reviewer_id=dev.id)] == [mr.iid]
    assert [m.iid for m in project.mergerequests.list(source_branch="wip", state="opened")] == [mr.iid]
    assert project.mergerequests.list(wip="yes") == []
    assert [m.iid for m in project.mergerequests.list(labels="backend")] == [mr.iid]
    assert [m.iid for m in root.mergerequests.list(scope="all", search="not yet")] == [mr.iid]
    group = root.groups.get(project.namespace["id"])
    assert [m.iid for m in group.mergerequests.list()] == [mr.iid]
    mr.state_event = "close"
    mr.save()
    assert project.mergerequests.get(mr.iid).state == "closed"
    assert project.mergerequests.list(state="opened") == []
    mr.state_event = "reopen"
    mr.save()
    assert project.mergerequests.get(mr.iid).state == "opened"


def test_real_push_adds_a_version_and_resets_approvals(
    live_server: LiveServer,
    root: gitlab.Gitlab,
    git: Git,
    make_user: Callable[[str], Account],
    tmp_path: Path,
) -> None:
    project = _project(root)
    dev = make_user("pusher")
    project.members.create({"user_id": dev.user_id, "access_level": DEVELOPER})
    work = tmp_path / "work"
    git.run("clone", "-q", dev.url(live_server, project.path_with_namespace), str(work))
    git.run("checkout", "-q", "-b", "topic", cwd=work)
    git.commit(work, "t.txt", "1\n", "topic one")
    git.run("push", "-q", "origin", "topic", cwd=work)
    mr = project.mergerequests.create({"source_branch": "topic", "target_branch": "main", "title": "Topic"})
    _settled(project, mr.iid)
    gitlab.Gitlab(root.url, private_token=dev.token).projects.get(project.id).mergerequests.get(mr.iid).approve()
    assert len(mr.approvals.get().approved_by) == 1
    head = git.commit(work, "t.txt", "2\n", "topic two")
    git.run("push", "-q", "origin", "topic", cwd=work)
    mr = _settled(project, mr.iid)
    assert mr.sha == head and len(mr.diffs.list(get_all=True)) == 2
    assert mr.approvals.get().approved_by == []
    system = [n.body for n in mr.notes.list(get_all=True, sort="asc") if n.system]
    assert any(b.startswith("added 1 commit") for b in system)


def test_two_concurrent_merges_into_one_branch(root: gitlab.Gitlab, live_server: LiveServer) -> None:
    project = _project(root)
    iids = []
    for name in ("race-a", "race-b"):
        _commit(project, name, {f"{name}.txt": name}, name, start="main")
        iids.append(project.mergerequests.create({"source_branch": name, "target_branch": "main", "title": name}).iid)
    for iid in iids:
        _settled(project, iid)
    results: dict[int, int] = {}

    def merge(iid: int) -> None:
        r = _http(root).put(f"{root.url}/api/v4/projects/{project.id}/merge_requests/{iid}/merge", timeout=60)
        results[iid] = r.status_code

    threads = [threading.Thread(target=merge, args=(iid,)) for iid in iids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [200, 200], results
    files = {f["path"] for f in project.repository_tree(ref="main", get_all=True)}
    assert {"race-a.txt", "race-b.txt"} <= files
    merged = [project.mergerequests.get(iid) for iid in iids]
    assert all(m.state == "merged" for m in merged)
    main = project.commits.get("main")
    assert main.id in {m.merge_commit_sha for m in merged}
    # Each merge commit sits on the other: nothing was lost.
    first = next(m for m in merged if m.merge_commit_sha != main.id)
    assert main.parent_ids[0] == first.merge_commit_sha


def test_git_merge_tree_is_the_only_git(tmp_path: Path) -> None:
    """git 2.39's ``merge-tree --write-tree`` is what the merges use."""
    version = subprocess.run(["git", "version"], capture_output=True, text=True, check=True).stdout
    major, minor = (int(p) for p in version.split()[2].split(".")[:2])
    assert (major, minor) >= (2, 38)
