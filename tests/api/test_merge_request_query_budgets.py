"""Merge request, note and discussion lists run a number of queries that does not grow with their rows."""

from __future__ import annotations

import pytest
from django.test import Client

from dockyard.accounts import services as accounts
from dockyard.accounts.models import User
from dockyard.merge_requests import services as merge_requests
from dockyard.merge_requests.models import MergeRequest
from dockyard.namespaces import services as groups
from dockyard.namespaces.models import Namespace
from dockyard.projects import services as projects
from dockyard.projects.models import Project
from dockyard.repos import git
from dockyard.repos import services as repos
from dockyard.repos.git.write import FileAction
from tests.api.test_query_budgets import _count

ENDPOINTS = [
    "/api/v4/projects/{project}/merge_requests",
    "/api/v4/projects/{project}/merge_requests?with_labels_details=true&state=opened&labels=l0",
    "/api/v4/groups/{group}/merge_requests",
    "/api/v4/merge_requests?scope=all",
    "/api/v4/projects/{project}/merge_requests/1/notes",
    "/api/v4/projects/{project}/merge_requests/1/discussions",
    "/api/v4/projects/{project}/merge_requests/1/versions",
]


def _populate(owner: User, n: int) -> tuple[int, int]:
    group = Namespace.objects.filter(path="mrbudget").first() or groups.group_create(
        actor=owner, name="MR Budget", path="mrbudget"
    )
    project = Project.objects.filter(namespace=group, path="p").first()
    if project is None:
        project = projects.project_create(actor=owner, namespace=group, name="p")
        # Another test's repository may be left on disk under this (reused) id: start from a fresh one.
        git.remove_repository(project.id)
        repos.repository_create(project=project, actor=owner, initialize_with_readme=True)
    start = MergeRequest.objects.filter(project=project).count()
    reviewer = accounts.user_create(username=f"r{start}", email=f"r{start}@example.com", name="R")
    first = MergeRequest.objects.filter(project=project, iid=1).first()
    for i in range(start, start + n):
        repos.commit_create(
            project=project,
            user=owner,
            branch=f"b{i}",
            start_branch="main",
            message=f"work {i}",
            actions=[FileAction(action="create", path=f"f{i}.txt", content=b"x\n")],
        )
        mr = merge_requests.merge_request_create(
            actor=owner,
            project=project,
            source_branch=f"b{i}",
            target_branch="main",
            title=f"mr {i}",
            labels=["l0", f"l{i}"],
            assignee_ids=[owner.pk],
            reviewer_ids=[reviewer.pk],
        )
        first = first or mr
        merge_requests.merge_request_note_create(actor=owner, mr=first, body=f"comment {i}")
        merge_requests.merge_request_note_create(actor=owner, mr=first, body=f"thread {i}", thread=True)
    return group.pk, project.pk


@pytest.mark.django_db(transaction=True)
def test_merge_request_lists_queries_do_not_grow_with_rows() -> None:
    owner = accounts.user_create(username="owner", email="owner@example.com", name="Owner", is_admin=False)
    _, token = accounts.token_create(user=owner, name="api", scopes=["api"])
    client = Client()
    group, project = _populate(owner, 3)
    urls = [u.format(group=group, project=project) for u in ENDPOINTS]
    small = {url: _count(client, token, url) for url in urls}
    _populate(owner, 12)
    large = {url: _count(client, token, url) for url in urls}
    assert large == small
