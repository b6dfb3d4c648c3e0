"""The executors for real: bash, and bubblewrap when this machine can run it. Bounded and fast."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from dockyard.runner.config import RunnerConfig
from dockyard.runner.executors import Executor, Outcome, SandboxExecutor, ShellExecutor, bwrap_works
from dockyard.runner.job import shell_script

needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap cannot create a sandbox here")


def _run(
    executor: Executor,
    tmp_path: Path,
    commands: list[str],
    *,
    timeout: float = 20,
    cancel: threading.Event | None = None,
) -> tuple[Outcome, str]:
    build, tmp = tmp_path / "builds" / "0" / "grp" / "proj", tmp_path / "builds" / "0" / "grp" / "proj.tmp"
    build.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    inner_build, inner_tmp = executor.inner(build, tmp, "grp/proj")
    script = tmp / "script.sh"
    script.write_text(shell_script(commands, project_dir=inner_build))
    executor.prepare(build, tmp)
    out = bytearray()
    outcome = executor.run(
        script, build_dir=build, tmp_dir=tmp, inner_build=inner_build, inner_tmp=inner_tmp,
        env={**executor.base_env(), "CI_PROJECT_DIR": str(inner_build)}, timeout=timeout,
        cancel=cancel or threading.Event(), output=out.extend,
    )  # fmt: skip
    return outcome, out.decode(errors="replace")


def _config(tmp_path: Path, **kw: object) -> RunnerConfig:
    return RunnerConfig(
        name="t", url="http://x", token="glrt-x", builds_dir=str(tmp_path / "builds"),
        cache_dir=str(tmp_path / "cache"), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_shell_reports_exit_codes_and_stops_at_first_failure(tmp_path: Path) -> None:
    outcome, out = _run(ShellExecutor(_config(tmp_path)), tmp_path, ["echo one", "false", "echo never"])
    assert outcome.exit_code == 1 and "one" in out and "never" not in out.replace("$ echo never", "")
    outcome, _ = _run(ShellExecutor(_config(tmp_path)), tmp_path, ["exit 7"])
    assert outcome.exit_code == 7


def test_cancel_and_timeout_kill_the_process_tree(tmp_path: Path) -> None:
    marker = tmp_path / "alive"
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    # A child in the background and a grandchild keep writing; all must die with the job.
    commands = [f"(while true; do date > {marker}; sleep 0.1; done) &", "sleep 60"]
    outcome, _ = _run(ShellExecutor(_config(tmp_path)), tmp_path, commands, cancel=cancel)
    assert outcome.canceled and time.monotonic() - started < 10
    time.sleep(0.5)
    before = marker.stat().st_mtime
    time.sleep(0.5)
    assert marker.stat().st_mtime == before  # nothing writes any more
    outcome, _ = _run(ShellExecutor(_config(tmp_path)), tmp_path, ["sleep 60"], timeout=1)
    assert outcome.timed_out


@needs_bwrap
def test_sandbox_build_dir_is_the_only_writable_place(tmp_path: Path) -> None:
    executor = SandboxExecutor(_config(tmp_path))
    secret = tmp_path / "config.toml"
    secret.write_text("token = 'glrt-secret'")
    outcome, out = _run(executor, tmp_path, ["echo ok > result.txt", "echo tmp > /tmp/x", "cat result.txt"])
    assert outcome.exit_code == 0 and "ok" in out, out
    assert (tmp_path / "builds" / "0" / "grp" / "proj" / "result.txt").read_text() == "ok\n"
    for command in ["touch /usr/evil", "touch /etc/evil", f"cat {secret}", f"touch {tmp_path}/evil"]:
        outcome, out = _run(executor, tmp_path, [command])
        assert outcome.exit_code != 0, (command, out)
    assert not (tmp_path / "evil").exists()
    outcome, out = _run(executor, tmp_path, ["env"])
    assert "DOCKYARD" not in out and "DATABASE_URL" not in out


@needs_bwrap
def test_sandbox_has_no_network_unless_allowed(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        connect = f"exec 3<>/dev/tcp/127.0.0.1/{server.getsockname()[1]}"
        outcome, _ = _run(SandboxExecutor(_config(tmp_path)), tmp_path, [connect])
        assert outcome.exit_code != 0
        outcome, out = _run(SandboxExecutor(_config(tmp_path, network=True)), tmp_path, [connect])
        assert outcome.exit_code == 0, out


@needs_bwrap
def test_sandbox_limits_stop_fork_bombs_and_memory_hogs(tmp_path: Path) -> None:
    executor = SandboxExecutor(_config(tmp_path, max_processes=32, max_memory_mb=256))
    started = time.monotonic()
    outcome, _ = _run(executor, tmp_path, ["bomb() { bomb | bomb & }; bomb"], timeout=4)
    assert time.monotonic() - started < 15
    assert outcome.timed_out or outcome.exit_code is not None
    outcome, out = _run(executor, tmp_path, ["python3 -c 'x = bytearray(1024 * 1024 * 1024)'"])
    assert outcome.exit_code != 0 and "MemoryError" in out, out
    # The runner (this process) is fine and the sandbox still works afterwards.
    outcome, out = _run(executor, tmp_path, ["echo still fine"])
    assert outcome.exit_code == 0 and "still fine" in out
    assert os.getpid() > 0
