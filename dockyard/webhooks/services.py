"""All writes on web hooks, and the entry points other apps call to send events.

Sending an event from another app (issues, notes, merge requests, CI)::

    from dockyard.webhooks.services import hook_event_emit

    hook_event_emit(
        project=issue.project,
        scope="confidential_issue_hooks" if issue.confidential else "issue_hooks",
        payload_builder=lambda base: issue_payloads.build(issue=issue, user=actor, action="open", base=base),
    )

Call it inside the service's transaction. Nothing happens unless that transaction commits; then, if a
hook of the project or of a group above it subscribes to ``scope`` (GitLab's hook names:
``issue_hooks``, ``confidential_issue_hooks``, ``note_hooks``, ``confidential_note_hooks``,
``merge_request_hooks``, ``job_hooks``, ``pipeline_hooks``, ``wiki_page_hooks``, ``release_hooks``,
``deployment_hooks``), ``payload_builder(base_url)`` runs once and one delivery per hook is queued.
Confidential scopes reach only hooks that subscribed to them. Builders live in
``dockyard.webhooks.payloads`` (``issue``, ``note``, ``merge_request``, ``pipeline``, ``job``). System hooks
subscribed to merge request events receive ``merge_request_hooks`` payloads too.

System events: :func:`system_hook_user`, :func:`system_hook_project`, :func:`system_hook_group`,
called at the end of the services that create and destroy those records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import re2
from django.db import transaction

from dockyard.accounts.models import User
from dockyard.core import outbound
from dockyard.core.errors import BadRequest, DockyardError, check
from dockyard.core.instance_settings import outbound_policy
from dockyard.core.urls import external_base
from dockyard.namespaces.models import Namespace
from dockyard.permissions.policy import ZERO_SHA, RefChange
from dockyard.projects.models import Project
from dockyard.repos.git import read as git_read
from dockyard.webhooks import selectors, tasks
from dockyard.webhooks.delivery import Outcome, failure_message, hook_execute
from dockyard.webhooks.models import WebHook, WebHookLog
from dockyard.webhooks.payloads import issue as issue_payloads
from dockyard.webhooks.payloads import job as job_payloads
from dockyard.webhooks.payloads import merge_request as mr_payloads
from dockyard.webhooks.payloads import note as note_payloads
from dockyard.webhooks.payloads import pipeline as pipeline_payloads
from dockyard.webhooks.payloads import push as push_payloads
from dockyard.webhooks.payloads import system as system_payloads

PayloadBuilder = Callable[[str], dict[str, Any]]


class HookTestFailed(DockyardError):
    """No sample data for the trigger, or the receiver did not answer 2xx (GitLab: 422)."""

    status = 422


PROJECT_EVENT_FIELDS = (
    "push_events",
    "tag_push_events",
    "issues_events",
    "confidential_issues_events",
    "note_events",
    "confidential_note_events",
    "merge_requests_events",
    "job_events",
    "pipeline_events",
    "wiki_page_events",
    "releases_events",
    "deployment_events",
    "feature_flag_events",
)
SYSTEM_EVENT_FIELDS = ("push_events", "tag_push_events", "merge_requests_events", "repository_update_events")
OTHER_FIELDS = ("name", "description", "enable_ssl_verification", "push_events_branch_filter", "branch_filter_strategy")


# --- sending events ------------------------------------------------------------------------------------


def hook_event_emit(*, project: Project | int, scope: str, payload_builder: PayloadBuilder) -> None:
    """Queue ``scope`` deliveries to ``project``'s (and its groups') hooks once the transaction commits.
    ``project`` may be given by id: it is only loaded when some hook could receive the event (CI jobs
    change status several times each, and most projects have no hooks)."""
    if scope not in selectors.SCOPE_FLAGS:
        raise ValueError(f"unknown hook scope {scope!r}")
    base = external_base()

    def emit() -> None:
        project_id = project if isinstance(project, int) else project.pk
        if not selectors.hooks_may_exist_for(project_id=project_id):
            return
        loaded = (
            project if isinstance(project, Project) else Project.objects.select_related("namespace").get(pk=project)
        )
        hooks = selectors.hooks_for_project_event(project=loaded, scope=scope)
        # System hooks that asked for this kind of event (merge requests) get the same payload.
        system = selectors.system_hooks_for(scope=scope) if scope in selectors.SYSTEM_SCOPE_FLAGS else []
        if hooks or system:
            payload = payload_builder(base)
            for targets in (hooks, system):
                if targets:
                    tasks.deliveries_enqueue(hooks=targets, scope=scope, payload=payload, base=base)

    transaction.on_commit(emit)


def hooks_may_exist(*, project_id: int) -> bool:
    """Whether any hook could receive an event of this project: skip building ``changes`` otherwise."""
    return selectors.hooks_may_exist_for(project_id=project_id)


def _system_emit(payload: dict[str, Any]) -> None:
    base = external_base()

    def emit() -> None:
        hooks = selectors.system_hooks_for()
        if hooks:
            tasks.deliveries_enqueue(hooks=hooks, scope="system_hooks", payload=payload, base=base)

    transaction.on_commit(emit)


def system_hook_user(*, event: str, user: User) -> None:
    """``user_create`` / ``user_destroy``; the payload is taken now, before a deletion."""
    if selectors.system_hooks_exist():
        _system_emit(system_payloads.user_event(event, user))


def system_hook_project(*, event: str, project: Project) -> None:
    """``project_create`` / ``project_destroy``; call ``project_destroy`` before the row goes."""
    if selectors.system_hooks_exist():
        _system_emit(system_payloads.project_event(event, project))


def system_hook_group(*, event: str, group: Namespace) -> None:
    """``group_create`` / ``group_destroy``; call ``group_destroy`` before the row goes."""
    if selectors.system_hooks_exist():
        _system_emit(system_payloads.group_event(event, group))


# --- hooks ---------------------------------------------------------------------------------------------


def _url_errors(url: str | None, *, system: bool) -> list[str]:
    if url is None or not url.strip():
        return ["can't be blank"]
    try:
        outbound.check(url, policy=outbound_policy(system_hooks=system))
    except outbound.BlockedUrl as exc:
        return [f"is blocked: {exc.reason}"]
    return []


def _filter_errors(strategy: str, pattern: str) -> list[str]:
    if strategy not in WebHook.BranchFilterStrategy.values:
        return ["does not have a valid value"]
    if strategy == WebHook.BranchFilterStrategy.REGEX and pattern:
        try:
            re2.compile(pattern)
        except re2.error:
            return ["is not a valid regular expression"]
    return []


def _apply(hook: WebHook, fields: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key, value in fields.items():
        if value is None:
            continue
        if key not in allowed:
            raise BadRequest(f"{key} does not have a valid value")
        setattr(hook, key, value)


@transaction.atomic
def hook_create(
    *,
    kind: str,
    url: str,
    project: Project | None = None,
    group: Namespace | None = None,
    token: str | None = None,
    **fields: Any,
) -> WebHook:
    """A project hook (``project``), group hook (``group``) or system hook (neither). The URL is checked
    against the outbound-request rules now, and again at every delivery (DNS answers change)."""
    system = kind == WebHook.Kind.SYSTEM
    hook = WebHook(kind=kind, project=project, group=group, url=(url or "").strip(), token=token or "")
    if system:
        hook.push_events = False
        hook.repository_update_events = True
    allowed = (SYSTEM_EVENT_FIELDS if system else PROJECT_EVENT_FIELDS) + OTHER_FIELDS
    _apply(hook, fields, allowed)
    check(
        {
            "url": _url_errors(url, system=system),
            "token": ["is invalid"] if "\n" in hook.token else [],
            "branch_filter_strategy": _filter_errors(hook.branch_filter_strategy, hook.push_events_branch_filter),
        }
    )
    hook.save()
    return hook


@transaction.atomic
def hook_update(*, hook: WebHook, url: str | None = None, token: str | None = None, **fields: Any) -> WebHook:
    """Edit a hook. As in GitLab, a new URL without a new token drops the old token; an edit re-enables
    an auto-disabled hook."""
    system = hook.kind == WebHook.Kind.SYSTEM
    if url is not None and url.strip() != hook.url:
        check({"url": _url_errors(url, system=system)})
        hook.url = url.strip()
        if token is None:
            hook.token = ""
    if token is not None:
        check({"token": ["is invalid"] if "\n" in token else []})
        hook.token = token
    _apply(hook, fields, (SYSTEM_EVENT_FIELDS if system else PROJECT_EVENT_FIELDS) + OTHER_FIELDS)
    check({"branch_filter_strategy": _filter_errors(hook.branch_filter_strategy, hook.push_events_branch_filter)})
    hook.recent_failures, hook.disabled_until = 0, None
    hook.save()
    return hook


@transaction.atomic
def hook_delete(*, hook: WebHook) -> None:
    hook.delete()


# --- tests and resends (run while the caller waits, as GitLab does) -----------------------------------

TEST_TRIGGERS = {
    "push_events": "push_hooks",
    "tag_push_events": "tag_push_hooks",
    "issues_events": "issue_hooks",
    "confidential_issues_events": "confidential_issue_hooks",
    "note_events": "note_hooks",
    "confidential_note_events": "confidential_note_hooks",
    "merge_requests_events": "merge_request_hooks",
    "job_events": "job_hooks",
    "pipeline_events": "pipeline_hooks",
    "wiki_page_events": "wiki_page_hooks",
    "releases_events": "release_hooks",
    "emoji_events": "emoji_hooks",
    "resource_access_token_events": "resource_access_token_hooks",
}
_MISSING_SAMPLE = {
    "merge_requests_events": "Ensure the project has merge requests.",
    "job_events": "Ensure the project has CI jobs.",
    "pipeline_events": "Ensure the project has CI pipelines.",
    "wiki_page_events": "Ensure the wiki is enabled and has pages.",
    "releases_events": "Ensure the project has releases.",
    "emoji_events": "Ensure the project has notes.",
    "resource_access_token_events": "Ensure the project has access tokens.",
}


def _sample_push(project: Project, user: User, *, tag: bool, base: str) -> dict[str, Any]:
    repo = git_read.Repository(project.id)
    if tag:
        tags = repo.tags()
        if not tags:
            raise HookTestFailed("Ensure the project has tags.")
        ref, new = f"refs/tags/{tags[-1].name}", tags[-1].target or tags[-1].commit.id
    else:
        branch = repo.default_branch()
        head = repo.resolve(branch) if branch else None
        if branch is None or head is None:
            raise HookTestFailed("Ensure the project has at least one commit.")
        ref, new = f"refs/heads/{branch}", head
    # GitLab's sample: the newest commits as if they had just been pushed onto an empty ref.
    change = RefChange(old=ZERO_SHA, new=new, ref=ref)
    payload = push_payloads.build(project=project, user=user, change=change, base=base)
    payload["commits"] = payload["commits"][-3:]
    payload["total_commits_count"] = len(payload["commits"])
    return payload


def _sample(trigger: str, project: Project, user: User, base: str) -> dict[str, Any]:
    if trigger in ("push_events", "tag_push_events"):
        return _sample_push(project, user, tag=trigger == "tag_push_events", base=base)
    if trigger in ("issues_events", "confidential_issues_events"):
        from dockyard.issues.models import Issue

        issue = Issue.objects.filter(project=project).select_related("project__namespace").order_by("-id").first()
        if issue is None:
            raise HookTestFailed("Ensure the project has issues.")
        return issue_payloads.build(issue=issue, user=user, action="open", base=base)
    if trigger in ("note_events", "confidential_note_events"):
        from dockyard.notes.models import Note

        note = (
            Note.objects.filter(project=project, issue__isnull=False, system=False)
            .select_related("project__namespace", "issue__project__namespace")
            .order_by("-id")
            .first()
        )
        if note is None:
            raise HookTestFailed("Ensure the project has notes.")
        return note_payloads.build(note=note, user=user, action="create", base=base)
    sample = _sample_ci_or_mr(trigger, project, user, base)
    if sample is None:
        raise HookTestFailed(_MISSING_SAMPLE[trigger])
    return sample


def _sample_ci_or_mr(trigger: str, project: Project, user: User, base: str) -> dict[str, Any] | None:
    """GitLab's samples: the newest merge request ("open"), pipeline or job, as they are now."""
    if trigger == "merge_requests_events":
        from dockyard.merge_requests.models import MergeRequest

        mr = (
            MergeRequest.objects.filter(project=project)
            .select_related("project__namespace", "source_project__namespace")
            .order_by("-id")
            .first()
        )
        if mr is None:
            return None
        latest = mr.diffs.order_by("-id").first()
        head = latest.head_commit_sha if latest is not None else None
        return mr_payloads.build(mr=mr, user=user, action="open", base=base, head_sha=head)
    if trigger == "pipeline_events":
        from dockyard.ci.models import Pipeline

        pipeline = Pipeline.objects.filter(project=project).select_related(
            "project__namespace", "user", "merge_request__project__namespace"
        )
        newest = pipeline.order_by("-id").first()
        return pipeline_payloads.build(pipeline=newest, base=base) if newest is not None else None
    if trigger == "job_events":
        from dockyard.ci.models import Job

        job = (
            Job.objects.filter(project=project)
            .select_related("pipeline__project__namespace", "user", "runner")
            .order_by("-id")
            .first()
        )
        return job_payloads.build(job=job, base=base) if job is not None else None
    return None


