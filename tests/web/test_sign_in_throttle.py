"""Sign-in throttling: failures per login and per address, the message, reset on success, and
``current_sign_in_at``."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dockyard.accounts.models import User
from tests.web.test_pages import PASSWORD, make_user


@pytest.fixture
def limits(settings: Any) -> Any:
    settings.DOCKYARD_SIGN_IN_LOGIN_LIMIT = 3
    settings.DOCKYARD_SIGN_IN_IP_LIMIT = 5
    settings.DOCKYARD_SIGN_IN_WINDOW_SECONDS = 600
    return settings


def _try(login: str, password: str, *, ip: str = "10.0.0.1") -> int:
    return Client(REMOTE_ADDR=ip).post("/users/sign_in", {"login": login, "password": password}).status_code


@pytest.mark.django_db
def test_throttling_kicks_in_after_n_failures(limits: Any) -> None:
    make_user("alice")
    assert [_try("alice", "wrong") for _ in range(3)] == [401, 401, 401]
    refused = Client(REMOTE_ADDR="10.0.0.1").post("/users/sign_in", {"login": "alice", "password": PASSWORD})
    assert refused.status_code == 429
    assert "Too many attempts, try again in 10 minutes." in refused.content.decode()
    assert 0 < int(refused["Retry-After"]) <= 600
    # The right password does not get through either, and not from another address.
    assert _try("ALICE", PASSWORD, ip="10.0.0.2") == 429
    # Another login from another address is unaffected.
    make_user("bob")
    assert _try("bob", PASSWORD, ip="10.0.0.2") == 302


@pytest.mark.django_db
def test_a_success_resets_the_login_counter(limits: Any) -> None:
    make_user("alice")
    assert [_try("alice", "wrong", ip=f"10.0.1.{i}") for i in range(2)] == [401, 401]
    assert _try("alice", PASSWORD, ip="10.0.1.9") == 302
    assert [_try("alice", "wrong", ip=f"10.0.2.{i}") for i in range(2)] == [401, 401]
    assert _try("alice", PASSWORD, ip="10.0.2.9") == 302


@pytest.mark.django_db
def test_per_address_limit_covers_many_logins(limits: Any) -> None:
    make_user("alice")
    assert [_try(f"guess{i}", "wrong") for i in range(5)] == [401] * 5
    assert _try("alice", PASSWORD) == 429
    assert _try("alice", PASSWORD, ip="10.9.9.9") == 302


@pytest.mark.django_db
def test_window_expiry_lifts_the_limit(limits: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    make_user("alice")
    for _ in range(3):
        _try("alice", "wrong")
    assert _try("alice", PASSWORD) == 429
    later = time.time() + 601
    monkeypatch.setattr(time, "time", lambda: later)
    assert _try("alice", PASSWORD) == 302


@pytest.mark.django_db
def test_successful_sign_in_records_current_sign_in_at() -> None:
    alice = make_user("alice")
    assert alice.current_sign_in_at is None
    assert _try("alice", PASSWORD) == 302
    assert User.objects.get(pk=alice.pk).current_sign_in_at is not None
