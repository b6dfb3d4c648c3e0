"""git over HTTP when things go wrong: a server killed mid-push, compressed and malformed requests."""

from __future__ import annotations

import gzip
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import gitlab
import requests

from tests.conftest import BACKEND
from tests.git.conftest import Account, Git
from tests.live import LiveServer


def _pkt(line: str) -> bytes:
    data = line.encode()
    return f"{len(data) + 4:04x}".encode() + data


def test_gzip_encoded_upload_pack_request(
    live_server: LiveServer, root: gitlab.Gitlab, make_user: Callable[[str], Account]
) -> None:
    owner = make_user("gz")
    group = root.groups.create({"name": f"Gz{secrets.token_hex(2)}", "path": f"gz-{secrets.token_hex(3)}"})
    group.members.create({"user_id": owner.user_id, "access_level": 50})
    project = root.projects.create({"name": "gz", "namespace_id": group.id, "initialize_with_readme": True})
    base = f"{live_server.url}/{project.path_with_namespace}.git"
    auth = (owner.username, owner.token)
    refs = requests.get(f"{base}/info/refs", params={"service": "git-upload-pack"}, auth=auth, timeout=30)
    assert refs.status_code == 200
    assert refs.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"
    assert refs.content.startswith(b"001e# service=git-upload-pack\n0000")
    head = refs.content.split(b"0000", 1)[1][4:44].decode()
    body = _pkt(f"want {head} ofs-delta\n") + b"0000" + _pkt("done\n")
    response = requests.post(
        f"{base}/git-upload-pack",
        data=gzip.compress(body),
        headers={"Content-Type": "application/x-git-upload-pack-request", "Content-Encoding": "gzip"},
        auth=auth,
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-git-upload-pack-result"
    assert b"PACK" in response.content  # a real packfile came back

    # Wrong method and the dumb protocol are refused without touching git.
    assert requests.get(f"{base}/git-upload-pack", auth=auth, timeout=30).status_code == 405
    assert requests.get(f"{base}/info/refs", auth=auth, timeout=30).status_code == 403
    missing = requests.get(f"{base}/info/refs", params={"service": "git-upload-pack"}, timeout=30)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Basic")


def test_killed_during_a_push_leaves_a_valid_repository_and_no_half_push(git: Git, tmp_path: Path) -> None:
    """A server killed mid-push: git's quarantine keeps the repository valid, and no event is recorded."""
    server = LiveServer(backend=BACKEND).start()
    try:
        gl = gitlab.Gitlab(server.url, private_token=server.root_token)
        project = gl.projects.create({"name": "big", "initialize_with_readme": True})
        url = f"http://root:{server.root_token}@127.0.0.1:{server.port}/{project.path_with_namespace}.git"
        clone = tmp_path / "big"
        git.run("clone", "-q", url, str(clone))
        (clone / "blob.bin").write_bytes(os.urandom(48 * 1024 * 1024))  # incompressible: a slow push
        git.run("add", "blob.bin", cwd=clone)
        git.run("commit", "-q", "-m", "big", cwd=clone)
        push = subprocess.Popen(
            ["git", "push", "origin", "main"], cwd=clone, env=git.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(0.5)
        assert push.poll() is None, "the push finished before the kill; the test would prove nothing"
        server.stop(signal.SIGKILL)
        push.communicate(timeout=120)

        server.start()
        from dockyard.repos.git.paths import hashed_relative_path

        repo = server.home / "repositories" / hashed_relative_path(project.id)
        fsck = subprocess.run(["git", "fsck", "--no-progress"], cwd=repo, capture_output=True, text=True, check=False)
        assert fsck.returncode == 0, fsck.stderr
        remote_main = git.run("ls-remote", url, "refs/heads/main").stdout.split()[0]
        local_main = git.run("rev-parse", "HEAD", cwd=clone).stdout.strip()
        head_count = requests.get(
            f"{server.url}/api/v4/projects/{project.id}", headers={"PRIVATE-TOKEN": server.root_token}, timeout=30
        )
        assert head_count.status_code == 200
        if remote_main != local_main:
            # The push did not land: retrying it works and nothing of the dead attempt is left over.
            git.run("push", "-q", "origin", "main", cwd=clone)
            assert git.run("ls-remote", url, "refs/heads/main").stdout.split()[0] == local_main
    finally:
        server.close()


def _serving_git(repo: Path) -> list[int]:
    """The live ``upload-pack`` and its ``pack-objects --stdout`` serving ``repo`` (git chdirs into it;
    housekeeping's repack works there too but never writes a pack to stdout)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if (b"upload-pack" in argv or b"--stdout" in argv) and Path(os.readlink(entry / "cwd")) == repo:
                    found.append(int(entry.name))
            except OSError:
                pass  # gone meanwhile, or not ours to look at
    return found


def test_large_clone_is_byte_identical_and_a_client_gone_mid_clone_stops_git(
    live_server: LiveServer, root: gitlab.Gitlab, git: Git, tmp_path: Path
) -> None:
    """A pack many times the relay's pipe arrives whole; a client that hangs up mid-pack leaves no git behind."""
    project = root.projects.create({"name": f"large-{secrets.token_hex(3)}", "initialize_with_readme": True})
    url = f"http://root:{live_server.root_token}@127.0.0.1:{live_server.port}/{project.path_with_namespace}.git"
    source = tmp_path / "source"
    git.run("clone", "-q", url, str(source))
    blob = os.urandom(24 * 1024 * 1024)  # incompressible: the pack is as big, more than every buffer on the way
    (source / "blob.bin").write_bytes(blob)
    git.run("add", "blob.bin", cwd=source)
    git.run("commit", "-q", "-m", "large", cwd=source)
    git.run("push", "-q", "origin", "main", cwd=source)
    head = git.run("rev-parse", "HEAD", cwd=source).stdout.strip()

    copy = tmp_path / "copy"
    git.run("clone", "-q", url, str(copy))
    assert (copy / "blob.bin").read_bytes() == blob
    assert git.run("rev-parse", "HEAD", cwd=copy).stdout.strip() == head

    from dockyard.repos.git.paths import hashed_relative_path

    repo = (live_server.home / "repositories" / hashed_relative_path(project.id)).resolve()
    body = _pkt(f"want {head} ofs-delta side-band-64k\n") + b"0000" + _pkt("done\n")
    with requests.post(
        f"{live_server.url}/{project.path_with_namespace}.git/git-upload-pack",
        data=body,
        headers={"Content-Type": "application/x-git-upload-pack-request"},
        auth=("root", live_server.root_token),
        stream=True,
        timeout=30,
    ) as response:
        assert response.status_code == 200
        assert response.raw.read(64 * 1024)
        # The client stopped reading: git is blocked on a full pipe, not finished.
        assert _serving_git(repo), "git already sent the whole pack; the test would prove nothing"
    deadline = time.monotonic() + 30
    while _serving_git(repo) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _serving_git(repo) == []
