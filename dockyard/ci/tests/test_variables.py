"""CI/CD variable lists cost the same few queries however many variables there are."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dockyard.accounts import services as accounts
from dockyard.ci import services
from dockyard.namespaces import services as groups
from dockyard.projects import services as projects


def _queries(client: Client, token: str, url: str) -> int:
    client.get(url, HTTP_PRIVATE_TOKEN=token)  # warm up: the once-a-minute token/activity writes
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, HTTP_PRIVATE_TOKEN=token)
    assert response.status_code == 200, (url, response.content[:300])
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_variable_list_query_budgets() -> None:
    owner = accounts.user_create(username="vars-budget", email="vb@example.com", name="V", is_admin=True)
    _, token = accounts.token_create(user=owner, name="t", scopes=["api"])
    group = groups.group_create(actor=owner, name="Vars", path="vars")
    project = projects.project_create(actor=owner, namespace=group, name="app")
    urls = [
        f"/api/v4/projects/{project.pk}/variables",
        f"/api/v4/groups/{group.pk}/variables",
        "/api/v4/admin/ci/variables",
    ]
    made = 0

    def grow(n: int) -> None:
        nonlocal made
        for _ in range(n):
            made += 1
            for owner_ in (project, group, None):
                services.variable_create(owner=owner_, key=f"K{made}", value="value-1234", masked=True)

    client = Client()
    grow(1)
    small = {url: _queries(client, token, url) for url in urls}
    grow(5)
    large = {url: _queries(client, token, url) for url in urls}
    assert large == small
