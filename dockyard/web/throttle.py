"""Sign-in throttling: at most so many failed sign-ins per login and per client address in a window.

Counters live in Django's cache. The default cache is in-process memory, which is right for one web
process; with several (``DOCKYARD_WEB_WORKERS`` > 1) each keeps its own counters, so the limits apply
per process until a shared cache is configured (docs/admin-guide.md).

Once a limit is reached, further attempts are refused *before* the password is checked, until the
window that began with the first failure ends. A successful sign-in clears its login's counter (the
address's counter runs out with its window, so one valid account cannot reset an attacker's budget).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

# Overridable in Django settings (tests use small numbers). GitLab locks an account for 10 minutes
# after 10 failures; the per-address limit is higher, for offices behind one address.
DEFAULT_LOGIN_LIMIT = 10
DEFAULT_IP_LIMIT = 50
DEFAULT_WINDOW_SECONDS = 600


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


@dataclass(frozen=True)
class Refusal:
    retry_after: int  # seconds

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after / 60))
        return f"Too many attempts, try again in {minutes} minute{'s' if minutes != 1 else ''}."


def _key(kind: str, value: str) -> str:
    # Hashed: logins are user input, and some cache backends refuse odd characters or long keys.
    return f"dockyard:sign-in:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def client_address(request: HttpRequest) -> str:
    """The connecting address. Behind a reverse proxy this is the proxy's; Dockyard trusts no
    forwarded-for header, so put per-client limits in the proxy there too."""
    return str(request.META.get("REMOTE_ADDR", ""))


def _subjects(request: HttpRequest, login: str) -> list[tuple[str, int]]:
    return [
        (_key("login", login.strip().lower()), _setting("DOCKYARD_SIGN_IN_LOGIN_LIMIT", DEFAULT_LOGIN_LIMIT)),
        (_key("ip", client_address(request)), _setting("DOCKYARD_SIGN_IN_IP_LIMIT", DEFAULT_IP_LIMIT)),
    ]


def check(request: HttpRequest, login: str) -> Refusal | None:
    """A refusal when the login or the address has used up its failures in the current window."""
    now = time.time()
    refusals = []
    for key, limit in _subjects(request, login):
        state = cache.get(key)
        if state is not None and state[0] >= limit and state[1] > now:
            refusals.append(Refusal(retry_after=int(state[1] - now) + 1))
    return max(refusals, key=lambda r: r.retry_after, default=None)


def record_failure(request: HttpRequest, login: str) -> None:
    """Count one failed attempt against the login and the address; the window starts at the first."""
    window = _setting("DOCKYARD_SIGN_IN_WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS)
    now = time.time()
    for key, _ in _subjects(request, login):
        # (count, window end). Read-modify-write: two racing failures may count as one, which only
        # loosens the limit by a request; a backend with atomic increments is not worth the bookkeeping.
        count, until = cache.get(key) or (0, 0.0)
        if until <= now:
            count, until = 0, now + window
        cache.set(key, (count + 1, until), timeout=max(1, math.ceil(until - now)))


def record_success(request: HttpRequest, login: str) -> None:
    cache.delete(_subjects(request, login)[0][0])