def hook_test(*, hook: WebHook, trigger: str, user: User) -> Outcome:
    """Send sample data for ``trigger`` now. A 2xx answer re-enables an auto-disabled hook; a failed
    test does not count towards disabling it (it was asked for, not triggered)."""
    if trigger not in TEST_TRIGGERS:
        raise BadRequest("trigger does not have a valid value")
    base = external_base()
    if hook.project is None:
        raise HookTestFailed("Testing is only available for project hooks.")
    payload = _sample(trigger, hook.project, user, base)
    outcome = hook_execute(hook=hook, scope=TEST_TRIGGERS[trigger], payload=payload, base=base, count_failure=False)
    if not outcome.succeeded:
        raise HookTestFailed(failure_message(outcome))
    return outcome


def system_hook_test(*, hook: WebHook) -> Outcome:
    """``POST /hooks/:id``: a sample ``project_create`` event, as GitLab sends."""
    payload = {
        "event_name": "project_create",
        "name": "Ruby",
        "path": "ruby",
        "project_id": 1,
        "owner_name": "Someone",
        "owner_email": "example@gitlabhq.com",
    }
    return hook_execute(hook=hook, scope="system_hooks", payload=payload, base=external_base(), count_failure=False)


def hook_log_resend(*, log: WebHookLog) -> Outcome:
    """Send a logged delivery again, same data and trigger, new request ids."""
    return hook_execute(hook=log.hook, scope=log.trigger, payload=log.request_data, base=external_base())
