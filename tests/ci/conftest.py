"""A live server for the CI tests: runners' long polls answer after one second instead of fifty, and the
workers look for due pipeline schedules every second."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gitlab
import pytest

from tests.conftest import BACKEND
from tests.git.conftest import Git
from tests.live import LiveServer


@pytest.fixture(scope="session")
def ci_server() -> Iterator[LiveServer]:
    server = LiveServer(
        backend=BACKEND, extra_env={"DOCKYARD_CI_LONG_POLL_SECONDS": "1", "DOCKYARD_SCHEDULE_INTERVAL": "1"}
    ).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def ci_root(ci_server: LiveServer) -> gitlab.Gitlab:
    gl = gitlab.Gitlab(ci_server.url, private_token=ci_server.root_token)
    gl.auth()
    return gl


@pytest.fixture
def git(tmp_path: Path) -> Git:
    home = tmp_path / "home"
    home.mkdir()
    g = Git(home)
    g.run("config", "--global", "init.defaultBranch", "main")
    return g
