"""Clone, fetch and push with the real git client over smart HTTP against a live ``dockyard serve``."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path

import gitlab
import pytest

from tests.git.conftest import Account, Git
from tests.live import LiveServer

DEVELOPER, MAINTAINER = 30, 40


def _project(root: gitlab.Gitlab, owner: Account | None = None, **attrs: object) -> gitlab.v4.objects.Project:
    group = root.groups.create(
        {
            "name": f"G{secrets.token_hex(3)}",
            "path": f"g-{secrets.token_hex(3)}",
            "visibility": attrs.get("visibility", "private"),
        }
    )
    project = root.projects.create({"name": f"repo-{secrets.token_hex(3)}", "namespace_id": group.id, **attrs})
    if owner is not None:
        group.members.create({"user_id": owner.user_id, "access_level": 50})
    return project


def test_clone_empty_push_clone_fetch_and_ls_remote(
    live_server: LiveServer, root: gitlab.Gitlab, git: Git, make_user: Callable[[str], Account], tmp_path: Path
) -> None:
    owner = make_user("owner")
    project = _project(root, owner)
    url = owner.url(live_server, project.path_with_namespace)

    empty = git.run("clone", url, str(tmp_path / "empty"))
    assert "empty repository" in empty.stderr
    work = tmp_path / "empty"
    first = git.commit(work, "README.md", "# hello\n")
    git.run("push", "-q", "origin", "main", cwd=work)
    git.run("checkout", "-q", "-b", "feature/x", cwd=work)
    feature = git.commit(work, "src/app.py", "print('x')\n")
    git.run("push", "-q", "origin", "feature/x", cwd=work)
    git.run("tag", "-a", "v1.0", "-m", "release", cwd=work)
    git.run("push", "-q", "origin", "v1.0", cwd=work)

    clone = git.run("clone", "--quiet", "--no-checkout", "--", url.replace(".git", ""), str(tmp_path / "clone"))
    assert clone.returncode == 0
    refs = git.run("ls-remote", url).stdout
    assert f"{first}\trefs/heads/main" in refs
    assert f"{feature}\trefs/heads/feature/x" in refs
    assert "refs/tags/v1.0" in refs

    # Fetch new work into the existing clone.
    git.run("checkout", "-q", "main", cwd=work)
    newer = git.commit(work, "README.md", "# hello again\n")
    git.run("push", "-q", "origin", "main", cwd=work)
    git.run("fetch", "-q", "origin", cwd=tmp_path / "clone")
    assert git.run("rev-parse", "origin/main", cwd=tmp_path / "clone").stdout.strip() == newer

    # The first push set the project's default branch, as GitLab does.
    assert root.projects.get(project.id).default_branch == "main"


def test_protocol_v2_and_gzip(
    live_server: LiveServer, root: gitlab.Gitlab, git: Git, make_user: Callable[[str], Account], tmp_path: Path
) -> None:
    owner = make_user("v2")
    project = _project(root, owner, initialize_with_readme=True)
    url = owner.url(live_server, project.path_with_namespace)
    traced = git.run("-c", "protocol.version=2", "ls-remote", url, env={"GIT_TRACE_PACKET": "1"})
    assert "version 2" in traced.stderr and "refs/heads/main" in traced.stdout
    # A shallow v2 fetch with many haves makes git gzip its request body.
    git.run("-c", "protocol.version=2", "clone", "--depth=1", url, str(tmp_path / "v2"))
    assert (tmp_path / "v2" / "README.md").exists()


def test_anonymous_public_clone_and_private_answers(
    live_server: LiveServer, root: gitlab.Gitlab, git: Git, make_user: Callable[[str], Account], tmp_path: Path
) -> None:
    public = _project(root, visibility="public", initialize_with_readme=True)
    anon = git.run("clone", f"{live_server.url}/{public.path_with_namespace}.git", str(tmp_path / "pub"))
    assert anon.returncode == 0 and (tmp_path / "pub" / "README.md").exists()
    push = git.run("push", "origin", "HEAD:refs/heads/anon", cwd=tmp_path / "pub", check=False)
    assert push.returncode != 0  # pushing always needs credentials

    private = _project(root, initialize_with_readme=True)
    missing_credentials = git.run(
        "clone", f"{live_server.url}/{private.path_with_namespace}.git", str(tmp_path / "p1"), check=False
    )
    assert missing_credentials.returncode != 0
    assert (
        "could not read Username" in missing_credentials.stderr or "Authentication failed" in missing_credentials.stderr
    )

    outsider = make_user("outsider")
    hidden = git.run("clone", outsider.url(live_server, private.path_with_namespace), str(tmp_path / "p2"), check=False)
    assert hidden.returncode != 0 and "not found" in hidden.stderr
    nonexistent = git.run("clone", outsider.url(live_server, "nobody/nothing"), str(tmp_path / "p3"), check=False)
    assert nonexistent.returncode != 0 and "not found" in nonexistent.stderr

    wrong = git.run(
        "clone",
        f"http://root:wrong@127.0.0.1:{live_server.port}/{private.path_with_namespace}.git",
        str(tmp_path / "p4"),
        check=False,
    )
    assert wrong.returncode != 0 and "Authentication failed" in wrong.stderr


def test_token_and_password_authentication(
    live_server: LiveServer, root: gitlab.Gitlab, git: Git, make_user: Callable[[str], Account], tmp_path: Path
) -> None:
    owner = make_user("auth")
    project = _project(root, owner, initialize_with_readme=True)
    by_token = git.run("clone", owner.url(live_server, project.path_with_namespace), str(tmp_path / "t"))
    by_password = git.run(
        "clone", owner.url(live_server, project.path_with_namespace, use_password=True), str(tmp_path / "p")
    )
    assert by_token.returncode == by_password.returncode == 0
    # Any username works with a personal access token, as in GitLab.
    any_user = f"http://oauth2:{owner.token}@127.0.0.1:{live_server.port}/{project.path_with_namespace}.git"
    assert git.run("ls-remote", any_user).returncode == 0


def test_protected_branches_refuse_developers_and_force_pushes(
    live_server: LiveServer, root: gitlab.Gitlab, git: Git, make_user: Callable[[str], Account], tmp_path: Path
) -> None:
    maintainer, developer, reporter = make_user("maint"), make_user("dev"), make_user("rep")
    project = _project(root, initialize_with_readme=True)
    project.members.create({"user_id": maintainer.user_id, "access_level": MAINTAINER})
    project.members.create({"user_id": developer.user_id, "access_level": DEVELOPER})
    project.members.create({"user_id": reporter.user_id, "access_level": 20})
    path = project.path_with_namespace

    dev_clone = tmp_path / "dev"
    git.run("clone", "-q", developer.url(live_server, path), str(dev_clone))
    git.commit(dev_clone, "dev.txt", "dev\n")
    refused = git.run("push", "origin", "main", cwd=dev_clone, check=False)
    assert refused.returncode != 0
    assert "remote: You are not allowed to push code to protected branches on this project." in refused.stderr
    # The developer may push a branch of their own.
    assert git.run("push", "-q", "origin", "main:refs/heads/dev-work", cwd=dev_clone).returncode == 0

    # A reporter reads but may not push at all.
    rep_clone = tmp_path / "rep"
    git.run("clone", "-q", reporter.url(live_server, path), str(rep_clone))
    git.commit(rep_clone, "rep.txt", "rep\n")
    assert git.run("push", "origin", "main:refs/heads/rep", cwd=rep_clone, check=False).returncode != 0

    # Wildcards protect whole families of branches.
    project.protectedbranches.create({"name": "release/*", "push_access_level": MAINTAINER})
    blocked = git.run("push", "origin", "main:refs/heads/release/1.0", cwd=dev_clone, check=False)
    assert blocked.returncode != 0 and "not allowed to create protected branches" in blocked.stderr

    # The maintainer may push, but not rewrite history, until force pushes are allowed.
    m_clone = tmp_path / "maint"
    git.run("clone", "-q", maintainer.url(live_server, path), str(m_clone))
    git.commit(m_clone, "m.txt", "m1\n")
    git.run("push", "-q", "origin", "main", cwd=m_clone)
    git.run("commit", "-q", "--amend", "-m", "rewritten", cwd=m_clone)
    forced = git.run("push", "--force", "origin", "main", cwd=m_clone, check=False)
    assert forced.returncode != 0
    assert "You are not allowed to force push code to a protected branch on this project." in forced.stderr
    deleting = git.run("push", "origin", "--delete", "main", cwd=m_clone, check=False)
    assert deleting.returncode != 0

    rule = project.protectedbranches.get("main")
    assert rule.push_access_levels[0]["access_level"] == MAINTAINER
    root.http_patch(f"/projects/{project.id}/protected_branches/main", post_data={"allow_force_push": True})
    assert git.run("push", "-q", "--force", "origin", "main", cwd=m_clone).returncode == 0
    assert git.run("ls-remote", maintainer.url(live_server, path), "main").stdout.startswith(
        git.run("rev-parse", "HEAD", cwd=m_clone).stdout.strip()
    )


def test_protected_tags_and_archived_projects(
    live_server: LiveServer, root: gitlab.Gitlab, git: Git, make_user: Callable[[str], Account], tmp_path: Path
) -> None:
    developer = make_user("tagdev")
    project = _project(root, initialize_with_readme=True)
    project.members.create({"user_id": developer.user_id, "access_level": DEVELOPER})
    project.protectedtags.create({"name": "v*", "create_access_level": MAINTAINER})
    clone = tmp_path / "c"
    git.run("clone", "-q", developer.url(live_server, project.path_with_namespace), str(clone))
    git.run("tag", "v1", cwd=clone)
    denied = git.run("push", "origin", "v1", cwd=clone, check=False)
    assert "You are not allowed to create this tag as it is protected." in denied.stderr
    git.run("tag", "build-1", cwd=clone)
    assert git.run("push", "-q", "origin", "build-1", cwd=clone).returncode == 0

    project.archive()
    git.run("checkout", "-q", "-b", "late", cwd=clone)
    late = git.run("push", "origin", "late", cwd=clone, check=False)
    assert late.returncode != 0 and "archived project" in late.stderr


@pytest.mark.parametrize("suffix", ["", ".git"])
def test_with_and_without_the_git_suffix(
    live_server: LiveServer,
    root: gitlab.Gitlab,
    git: Git,
    make_user: Callable[[str], Account],
    tmp_path: Path,
    suffix: str,
) -> None:
    owner = make_user("sfx")
    project = _project(root, owner, initialize_with_readme=True)
    url = f"http://{owner.username}:{owner.token}@127.0.0.1:{live_server.port}/{project.path_with_namespace}{suffix}"
    assert "refs/heads/main" in git.run("ls-remote", url).stdout


def test_pushes_are_followed_by_housekeeping(
    live_server: LiveServer, root: gitlab.Gitlab, git: Git, make_user: Callable[[str], Account], tmp_path: Path
) -> None:
    """After a push the embedded worker repacks with a multi-pack-index bitmap and writes a commit-graph."""
    from dockyard.repos.git.paths import hashed_relative_path

    owner = make_user("hk")
    project = _project(root, owner, initialize_with_readme=True)
    clone = tmp_path / "hk"
    git.run("clone", "-q", owner.url(live_server, project.path_with_namespace), str(clone))
    for i in range(3):
        git.commit(clone, f"f{i}.txt", f"{i}\n")
    git.run("push", "-q", "origin", "main", cwd=clone)
    repo = live_server.home / "repositories" / hashed_relative_path(project.id)

    def maintained() -> bool:
        return (
            bool(list((repo / "objects" / "pack").glob("multi-pack-index*.bitmap")))
            and (repo / "objects" / "info" / "commit-graphs" / "commit-graph-chain").exists()
            and not [p for p in (repo / "objects").iterdir() if len(p.name) == 2]  # no loose objects left
        )

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not maintained():
        time.sleep(0.2)
    assert maintained()
