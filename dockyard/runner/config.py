"""The runner's configuration file, in the spirit of gitlab-runner's ``config.toml``.

Read with :mod:`tomllib`; written by the small writer below (only strings, numbers, booleans, one array
of tables), so no TOML library is needed.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

EXECUTORS = ("shell", "sandbox")


@dataclass
class RunnerConfig:
    name: str
    url: str
    token: str
    executor: str = "shell"
    builds_dir: str = ""
    cache_dir: str = ""
    # Sandbox only: may jobs reach the network? (The repository is fetched outside the sandbox either way.)
    network: bool = False
    # Sandbox only: limits applied inside (RLIMIT_NPROC, RLIMIT_AS), and the user jobs run as when the
    # runner itself is root (the kernel does not enforce RLIMIT_NPROC for root).
    max_processes: int = 512
    max_memory_mb: int = 4096
    sandbox_user: str = "nobody"
    id: int = 0


@dataclass
class Config:
    concurrent: int = 1
    # Seconds between job requests after the server said "no job" (it long-polls, so this is short).
    check_interval: float = 1.0
    runners: list[RunnerConfig] = field(default_factory=list)


def default_path() -> Path:
    home = os.environ.get("DOCKYARD_RUNNER_HOME") or str(Path.home() / ".dockyard-runner")
    return Path(home) / "config.toml"


def load(path: Path) -> Config:
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    known = {f.name for f in fields(RunnerConfig)}
    base = path.parent
    runners = []
    for raw in data.get("runners", []):
        runner = RunnerConfig(**{k: v for k, v in raw.items() if k in known})
        if runner.executor not in EXECUTORS:
            raise ValueError(f"runner {runner.name!r}: unknown executor {runner.executor!r} (use shell or sandbox)")
        runner.builds_dir = str(Path(runner.builds_dir or base / "builds").expanduser().resolve())
        runner.cache_dir = str(Path(runner.cache_dir or base / "cache").expanduser().resolve())
        runners.append(runner)
    return Config(
        concurrent=max(int(data.get("concurrent", 1)), 1),
        check_interval=float(data.get("check_interval", 1.0)),
        runners=runners,
    )


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def dumps(config: Config) -> str:
    lines = [f"concurrent = {_value(config.concurrent)}", f"check_interval = {_value(config.check_interval)}", ""]
    for runner in config.runners:
        lines.append("[[runners]]")
        lines += [f"  {key} = {_value(value)}" for key, value in asdict(runner).items()]
        lines.append("")
    return "\n".join(lines)


def save(config: Config, path: Path) -> None:
    """Written atomically and readable by its owner only: it holds runner tokens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(dumps(config))
    os.replace(tmp, path)
