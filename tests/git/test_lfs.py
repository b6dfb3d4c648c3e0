"""Git LFS with the real ``git lfs`` client against a live ``dockyard serve``, plus the Batch API by hand
where the client would hide an answer (per-project access, refused uploads)."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import gitlab
import httpx
import pytest

from tests.git.conftest import Account, Git
from tests.live import LiveServer

LFS_JSON = "application/vnd.git-lfs+json"
REPORTER, DEVELOPER = 20, 30


def _project(root: gitlab.Gitlab, owner: Account | None = None, **attrs: object) -> gitlab.v4.objects.Project:
    group = root.groups.create(
        {
            "name": f"L{secrets.token_hex(3)}",
            "path": f"lfs-{secrets.token_hex(3)}",
            "visibility": attrs.get("visibility", "private"),
        }
    )
    project = root.projects.create({"name": f"repo-{secrets.token_hex(3)}", "namespace_id": group.id, **attrs})
    if owner is not None:
        group.members.create({"user_id": owner.user_id, "access_level": 50})
    return project


def _basic(account: Account) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{account.username}:{account.token}".encode()).decode()}


def _batch(
    server: LiveServer, path: str, operation: str, objects: list[dict[str, object]], headers: dict[str, str] | None
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/{path}.git/info/lfs/objects/batch",
        json={"operation": operation, "transfers": ["basic"], "objects": objects},
        headers={"Accept": LFS_JSON, "Content-Type": LFS_JSON, **(headers or {})},
        timeout=30,
    )


def _stored(server: LiveServer, oid: str) -> Path:
    return server.home / "objects" / "lfs-objects" / oid[:2] / oid[2:4] / oid


def _lfs_repo(git: Git, url: str, where: Path) -> Path:
    git.run("clone", "-q", url, str(where))
    git.run("lfs", "install", "--local", cwd=where)
    git.run("lfs", "track", "*.bin", cwd=where)
    return where


def _push_blob(server: LiveServer, git: Git, repo: Path, name: str, data: bytes) -> str:
    """Commit ``data`` as an LFS file and push it; returns its oid after checking it reached storage."""
    (repo / name).write_bytes(data)
    git.run("add", ".gitattributes", name, cwd=repo)
    git.run("commit", "-q", "-m", f"add {name}", cwd=repo)
    push = git.run("push", "origin", "HEAD:main", cwd=repo)
    output = push.stdout + push.stderr
    assert "locking API" not in output, output  # the 501 on locks/verify makes git-lfs stop asking
    oid = hashlib.sha256(data).hexdigest()
    assert _stored(server, oid).read_bytes() == data
    return oid


def test_push_then_fresh_clone_round_trips_the_bytes(
    live_server: LiveServer, root: gitlab.Gitlab, git: Git, make_user: Callable[[str], Account], tmp_path: Path
) -> None:
    owner = make_user("lfs-owner")
    project = _project(root, owner)
    url = owner.url(live_server, project.path_with_namespace)
    work = _lfs_repo(git, url, tmp_path / "work")
    data = os.urandom(3 * 1024 * 1024 + 17)
    oid = _push_blob(live_server, git, work, "big.bin", data)

    # git holds a pointer; the bytes live in object storage under their content address.
    pointer = root.projects.get(project.id).files.raw(file_path="big.bin", ref="main")
    assert f"oid sha256:{oid}".encode() in pointer and len(pointer) < 200
    assert _stored(live_server, oid).read_bytes() == data

    clone = tmp_path / "clone"
    git.run("clone", "-q", url, str(clone))
    git.run("lfs", "install", "--local", cwd=clone)
    git.run("lfs", "pull", cwd=clone)
    assert (clone / "big.bin").read_bytes() == data

    # A second push of the same object uploads nothing: the batch answer carries no action for it.
    answer = _batch(
        live_server, project.path_with_namespace, "upload", [{"oid": oid, "size": len(data)}], _basic(owner)
    )
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(LFS_JSON)
    assert answer.json()["objects"] == [{"oid": oid, "size": len(data)}]


def test_objects_are_visible_only_to_projects_that_hold_them(
    live_server: LiveServer, root: gitlab.Gitlab, git: Git, make_user: Callable[[str], Account], tmp_path: Path
) -> None:
    owner = make_user("lfs-a")
    first, second = _project(root, owner), _project(root, owner)
    data = os.urandom(200_000)
    oid = _push_blob(
        live_server,
        git,
        _lfs_repo(git, owner.url(live_server, first.path_with_namespace), tmp_path / "a"),
        "a.bin",
        data,
    )
    obj = {"oid": oid, "size": len(data)}

    # The batch answer for the first project: absolute hrefs on the request's host, and a grant, not the token.
    download = _batch(live_server, first.path_with_namespace, "download", [obj], _basic(owner)).json()
    assert download["transfer"] == "basic"
    action = download["objects"][0]["actions"]["download"]
    assert action["href"] == f"{live_server.url}/{first.path_with_namespace}.git/gitlab-lfs/objects/{oid}"
    assert owner.token not in base64.b64decode(action["header"]["Authorization"][6:]).decode()
    assert download["objects"][0]["authenticated"] is True and action["expires_in"] > 0
    got = httpx.get(action["href"], headers=action["header"], timeout=30)
    assert got.status_code == 200 and got.content == data

    # The second project does not hold the object: same owner, same oid, still missing there.
    missing = _batch(live_server, second.path_with_namespace, "download", [obj], _basic(owner)).json()
    assert missing["objects"][0]["error"]["code"] == 404 and "actions" not in missing["objects"][0]
    direct = f"{live_server.url}/{second.path_with_namespace}.git/gitlab-lfs/objects/{oid}"
    assert httpx.get(direct, headers=_basic(owner), timeout=30).status_code == 404
    # A grant is good for its own project, object and operation only.
    assert httpx.get(direct, headers=action["header"], timeout=30).status_code in (401, 404)
    upload_with_download_grant = httpx.put(
        f"{live_server.url}/{first.path_with_namespace}.git/gitlab-lfs/objects/{oid}/{len(data)}",
        content=data,
        headers=action["header"],
        timeout=30,
    )
    assert upload_with_download_grant.status_code == 401

    # Pushing the same bytes to the second project links the stored object (stored once) and opens it there.
    _push_blob(
        live_server,
        git,
        _lfs_repo(git, owner.url(live_server, second.path_with_namespace), tmp_path / "b"),
        "a.bin",
        data,
    )
    linked = _batch(live_server, second.path_with_namespace, "download", [obj], _basic(owner)).json()
    assert "actions" in linked["objects"][0]
    assert httpx.get(direct, headers=_basic(owner), timeout=30).content == data

    # Deleting a project takes its links with it; the other project keeps its object.
    root.projects.delete(second.id)
    assert _batch(live_server, first.path_with_namespace, "download", [obj], _basic(owner)).json()["objects"][0][
        "actions"
    ]


def test_private_batch_needs_credentials_and_hides_from_outsiders(
    live_server: LiveServer, root: gitlab.Gitlab, make_user: Callable[[str], Account]
) -> None:
    project = _project(root, initialize_with_readme=True)
    obj = {"oid": "a" * 64, "size": 1}
    anonymous = _batch(live_server, project.path_with_namespace, "download", [obj], None)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Basic realm="GitLab"'
    outsider = _batch(live_server, project.path_with_namespace, "download", [obj], _basic(make_user("out")))
    assert outsider.status_code == 404 and outsider.json()["message"] == "Not found."
    nowhere = _batch(live_server, "nobody/nothing", "download", [obj], _basic(make_user("out")))
    assert nowhere.status_code == 404
    locks = httpx.get(f"{live_server.url}/{project.path_with_namespace}.git/info/lfs/locks", timeout=30)
    assert locks.status_code == 401  # no hint whether the private project exists


def test_corrupted_upload_is_refused_and_nothing_is_stored(
    live_server: LiveServer, root: gitlab.Gitlab, make_user: Callable[[str], Account]
) -> None:
    owner = make_user("lfs-c")
    project = _project(root, owner)
    data = os.urandom(100_000)
    oid = hashlib.sha256(data).hexdigest()
    answer = _batch(
        live_server, project.path_with_namespace, "upload", [{"oid": oid, "size": len(data)}], _basic(owner)
    )
    upload = answer.json()["objects"][0]["actions"]["upload"]
    assert upload["href"].endswith(f"/gitlab-lfs/objects/{oid}/{len(data)}")

    corrupted = bytearray(data)
    corrupted[5000] ^= 0xFF
    wrong_sha = httpx.put(upload["href"], content=bytes(corrupted), headers=upload["header"], timeout=30)
    assert wrong_sha.status_code == 400 and "SHA256 or size mismatch" in wrong_sha.text
    too_short = httpx.put(upload["href"], content=data[:-1], headers=upload["header"], timeout=30)
    assert too_short.status_code == 400
    too_long = httpx.put(upload["href"], content=iter([data, b"x"]), headers=upload["header"], timeout=30)
    assert too_long.status_code == 400

    assert not _stored(live_server, oid).exists()
    assert not any((live_server.home / "objects" / ".tmp").glob("*"))
    download = _batch(
        live_server, project.path_with_namespace, "download", [{"oid": oid, "size": len(data)}], _basic(owner)
    )
    assert download.json()["objects"][0]["error"]["code"] == 404

    # The genuine bytes with the same grant go through.
    good = httpx.put(upload["href"], content=data, headers=upload["header"], timeout=30)
    assert good.status_code == 200 and _stored(live_server, oid).read_bytes() == data


def test_reporter_downloads_but_cannot_upload(
    live_server: LiveServer, root: gitlab.Gitlab, git: Git, make_user: Callable[[str], Account], tmp_path: Path
) -> None:
    owner, reporter = make_user("lfs-o"), make_user("lfs-r")
    project = _project(root, owner)
    project.members.create({"user_id": reporter.user_id, "access_level": REPORTER})
    data = os.urandom(50_000)
    oid = _push_blob(
        live_server,
        git,
        _lfs_repo(git, owner.url(live_server, project.path_with_namespace), tmp_path / "o"),
        "r.bin",
        data,
    )

    clone = _lfs_repo(git, reporter.url(live_server, project.path_with_namespace), tmp_path / "r")
    git.run("lfs", "pull", cwd=clone)
    assert (clone / "r.bin").read_bytes() == data

    other = os.urandom(1000)
    refused = _batch(
        live_server,
        project.path_with_namespace,
        "upload",
        [{"oid": hashlib.sha256(other).hexdigest(), "size": len(other)}],
        _basic(reporter),
    )
    assert refused.status_code == 403
    assert refused.json()["message"] == "Access forbidden. Check your access level."
    direct = httpx.put(
        f"{live_server.url}/{project.path_with_namespace}.git/gitlab-lfs/objects/{hashlib.sha256(other).hexdigest()}/1000",
        content=other,
        headers=_basic(reporter),
        timeout=30,
    )
    assert direct.status_code == 403
    (clone / "other.bin").write_bytes(other)
    git.run("add", "other.bin", cwd=clone)
    git.run("commit", "-q", "-m", "reporter", cwd=clone)
    push = git.run("lfs", "push", "origin", "main", cwd=clone, check=False)
    assert push.returncode != 0
    assert oid  # the owner's object stayed readable throughout


def test_public_project_serves_anonymous_downloads_but_not_uploads(
    live_server: LiveServer, root: gitlab.Gitlab, git: Git, make_user: Callable[[str], Account], tmp_path: Path
) -> None:
    owner = make_user("lfs-p")
    project = _project(root, owner, visibility="public")
    data = os.urandom(64_000)
    repo = _lfs_repo(git, owner.url(live_server, project.path_with_namespace), tmp_path / "o")
    oid = _push_blob(live_server, git, repo, "pub.bin", data)

    anonymous = _lfs_repo(git, f"{live_server.url}/{project.path_with_namespace}.git", tmp_path / "anon")
    git.run("lfs", "pull", cwd=anonymous)
    assert (anonymous / "pub.bin").read_bytes() == data
    upload = _batch(live_server, project.path_with_namespace, "upload", [{"oid": oid, "size": len(data)}], None)
    assert upload.status_code == 401


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_wrong_methods_answer_in_lfs_shape(live_server: LiveServer, root: gitlab.Gitlab, method: str) -> None:
    project = _project(root, visibility="public")
    answer = httpx.request(method, f"{live_server.url}/{project.path_with_namespace}.git/info/lfs/objects/batch")
    assert answer.status_code == 405 and answer.headers["content-type"].startswith(LFS_JSON)


def test_project_with_lfs_switched_off_refuses_lfs(
    live_server: LiveServer, root: gitlab.Gitlab, make_user: Callable[[str], Account]
) -> None:
    owner = make_user("lfs-off")
    project = _project(root, owner)
    project.lfs_enabled = False
    project.save()
    answer = _batch(live_server, project.path_with_namespace, "download", [{"oid": "b" * 64, "size": 1}], _basic(owner))
    assert answer.status_code == 403 and "not enabled" in answer.json()["message"]
