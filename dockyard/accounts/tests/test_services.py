"""Rules of the account services that no client can get around."""

from __future__ import annotations

import pytest

from dockyard.accounts import services
from dockyard.core.errors import ValidationFailed

pytestmark = pytest.mark.django_db


def test_the_last_administrator_keeps_the_admin_flag() -> None:
    boss = services.user_create(username="boss", email="boss@example.com", name="Boss", is_admin=True)
    with pytest.raises(ValidationFailed) as err:
        services.user_update(user=boss, actor=boss, is_admin=False)
    assert "admin" in err.value.errors
    boss.refresh_from_db()
    assert boss.is_admin
    second = services.user_create(username="second", email="second@example.com", name="Second", is_admin=True)
    services.user_update(user=boss, actor=second, is_admin=False)
    boss.refresh_from_db()
    assert not boss.is_admin
