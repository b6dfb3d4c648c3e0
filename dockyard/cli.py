"""``dockyard``: serve | manage | user create | token create. A thin front over the apps."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockyard.config.settings")
    import django

    django.setup()


def _prepare() -> str | None:
    """Migrate and seed. Returns a freshly generated root password, if one was generated."""
    from django.core.management import call_command

    from dockyard.accounts.bootstrap import instance_bootstrap
    from dockyard.config.env import ENV
    from dockyard.repos import git

    call_command("migrate", interactive=False, verbosity=0)
    git.install_hooks()
    return instance_bootstrap(env=ENV)


def cmd_serve(args: argparse.Namespace) -> int:
    _setup_django()
    from granian import Granian
    from granian.constants import Interfaces

    from dockyard.config.env import ENV

    generated = _prepare()
    url = ENV.external_url or f"http://{'localhost' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    print(f"Dockyard is starting on {url}", flush=True)
    print(f"  Sign in at {url}/users/sign_in as root", flush=True)
    if generated:
        print(f"  root's password (shown once, also in {ENV.home / 'initial_root_password'}): {generated}", flush=True)
    print(f"  State lives in {ENV.home}", flush=True)
    embedded = None
    if ENV.embedded_runner:
        from dockyard.config import embedded_runner

        embedded = embedded_runner.start(host=args.host, port=args.port)
    try:
        Granian(
            "dockyard.config.asgi:application",
            address=args.host,
            port=args.port,
            interface=Interfaces.ASGI,
            workers=args.workers or ENV.web_workers,
            log_enabled=True,
            workers_kill_timeout=30,
        ).serve()
    finally:
        if embedded is not None:
            embedded_runner.stop(embedded)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    _setup_django()
    from dockyard.config.worker import run_worker

    _prepare()
    run_worker()
    return 0


def cmd_manage(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["dockyard manage", *args.rest])
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    _setup_django()
    from dockyard.accounts import services
    from dockyard.core.errors import DockyardError

    _prepare()
    try:
        user = services.user_create(
            username=args.username,
            email=args.email,
            name=args.name or args.username,
            password=args.password,
            is_admin=args.admin,
        )
    except DockyardError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"created user {user.username} (id {user.pk})")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    _setup_django()
    from dockyard.accounts import selectors, services
    from dockyard.core.errors import DockyardError

    _prepare()
    user = selectors.user_get(ref=args.username)
    if user is None:
        print(f"error: no user {args.username}", file=sys.stderr)
        return 1
    expires = dt.date.fromisoformat(args.expires_at) if args.expires_at else None
    try:
        _, secret = services.token_create(user=user, name=args.name, scopes=args.scopes.split(","), expires_at=expires)
    except DockyardError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(secret)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dockyard", description="GitLab's surface at Gitea's footprint")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, seed root, and serve everything on one port")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=None, help="web processes (default DOCKYARD_WEB_WORKERS or 1)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run background tasks (webhooks, housekeeping...) until stopped")
    worker.set_defaults(func=cmd_worker)

    manage = sub.add_parser("manage", help="Django management commands", add_help=False)
    manage.add_argument("rest", nargs=argparse.REMAINDER)
    manage.set_defaults(func=cmd_manage)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    create = user.add_parser("create", help="create a user")
    create.add_argument("--username", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--name")
    create.add_argument("--password")
    create.add_argument("--admin", action="store_true")
    create.set_defaults(func=cmd_user_create)

    token = sub.add_parser("token", help="manage personal access tokens").add_subparsers(dest="action", required=True)
    tcreate = token.add_parser("create", help="create a personal access token and print it")
    tcreate.add_argument("--username", required=True)
    tcreate.add_argument("--name", required=True)
    tcreate.add_argument("--scopes", default="api")
    tcreate.add_argument("--expires-at", help="YYYY-MM-DD")
    tcreate.set_defaults(func=cmd_token_create)
    from dockyard.runner.cli import add_parser as add_runner_parser

    add_runner_parser(sub)  # `dockyard runner register|run`: no Django, only HTTP
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
