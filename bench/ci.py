"""CI benchmark: job dispatch to many runners on PostgreSQL, and push-to-job-start latency on the embedded default.

1. **Dispatch** (issue 5). ``dockyard serve`` on a throwaway PostgreSQL database (127.0.0.1:5432, trust
   auth, dropped at the end), the embedded runner off, ``DOCKYARD_CI_LONG_POLL_SECONDS=0``. Simulated
   runners, each a thread with its own registered ``glrt-`` runner and its own connection, speak the
   runner protocol through Dockyard's runner client (``dockyard.runner.network``: ``POST
   /api/v4/jobs/request`` with gitlab-runner's body, then ``PUT /api/v4/jobs/:id`` with
   ``state=success`` and the job token). In interleaved rounds:

   - the **baseline**: the same runners asking with no job queued (every answer a 204) for
     ``--duration`` seconds: the raw request rate of the endpoint;
   - **dispatch**: ``--pipelines`` pipelines of ``--parallel`` jobs each are queued (through the API,
     not timed), then the runners take and finish them all; jobs finished per second, from the first
     request to the last finished job.

   Target: >= 100 jobs dispatched per second.

2. **Push to job start** (issue 6). ``dockyard serve`` in its embedded default (SQLite, the embedded
   task worker and the embedded runner, the 50 s long poll). ``--pushes`` times: a commit whose
   ``.gitlab-ci.yml`` holds one ``script: [true]`` job is pushed with real git over HTTP; from the
   moment ``git push`` returns, the time until the pipeline exists, until the job is ``running`` (its
   ``started_at``: the runner took it) and until it is ``success`` (its ``finished_at``), read from the
   server's own timestamps (same clock). Medians. Target: push to running <= 1 s median. Then the CPU
   the idle server and the idle embedded runner use over ``--idle`` seconds.

Asserts nothing on times; exits non-zero only when something could not be measured. Run with ``make
bench-ci`` (or ``make bench``, all benchmarks); directly:
``.venv/bin/python bench/ci.py [--runners 16] [--pipelines 10] [--parallel 50] [--rounds 3] [--pushes 7]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import secrets
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchkit import (
    HOST,
    REPO,
    BenchError,
    Server,
    Servers,
    clean_env,
    free_port,
    git_describe,
    http_get,
    http_post_json,
    machine_line,
    process_tree,
    run_with_servers,
    table,
)
from git import git, tree_cpu_split

from dockyard.runner.network import Network

ROOT_TOKEN = "glpat-benchci0000000000000"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DISPATCH_TARGET = 100.0  # jobs per second
LATENCY_TARGET = 1.0  # seconds, median push -> running


# --------------------------------------------------------------------------- the server and its API


def start_serve(servers: Servers, tmp: Path, name: str, workers: int = 1, **env: str) -> Server:
    home = tmp / f"home-{name.replace(' ', '-')}"
    port = free_port()
    argv = [sys.executable, "-m", "dockyard.cli", "serve", "--host", HOST, "--port", str(port)]
    argv += ["--workers", str(workers)]
    environment = clean_env(
        DOCKYARD_HOME=str(home), DOCKYARD_ROOT_PASSWORD="password123", DOCKYARD_ROOT_TOKEN=ROOT_TOKEN, **env
    )
    server = servers.start(name, argv, environment, port, cwd=REPO)
    print(f"{name}: ready in {server.wait_ready('/-/readiness'):.1f}s")
    return server


def api(server: Server, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    headers = {"PRIVATE-TOKEN": ROOT_TOKEN}
    url = f"{server.url}/api/v4/{path}"
    if method == "GET":
        status, answer = http_get(url, headers, timeout=60)
    else:
        status, answer = http_post_json(url, json.dumps(body or {}).encode(), headers, timeout=120)
    if status >= 300:
        raise BenchError(f"{method} {path} answered {status}: {answer[:300]!r}")
    return json.loads(answer) if answer else None


def new_project(server: Server, work: Path, ci_yaml: str, *push_options: str) -> tuple[dict[str, Any], str]:
    """A private project whose ``main`` holds ``ci_yaml``, pushed with git; (project, remote URL)."""
    project = api(server, "POST", "projects", {"name": f"ci-{secrets.token_hex(3)}", "visibility": "private"})
    remote = f"http://root:{ROOT_TOKEN}@{HOST}:{server.port}/{project['path_with_namespace']}.git"
    git("init", "--quiet", "--initial-branch=main", str(work))
    (work / ".gitlab-ci.yml").write_text(ci_yaml)
    commit(work, "CI configuration")
    options = [arg for option in push_options for arg in ("-o", option)]
    git("push", "--quiet", *options, remote, "main", cwd=work)
    return project, remote


def commit(work: Path, message: str) -> str:
    git("add", "--all", cwd=work)
    git("-c", "user.name=Bench", "-c", "user.email=bench@bench.invalid", "commit", "--quiet", "-m", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work).strip()


def register_runner(server: Server) -> str:
    body = {"runner_type": "instance_type", "description": "bench runner", "run_untagged": True}
    token: str = api(server, "POST", "user/runners", body)["token"]
    return token


# --------------------------------------------------------------------------- 1. dispatch on PostgreSQL


@contextmanager
def throwaway_database() -> Iterator[str]:
    import psycopg

    name = f"dockyard_bench_ci_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())  # a generated identifier
    except psycopg.OperationalError as err:
        raise BenchError(f"PostgreSQL on 127.0.0.1:5432 is not reachable ({err}); `make services` starts it") from err
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgres://") + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


@dataclass
class SimulatedRunner:
    """One runner: its own token, system id and keep-alive connection, as one gitlab-runner host."""

    token: str
    network: Network
    system_id: str = field(default_factory=lambda: "s_" + secrets.token_hex(6))
    last_update: str = ""


@dataclass
class Tally:
    jobs: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    client_cpu: float = 0.0  # CPU seconds of this process (the simulated runners) over the run


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _poll(runner: SimulatedRunner, tally: Tally, *, until: float, want_jobs: int | None) -> None:
    """Ask for jobs and finish each one at once, until ``until`` or until ``want_jobs`` are finished."""
    while time.monotonic() < until:
        if want_jobs is not None and tally.jobs >= want_jobs:
            return
        try:
            job, runner.last_update = runner.network.request_job(runner.token, runner.system_id, runner.last_update)
            finished = 0
            if job is not None:
                state = runner.network.update_job(int(job["id"]), str(job["token"]), "success", exit_code=0)
                if state.status != 200:
                    raise BenchError(f"PUT /jobs/{job['id']} answered {state.status}")
                finished = 1
        except Exception as err:
            with tally.lock:
                tally.errors.append(repr(err))
            return
        with tally.lock:
            tally.requests += 1
            tally.jobs += finished


def run_runners(runners: list[SimulatedRunner], *, seconds: float, want_jobs: int | None) -> tuple[Tally, float]:
    tally = Tally()
    cpu_before = _own_cpu()
    started = time.monotonic()
    until = started + seconds
    threads = [
        threading.Thread(target=_poll, args=(r, tally), kwargs={"until": until, "want_jobs": want_jobs}, daemon=True)
        for r in runners
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    tally.client_cpu = _own_cpu() - cpu_before
    if tally.errors:
        raise BenchError(f"{len(tally.errors)} runner(s) failed, first: {tally.errors[0]}")
    return tally, elapsed


def queue_jobs(server: Server, project_id: int, pipelines: int, parallel: int) -> int:
    for _ in range(pipelines):
        pipeline = api(server, "POST", f"projects/{project_id}/pipeline?ref=main")
        if pipeline["status"] != "pending":
            raise BenchError(f"pipeline {pipeline['id']} is {pipeline['status']}, not pending")
    return pipelines * parallel


@dataclass
class DispatchResult:
    idle_rps: list[float] = field(default_factory=list)
    jobs_per_s: list[float] = field(default_factory=list)
    dispatch_rps: list[float] = field(default_factory=list)  # jobs/request calls per second while dispatching
    queue_s: list[float] = field(default_factory=list)
    idle_cpu_ms: list[float] = field(default_factory=list)  # server CPU per 204 answer
    job_cpu_ms: list[float] = field(default_factory=list)  # server CPU per dispatched job (request + PUT)
    client_share: list[float] = field(default_factory=list)  # the runners' CPU, share of one core


def bench_dispatch(args: argparse.Namespace, servers: Servers, tmp: Path) -> DispatchResult:
    result = DispatchResult()
    with throwaway_database() as database_url:
        server = start_serve(
            servers,
            tmp,
            "dockyard serve (PostgreSQL)",
            workers=args.workers,
            DATABASE_URL=database_url,
            DOCKYARD_EMBEDDED_RUNNER="0",
            DOCKYARD_CI_LONG_POLL_SECONDS="0",
        )
        ci_yaml = f'job:\n  script: ["true"]\n  parallel: {args.parallel}\n'
        project, _ = new_project(server, tmp / "dispatch-work", ci_yaml, "ci.skip")
        runners = [SimulatedRunner(register_runner(server), Network(server.url)) for _ in range(args.runners)]
        try:
            run_runners(runners, seconds=2, want_jobs=None)  # warm up: connections, managers, caches
            print(
                f"dispatch: {args.runners} runners, {args.pipelines} pipelines x {args.parallel} jobs per round,"
                f" {args.rounds} rounds:"
            )
            for round_no in range(args.rounds):
                cpu = _cpu(server.proc.pid)
                idle, idle_s = run_runners(runners, seconds=args.duration, want_jobs=None)
                result.idle_cpu_ms.append(1000 * (_cpu(server.proc.pid) - cpu) / max(idle.requests, 1))
                result.idle_rps.append(idle.requests / idle_s)
                started = time.monotonic()
                total = queue_jobs(server, int(project["id"]), args.pipelines, args.parallel)
                result.queue_s.append(time.monotonic() - started)
                cpu = _cpu(server.proc.pid)
                busy, busy_s = run_runners(runners, seconds=max(120.0, total / 5), want_jobs=total)
                result.job_cpu_ms.append(1000 * (_cpu(server.proc.pid) - cpu) / max(busy.jobs, 1))
                result.client_share.append(busy.client_cpu / busy_s)
                if busy.jobs < total:
                    raise BenchError(f"only {busy.jobs} of {total} jobs were dispatched in {busy_s:.0f}s")
                result.jobs_per_s.append(busy.jobs / busy_s)
                result.dispatch_rps.append(busy.requests / busy_s)
                print(
                    f"  round {round_no + 1}: no jobs {result.idle_rps[-1]:.0f} req/s;"
                    f" {busy.jobs} jobs in {busy_s:.1f}s = {result.jobs_per_s[-1]:.0f} jobs/s"
                    f" ({busy.requests} jobs/request calls; queueing them took {result.queue_s[-1]:.1f}s)",
                    flush=True,
                )
        finally:
            for runner in runners:
                runner.network.close()
            server.stop()
            servers.started.remove(server)
    return result


# --------------------------------------------------------------------------- 2. push to job start, embedded


def _time(value: str | None) -> float | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


@dataclass
class LatencyResult:
    executor: str = ""
    to_pipeline: list[float] = field(default_factory=list)
    to_running: list[float] = field(default_factory=list)
    to_success: list[float] = field(default_factory=list)
    idle_server_cpu: float = 0.0  # share of one core
    idle_runner_cpu: float = 0.0
    idle_seconds: float = 0.0


def _wait_job(server: Server, project_id: int, sha: str, timeout: float = 120.0) -> tuple[dict[str, Any], Any]:
    deadline = time.monotonic() + timeout
    pipelines: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        pipelines = api(server, "GET", f"projects/{project_id}/pipelines?sha={sha}")
        if pipelines and pipelines[0]["status"] in ("success", "failed", "canceled", "skipped"):
            jobs = api(server, "GET", f"projects/{project_id}/pipelines/{pipelines[0]['id']}/jobs")
            return pipelines[0], jobs[0]
        time.sleep(0.05)
    raise BenchError(f"the pipeline of {sha[:8]} did not finish within {timeout:.0f}s: {pipelines}")


def _runner_pid(server: Server) -> int | None:
    for pid in process_tree(server.proc.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"dockyard.runner" in cmdline:
            return pid
    return None


def _cpu(pid: int) -> float:
    own, _ = tree_cpu_split(pid)
    return own


def bench_latency(args: argparse.Namespace, servers: Servers, tmp: Path) -> LatencyResult:
    result = LatencyResult()
    server = start_serve(servers, tmp, "dockyard serve (embedded default)", DOCKYARD_EMBEDDED_RUNNER="1")
    if "sandbox executor" in server.log_tail(200):
        result.executor = "sandbox"
    elif "shell executor" in server.log_tail(200):
        result.executor = "shell"
    work = tmp / "latency-work"
    project, remote = new_project(server, work, 'job:\n  script: ["true"]\n')
    pid = int(project["id"])
    first = git("rev-parse", "HEAD", cwd=work).strip()
    _wait_job(server, pid, first)  # the first pipeline: warms the runner, the worker and the caches
    print(f"push to job start: {args.pushes} pushes of a one-job pipeline (script: [true]):", end="", flush=True)
    for n in range(args.pushes):
        time.sleep(1.0)  # the runner is back in its long poll, the worker idle
        (work / "counter.txt").write_text(f"{n}\n")
        sha = commit(work, f"push {n}")
        git("push", "--quiet", remote, "main", cwd=work)
        pushed = time.time()
        pipeline, job = _wait_job(server, pid, sha)
        if job["status"] != "success":
            raise BenchError(f"job {job['id']} ended {job['status']}; see the server log")
        created, started, finished = _time(pipeline["created_at"]), _time(job["started_at"]), _time(job["finished_at"])
        assert created is not None and started is not None and finished is not None
        result.to_pipeline.append(created - pushed)
        result.to_running.append(started - pushed)
        result.to_success.append(finished - pushed)
        print(f" {started - pushed:.2f}s", end="", flush=True)
    print()
    runner = _runner_pid(server)
    time.sleep(3.0)
    server_before = _cpu(server.proc.pid) - (_cpu(runner) if runner else 0.0)
    runner_before = _cpu(runner) if runner else 0.0
    started_idle = time.monotonic()
    time.sleep(args.idle)
    result.idle_seconds = time.monotonic() - started_idle
    server_after = _cpu(server.proc.pid) - (_cpu(runner) if runner else 0.0)
    runner_after = _cpu(runner) if runner else 0.0
    result.idle_server_cpu = (server_after - server_before) / result.idle_seconds
    result.idle_runner_cpu = (runner_after - runner_before) / result.idle_seconds
    return result


# --------------------------------------------------------------------------- report


def _spread(values: list[float], digits: int = 0) -> str:
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


def report(dispatch: DispatchResult | None, latency: LatencyResult | None) -> None:
    if dispatch is not None:
        jobs = statistics.median(dispatch.jobs_per_s)
        idle = statistics.median(dispatch.idle_rps)
        busy = statistics.median(dispatch.dispatch_rps)
        rows = [
            ["jobs/request, no job queued (204): the baseline", f"{idle:.0f} req/s", _spread(dispatch.idle_rps),
             "1.00"],
            ["jobs/request while dispatching (201 or 204)", f"{busy:.0f} req/s", _spread(dispatch.dispatch_rps),
             f"{busy / idle:.2f}"],
            ["jobs dispatched (request + PUT success)", f"{jobs:.0f} jobs/s", _spread(dispatch.jobs_per_s),
             f"{jobs / idle:.2f}"],
        ]  # fmt: skip
        print()
        print("Dispatch on PostgreSQL (median of the rounds):")
        print(table(["measure", "median", "min-max", "ratio to baseline"], rows))
        idle_ms, job_ms = statistics.median(dispatch.idle_cpu_ms), statistics.median(dispatch.job_cpu_ms)
        print(
            f"server CPU (the dockyard processes, PostgreSQL not counted): {idle_ms:.1f} ms per 204 answer,"
            f" {job_ms:.1f} ms per dispatched job ({job_ms / idle_ms:.1f}x; about {1000 / job_ms:.0f} jobs/s per"
            f" core); the simulated runners used {100 * statistics.median(dispatch.client_share):.0f}% of a core"
        )
        verdict = "met" if jobs >= DISPATCH_TARGET else "NOT MET"
        print(f"target: >= {DISPATCH_TARGET:.0f} jobs dispatched per second: {jobs:.0f}/s, {verdict}")
    if latency is not None:
        rows = [
            [label, f"{statistics.median(values):.2f} s", _spread(values, 2)]
            for label, values in (
                ("push returned -> pipeline created", latency.to_pipeline),
                ("push returned -> job running (runner took it)", latency.to_running),
                ("push returned -> job success (trivial job end to end)", latency.to_success),
            )
        ]
        print()
        print(f"Push to job start, embedded default (SQLite, embedded runner: {latency.executor or '?'} executor):")
        print(table(["measure (median)", "median", "min-max"], rows))
        median = statistics.median(latency.to_running)
        verdict = "met" if median <= LATENCY_TARGET else "NOT MET"
        print(f"target: push to running <= {LATENCY_TARGET:.0f} s median: {median:.2f}s, {verdict}")
        print(
            f"idle for {latency.idle_seconds:.0f}s: server {100 * latency.idle_server_cpu:.1f}% of a core"
            f" (web, task worker), embedded runner {100 * latency.idle_runner_cpu:.1f}% of a core"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runners", type=int, default=16, help="simulated runners (default 16)")
    parser.add_argument("--pipelines", type=int, default=10, help="pipelines queued per round (default 10)")
    parser.add_argument("--parallel", type=int, default=50, help="jobs per pipeline (default 50)")
    parser.add_argument("--rounds", type=int, default=3, help="dispatch rounds (default 3)")
    parser.add_argument("--workers", type=int, default=1, help="web processes of the PostgreSQL server (default 1)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of the no-job baseline per round")
    parser.add_argument("--pushes", type=int, default=7, help="pushes for the latency measure (default 7)")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measure (default 10)")
    parser.add_argument("--only", choices=("dispatch", "latency"), help="run one of the two parts")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("git") is None:
        print("git is not installed", file=sys.stderr)
        return 2
    print("CI benchmark: job dispatch (PostgreSQL) and push to job start (embedded default), loopback")
    print(f"  machine: {machine_line()}")
    print(f"  code:    {git_describe()}")
    print()

    def body(tmp: Path, servers: Servers) -> int:
        dispatch = bench_dispatch(args, servers, tmp) if args.only != "latency" else None
        latency = bench_latency(args, servers, tmp) if args.only != "dispatch" else None
        report(dispatch, latency)
        return 0

    status = run_with_servers("dockyard-bench-ci-", body)
    if status:
        return status
    print()
    print(
        "rerun: make bench-ci  (or: .venv/bin/python bench/ci.py"
        f" --runners {args.runners} --pipelines {args.pipelines} --parallel {args.parallel} --rounds {args.rounds}"
        f" --workers {args.workers} --pushes {args.pushes})"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
