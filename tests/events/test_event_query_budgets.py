"""Event feeds (API and pages) run a number of queries that does not grow with their rows."""

from __future__ import annotations

import pytest
from django.test import Client

from dockyard.accounts import services as accounts
from dockyard.accounts.models import User
from dockyard.issues import services as issues
from dockyard.merge_requests import services as merge_requests
from dockyard.namespaces.models import Namespace
from dockyard.projects import services as projects
from dockyard.projects.models import Project
from dockyard.repos import git
from dockyard.repos import services as repos
from dockyard.repos.git.write import FileAction
from tests.api.test_query_budgets import _count

ENDPOINTS = [
    "/api/v4/projects/{project}/events",
    "/api/v4/users/{user}/events",
    "/api/v4/events",
    "/api/v4/events?scope=all&target_type=note",
]


def _populate(owner: User, n: int) -> Project:
    project = Project.objects.filter(path="feed").first()
    if project is None:
        project = projects.project_create(actor=owner, namespace=Namespace.objects.get(owner=owner), name="feed")
        # Another test's repository may be left on disk under this (reused) id: start from a fresh one.
        git.remove_repository(project.id)
        repos.repository_create(project=project, actor=owner, initialize_with_readme=True)
    for i in range(n):
        issue = issues.issue_create(actor=owner, project=project, title=f"issue {i}", confidential=i % 2 == 0)
        issues.issue_note_create(actor=owner, issue=issue, body=f"comment {i}")
        issues.issue_close(actor=owner, issue=issue)
        repos.commit_create(
            project=project,
            user=owner,
            branch=f"b{issue.pk}",
            start_branch="main",
            message=f"commit {i}",
            actions=[FileAction(action="create", path=f"f{issue.pk}.txt", content=b"x")],
        )
        merge_requests.merge_request_create(
            actor=owner, project=project, source_branch=f"b{issue.pk}", target_branch="main", title=f"mr {i}"
        )
    return project


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("as_admin", [True, False])
def test_event_feeds_queries_do_not_grow_with_rows(as_admin: bool) -> None:
    owner = accounts.user_create(username="owner", email="owner@example.com", name="Owner", is_admin=as_admin)
    _, token = accounts.token_create(user=owner, name="api", scopes=["api"])
    client = Client()
    project = _populate(owner, 2)
    try:
        urls = [u.format(project=project.pk, user=owner.pk) for u in ENDPOINTS]
        small = {url: _count(client, token, url) for url in urls}
        _populate(owner, 8)
        large = {url: _count(client, token, url) for url in urls}
    finally:
        git.remove_repository(project.id)  # ids are reused by later tests, which expect no repository there
    assert large == small
