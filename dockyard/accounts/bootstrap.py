"""First start: seed the ``root`` administrator (and its token) into an empty instance."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.db import transaction

from dockyard.accounts import services
from dockyard.accounts.models import PersonalAccessToken, User
from dockyard.config.env import Env


@transaction.atomic
def instance_bootstrap(*, env: Env) -> str | None:
    """Create ``root`` when no user exists. Idempotent; safe for several processes starting at once.

    Returns a generated password that must be shown once, or None when nothing was generated.
    The root token from ``DOCKYARD_ROOT_TOKEN`` is (re)ensured on every start, so an operator can set it later.
    """
    generated: str | None = None
    # The advisory row lock: concurrent starts serialise here instead of racing to create root.
    root = User.objects.select_for_update().filter(username="root").first()
    if root is None and not User.objects.exists():
        password = env.root_password
        if password is None:
            password = generated = secrets.token_urlsafe(18)
        root = services.user_create(
            username="root", email="admin@example.com", name="Administrator", password=password, is_admin=True
        )
        if generated is not None:
            _write_initial_password(env.home, generated)
    if root is not None and env.root_token:
        digest = PersonalAccessToken.digest(env.root_token)
        if not PersonalAccessToken.objects.filter(token_digest=digest).exists():
            services.token_create(user=root, name="DOCKYARD_ROOT_TOKEN", scopes=["api", "sudo"], secret=env.root_token)
    return generated


def _write_initial_password(home: Path, password: str) -> None:
    path = home / "initial_root_password"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(
            "# The password of the `root` user, generated on first start. Change it after signing in,\n"
            "# then delete this file.\n"
            f"Password: {password}\n"
        )
