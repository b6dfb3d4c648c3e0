"""`dockyard serve` as an operator meets it: install, first start, restarts, concurrent writers."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.conftest import BACKEND
from tests.live import LiveServer

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(BACKEND == "postgres", reason="installing does not depend on the database: runs in the SQLite pass")
def test_fresh_venv_pip_install_gives_a_working_dockyard() -> None:
    with tempfile.TemporaryDirectory(prefix="dockyard-venv-") as venv:
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        pip = subprocess.run(
            [f"{venv}/bin/pip", "install", "-q", "--disable-pip-version-check", str(REPO)],
            check=False,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert pip.returncode == 0, pip.stderr[-3000:]
        server = LiveServer(backend=BACKEND, command=[f"{venv}/bin/dockyard"])
        try:
            server.start()
            r = requests.get(f"{server.url}/-/readiness", timeout=10)
            assert r.status_code == 200
            me = requests.get(f"{server.url}/api/v4/user", headers={"PRIVATE-TOKEN": server.root_token}, timeout=10)
            assert me.json()["username"] == "root"
        finally:
            server.close()


def test_first_start_generates_and_prints_the_root_password_once() -> None:
    server = LiveServer(backend=BACKEND, root_password=None)
    try:
        server.start()
        secret_file = server.home / "initial_root_password"
        password = secret_file.read_text().split("Password: ", 1)[1].strip()
        assert password and password in server.log()
        assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
        session = requests.Session()
        page = session.get(f"{server.url}/users/sign_in", timeout=10)
        assert page.status_code == 200
        server.stop()
        before = server.log().count(password)
        server.start()
        assert server.log().count(password) == before  # not printed again on the next start
    finally:
        server.close()


def test_acknowledged_writes_survive_a_killed_server() -> None:
    server = LiveServer(backend=BACKEND)
    try:
        server.start()
        auth = {"PRIVATE-TOKEN": server.root_token}
        created = [
            requests.post(f"{server.url}/api/v4/projects", json={"name": f"durable{i}"}, headers=auth, timeout=10)
            for i in range(5)
        ]
        assert all(r.status_code == 201 for r in created)
        server.stop(signal.SIGKILL)
        server.start()
        names = {p["name"] for p in requests.get(f"{server.url}/api/v4/projects", headers=auth, timeout=10).json()}
        assert {f"durable{i}" for i in range(5)} <= names
    finally:
        server.close()


@pytest.mark.parametrize("writers", [24])
def test_concurrent_writers_never_see_database_locked(live_server: LiveServer, writers: int) -> None:
    auth = {"PRIVATE-TOKEN": live_server.root_token}

    def create(i: int) -> int:
        r = requests.post(
            f"{live_server.url}/api/v4/groups",
            json={"name": f"Race {i}", "path": f"race-{i}"},
            headers=auth,
            timeout=60,
        )
        return r.status_code

    with ThreadPoolExecutor(max_workers=writers) as pool:
        statuses = list(pool.map(create, range(writers * 2)))
    assert statuses == [201] * (writers * 2)
    for i in range(writers * 2):
        requests.delete(f"{live_server.url}/api/v4/groups/race-{i}", headers=auth, timeout=30)
