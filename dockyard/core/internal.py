"""The shared secret of Dockyard's internal endpoints (git hooks → server), derived from the secret key."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def internal_secret() -> str:
    return hmac.new(settings.SECRET_KEY.encode(), b"dockyard-internal-api", hashlib.sha256).hexdigest()


def check_internal_secret(candidate: str | None) -> bool:
    return bool(candidate) and hmac.compare_digest(candidate or "", internal_secret())
