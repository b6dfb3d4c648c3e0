"""Real ``git`` against the live server."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gitlab
import pytest

from tests.live import LiveServer


@dataclass
class Git:
    """Runs the real git client with a clean, isolated configuration."""

    home: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(
            HOME=str(self.home),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_TERMINAL_PROMPT="0",
            GIT_AUTHOR_NAME="Tester",
            GIT_AUTHOR_EMAIL="tester@example.com",
            GIT_COMMITTER_NAME="Tester",
            GIT_COMMITTER_EMAIL="tester@example.com",
        )
        return env

    def run(
        self, *args: str, cwd: Path | None = None, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            env={**self.env(), **(env or {})},
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"git {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def commit(self, repo: Path, name: str, content: str, message: str | None = None) -> str:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(content)
        self.run("add", name, cwd=repo)
        self.run("commit", "-q", "-m", message or f"change {name}", cwd=repo)
        return self.run("rev-parse", "HEAD", cwd=repo).stdout.strip()


@pytest.fixture
def git(tmp_path: Path) -> Git:
    home = tmp_path / "home"
    home.mkdir()
    g = Git(home)
    g.run("config", "--global", "init.defaultBranch", "main")
    return g


@dataclass
class Account:
    username: str
    password: str
    token: str
    user_id: int

    def url(self, server: LiveServer, path: str, *, use_password: bool = False) -> str:
        secret = self.password if use_password else self.token
        return f"http://{self.username}:{secret}@127.0.0.1:{server.port}/{path}.git"


@pytest.fixture
def make_user(root: gitlab.Gitlab) -> Callable[[str], Account]:
    def make(prefix: str) -> Account:
        username = f"{prefix}-{secrets.token_hex(3)}"
        password = "pw-" + secrets.token_hex(8)
        user = root.users.create(
            {"username": username, "email": f"{username}@example.com", "name": username, "password": password}
        )
        token = user.personal_access_tokens.create({"name": "git", "scopes": ["api"]})
        return Account(username, password, token.token, user.id)

    return make
