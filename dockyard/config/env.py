"""The one place that reads Dockyard's environment variables (12-factor).

Everything else asks this module; nothing else calls ``os.environ`` for configuration.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path


def _default_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "dockyard"


@dataclass(frozen=True)
class Env:
    home: Path
    database_url: str | None
    redis_url: str | None
    external_url: str | None
    root_password: str | None
    root_token: str | None
    debug: bool
    log_level: str
    secret_key: str
    web_threads: int
    web_workers: int

    internal_url: str | None
    tasks_backend: str
    embedded_worker: bool
    # Webhook deliveries: the total time one request may take (GitLab: 10 s), and the delays before each
    # retry of a delivery that failed with a network error, 429 or 5xx (one retry per entry).
    webhook_timeout: float = 10.0
    webhook_retry_delays: tuple[float, ...] = (10.0, 60.0)
    # How long ``POST /api/v4/jobs/request`` waits for a job before answering 204 (GitLab Workhorse: 50 s).
    ci_long_poll_seconds: float = 50.0
    # ``dockyard serve`` starts a runner of its own (an instance runner, sandboxed when bubblewrap works).
    embedded_runner: bool = True
    embedded_runner_concurrent: int = 2
    # How often each worker looks for due pipeline schedules, in seconds.
    schedule_interval: float = 30.0
    # Outgoing mail (notifications). No SMTP host: Dockyard sends no mail at all and queues none.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_tls: str = ""  # "" (plain), "starttls" or "ssl"
    smtp_timeout: float = 10.0
    email_from: str = "Dockyard <dockyard@localhost>"

    @property
    def sqlite_path(self) -> Path:
        return self.home / "dockyard.sqlite3"

    @property
    def repositories(self) -> Path:
        return self.home / "repositories"

    @property
    def hooks(self) -> Path:
        return self.home / "hooks"

    @property
    def objects(self) -> Path:
        return self.home / "objects"


def _secret_key(home: Path) -> str:
    """A per-installation key kept in the home, created on first use.

    Several processes (web, workers) must agree on it, so it lives on disk rather than in memory.
    """
    if value := os.environ.get("DOCKYARD_SECRET_KEY"):
        return value
    path = home / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        home.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        # O_EXCL: when two processes start at once, exactly one writes and both read its key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


def load() -> Env:
    home = Path(os.environ.get("DOCKYARD_HOME") or _default_home()).expanduser().resolve()
    return Env(
        home=home,
        database_url=os.environ.get("DATABASE_URL") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
        external_url=(os.environ.get("DOCKYARD_EXTERNAL_URL") or "").rstrip("/") or None,
        root_password=os.environ.get("DOCKYARD_ROOT_PASSWORD") or None,
        root_token=os.environ.get("DOCKYARD_ROOT_TOKEN") or None,
        debug=os.environ.get("DOCKYARD_DEBUG", "") in {"1", "true", "yes"},
        log_level=os.environ.get("DOCKYARD_LOG_LEVEL", "INFO").upper(),
        secret_key=_secret_key(home),
        web_threads=int(os.environ.get("DOCKYARD_WEB_THREADS", "16")),
        web_workers=int(os.environ.get("DOCKYARD_WEB_WORKERS", "1")),
        internal_url=(os.environ.get("DOCKYARD_INTERNAL_URL") or "").rstrip("/") or None,
        tasks_backend=os.environ.get("DOCKYARD_TASKS_BACKEND", "database"),
        embedded_worker=os.environ.get("DOCKYARD_EMBEDDED_WORKER", "1") not in {"0", "false", "no"},
        webhook_timeout=float(os.environ.get("DOCKYARD_WEBHOOK_TIMEOUT", "10")),
        webhook_retry_delays=tuple(
            float(d) for d in os.environ.get("DOCKYARD_WEBHOOK_RETRY_DELAYS", "10,60").split(",") if d.strip()
        ),
        ci_long_poll_seconds=float(os.environ.get("DOCKYARD_CI_LONG_POLL_SECONDS", "50")),
        embedded_runner=os.environ.get("DOCKYARD_EMBEDDED_RUNNER", "1") not in {"0", "false", "no"},
        embedded_runner_concurrent=int(os.environ.get("DOCKYARD_EMBEDDED_RUNNER_CONCURRENT", "2")),
        schedule_interval=float(os.environ.get("DOCKYARD_SCHEDULE_INTERVAL", "30")),
        smtp_host=os.environ.get("DOCKYARD_SMTP_HOST") or None,
        smtp_port=int(os.environ.get("DOCKYARD_SMTP_PORT", "25")),
        smtp_user=os.environ.get("DOCKYARD_SMTP_USER", ""),
        smtp_password=os.environ.get("DOCKYARD_SMTP_PASSWORD", ""),
        smtp_tls=os.environ.get("DOCKYARD_SMTP_TLS", "").lower(),
        smtp_timeout=float(os.environ.get("DOCKYARD_SMTP_TIMEOUT", "10")),
        email_from=os.environ.get("DOCKYARD_EMAIL_FROM") or "Dockyard <dockyard@localhost>",
    )


ENV = load()
