"""The repository API (files, commits, tree, branches, tags, compare, archive...) through python-gitlab
and plain HTTP against a live server, checked with a real ``git clone``."""

from __future__ import annotations

import base64
import hashlib
import io
import secrets
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gitlab
import httpx
import pytest

from tests.git.conftest import Account, Git
from tests.live import LiveServer

DEVELOPER, MAINTAINER = 30, 40
COMMIT_FIELDS = {
    "id",
    "short_id",
    "created_at",
    "parent_ids",
    "title",
    "message",
    "author_name",
    "author_email",
    "authored_date",
    "committer_name",
    "committer_email",
    "committed_date",
    "web_url",
}


def _project(root: gitlab.Gitlab, **attrs: object) -> gitlab.v4.objects.Project:
    group = root.groups.create({"name": f"R{secrets.token_hex(3)}", "path": f"r-{secrets.token_hex(3)}"})
    return root.projects.create(
        {"name": f"repo-{secrets.token_hex(3)}", "namespace_id": group.id, "initialize_with_readme": True, **attrs}
    )


def _api(server: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/api/v4", headers={"PRIVATE-TOKEN": token}, timeout=60)


def _enc(path: str) -> str:
    return quote(path, safe="")


def test_files_api_writes_are_real_commits(
    live_server: LiveServer, root: gitlab.Gitlab, git: Git, make_user: Callable[[str], Account], tmp_path: Path
) -> None:
    project = _project(root)
    created = project.files.create(
        {"file_path": "src/app.py", "branch": "main", "content": "print('hi')\n", "commit_message": "Add app"}
    )
    assert created.file_path == "src/app.py"

    got = project.files.get("src/app.py", ref="main")
    assert base64.b64decode(got.content) == b"print('hi')\n"
    assert got.file_name == "app.py" and got.encoding == "base64" and got.ref == "main"
    assert got.content_sha256 == hashlib.sha256(b"print('hi')\n").hexdigest()
    assert got.execute_filemode is False
    assert len(got.blob_id) == 40 and got.commit_id == got.last_commit_id

    got.content = "print('hello')\n"
    got.save(branch="main", commit_message="Say hello")
    assert project.files.raw("src/app.py", ref="main") == b"print('hello')\n"
    # Binary content through base64, executable bit, on a new branch started from main.
    project.files.create(
        {
            "file_path": "bin/run",
            "branch": "feature/bin",
            "start_branch": "main",
            "encoding": "base64",
            "content": base64.b64encode(b"#!/bin/sh\n\x00\xff").decode(),
            "execute_filemode": True,
            "commit_message": "Add runner",
            "author_name": "Ada",
            "author_email": "ada@example.com",
        }
    )
    assert project.files.raw("bin/run", ref="feature/bin") == b"#!/bin/sh\n\x00\xff"
    head = project.files.head("bin/run", ref="feature/bin")
    assert head["X-Gitlab-Execute-Filemode"] == "true" and head["X-Gitlab-File-Name"] == "run"

    project.files.delete(file_path="README.md", branch="main", commit_message="Drop readme")
    with pytest.raises(gitlab.GitlabGetError):
        project.files.get("README.md", ref="main")

    commit = project.commits.create(
        {
            "branch": "main",
            "commit_message": "Several changes",
            "actions": [
                {"action": "create", "file_path": "docs/a.md", "content": "a\n"},
                {"action": "move", "file_path": "src/main.py", "previous_path": "src/app.py"},
                {"action": "create", "file_path": "tool.sh", "content": "echo\n", "execute_filemode": True},
                {"action": "chmod", "file_path": "tool.sh", "execute_filemode": False},
            ],
        }
    )
    assert set(COMMIT_FIELDS) <= set(commit.attributes)
    assert commit.title == "Several changes" and commit.stats["additions"] >= 2

    # A real clone sees what the API committed, authors included.
    owner = make_user("files")
    project.members.create({"user_id": owner.user_id, "access_level": MAINTAINER})
    clone = tmp_path / "clone"
    git.run("clone", "-q", owner.url(live_server, project.path_with_namespace), str(clone))
    assert git.run("rev-parse", "HEAD", cwd=clone).stdout.strip() == commit.id
    assert (clone / "src" / "main.py").read_text() == "print('hello')\n"
    assert not (clone / "src" / "app.py").exists() and not (clone / "README.md").exists()
    assert (clone / "docs" / "a.md").read_text() == "a\n"
    assert git.run("ls-files", "-s", "tool.sh", cwd=clone).stdout.startswith("100644")
    git.run("fetch", "-q", "origin", "feature/bin", cwd=clone)
    assert "Ada <ada@example.com>" in git.run("log", "-1", "--format=%an <%ae>", "FETCH_HEAD", cwd=clone).stdout
    assert git.run("ls-tree", "FETCH_HEAD", "bin/run", cwd=clone).stdout.startswith("100755")

    # And the API writes were recorded like pushes (push_process touches the project's activity time).
    assert root.projects.get(project.id).last_activity_at > project.last_activity_at


def test_bad_paths_stale_writes_and_existing_files_are_refused(live_server: LiveServer, root: gitlab.Gitlab) -> None:
    project = _project(root)
    api = _api(live_server, live_server.root_token)
    base = f"/projects/{project.id}/repository/files"
    body = {"branch": "main", "content": "x", "commit_message": "m"}
    for bad in ("../x", "a/../../x", "/abs", "a\x00b"):
        answer = api.post(f"{base}/{_enc(bad)}", json=body)
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json() == {"error": "file_path should be a valid file path"}
    assert api.get(f"{base}/{_enc('../etc/passwd')}/raw", params={"ref": "main"}).status_code == 400

    exists = api.post(f"{base}/README.md", json=body)
    assert exists.status_code == 400 and exists.json()["message"] == "A file with this name already exists"
    missing = api.put(f"{base}/nope.txt", json=body)
    assert missing.status_code == 400 and missing.json()["message"] == "A file with this name doesn't exist"
    assert (
        api.request("DELETE", f"{base}/nope.txt", params={"branch": "main", "commit_message": "m"}).status_code == 400
    )

    readme = project.files.get("README.md", ref="main")
    first = readme.last_commit_id
    project.files.update("README.md", {"branch": "main", "content": "v2", "commit_message": "v2"})
    stale = api.put(f"{base}/README.md", json={**body, "last_commit_id": first})
    assert stale.status_code == 400
    assert (
        stale.json()["message"] == "You are attempting to update a file that has changed since you started editing it."
    )
    assert project.files.raw("README.md", ref="main") == b"v2"
    fresh = project.files.get("README.md", ref="main").last_commit_id
    assert api.put(f"{base}/README.md", json={**body, "last_commit_id": fresh}).status_code == 200

    assert api.get(f"{base}/README.md").json() == {"error": "ref is missing"}
    assert api.get(f"{base}/nothing.md", params={"ref": "main"}).status_code == 404


def test_developer_cannot_write_a_protected_branch_through_the_api(
    live_server: LiveServer, root: gitlab.Gitlab, make_user: Callable[[str], Account]
) -> None:
    project = _project(root)
    developer = make_user("apidev")
    project.members.create({"user_id": developer.user_id, "access_level": DEVELOPER})
    api = _api(live_server, developer.token)
    before = project.branches.get("main").commit["id"]
    refused = api.post(
        f"/projects/{project.id}/repository/files/x.txt",
        json={"branch": "main", "content": "x", "commit_message": "sneak"},
    )
    assert refused.status_code == 403
    assert refused.json() == {"message": "403 Forbidden - You are not allowed to push into this branch"}
    via_commits = api.post(
        f"/projects/{project.id}/repository/commits",
        json={
            "branch": "main",
            "commit_message": "m",
            "actions": [{"action": "create", "file_path": "y", "content": ""}],
        },
    )
    assert via_commits.status_code == 403
    assert project.branches.get("main").commit["id"] == before

    # The developer may work on a branch of their own, and may not delete the protected default one.
    ok = api.post(
        f"/projects/{project.id}/repository/files/x.txt",
        json={"branch": "dev", "start_branch": "main", "content": "x", "commit_message": "mine"},
    )
    assert ok.status_code == 201
    gone = api.delete(f"/projects/{project.id}/repository/branches/main")
    assert gone.status_code == 403 and "cannot be deleted" in gone.json()["message"]
    # A reporter may read but not write.
    reporter = make_user("apirep")
    project.members.create({"user_id": reporter.user_id, "access_level": 20})
    rep = _api(live_server, reporter.token)
    assert rep.get(f"/projects/{project.id}/repository/tree").status_code == 200
    assert (
        rep.post(f"/projects/{project.id}/repository/branches", json={"branch": "r", "ref": "main"}).status_code == 403
    )


def test_tree_blobs_blame_and_pagination(live_server: LiveServer, root: gitlab.Gitlab) -> None:
    project = _project(root)
    project.commits.create(
        {
            "branch": "main",
            "commit_message": "Tree",
            "actions": [{"action": "create", "file_path": f"dir/sub/f{i}.txt", "content": f"{i}\n"} for i in range(5)]
            + [{"action": "create", "file_path": "lines.txt", "content": "one\ntwo\n"}],
        }
    )
    project.files.update("lines.txt", {"branch": "main", "content": "one\ntwo\nthree\n", "commit_message": "third"})

    top: Any = project.repository_tree(ref="main", get_all=True)
    assert [(e["type"], e["name"]) for e in top] == [("tree", "dir"), ("blob", "README.md"), ("blob", "lines.txt")]
    assert set(top[0]) == {"id", "name", "type", "path", "mode"} and top[0]["mode"] == "040000"
    assert top[1]["mode"] == "100644"
    everything: Any = project.repository_tree(recursive=True, get_all=True)
    paths = {e["path"] for e in everything}
    assert {"dir", "dir/sub", "dir/sub/f0.txt", "dir/sub/f4.txt", "lines.txt"} <= paths
    sub: Any = project.repository_tree(path="dir/sub", ref="main", get_all=True)
    assert [e["name"] for e in sub] == [f"f{i}.txt" for i in range(5)]

    api = _api(live_server, live_server.root_token)
    page = api.get(f"/projects/{project.id}/repository/tree", params={"recursive": "true", "per_page": 3, "page": 2})
    assert page.status_code == 200 and len(page.json()) == 3
    assert page.headers["X-Total"] == str(len(everything)) and page.headers["X-Page"] == "2"
    assert 'rel="next"' in page.headers["Link"]
    seen: list[str] = []
    url: str | None = (
        f"{live_server.url}/api/v4/projects/{project.id}/repository/tree?recursive=true&per_page=4&pagination=keyset"
    )
    while url:
        answer = api.get(url)
        seen += [e["path"] for e in answer.json()]
        url = answer.links.get("next", {}).get("url")
    assert seen == [e["path"] for e in everything]
    assert api.get(f"/projects/{project.id}/repository/tree", params={"ref": "nope"}).status_code == 404

    blob_id = next(e["id"] for e in top if e["name"] == "lines.txt")
    blob: Any = project.repository_blob(blob_id)
    assert base64.b64decode(blob["content"]) == b"one\ntwo\nthree\n" and blob["size"] == 14
    assert project.repository_raw_blob(blob_id) == b"one\ntwo\nthree\n"
    assert api.get(f"/projects/{project.id}/repository/blobs/{'0' * 40}").status_code == 404

    blame: Any = project.files.blame("lines.txt", ref="main")
    assert [r["lines"] for r in blame] == [["one", "two"], ["three"]]
    assert blame[1]["commit"]["message"].startswith("third") and "authored_date" in blame[0]["commit"]
    ranged = api.get(
        f"/projects/{project.id}/repository/files/lines.txt/blame",
        params={"ref": "main", "range[start]": 2, "range[end]": 3},
    ).json()
    assert [r["lines"] for r in ranged] == [["two"], ["three"]]


def test_commits_list_get_diff_refs_and_compare(live_server: LiveServer, root: gitlab.Gitlab) -> None:
    project = _project(root)
    for i in range(3):
        project.files.create(
            {"file_path": f"f{i}.txt", "branch": "main", "content": f"{i}\n", "commit_message": f"c{i}"}
        )
    project.branches.create({"branch": "topic", "ref": "main"})
    project.files.update("f0.txt", {"branch": "topic", "content": "changed\n", "commit_message": "topic change"})
    project.tags.create({"tag_name": "v1", "ref": "main"})

    commits = project.commits.list(ref_name="main", get_all=True)
    assert [c.title for c in commits] == ["c2", "c1", "c0", "Initial commit"]
    assert set(commits[0].attributes) >= COMMIT_FIELDS
    assert commits[0].created_at.endswith("+00:00") or commits[0].created_at[-6] in "+-"
    assert [
        c.title for c in project.commits.list(ref_name="main", query_parameters={"path": "f1.txt"}, get_all=True)
    ] == ["c1"]
    api = _api(live_server, live_server.root_token)
    page = api.get(f"/projects/{project.id}/repository/commits", params={"per_page": 2, "page": 2})
    assert [c["title"] for c in page.json()] == ["c0", "Initial commit"] and page.headers["X-Total"] == "4"
    assert len(project.commits.list(all=True, get_all=True)) == 5
    assert project.commits.list(ref_name="main", since="2099-01-01T00:00:00Z", get_all=True) == []

    head = project.commits.get("topic")
    assert head.title == "topic change" and head.stats == {"additions": 1, "deletions": 1, "total": 2}
    assert head.project_id == project.id
    diff: Any = head.diff(get_all=True)
    assert len(diff) == 1 and diff[0]["old_path"] == diff[0]["new_path"] == "f0.txt"
    assert diff[0]["diff"].startswith("@@") and "-0\n+changed\n" in diff[0]["diff"]
    assert {"a_mode", "b_mode", "new_file", "renamed_file", "deleted_file"} <= set(diff[0])
    added: Any = project.commits.get(commits[0].id).diff(get_all=True)
    assert added[0]["new_file"] is True and added[0]["a_mode"] == "0" and added[0]["b_mode"] == "100644"

    refs = project.commits.get(commits[0].id).refs()
    assert {(r["type"], r["name"]) for r in refs} == {("branch", "main"), ("branch", "topic"), ("tag", "v1")}
    assert {r["name"] for r in project.commits.get(commits[0].id).refs(type="tag")} == {"v1"}
    assert api.get(f"/projects/{project.id}/repository/commits/{'1' * 40}").status_code == 404
    assert api.get(f"/projects/{project.id}/repository/commits/{_enc('topic')}").json()["id"] == head.id

    cmp: Any = project.repository_compare("main", "topic")
    assert set(cmp) >= {"commit", "commits", "diffs", "compare_timeout", "compare_same_ref", "web_url"}
    assert [c["title"] for c in cmp["commits"]] == ["topic change"] and cmp["commit"]["id"] == head.id
    assert cmp["diffs"][0]["new_path"] == "f0.txt" and cmp["compare_same_ref"] is False
    assert cmp["web_url"].endswith(f"{project.path_with_namespace}/-/compare/main...topic")
    same: Any = project.repository_compare("main", "main")
    assert same["compare_same_ref"] is True and same["commits"] == [] and same["commit"] is None
    assert (
        api.get(f"/projects/{project.id}/repository/compare", params={"from": "main", "to": "nope"}).status_code == 404
    )

    merge_base: Any = project.repository_merge_base(["main", "topic"])
    assert merge_base["id"] == commits[0].id
    bad = api.get(f"/projects/{project.id}/repository/merge_base", params={"refs[]": ["main", "nope"]})
    assert bad.status_code == 400 and bad.json()["message"] == "Could not find ref: nope"

    contributors: Any = project.repository_contributors()
    assert contributors and set(contributors[0]) == {"name", "email", "commits", "additions", "deletions"}
    assert sum(c["commits"] for c in contributors) == 4


def test_branches_and_tags(live_server: LiveServer, root: gitlab.Gitlab, make_user: Callable[[str], Account]) -> None:
    project = _project(root)
    main_sha = project.branches.get("main").commit["id"]
    created = project.branches.create({"branch": "feature/x", "ref": "main"})
    assert created.name == "feature/x" and created.commit["id"] == main_sha
    assert set(created.attributes) >= {
        "name",
        "commit",
        "merged",
        "protected",
        "developers_can_push",
        "developers_can_merge",
        "can_push",
        "default",
        "web_url",
    }
    api = _api(live_server, live_server.root_token)
    dup = api.post(f"/projects/{project.id}/repository/branches", json={"branch": "feature/x", "ref": "main"})
    assert dup.status_code == 400 and dup.json()["message"] == "Branch already exists"
    bad_ref = api.post(f"/projects/{project.id}/repository/branches", json={"branch": "y", "ref": "nope"})
    assert bad_ref.status_code == 400 and "invalid reference name 'nope'" in bad_ref.json()["message"]

    got = project.branches.get("feature/x")
    assert got.merged is True and got.default is False and got.protected is False and got.can_push is True
    main = project.branches.get("main")
    assert main.default is True and main.protected is True and main.developers_can_push is False
    assert [b.name for b in project.branches.list(search="feat", get_all=True)] == ["feature/x"]
    assert [b.name for b in project.branches.list(search="^ma", get_all=True)] == ["main"]
    listed = api.get(f"/projects/{project.id}/repository/branches", params={"per_page": 1})
    assert listed.headers["X-Total"] == "2" and len(listed.json()) == 1

    project.branches.delete("feature/x")
    assert api.get(f"/projects/{project.id}/repository/branches/{_enc('feature/x')}").status_code == 404
    assert api.delete(f"/projects/{project.id}/repository/branches/nope").status_code == 404

    # Protected branches: a developer may not delete one; a maintainer may (as in GitLab's web UI and API).
    project.branches.create({"branch": "release/1", "ref": "main"})
    project.protectedbranches.create({"name": "release/*", "push_access_level": MAINTAINER})
    developer, maintainer = make_user("brdev"), make_user("brmaint")
    project.members.create({"user_id": developer.user_id, "access_level": DEVELOPER})
    project.members.create({"user_id": maintainer.user_id, "access_level": MAINTAINER})
    dev = _api(live_server, developer.token)
    assert dev.get(f"/projects/{project.id}/repository/branches/{_enc('release/1')}").json()["can_push"] is False
    refused = dev.delete(f"/projects/{project.id}/repository/branches/{_enc('release/1')}")
    assert refused.status_code == 403 and "not allowed to delete protected branches" in refused.json()["message"]
    assert (
        _api(live_server, maintainer.token)
        .delete(f"/projects/{project.id}/repository/branches/{_enc('release/1')}")
        .status_code
        == 204
    )

    # Merged branches go, protected and unmerged ones stay.
    project.branches.create({"branch": "merged-1", "ref": "main"})
    project.branches.create({"branch": "ahead", "ref": "main"})
    project.files.create({"file_path": "a.txt", "branch": "ahead", "content": "a", "commit_message": "ahead"})
    assert api.delete(f"/projects/{project.id}/repository/merged_branches").status_code == 202
    assert sorted(b.name for b in project.branches.list(get_all=True)) == ["ahead", "main"]

    # Tags: annotated and lightweight, protected tags refused to developers.
    tag = project.tags.create({"tag_name": "v1.0", "ref": "main", "message": "Release 1.0"})
    assert tag.message == "Release 1.0" and tag.target != main_sha and tag.commit["id"] == main_sha
    assert set(tag.attributes) >= {"name", "message", "target", "commit", "release", "protected", "created_at"}
    light = project.tags.create({"tag_name": "build-1", "ref": "main"})
    assert light.target == main_sha and light.message == "" and light.created_at is None
    dup_tag = api.post(f"/projects/{project.id}/repository/tags", json={"tag_name": "v1.0", "ref": "main"})
    assert dup_tag.status_code == 400 and dup_tag.json()["message"] == "Tag v1.0 already exists"
    assert {t.name for t in project.tags.list(get_all=True)} == {"v1.0", "build-1"}
    assert [t.name for t in project.tags.list(search="v1", get_all=True)] == ["v1.0"]
    project.protectedtags.create({"name": "v*", "create_access_level": MAINTAINER})
    denied = dev.post(f"/projects/{project.id}/repository/tags", json={"tag_name": "v2", "ref": "main"})
    assert denied.status_code == 403 and "protected" in denied.json()["message"]
    assert project.tags.get("v1.0").protected is True
    project.tags.delete("build-1")
    assert api.get(f"/projects/{project.id}/repository/tags/build-1").status_code == 404


def test_archives(live_server: LiveServer, root: gitlab.Gitlab) -> None:
    project = _project(root)
    project.files.create({"file_path": "src/a.py", "branch": "main", "content": "a = 1\n", "commit_message": "a"})
    data = project.repository_archive(format="tar.gz")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = tar.getnames()
        member = next(n for n in names if n.endswith("src/a.py"))
        extracted = tar.extractfile(member)
        assert extracted is not None and extracted.read() == b"a = 1\n"
    assert any(n.endswith("README.md") for n in names)

    api = _api(live_server, live_server.root_token)
    answer = api.get(f"/projects/{project.id}/repository/archive.zip", params={"path": "src"})
    assert answer.status_code == 200 and "attachment" in answer.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        files = [n for n in archive.namelist() if not n.endswith("/")]
        assert len(files) == 1 and files[0].endswith("src/a.py")
    bz2 = api.get(f"/projects/{project.id}/repository/archive.tar.bz2")
    with tarfile.open(fileobj=io.BytesIO(bz2.content), mode="r:bz2") as tar:
        assert any(n.endswith("src/a.py") for n in tar.getnames())
    assert api.get(f"/projects/{project.id}/repository/archive.rar").status_code == 404
    assert api.get(f"/projects/{project.id}/repository/archive", params={"sha": "nope"}).status_code == 404


@pytest.mark.django_db
def test_repository_lists_run_a_fixed_number_of_queries() -> None:
    """Git data costs no queries; what the lists read from the database (project, memberships,
    protected refs) is read once per request, however many branches and tags there are."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from dockyard.accounts import services as accounts
    from dockyard.namespaces import services as groups
    from dockyard.projects import services as projects
    from dockyard.repos import git
    from dockyard.repos import services as repos
    from dockyard.repos.git.write import FileAction

    owner = accounts.user_create(username="qowner", email="qowner@example.com", name="Q Owner")
    _, token = accounts.token_create(user=owner, name="api", scopes=["api"])
    group = groups.group_create(actor=owner, name="QG", path="qg")
    project = projects.project_create(actor=owner, namespace=group, name="q")
    # A repository left behind by an earlier run under the same DOCKYARD_HOME would carry its refs.
    git.remove_repository(project.id)
    repos.repository_create(project=project, actor=owner, initialize_with_readme=True)
    client = Client()
    urls = [
        f"/api/v4/projects/{project.id}/repository/branches",
        f"/api/v4/projects/{project.id}/repository/tags",
        f"/api/v4/projects/{project.id}/repository/tree?recursive=true",
        f"/api/v4/projects/{project.id}/repository/commits",
    ]

    def populate(start: int, n: int) -> None:
        for i in range(start, start + n):
            repos.branch_create(project=project, user=owner, branch=f"b{i}", ref="main")
            repos.tag_create(project=project, user=owner, tag_name=f"t{i}", ref="main", message=f"tag {i}")
            repos.commit_create(
                project=project,
                user=owner,
                branch="main",
                message=f"c{i}",
                actions=[FileAction(action="create", path=f"d{i}/f.txt", content=b"x")],
            )

    def count(url: str) -> int:
        client.get(url, HTTP_PRIVATE_TOKEN=token)  # warm up: the once-a-minute token/activity writes
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url, HTTP_PRIVATE_TOKEN=token)
        assert response.status_code == 200, (url, response.content[:300])
        return len(ctx.captured_queries)

    try:
        populate(0, 2)
        small = {url: count(url) for url in urls}
        populate(2, 8)
        large = {url: count(url) for url in urls}
    finally:
        git.remove_repository(project.id)
    assert large == small
    assert max(small.values()) <= 6
