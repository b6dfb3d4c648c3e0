"""``dockyard runner register`` and ``dockyard runner run`` (also ``python -m dockyard.runner``)."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path

import httpx

from dockyard.runner import config as runner_config
from dockyard.runner.multi import Runner, system_id
from dockyard.runner.network import Forbidden, Network


def cmd_register(args: argparse.Namespace) -> int:
    path = Path(args.config).expanduser() if args.config else runner_config.default_path()
    if not args.token.startswith("glrt-"):
        print("error: use a runner authentication token (glrt-...) created in the UI or API", file=sys.stderr)
        return 2
    network = Network(args.url, executor=args.executor)
    try:
        verified = network.verify(args.token, system_id(path))
    except Forbidden as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"error: could not reach {args.url}: {exc}", file=sys.stderr)
        return 1
    config = runner_config.load(path) if path.exists() else runner_config.Config()
    name = args.name or socket.gethostname()
    config.runners = [r for r in config.runners if r.token != args.token]
    config.runners.append(
        runner_config.RunnerConfig(
            name=name, url=args.url.rstrip("/"), token=args.token, executor=args.executor,
            builds_dir=args.builds_dir or str(path.parent / "builds"),
            cache_dir=args.cache_dir or str(path.parent / "cache"), network=args.network,
            id=int(verified.get("id") or 0),
        )
    )  # fmt: skip
    if args.concurrent:
        config.concurrent = args.concurrent
    runner_config.save(config, path)
    print(f"Runner {name!r} registered (id {verified.get('id', '?')}); configuration in {path}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s runner %(levelname)s %(message)s")
    path = Path(args.config).expanduser() if args.config else runner_config.default_path()
    try:
        config = runner_config.load(path)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return 1
    return Runner(config, system_id=system_id(path), exit_with_parent=args.exit_with_parent).run()


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runner = sub.add_parser("runner", help="run CI jobs for a Dockyard (or GitLab) server")
    actions = runner.add_subparsers(dest="action", required=True)
    register = actions.add_parser("register", help="verify a runner token and write the configuration")
    register.add_argument("--url", required=True, help="the server, e.g. https://dockyard.example.com")
    register.add_argument("--token", required=True, help="runner authentication token (glrt-...)")
    register.add_argument("--name")
    register.add_argument("--executor", choices=runner_config.EXECUTORS, default="shell")
    register.add_argument("--config", help=f"default {runner_config.default_path()}")
    register.add_argument("--builds-dir")
    register.add_argument("--cache-dir")
    register.add_argument("--network", action="store_true", help="sandbox: let jobs use the network")
    register.add_argument("--concurrent", type=int)
    register.set_defaults(func=cmd_register)
    run = actions.add_parser("run", help="ask for jobs and run them until stopped")
    run.add_argument("--config", help=f"default {runner_config.default_path()}")
    run.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    run.set_defaults(func=cmd_run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dockyard")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["runner", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args) or 0)
