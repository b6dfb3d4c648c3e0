"""Sending one web hook request: headers, the outbound guard, the delivery log, auto-disabling.

Runs in the worker (``tasks.hook_deliver``), or inline for the test and resend endpoints, which GitLab
also runs while the caller waits. Never raises for a failed delivery: the log row says what happened.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from dockyard import GITLAB_API_VERSION
from dockyard.config.env import ENV
from dockyard.core import outbound
from dockyard.core.instance_settings import outbound_policy
from dockyard.core.logging import get_logger
from dockyard.webhooks.models import (
    INITIAL_BACKOFF_SECONDS,
    MAX_BACKOFF_SECONDS,
    PERMANENTLY_DISABLED_FAILURE_THRESHOLD,
    TEMPORARILY_DISABLED_FAILURE_THRESHOLD,
    WebHook,
    WebHookLog,
)
from dockyard.webhooks.selectors import event_header

log = get_logger("dockyard.webhooks")

RESPONSE_BODY_LIMIT = 8 * 1024  # what the log keeps of a response body
RESPONSE_READ_LIMIT = 64 * 1024  # what is read of it at all
LOG_RETENTION = dt.timedelta(days=7)
REDACTED = "[REDACTED]"


@dataclass(frozen=True)
class Outcome:
    log: WebHookLog
    retriable: bool

    @property
    def succeeded(self) -> bool:
        return self.log.succeeded


def _headers(hook: WebHook, scope: str, base: str, event_uuid: str, idempotency_key: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"GitLab/{GITLAB_API_VERSION}",
        "Idempotency-Key": idempotency_key,
        # GitLab names every system hook delivery "System Hook", whatever the event.
        "X-Gitlab-Event": "System Hook" if hook.kind == WebHook.Kind.SYSTEM else event_header(scope),
        "X-Gitlab-Webhook-UUID": str(uuid.uuid4()),
        "X-Gitlab-Instance": base,
        "X-Gitlab-Event-UUID": event_uuid,
    }
    if hook.token:
        headers["X-Gitlab-Token"] = hook.token
    return headers


def _record_failure(hook: WebHook) -> None:
    """GitLab's ``backoff!``: count the failure; past the grace, disable for 1 min doubling to 1 day."""
    if not hook.auto_disabling or not hook.executable:
        return
    failures = min(hook.recent_failures + 1, PERMANENTLY_DISABLED_FAILURE_THRESHOLD + 1)
    update: dict[str, Any] = {"recent_failures": failures}
    if failures > TEMPORARILY_DISABLED_FAILURE_THRESHOLD:
        exponent = max(hook.recent_failures - TEMPORARILY_DISABLED_FAILURE_THRESHOLD, 0)
        seconds = min(INITIAL_BACKOFF_SECONDS * 2**exponent, MAX_BACKOFF_SECONDS)
        update["disabled_until"] = timezone.now() + dt.timedelta(seconds=seconds)
    WebHook.objects.filter(pk=hook.pk).update(**update)
    for key, value in update.items():
        setattr(hook, key, value)


def hook_enable(*, hook: WebHook) -> None:
    """GitLab's ``enable!``: a successful delivery (or test, or edit) clears the failure count."""
    if hook.recent_failures == 0 and hook.disabled_until is None:
        return
    WebHook.objects.filter(pk=hook.pk).update(recent_failures=0, disabled_until=None)
    hook.recent_failures, hook.disabled_until = 0, None


def hook_execute(
    *,
    hook: WebHook,
    scope: str,
    payload: dict[str, Any],
    base: str,
    event_uuid: str | None = None,
    idempotency_key: str | None = None,
    attempt: int = 1,
    count_failure: bool = True,
) -> Outcome:
    """POST ``payload`` to ``hook`` and log it. ``scope`` is GitLab's hook name (``push_hooks``,
    ``system_hooks`` …), which picks the ``X-Gitlab-Event`` header and is logged as the trigger."""
    headers = _headers(hook, scope, base, event_uuid or str(uuid.uuid4()), idempotency_key or str(uuid.uuid4()))
    body = json.dumps(payload).encode()
    policy = outbound_policy(system_hooks=hook.kind == WebHook.Kind.SYSTEM)
    status, response_headers, response_body, error, duration = "internal error", {}, "", "", 0.0
    retriable = False
    try:
        response = outbound.request(
            "POST",
            hook.url,
            policy=policy,
            headers=headers,
            content=body,
            timeout=ENV.webhook_timeout,
            max_response_bytes=RESPONSE_READ_LIMIT,
            verify_tls=hook.enable_ssl_verification,
        )
    except outbound.BlockedUrl as exc:
        # The address changed since the hook was saved (or the setting did): refused, not retried.
        error = str(exc.message)
    except outbound.OutboundError as exc:
        error = str(exc.message)
        retriable = True
    else:
        status = str(response.status)
        response_headers = response.headers
        response_body = response.body[:RESPONSE_BODY_LIMIT].decode("utf-8", errors="replace")
        duration = response.duration
        retriable = response.status == 429 or response.status >= 500
    logged_headers = {k: (REDACTED if k == "X-Gitlab-Token" else v) for k, v in headers.items()}
    with transaction.atomic():
        entry = WebHookLog.objects.create(
            hook=hook,
            trigger=scope,
            url=outbound.redact(hook.url),
            request_headers=logged_headers,
            request_data=payload,
            response_headers=response_headers,
            response_body=response_body,
            response_status=status,
            internal_error_message=error,
            execution_duration=duration,
            attempt=attempt,
        )
        WebHookLog.objects.filter(hook=hook, created_at__lt=timezone.now() - LOG_RETENTION).delete()
        if entry.succeeded:
            hook_enable(hook=hook)
        elif count_failure:
            _record_failure(hook)
    log.info(
        "webhook_delivered" if entry.succeeded else "webhook_failed",
        hook_id=hook.pk,
        trigger=scope,
        status=status,
        error=error or None,
        attempt=attempt,
    )
    return Outcome(log=entry, retriable=retriable)


def failure_message(outcome: Outcome) -> str:
    entry = outcome.log
    if entry.internal_error_message:
        return entry.internal_error_message
    return f"Hook execution failed: the receiver answered {entry.response_status}"
