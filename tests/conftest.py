"""Shared fixtures. ``DOCKYARD_TEST_BACKEND`` (sqlite | postgres) picks the database the live server uses."""

from __future__ import annotations

import os
from collections.abc import Iterator

import gitlab
import pytest

from tests.live import LiveServer

BACKEND = os.environ.get("DOCKYARD_TEST_BACKEND", "sqlite")


@pytest.fixture(autouse=True)
def _live_server_helper() -> None:
    """Shadows pytest-django's helper of the same name: our ``live_server`` is a real
    ``dockyard serve`` process with its own database, not Django's in-process test server."""


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    server = LiveServer(backend=BACKEND).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def root(live_server: LiveServer) -> gitlab.Gitlab:
    """python-gitlab signed in as the seeded root admin with the seeded token."""
    gl = gitlab.Gitlab(live_server.url, private_token=live_server.root_token)
    gl.auth()
    return gl
