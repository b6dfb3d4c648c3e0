"""Running a job's script: the ``shell`` executor (trusted, the runner's own user) and the ``sandbox``
executor (bubblewrap: read-only system, private /tmp, only the build directory writable, no network
unless allowed, process-count and memory limits, and an unprivileged user when the runner is root).

Either way the script runs in its own process group (and, in the sandbox, its own PID namespace), so a
timeout, a cancel or the end of the job kills every process it started.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dockyard.runner.config import RunnerConfig

SYSTEM_DIRS_RO = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def bwrap_works() -> bool:
    """Can bubblewrap create a sandbox on this machine? (Missing binary, or user namespaces disabled.)"""
    if shutil.which("bwrap") is None:
        return False
    try:
        probe = ["bwrap", "--ro-bind", "/", "/", "true"]
        return subprocess.run(probe, capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@dataclass
class Outcome:
    exit_code: int | None  # None when the process was killed by us
    timed_out: bool = False
    canceled: bool = False


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class Executor:
    name = "shell"

    def __init__(self, config: RunnerConfig) -> None:
        self.config = config

    def base_env(self) -> dict[str, str]:
        """What the job's environment starts from, before the job's variables. The runner's own
        environment is not passed on: it may hold the runner's secrets."""
        home = os.environ.get("HOME", "/tmp")
        return {"PATH": os.environ.get("PATH", DEFAULT_PATH), "HOME": home, "LANG": "C.UTF-8", "SHELL": "/bin/bash"}

    def prepare(self, build_dir: Path, tmp_dir: Path) -> None:
        """Called once the sources are in place, before the first script."""

    def inner(self, build_dir: Path, tmp_dir: Path, project_path: str) -> tuple[Path, Path]:
        """Where the job sees its build and temporary directories."""
        return build_dir, tmp_dir

    def command(self, script: Path, build_dir: Path, tmp_dir: Path, inner_build: Path, inner_tmp: Path) -> list[str]:
        return ["bash", "--noprofile", "--norc", "-e", str(script)]

    def run(
        self, script: Path, *, build_dir: Path, tmp_dir: Path, inner_build: Path, inner_tmp: Path,
        env: Mapping[str, str], timeout: float, cancel: threading.Event, output: Callable[[bytes], None],
    ) -> Outcome:  # fmt: skip
        proc = subprocess.Popen(
            self.command(script, build_dir, tmp_dir, inner_build, inner_tmp),
            cwd=build_dir,
            umask=0o022,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert proc.stdout is not None
        fd = proc.stdout.fileno()

        def pump() -> None:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                output(chunk)

        reader = threading.Thread(target=pump, name=f"output-{proc.pid}", daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        outcome: Outcome | None = None
        while outcome is None:
            try:
                code = proc.wait(timeout=0.1)
                outcome = Outcome(exit_code=code if code >= 0 else 128 - code)
            except subprocess.TimeoutExpired:
                if cancel.is_set():
                    outcome = Outcome(exit_code=None, canceled=True)
                elif time.monotonic() >= deadline:
                    outcome = Outcome(exit_code=None, timed_out=True)
        # Whatever is left of the tree (background processes, or everything on timeout/cancel) goes too.
        kill_tree(proc)
        proc.wait()
        reader.join(timeout=5)
        proc.stdout.close()
        return outcome


class ShellExecutor(Executor):
    name = "shell"


class SandboxExecutor(Executor):
    """bubblewrap. Inside, the job sees ``/builds/<project path>`` (its checkout, writable) and
    ``/builds/<project path>.tmp`` (its script and file variables, read-only), a read-only system and a
    private ``/tmp``; nothing else of the host: not the runner's configuration, token or cache.

    When the runner runs as root, bubblewrap keeps root only to set the sandbox up and the job runs as
    ``sandbox_user`` (``nobody``) with no capabilities and ``no_new_privs``: the kernel does not apply
    RLIMIT_NPROC to root. Otherwise bubblewrap runs unprivileged in a user namespace."""

    name = "sandbox"
    ROOT = "/builds"

    def _user(self) -> tuple[int, int] | None:
        if os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam(self.config.sandbox_user)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            return 65534, 65534

    def inner(self, build_dir: Path, tmp_dir: Path, project_path: str) -> tuple[Path, Path]:
        inner = Path(self.ROOT) / project_path
        return inner, inner.with_name(inner.name + ".tmp")

    def base_env(self) -> dict[str, str]:
        return {"PATH": DEFAULT_PATH, "HOME": "/tmp", "LANG": "C.UTF-8", "SHELL": "/bin/bash", "TMPDIR": "/tmp"}

    def prepare(self, build_dir: Path, tmp_dir: Path) -> None:
        user = self._user()
        if user is None:
            return
        uid, gid = user
        for root in (build_dir, tmp_dir):
            os.chown(root, uid, gid)
            for dirpath, dirnames, filenames in os.walk(root):
                for name in dirnames + filenames:
                    os.lchown(os.path.join(dirpath, name), uid, gid)

    def command(self, script: Path, build_dir: Path, tmp_dir: Path, inner_build: Path, inner_tmp: Path) -> list[str]:
        cmd = [
            "bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "dockyard-sandbox",
        ]  # fmt: skip
        user = self._user()
        if user is None:
            cmd.append("--unshare-user")
        if not self.config.network:
            cmd.append("--unshare-net")
        for path in SYSTEM_DIRS_RO:
            cmd += ["--ro-bind-try", path, path]
        cmd += ["--proc", "/proc", "--dev", "/dev"]
        cmd += ["--perms", "1777", "--size", str(self.config.max_memory_mb * 1024 * 1024), "--tmpfs", "/tmp"]
        parents = [p for p in reversed(inner_build.parents) if str(p) != "/"]
        for parent in parents:
            cmd += ["--perms", "0755", "--dir", str(parent)]
        cmd += ["--bind", str(build_dir), str(inner_build), "--ro-bind", str(tmp_dir), str(inner_tmp)]
        cmd += ["--chdir", str(inner_build)]
        if user is not None:
            cmd += [
                "setpriv", f"--reuid={user[0]}", f"--regid={user[1]}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs",
            ]  # fmt: skip
        limits = 'ulimit -u "$1" && ulimit -v "$2" && exec bash --noprofile --norc -e "$3"'
        inner_script = inner_tmp / script.name
        cmd += [
            "bash", "--noprofile", "--norc", "-c", limits, "limits",
            str(self.config.max_processes), str(self.config.max_memory_mb * 1024), str(inner_script),
        ]  # fmt: skip
        return cmd


def executor_for(config: RunnerConfig) -> Executor:
    return SandboxExecutor(config) if config.executor == "sandbox" else ShellExecutor(config)
