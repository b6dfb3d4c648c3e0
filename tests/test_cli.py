"""The ``dockyard`` command's administrative subcommands, run as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.conftest import BACKEND
from tests.live import LiveServer


def _dockyard(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard.cli", *args],
        env=server.env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_user_and_token_create_from_the_shell(tmp_path: Path) -> None:
    server = LiveServer(backend=BACKEND)
    try:
        made = _dockyard(
            server, "user", "create", "--username", "ops", "--email", "ops@example.com", "--password", "ops-password-1"
        )
        assert made.returncode == 0, made.stderr
        assert "created user ops" in made.stdout
        again = _dockyard(server, "user", "create", "--username", "ops", "--email", "x@example.com")
        assert again.returncode == 1 and "has already been taken" in again.stderr

        token = _dockyard(server, "token", "create", "--username", "ops", "--name", "cli", "--scopes", "read_api")
        assert token.returncode == 0, token.stderr
        secret = token.stdout.strip()
        assert secret.startswith("glpat-")
        bad_scope = _dockyard(server, "token", "create", "--username", "ops", "--name", "x", "--scopes", "everything")
        assert bad_scope.returncode == 1

        server.start()
        me = requests.get(f"{server.url}/api/v4/user", headers={"PRIVATE-TOKEN": secret}, timeout=10)
        assert me.status_code == 200 and me.json()["username"] == "ops"
        # read_api may read, not write.
        denied = requests.post(
            f"{server.url}/api/v4/projects", json={"name": "x"}, headers={"PRIVATE-TOKEN": secret}, timeout=10
        )
        assert denied.status_code == 403 and denied.json()["error"] == "insufficient_scope"

        migrations = _dockyard(server, "manage", "showmigrations", "accounts")
        assert migrations.returncode == 0 and "[X] 0001_initial" in migrations.stdout
    finally:
        server.close()


def test_help_lists_the_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dockyard.cli", "--help"], capture_output=True, text=True, check=True, env={**os.environ}
    )
    for command in ("serve", "worker", "manage", "user", "token"):
        assert command in out.stdout
