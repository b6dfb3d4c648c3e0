"""Helpers shared by the benchmarks: servers in their own process groups, wrk, /proc memory, tables.

Everything here talks to 127.0.0.1 only, every load run is bounded by wrk's ``-d``, and every server
started through :class:`Servers` is stopped (SIGTERM, then SIGKILL to its whole process group) when
the ``with`` block ends, whether it ends normally, on an error or on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
HOST = "127.0.0.1"

# Variables that would point a benchmarked server at something other than its own fresh SQLite home.
_FOREIGN_ENV = ("DATABASE_URL", "REDIS_URL", "DOCKYARD_EXTERNAL_URL", "DOCKYARD_INTERNAL_URL", "DJANGO_SETTINGS_MODULE")


class BenchError(RuntimeError):
    """A benchmark could not be carried out (a server did not start, wrk failed...)."""


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
    env.update(extra)
    return env


def baseline_env(db_path: Path, **extra: str) -> dict[str, str]:
    """Environment for anything that imports ``baseline`` (bench/baseline/)."""
    pythonpath = os.pathsep.join(p for p in (str(BENCH_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return clean_env(
        PYTHONPATH=pythonpath,
        DJANGO_SETTINGS_MODULE="baseline.settings",
        BENCH_BASELINE_DB=str(db_path),
        **extra,
    )


def prepare_baseline(db_path: Path) -> None:
    """Create the baseline's SQLite database with its tables and one user (pk=1)."""
    result = subprocess.run(
        [sys.executable, "-m", "baseline.prepare"],
        env=baseline_env(db_path),
        cwd=BENCH_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"preparing the baseline database failed:\n{result.stdout}{result.stderr}")


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, path: str, timeout: float = 120.0) -> float:
        """Poll ``path`` until it answers 200; returns the seconds it took since the process started."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, _ = http_get(self.url + path, timeout=2.0)
                if status == 200:
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"{self.name} did not answer 200 on {path} within {timeout:.0f}s:\n{self.log_tail()}")

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the server's process group, SIGKILL whatever is left after ``grace`` seconds."""
        pgid = self.proc.pid  # started with start_new_session=True: the group id is the leader's pid
        if self.proc.poll() is None:
            _signal_group(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        _signal_group(pgid, signal.SIGKILL)  # workers that outlived their parent, or a stuck leader
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            print(f"warning: {self.name} (pid {pgid}) did not exit after SIGKILL", file=sys.stderr)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


class Servers:
    """Starts servers in their own sessions and stops every one of them when the block is left."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Server] = []

    def __enter__(self) -> Servers:
        signal.signal(signal.SIGTERM, _raise_on_sigterm)  # so `finally` blocks run on SIGTERM too
        # Ctrl-C raises KeyboardInterrupt even when started from a shell that ignores SIGINT (`cmd &`).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for server in reversed(self.started):
            server.stop()
        self.started.clear()

    def start(self, name: str, argv: Sequence[str], env: dict[str, str], port: int, cwd: Path = REPO) -> Server:
        log_path = self.workdir / f"{re.sub(r'[^A-Za-z0-9]+', '-', name).strip('-')}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                list(argv),
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us, not it; we stop its whole group ourselves
            )
        server = Server(name=name, port=port, proc=proc, log_path=log_path)
        self.started.append(server)
        return server


def run_with_servers(prefix: str, body: Callable[[Path, Servers], int]) -> int:
    """Run ``body`` in a fresh temporary directory with a :class:`Servers` (all stopped at the end);
    a :class:`BenchError` prints the started servers' last log lines and gives exit status 1."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, Servers(Path(tmp)) as servers:
        try:
            return body(Path(tmp), servers)
        except BenchError as err:
            print(f"\nbenchmark failed: {err}", file=sys.stderr)
            for server in servers.started:
                print(f"--- {server.name} log (last lines):\n{server.log_tail()}", file=sys.stderr)
            return 1


def granian_argv(target: str, interface: str, port: int, workers: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        interface,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        target,
    ]


# --------------------------------------------------------------------------- HTTP


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def http_post_json(url: str, body: bytes, headers: dict[str, str], timeout: float = 30.0) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={**headers, "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def warm_up(url: str, count: int, headers: dict[str, str] | None = None) -> None:
    for _ in range(count):
        status, body = http_get(url, headers)
        if status != 200:
            raise BenchError(f"warm-up GET {url} answered {status}: {body[:300]!r}")


# --------------------------------------------------------------------------- wrk

WRK_INSTALL_HINT = "wrk is not installed. Install Debian's package: `apt-get install wrk` (or `make wrk`)."


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise BenchError(WRK_INSTALL_HINT)
    return path


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad_responses: int  # non-2xx/3xx answers plus socket errors (timeouts included)

    @property
    def ok(self) -> bool:
        return self.requests > 0 and self.bad_responses == 0


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if match is None:
        raise BenchError(f"cannot read wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"^\s+(\d+) requests in", output, re.M)
    if not (rps and p50 and p99 and total):
        raise BenchError(f"unexpected wrk output:\n{output}")
    bad = 0
    if non2xx := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        bad += int(non2xx.group(1))
    if sock := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        bad += sum(int(g) for g in sock.groups())
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=_duration_ms(p50.group(1)),
        p99_ms=_duration_ms(p99.group(1)),
        requests=int(total.group(1)),
        bad_responses=bad,
    )


@dataclass(frozen=True)
class Load:
    """wrk's knobs: ``wrk -t<threads> -c<connections> -d<duration>s --latency``."""

    duration: int = 5
    connections: int = 16
    threads: int = 1

    def argv(self, url: str, headers: dict[str, str] | None = None, duration: int | None = None) -> list[str]:
        argv = [wrk_binary(), f"-t{self.threads}", f"-c{self.connections}", f"-d{duration or self.duration}s"]
        argv.append("--latency")
        for key, value in (headers or {}).items():
            argv += ["-H", f"{key}: {value}"]
        return [*argv, url]

    def describe(self) -> str:
        return f"wrk -t{self.threads} -c{self.connections} -d{self.duration}s --latency"


def run_wrk(load: Load, url: str, headers: dict[str, str] | None = None, duration: int | None = None) -> WrkResult:
    if not url.startswith(f"http://{HOST}:"):
        raise BenchError(f"refusing to load anything but loopback: {url}")
    seconds = duration or load.duration
    result = subprocess.run(
        load.argv(url, headers, duration),
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"wrk failed on {url}:\n{result.stdout}{result.stderr}")
    return parse_wrk(result.stdout)


@dataclass(frozen=True)
class Summary:
    """Medians over the rounds of one target."""

    rps: float
    p50_ms: float
    p99_ms: float
    rounds: tuple[WrkResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rounds)

    @property
    def spread(self) -> str:
        """The lowest and highest req/s of the rounds, to show how noisy the machine was."""
        values = [r.rps for r in self.rounds]
        return f"{min(values):.0f}-{max(values):.0f}"


def summarize(results: Sequence[WrkResult]) -> Summary:
    return Summary(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        rounds=tuple(results),
    )


# --------------------------------------------------------------------------- /proc


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendant processes (not threads), from /proc/<pid>/task/*/children."""
    seen: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in seen or not Path(f"/proc/{pid}").exists():
            continue
        seen.append(pid)
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                todo += [int(c) for c in children.read_text().split()]
            except OSError:
                continue
    return seen


def _proc_kb(path: str, field: str) -> int:
    try:
        text = Path(path).read_text()
    except OSError:
        return 0
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else 0


@dataclass(frozen=True)
class Memory:
    processes: int
    rss_mb: float  # sum of VmRSS: pages shared between a parent and its forked workers count twice
    pss_mb: float  # sum of Pss: shared pages divided among their sharers, the truer total

    def __str__(self) -> str:
        return f"RSS {self.rss_mb:6.1f} MB  (PSS {self.pss_mb:6.1f} MB, {self.processes} processes)"


def memory(pids: Sequence[int]) -> Memory:
    rss = sum(_proc_kb(f"/proc/{pid}/status", "VmRSS") for pid in pids)
    pss = sum(_proc_kb(f"/proc/{pid}/smaps_rollup", "Pss") for pid in pids)
    return Memory(processes=len(pids), rss_mb=rss / 1024, pss_mb=pss / 1024)


# --------------------------------------------------------------------------- report


def machine_line() -> str:
    load1, load5, _ = os.getloadavg()
    return (
        f"{dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {os.cpu_count()} cores; "
        f"load average {load1:.2f}/{load5:.2f}; Python {platform.python_version()}; {_versions()}"
    )


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for dist in ("Django", "granian", "a2wsgi", "django-ninja", "uvicorn"):
        try:
            parts.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            continue
    return ", ".join(parts)


def git_describe(ref: str | None = None) -> str:
    """The commit benchmarked: ``ref`` as exported, or the working tree's HEAD and whether it is dirty."""
    result = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%h %s", ref or "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    if ref:
        return f"{result.stdout.strip()} (exported from {ref})"
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--", "dockyard"],
        capture_output=True,
        text=True,
        check=False,
    )
    suffix = " (+ uncommitted changes under dockyard/)" if dirty.stdout.strip() else ""
    return result.stdout.strip() + suffix


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    sep = "|" + "|".join(("-" * (w + 2)) if i == 0 else ("-" * (w + 1) + ":") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])
