"""Background work on merge requests: mergeability checks, refreshing merge requests after pushes, their
merge request pipelines, and what their head pipeline's end means (the "pipelines must succeed" check
and automatic merges)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q, QuerySet
from django_tasks import task

from dockyard.accounts.models import User
from dockyard.ci import services as ci_services
from dockyard.ci.models import Pipeline
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
def create_pipeline(merge_request_id: int, user_id: int | None) -> None:
    """A merge request pipeline for the source head, when the configuration has jobs for one."""
    mr = (
        MergeRequest.objects.select_related("project__namespace", "source_project__namespace")
        .filter(pk=merge_request_id)
        .first()
    )
    if mr is None or not mr.is_open:
        return
    user = User.objects.filter(pk=user_id).first() if user_id else None
    ci_services.pipeline_create_for_merge_request(mr=mr, user=user or mr.author)


services.schedule_pipeline = create_pipeline.enqueue


def _waiting_on(pipeline: Pipeline) -> QuerySet[MergeRequest]:
    """Open merge requests this pipeline may be the head pipeline of, that care about it."""
    mine = (
        Q(pk=pipeline.merge_request_id)
        if pipeline.merge_request_id
        else Q(source_project_id=pipeline.project_id, source_branch=pipeline.ref)
    )
    cares = Q(merge_when_pipeline_succeeds=True) | Q(project__only_allow_merge_if_pipeline_succeeds=True)
    return MergeRequest.objects.filter(mine, cares, state=MergeRequest.State.OPENED)


@task()
def head_pipeline_changed(pipeline_id: int) -> None:
    """Recheck the merge requests whose head pipeline this is, and merge those set to merge when it
    passes."""
    pipeline = Pipeline.objects.filter(pk=pipeline_id).first()
    if pipeline is None:
        return
    for mr in _waiting_on(pipeline).select_related("project__namespace", "source_project", "merge_user"):
        services.status_refresh(mr)
        if mr.merge_when_pipeline_succeeds and pipeline.status not in services.ACTIVE_PIPELINE_STATUSES:
            services.auto_merge_process(mr=mr)


@ci_services.on_pipeline_status
def _after_pipeline_status(pipeline_id: int, status: str) -> None:
    pipeline = Pipeline.objects.filter(pk=pipeline_id, tag=False).only("id", "project_id", "ref", "merge_request_id")
    found = pipeline.first()
    if found is not None and _waiting_on(found).exists():
        head_pipeline_changed.enqueue(pipeline_id)


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
