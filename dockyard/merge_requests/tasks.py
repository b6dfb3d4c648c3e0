"""Background work on merge requests: mergeability checks, and refreshing merge requests after pushes."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django_tasks import task

from dockyard.accounts.models import User
from dockyard.merge_requests import selectors, services
from dockyard.merge_requests.models import MergeRequest
from dockyard.projects.models import Project
from dockyard.repos import services as repos
from dockyard.repos.git.write import ZERO_SHA


@task()
def check_mergeability(merge_request_id: int) -> None:
    """Compute ``merge_status``/``detailed_merge_status`` (a ``git merge-tree`` and a few counts)."""
    mr = MergeRequest.objects.select_related("project__namespace", "source_project").filter(pk=merge_request_id).first()
    if mr is not None and mr.is_open:
        MergeRequest.objects.filter(pk=mr.pk, merge_status="unchecked").update(
            merge_status="checking", detailed_merge_status="checking"
        )
        services.status_refresh(mr)


services.schedule_check = check_mergeability.enqueue


@task()
def refresh_after_push(project_id: int, user_id: int | None, changes: list[list[str]]) -> None:
    """``changes`` are ``[old, new, branch]``: merge requests from a pushed branch get a new diff version
    (and lose their approvals); those into it are rechecked."""
    project = Project.objects.select_related("namespace").filter(pk=project_id).first()
    if project is None:
        return
    user = User.objects.filter(pk=user_id).first() if user_id else None
    for old, new, branch in changes:
        for mr in selectors.open_for_source(project=project, branch=branch).select_related("project__namespace"):
            mr.source_project = project
            if new == ZERO_SHA:
                services.mark_unchecked(mr)
                check_mergeability.enqueue(mr.pk)
                continue
            with transaction.atomic():
                services.source_branch_pushed(mr=mr, actor=user, old=old, new=new)
        for mr in selectors.open_for_target(project=project, branch=branch):
            services.mark_unchecked(mr)
            check_mergeability.enqueue(mr.pk)


@repos.on_push
def _refresh_after_push(push: repos.Push) -> None:
    """Pushes to either branch of an open merge request refresh it in the background."""
    changes = [[c.old, c.new, c.branch] for c in push.changes if c.branch]
    if not changes:
        return
    branches = [c[2] for c in changes]
    affected = MergeRequest.objects.filter(state=MergeRequest.State.OPENED).filter(
        Q(source_project_id=push.project_id, source_branch__in=branches)
        | Q(project_id=push.project_id, target_branch__in=branches)
    )
    # Unknown until the refresh has run: pollers (python-gitlab's fixtures) wait while it is "unchecked".
    if affected.update(merge_status=MergeRequest.MergeStatus.UNCHECKED, detailed_merge_status="unchecked"):
        refresh_after_push.enqueue(push.project_id, push.user_id, changes)
