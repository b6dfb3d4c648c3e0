"""Background work for web hooks: one task per delivery, and building push payloads after a push.

Every delivery is its own task in the queue (enqueued after the triggering transaction commits), so a
burst of events queues rather than drops, and a slow or failing receiver only ever holds a worker,
never a request. A delivery that fails with a network error, 429 or 5xx is enqueued again after the
delays in ``DOCKYARD_WEBHOOK_RETRY_DELAYS``, as long as the hook is not auto-disabled meanwhile.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.utils import timezone
from django_tasks import default_task_backend, task

from dockyard.accounts.models import User
from dockyard.config.env import ENV
from dockyard.core.urls import external_base
from dockyard.permissions.policy import RefChange
from dockyard.projects.models import Project
from dockyard.repos import services as repos
from dockyard.webhooks import selectors
from dockyard.webhooks.delivery import hook_execute
from dockyard.webhooks.models import WebHook
from dockyard.webhooks.payloads import push as push_payloads

# GitLab sends no push or tag push hooks for a push that changed more than this many refs.
PUSH_EVENT_HOOKS_LIMIT = 3


@task()
def hook_deliver(  # noqa: PLR0917  # task arguments are positional in the queue
    hook_id: int,
    scope: str,
    payload: dict[str, Any],
    base: str,
    event_uuid: str,
    idempotency_key: str,
    attempt: int = 1,
) -> None:
    hook = WebHook.objects.filter(pk=hook_id).first()
    if hook is None or not hook.executable:
        return  # deleted, or auto-disabled since the event: GitLab drops it too
    outcome = hook_execute(
        hook=hook,
        scope=scope,
        payload=payload,
        base=base,
        event_uuid=event_uuid,
        idempotency_key=idempotency_key,
        attempt=attempt,
    )
    delays = ENV.webhook_retry_delays
    if outcome.succeeded or not outcome.retriable or attempt > len(delays) or not hook.executable:
        return
    args = (hook_id, scope, payload, base, event_uuid, idempotency_key, attempt + 1)
    if default_task_backend.supports_defer:
        run_after = timezone.now() + dt.timedelta(seconds=delays[attempt - 1])
        hook_deliver.using(run_after=run_after).enqueue(*args)
    else:  # the immediate backend (unit tests) cannot wait: retry at once
        hook_deliver.enqueue(*args)


def deliveries_enqueue(*, hooks: list[WebHook], scope: str, payload: dict[str, Any], base: str) -> None:
    """One delivery task per hook, sharing the event's UUID. Call after the triggering commit."""
    event_uuid = str(uuid.uuid4())
    for hook in hooks:
        hook_deliver.enqueue(hook.pk, scope, payload, base, event_uuid, str(uuid.uuid4()))


@task()
def push_hooks_dispatch(  # task arguments are positional in the queue
    project_id: int,
    user_id: int | None,
    changes: list[list[str]],
    push_options: list[str],
    base: str,
) -> None:
    """Build the Push Hook / Tag Push Hook payloads of one push (git reads: here, not in the request)
    and queue their deliveries; plus the system hooks' ``repository_update``."""
    project = Project.objects.select_related("namespace").filter(pk=project_id).first()
    if project is None:
        return
    user = User.objects.filter(pk=user_id).first() if user_id else None
    ref_changes = [RefChange(old=old, new=new, ref=ref) for old, new, ref in changes]
    if len(ref_changes) <= PUSH_EVENT_HOOKS_LIMIT:
        for change in ref_changes:
            if change.branch is None and change.tag is None:
                continue
            scope = "tag_push_hooks" if change.tag is not None else "push_hooks"
            hooks = selectors.hooks_for_project_event(project=project, scope=scope, branch=change.branch)
            system = selectors.system_hooks_for(scope=scope)
            if not hooks and not system:
                continue
            for targets, with_commits in ((hooks, True), (system, False)):
                if targets:
                    payload = push_payloads.build(
                        project=project,
                        user=user,
                        change=change,
                        base=base,
                        push_options=push_options,
                        with_commits=with_commits,
                    )
                    deliveries_enqueue(hooks=targets, scope=scope, payload=payload, base=base)
    system = selectors.system_hooks_for(scope="repository_update_hooks")
    if system:
        payload = push_payloads.repository_update(project=project, user=user, changes=ref_changes, base=base)
        deliveries_enqueue(hooks=system, scope="system_hooks", payload=payload, base=base)


@repos.on_push
def _push_hooks_after_push(push: repos.Push) -> None:
    """Runs after the push committed: queue the payload building, remembering the external URL of the
    request (the worker has none)."""
    if not selectors.hooks_may_exist_for(project_id=push.project_id):
        return
    push_hooks_dispatch.enqueue(
        push.project_id,
        push.user_id,
        [[c.old, c.new, c.ref] for c in push.changes],
        list(push.push_options),
        external_base(),
    )
