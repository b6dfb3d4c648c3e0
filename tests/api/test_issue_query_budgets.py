"""Issue, note, label and milestone lists run a number of queries that does not grow with their rows."""

from __future__ import annotations

import pytest
from django.test import Client

from dockyard.accounts import services as accounts
from dockyard.accounts.models import User
from dockyard.issues import selectors as issue_selectors
from dockyard.issues import services as issues
from dockyard.issues.models import Issue
from dockyard.namespaces import services as groups
from dockyard.namespaces.models import Namespace
from dockyard.projects import services as projects
from dockyard.projects.models import Project
from tests.api.test_query_budgets import _count

ENDPOINTS = [
    "/api/v4/projects/{project}/issues",
    "/api/v4/projects/{project}/issues?with_labels_details=true&order_by=priority",
    "/api/v4/projects/{project}/issues?labels=l0&milestone=m0&assignee_id=Any&search=issue",
    "/api/v4/groups/{group}/issues",
    "/api/v4/issues?scope=all",
    "/api/v4/issues_statistics?scope=all",
    "/api/v4/projects/{project}/issues/1/notes",
    "/api/v4/projects/{project}/issues/1/discussions",
    "/api/v4/projects/{project}/issues/1/links",
    "/api/v4/projects/{project}/labels?with_counts=true",
    "/api/v4/groups/{group}/labels?with_counts=true",
    "/api/v4/projects/{project}/milestones?include_ancestors=true",
    "/api/v4/groups/{group}/milestones",
    "/api/v4/projects/{project}/milestones/{milestone}/issues",
]


def _populate(owner: User, n: int) -> tuple[int, int, int]:
    group = Namespace.objects.filter(path="budget").first() or groups.group_create(
        actor=owner, name="Budget", path="budget"
    )
    project = Project.objects.filter(namespace=group, path="p").first() or projects.project_create(
        actor=owner, namespace=group, name="p"
    )
    start = Issue.objects.filter(project=project).count()
    assignee = accounts.user_create(username=f"a{start}", email=f"a{start}@example.com", name="A")
    first = Issue.objects.filter(project=project, iid=1).first()
    for i in range(start, start + n):
        issues.label_create(actor=owner, project=project, name=f"l{i}", color="#336699", priority=i)
        issues.label_create(actor=owner, group=group, name=f"g{i}", color="#996633")
        milestone = issues.milestone_create(actor=owner, project=project, title=f"m{i}")
        issues.milestone_create(actor=owner, group=group, title=f"gm{i}")
        issue = issues.issue_create(
            actor=owner,
            project=project,
            title=f"issue {i}",
            labels=["l0", f"l{i}", f"g{i}"],
            milestone_id=issue_selectors.milestones_available(project=project).get(title="m0").pk,
            assignee_ids=[assignee.pk],
            confidential=i % 3 == 0,
        )
        first = first or issue
        issues.issue_note_create(actor=owner, issue=first, body=f"comment {i} on #{issue.iid}")
        issues.issue_note_create(actor=owner, issue=first, body=f"thread {i}", thread=True)
        if issue.pk != first.pk:
            issues.issue_link_create(actor=owner, issue=first, target=issue)
        del milestone
    m0 = issue_selectors.milestones_available(project=project).get(title="m0")
    return group.pk, project.pk, m0.pk


@pytest.mark.django_db
@pytest.mark.parametrize("as_admin", [True, False])
def test_issue_lists_queries_do_not_grow_with_rows(as_admin: bool) -> None:
    owner = accounts.user_create(username="owner", email="owner@example.com", name="Owner", is_admin=as_admin)
    _, token = accounts.token_create(user=owner, name="api", scopes=["api"])
    client = Client()
    group, project, milestone = _populate(owner, 3)
    urls = [u.format(group=group, project=project, milestone=milestone) for u in ENDPOINTS]
    small = {url: _count(client, token, url) for url in urls}
    _populate(owner, 12)
    large = {url: _count(client, token, url) for url in urls}
    assert large == small
