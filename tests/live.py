"""A real ``dockyard serve`` process for tests: its own home, its own database, a free port."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PG_ADMIN_URL = os.environ.get("DOCKYARD_TEST_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_exec(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(sql.encode())  # test-only DDL with a generated identifier


@dataclass
class LiveServer:
    """A running server. ``url`` has no trailing slash."""

    backend: str = "sqlite"
    root_password: str | None = "root-password-1"
    root_token: str = field(default_factory=lambda: "glpat-" + secrets.token_urlsafe(20))
    port: int = field(default_factory=free_port)
    home: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dockyard-live-")))
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    command: list[str] = field(default_factory=lambda: [sys.executable, "-m", "dockyard.cli"])
    database: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DOCKYARD_ROOT_PASSWORD")}
        if self.root_password is not None:
            env["DOCKYARD_ROOT_PASSWORD"] = self.root_password
        env.update(
            DOCKYARD_HOME=str(self.home),
            DOCKYARD_ROOT_TOKEN=self.root_token,
            DJANGO_SETTINGS_MODULE="dockyard.config.settings",
            DOCKYARD_TASKS_BACKEND="database",
            **{"DOCKYARD_EMBEDDED_RUNNER": "0", **self.extra_env},  # a test asks for the embedded runner
        )
        if self.backend == "postgres":
            if self.database is None:
                self.database = f"dockyard_live_{secrets.token_hex(4)}"
                _pg_exec(f'CREATE DATABASE "{self.database}"')
            env["DATABASE_URL"] = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.database
        return env

    def start(self, timeout: float = 60) -> LiveServer:
        log = open(self.home / "serve.log", "ab")  # noqa: SIM115  # closed with the process
        self.process = subprocess.Popen(
            [*self.command, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dockyard serve exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/readiness", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"dockyard serve not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        path = self.home / "serve.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        if self.database:
            _pg_exec(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        shutil.rmtree(self.home, ignore_errors=True)
