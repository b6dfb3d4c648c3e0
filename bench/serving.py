"""Serving comparison: the same bare Django (bench/baseline/) behind each way Dockyard could serve it.

  (a) granian --interface wsgi, Django's WSGI handler               (the yardstick)
  (b) granian --interface asgi, Django's own ASGIHandler           (django.core.asgi)
  (c) granian --interface asgi, a router + a2wsgi WSGIMiddleware   (what `dockyard serve` did before)
  (d) uvicorn, Django's own ASGIHandler                            (reference, when uvicorn is installed)
  (e) granian --interface asgi, a router + Dockyard's WSGIBridge   (what `dockyard serve` ships)

Each is measured on a trivial view and on a one-ORM-query view, in interleaved rounds within one run,
and reported as req/s with the ratio to (a). Run with ``make bench-serving`` or
``.venv/bin/python bench/serving.py [--duration 5 --rounds 3]``. Asserts nothing about times.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchkit import (
    HOST,
    BenchError,
    Load,
    Memory,
    Server,
    Servers,
    WrkResult,
    baseline_env,
    free_port,
    granian_argv,
    machine_line,
    memory,
    prepare_baseline,
    run_wrk,
    summarize,
    table,
    warm_up,
    wrk_binary,
)

VIEWS = ("trivial", "orm")


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    argv: list[str]
    env_extra: dict[str, str]


def configs(args: argparse.Namespace) -> list[Config]:
    ports = [free_port() for _ in range(5)]
    bridge_env = {"BENCH_BRIDGE_THREADS": str(args.bridge_threads)}
    found = [
        Config(
            "a",
            "granian WSGI -> Django WSGIHandler",
            granian_argv("baseline.wsgi:application", "wsgi", ports[0], args.workers),
            {},
        ),
        Config(
            "b",
            "granian ASGI -> Django ASGIHandler",
            granian_argv("baseline.asgi:application", "asgi", ports[1], args.workers),
            {},
        ),
        Config(
            "c",
            f"granian ASGI -> a2wsgi ({args.bridge_threads} threads) -> WSGIHandler",
            granian_argv("baseline.bridge:application", "asgi", ports[2], args.workers),
            bridge_env,
        ),
    ]
    if not args.no_buffered:
        found.append(
            Config(
                "e",
                f"granian ASGI -> WSGIBridge ({args.bridge_threads} threads) -> WSGIHandler (shipped)",
                granian_argv("baseline.buffered:application", "asgi", ports[4], args.workers),
                bridge_env,
            )
        )
    if not args.no_uvicorn and importlib.util.find_spec("uvicorn") is not None:
        uvicorn = [sys.executable, "-m", "uvicorn", "--host", HOST, "--port", str(ports[3])]
        uvicorn += ["--workers", str(args.workers), "--log-level", "warning", "--no-access-log"]
        found.append(Config("d", "uvicorn -> Django ASGIHandler", [*uvicorn, "baseline.asgi:application"], {}))
    return sorted(found, key=lambda c: c.key)


def _port(argv: list[str]) -> int:
    return int(argv[argv.index("--port") + 1])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported (default 3)")
    parser.add_argument("--workers", type=int, default=1, help="server processes for every configuration (default 1)")
    parser.add_argument("--bridge-threads", type=int, default=16, help="thread pool of (c) and (e) (default 16)")
    parser.add_argument(
        "--conn-max-age", type=int, default=0, help="CONN_MAX_AGE of the baseline's database (default 0: per request)"
    )
    parser.add_argument("--no-buffered", action="store_true", help="skip (e), Dockyard's WSGIBridge")
    parser.add_argument("--no-uvicorn", action="store_true", help="skip (d) even when uvicorn is installed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        wrk_binary()
    except BenchError as err:
        print(err, file=sys.stderr)
        return 2
    load = Load(duration=args.duration, connections=args.connections, threads=args.threads)
    with tempfile.TemporaryDirectory(prefix="dockyard-serving-") as tmp, Servers(Path(tmp)) as servers:
        try:
            return bench(args, load, Path(tmp), servers)
        except BenchError as err:
            print(f"\nbenchmark failed: {err}", file=sys.stderr)
            return 1


def bench(args: argparse.Namespace, load: Load, tmp: Path, servers: Servers) -> int:
    print("Serving comparison (bare Django from bench/baseline, SQLite, no middleware)")
    print(f"  machine: {machine_line()}")
    print(f"  load:    {load.describe()} (loopback), {args.rounds} interleaved rounds, medians shown")
    print(f"  servers: {args.workers} process(es) each; CONN_MAX_AGE={args.conn_max_age}")
    print()
    db = tmp / "baseline.sqlite3"
    prepare_baseline(db)
    chosen = configs(args)
    started: dict[str, Server] = {}
    idle: dict[str, Memory] = {}
    for config in chosen:
        port = _port(config.argv)
        server = servers.start(
            f"({config.key}) {config.label}", config.argv, baseline_env(db, **config.env_extra), port
        )
        server.wait_ready("/orm")
        for view in VIEWS:
            warm_up(f"{server.url}/{view}", 20)
        started[config.key] = server
        idle[config.key] = memory(server.pids())
    for config in chosen:  # short discarded runs: fill pools and caches before anything is counted
        for view in VIEWS:
            run_wrk(load, f"{started[config.key].url}/{view}", duration=1)

    results: dict[tuple[str, str], list[WrkResult]] = {(c.key, v): [] for c in chosen for v in VIEWS}
    for round_no in range(1, args.rounds + 1):
        print(f"round {round_no}/{args.rounds}:", end="", flush=True)
        for config in chosen:
            for view in VIEWS:
                result = run_wrk(load, f"{started[config.key].url}/{view}")
                results[config.key, view].append(result)
                print(f"  {config.key}/{view} {result.rps:.0f}", end="", flush=True)
        print()
    print()
    summaries = {key: summarize(rs) for key, rs in results.items()}
    after = {key: memory(server.pids()) for key, server in started.items()}

    rows = []
    for config in chosen:
        row = [f"({config.key}) {config.label}"]
        for view in VIEWS:
            s = summaries[config.key, view]
            base = summaries["a", view]
            row += [f"{s.rps:.0f}", f"{s.rps / base.rps:.2f}", f"{s.p99_ms:.1f}"]
        row += [f"{idle[config.key].rss_mb:.0f} / {after[config.key].rss_mb:.0f}"]
        rows.append(row)
    headers = ["configuration"]
    for view in VIEWS:
        headers += [f"{view} req/s", "vs (a)", "p99 ms"]
    headers.append("RSS MB idle/after")
    print(table(headers, rows))
    print()
    print("req/s spread over the rounds (min-max):")
    for config in chosen:
        spreads = "  ".join(f"{view} {summaries[config.key, view].spread}" for view in VIEWS)
        print(f"  ({config.key}) {spreads}")
    print()
    print(
        f"rerun: make bench-serving  (or: .venv/bin/python bench/serving.py --duration {args.duration}"
        f" --rounds {args.rounds} --workers {args.workers} --bridge-threads {args.bridge_threads}"
        f" --conn-max-age {args.conn_max_age})"
    )
    failed = [f"({k}) {v}" for (k, v), s in summaries.items() if not s.ok]
    if failed:
        print(f"\nWARNING: non-2xx answers or socket errors in: {', '.join(failed)}; numbers are not valid.")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
