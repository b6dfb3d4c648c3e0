"""Dockyard's benchmark: idle memory of ``dockyard serve`` and API throughput beside a bare Django.

Run with ``make bench`` or ``.venv/bin/python bench/run.py [--duration 5 --rounds 3]``.

Prints ratios against a baseline measured in the same run (the machine is shared and noisy: absolute
numbers move from run to run, ratios much less). Asserts nothing about times; exits non-zero only when
a measurement could not be made (a server did not start, a request failed, wrk is missing).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchkit import (
    BENCH_DIR,
    HOST,
    REPO,
    BenchError,
    Load,
    Memory,
    Server,
    Servers,
    Summary,
    WrkResult,
    baseline_env,
    clean_env,
    free_port,
    git_describe,
    granian_argv,
    http_post_json,
    machine_line,
    memory,
    prepare_baseline,
    run_wrk,
    summarize,
    table,
    warm_up,
    wrk_binary,
)

ROOT_TOKEN = "glpat-benchtoken00000000000"
AUTH = {"PRIVATE-TOKEN": ROOT_TOKEN}
BASELINE = "baseline: GET /orm (bare Django, granian WSGI)"


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Memories:
    warm: Memory
    settled: Memory
    after_load: Memory
    baseline: Memory


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported (default 3)")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds idle before the settled RSS (default 10)")
    parser.add_argument("--workers", type=int, default=1, help="dockyard serve --workers (default 1)")
    parser.add_argument(
        "--no-variants",
        action="store_true",
        help="skip Dockyard's app under other servers (granian WSGI direct, the previous a2wsgi bridge)",
    )
    parser.add_argument(
        "--ref",
        help="benchmark this git ref (exported to a temporary directory) instead of the working tree",
    )
    return parser.parse_args(argv)


def export_ref(ref: str, dest: Path) -> Path:
    """``git archive REF`` into ``dest``: a clean tree to import ``dockyard`` from (PYTHONPATH wins
    over the editable install's finder, which sits at the end of ``sys.meta_path``)."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], capture_output=True, check=False)
    if archive.returncode != 0:
        raise BenchError(f"git archive {ref} failed: {archive.stderr.decode(errors='replace')}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        wrk_binary()
    except BenchError as err:
        print(err, file=sys.stderr)
        return 2
    load = Load(duration=args.duration, connections=args.connections, threads=args.threads)
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as tmp, Servers(Path(tmp)) as servers:
        try:
            return bench(args, load, Path(tmp), servers)
        except BenchError as err:
            print(f"\nbenchmark failed: {err}", file=sys.stderr)
            return 1


def bench(args: argparse.Namespace, load: Load, tmp: Path, servers: Servers) -> int:
    source = export_ref(args.ref, tmp / "src") if args.ref else REPO
    dockyard_env = clean_env(
        DOCKYARD_HOME=str(tmp / "home"),
        DOCKYARD_ROOT_PASSWORD="password123",
        DOCKYARD_ROOT_TOKEN=ROOT_TOKEN,
        **({"PYTHONPATH": str(source)} if args.ref else {}),
    )
    print("Dockyard benchmark")
    print(f"  machine: {machine_line()}")
    print(f"  code:    {git_describe(args.ref)}")
    print(f"  load:    {load.describe()} (loopback), {args.rounds} interleaved rounds, medians shown")
    print()

    dockyard, project_path = start_dockyard(servers, dockyard_env, source, args.workers)
    warm = memory(dockyard.pids())
    print(f"  idle after warm-up:       {warm}")
    time.sleep(args.settle)
    settled = memory(dockyard.pids())
    print(f"  idle after {args.settle:.0f}s settling:  {settled}")

    db = tmp / "baseline.sqlite3"
    prepare_baseline(db)
    port = free_port()
    argv = granian_argv("baseline.wsgi:application", "wsgi", port)
    baseline = servers.start("baseline granian wsgi", argv, baseline_env(db), port)
    baseline.wait_ready("/orm")
    warm_up(f"{baseline.url}/orm", 20)
    baseline_memory = memory(baseline.pids())
    print(f"baseline (bare Django, granian WSGI) idle: {baseline_memory}")

    targets = [
        Target(BASELINE, f"{baseline.url}/orm", {}),
        Target("dockyard serve: GET /api/v4/projects/:id", dockyard.url + project_path, AUTH),
        Target("dockyard serve: GET /-/liveness", f"{dockyard.url}/-/liveness", {}),
    ]
    if not args.no_variants:
        targets += start_variants(servers, dockyard_env, source, project_path)
    print()
    summaries = measure(load, targets, args.rounds)
    memories = Memories(warm, settled, memory(dockyard.pids()), baseline_memory)
    print()
    report(summaries, memories)
    print()
    print(
        "rerun: make bench  (or: .venv/bin/python bench/run.py"
        f" --duration {args.duration} --rounds {args.rounds} --connections {args.connections} --workers {args.workers}"
        f"{' --ref ' + args.ref if args.ref else ''})"
    )
    failed = [name for name, s in summaries.items() if not s.ok]
    if failed:
        print(f"\nWARNING: non-2xx answers or socket errors in: {', '.join(failed)}; these numbers are not valid.")
        print(f"dockyard log (last lines):\n{dockyard.log_tail()}")
        return 1
    return 0


def start_dockyard(servers: Servers, env: dict[str, str], source: Path, workers: int) -> tuple[Server, str]:
    """Start ``dockyard serve``, create a project, warm up; returns the server and the project's path."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "dockyard.cli",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    dockyard = servers.start("dockyard serve", argv, env, port, cwd=source)
    startup = dockyard.wait_ready("/-/readiness")
    body = json.dumps({"name": "bench"}).encode()
    status, answer = http_post_json(f"{dockyard.url}/api/v4/projects", body, AUTH)
    if status != 201:
        raise BenchError(f"POST /api/v4/projects answered {status}: {answer[:300]!r}")
    project_path = f"/api/v4/projects/{json.loads(answer)['id']}"
    warm_up(dockyard.url + project_path, 20, AUTH)
    warm_up(f"{dockyard.url}/-/liveness", 20)
    print(f"dockyard serve --workers {workers} ready in {startup:.1f}s (migrations included)")
    return dockyard, project_path


def start_variants(servers: Servers, env: dict[str, str], source: Path, project_path: str) -> list[Target]:
    """Dockyard's own Django app (same home and database) behind the other serving arrangements.

    Not how Dockyard ships: these show what the serving layer costs on the real app. They skip the
    ASGI lifespan (no embedded worker) and the native routes, neither of which a project GET touches.
    """
    pythonpath = str(BENCH_DIR) if source == REPO else f"{source}:{BENCH_DIR}"
    variant_env = {**env, "DJANGO_SETTINGS_MODULE": "dockyard.config.settings", "PYTHONPATH": pythonpath}
    variants = [
        ("dockyard app: GET /api/v4/projects/:id, granian WSGI direct", "dockyard.config.wsgi:application", "wsgi", {}),
        (
            "dockyard app: GET /api/v4/projects/:id, granian ASGI + a2wsgi (previous bridge)",
            "baseline.bridge:application",
            "asgi",
            {"BENCH_WSGI_APP": "dockyard.config.wsgi:application", "BENCH_BRIDGE_THREADS": "16"},
        ),
    ]
    targets = []
    for name, app, interface, extra in variants:
        port = free_port()
        server = servers.start(name, granian_argv(app, interface, port), {**variant_env, **extra}, port, cwd=source)
        server.wait_ready("/-/liveness")
        warm_up(server.url + project_path, 20, AUTH)
        targets.append(Target(name, server.url + project_path, AUTH))
    return targets


def measure(load: Load, targets: list[Target], rounds: int) -> dict[str, Summary]:
    """Interleaved rounds, so that drifting load on the machine hits every target alike."""
    for target in targets:  # a short discarded run each: fills connection pools, caches, thread pools
        run_wrk(load, target.url, target.headers, duration=1)
    results: dict[str, list[WrkResult]] = {t.name: [] for t in targets}
    for round_no in range(1, rounds + 1):
        print(f"round {round_no}/{rounds}:", end="", flush=True)
        for target in targets:
            result = run_wrk(load, target.url, target.headers)
            results[target.name].append(result)
            print(f"  {result.rps:.0f}", end="", flush=True)
        print(" req/s")
    return {name: summarize(rs) for name, rs in results.items()}


def report(summaries: dict[str, Summary], memories: Memories) -> None:
    base = summaries[BASELINE]
    rows = [
        [
            name,
            f"{s.rps:.0f}",
            s.spread,
            f"{s.rps / base.rps:.2f}",
            f"{s.p50_ms:.1f}",
            f"{s.p99_ms:.1f}",
            f"{s.p50_ms / base.p50_ms:.2f}",
        ]
        for name, s in summaries.items()
    ]
    headers = ["target", "req/s", "rounds min-max", "req/s vs baseline", "p50 ms", "p99 ms", "p50 vs baseline"]
    print(table(headers, rows))
    print()
    print("memory of dockyard serve (granian main + workers, VmRSS summed over the process tree; PSS beside it):")
    lines = [
        ("after start-up and warm-up", memories.warm),
        ("settled (idle)", memories.settled),
        ("after the load runs", memories.after_load),
        ("bare Django baseline, idle", memories.baseline),
    ]
    for label, mem in lines:
        print(f"  {label + ':':28} {mem.rss_mb:6.1f} MB   (PSS {mem.pss_mb:.1f} MB, {mem.processes} processes)")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
