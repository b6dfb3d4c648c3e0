"""Fixtures for the page tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(request: pytest.FixtureRequest) -> None:
    """Argon2 is deliberately slow; in-process page tests hash many passwords and need no strength.
    (The browser test uses the live server, which keeps its real hashers.)"""
    if "django_db" in request.keywords or "db" in request.fixturenames:
        settings = request.getfixturevalue("settings")
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Sign-in throttling counts failures in the cache; every test starts with none."""
    from django.core.cache import cache

    cache.clear()
