"""Reads on web hooks: which hooks an event goes to, one project's or group's hooks, delivery logs."""

from __future__ import annotations

import datetime as dt

import re2
from django.db.models import Q, QuerySet
from django.utils import timezone

from dockyard.core.errors import NotFound
from dockyard.core.glob import wildcard_match
from dockyard.core.prepared import Prepared
from dockyard.namespaces.models import Namespace
from dockyard.projects.models import Project
from dockyard.webhooks.models import (
    PERMANENTLY_DISABLED_FAILURE_THRESHOLD,
    TEMPORARILY_DISABLED_FAILURE_THRESHOLD,
    WebHook,
    WebHookLog,
)

# GitLab's hook names (scopes) and the switch on a hook that subscribes to each.
SCOPE_FLAGS: dict[str, str] = {
    "push_hooks": "push_events",
    "tag_push_hooks": "tag_push_events",
    "issue_hooks": "issues_events",
    "confidential_issue_hooks": "confidential_issues_events",
    "note_hooks": "note_events",
    "confidential_note_hooks": "confidential_note_events",
    "merge_request_hooks": "merge_requests_events",
    "job_hooks": "job_events",
    "pipeline_hooks": "pipeline_events",
    "wiki_page_hooks": "wiki_page_events",
    "release_hooks": "releases_events",
    "deployment_hooks": "deployment_events",
    "feature_flag_hooks": "feature_flag_events",
}
# What system hooks may subscribe to besides their own events (which they always get).
SYSTEM_SCOPE_FLAGS: dict[str, str] = {
    "push_hooks": "push_events",
    "tag_push_hooks": "tag_push_events",
    "merge_request_hooks": "merge_requests_events",
    "repository_update_hooks": "repository_update_events",
}


def event_header(scope: str) -> str:
    """``push_hooks`` → ``Push Hook`` (GitLab: ``hook_name.singularize.titleize``)."""
    return " ".join(part.capitalize() for part in scope.removesuffix("s").split("_"))


def _executable() -> Q:
    """GitLab's ``executable`` scope: not (yet) auto-disabled, or the temporary disabling has run out.
    System hooks are never auto-disabled."""
    now = timezone.now()
    within_grace = Q(recent_failures__lte=TEMPORARILY_DISABLED_FAILURE_THRESHOLD)
    expired = Q(disabled_until__isnull=False, disabled_until__lt=now)
    return Q(kind=WebHook.Kind.SYSTEM) | (
        (within_grace | expired) & Q(recent_failures__lte=PERMANENTLY_DISABLED_FAILURE_THRESHOLD)
    )


def branch_matches(hook: WebHook, branch: str) -> bool:
    """GitLab's ``push_events_branch_filter`` under the hook's ``branch_filter_strategy``."""
    pattern = hook.push_events_branch_filter
    strategy = hook.branch_filter_strategy
    if strategy == WebHook.BranchFilterStrategy.ALL_BRANCHES or not pattern:
        return True
    if strategy == WebHook.BranchFilterStrategy.REGEX:
        try:
            return re2.search(pattern, branch) is not None
        except re2.error:
            return False
    return wildcard_match(pattern, branch)


def hooks_for_project_event(*, project: Project, scope: str, branch: str | None = None) -> list[WebHook]:
    """The project's and its groups' hooks that subscribe to ``scope`` and may run now (one query)."""
    flag = SCOPE_FLAGS[scope]
    ancestors = project.namespace.ancestor_ids if project.namespace.is_group else []
    qs = WebHook.objects.filter(
        Q(kind=WebHook.Kind.PROJECT, project=project) | Q(kind=WebHook.Kind.GROUP, group_id__in=ancestors),
        _executable(),
        **{flag: True},
    ).order_by("id")
    hooks = list(qs)
    if scope == "push_hooks" and branch is not None:
        hooks = [h for h in hooks if branch_matches(h, branch)]
    return hooks


def system_hooks_for(*, scope: str | None = None) -> list[WebHook]:
    """System hooks for a system event (``scope=None``) or one they subscribe to."""
    qs = WebHook.objects.filter(kind=WebHook.Kind.SYSTEM).order_by("id")
    if scope is not None:
        qs = qs.filter(**{SYSTEM_SCOPE_FLAGS[scope]: True})
    return list(qs)


def hooks_may_exist_for(*, project_id: int) -> bool:
    """A cheap first check before any work for an event: is there a hook that could receive it?"""
    return bool(_MAY_EXIST.all(project_id))


_MAY_EXIST: Prepared[tuple[int]] = Prepared(
    lambda project_id: WebHook.objects.filter(
        Q(project_id=project_id) | Q(kind__in=[WebHook.Kind.GROUP, WebHook.Kind.SYSTEM])
    ).values_list("id")[:1]
)


def system_hooks_exist() -> bool:
    return WebHook.objects.filter(kind=WebHook.Kind.SYSTEM).exists()


def project_hook_list(*, project: Project) -> QuerySet[WebHook]:
    return WebHook.objects.filter(kind=WebHook.Kind.PROJECT, project=project).order_by("id")


def group_hook_list(*, group: Namespace) -> QuerySet[WebHook]:
    return WebHook.objects.filter(kind=WebHook.Kind.GROUP, group=group).order_by("id")


def system_hook_list() -> QuerySet[WebHook]:
    return WebHook.objects.filter(kind=WebHook.Kind.SYSTEM).order_by("id")


def hook_get(*, qs: QuerySet[WebHook], hook_id: int) -> WebHook:
    hook = qs.filter(pk=hook_id).first()
    if hook is None:
        raise NotFound()
    return hook


STATUS_CATEGORIES = {
    "successful": (200, 299),
    "client_failure": (400, 499),
    "server_failure": (500, 599),
}


def hook_log_list(*, hook: WebHook, status: str | None = None) -> QuerySet[WebHookLog]:
    """The hook's deliveries of the last 7 days, newest first; ``status`` is a code or a category."""
    since = timezone.now() - dt.timedelta(days=7)
    qs = WebHookLog.objects.filter(hook=hook, created_at__gte=since).order_by("-id")
    if status:
        if status in STATUS_CATEGORIES:
            low, high = STATUS_CATEGORIES[status]
            qs = qs.filter(response_status__in=[str(code) for code in range(low, high + 1)])
        else:
            qs = qs.filter(response_status=status)
    return qs


def hook_log_get(*, hook: WebHook, log_id: int) -> WebHookLog:
    log = WebHookLog.objects.filter(hook=hook, pk=log_id).first()
    if log is None:
        raise NotFound()
    return log
