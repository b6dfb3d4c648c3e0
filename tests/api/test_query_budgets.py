"""Every list endpoint runs a number of queries that does not grow with the rows it lists."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dockyard.accounts import services as accounts
from dockyard.accounts.models import User
from dockyard.namespaces import services as groups
from dockyard.permissions import services as members
from dockyard.projects import services as projects

ENDPOINTS = [
    "/api/v4/projects",
    "/api/v4/projects?simple=true",
    "/api/v4/projects?membership=true&min_access_level=10",
    "/api/v4/groups",
    "/api/v4/groups/{group}/projects?include_subgroups=true",
    "/api/v4/groups/{group}/subgroups",
    "/api/v4/groups/{group}/members/all",
    "/api/v4/projects/{project}/members/all",
    "/api/v4/users",
    "/api/v4/namespaces",
    "/api/v4/personal_access_tokens",
]


def _populate(owner: User, group_id: int | None, n: int) -> tuple[int, int]:
    if group_id is None:
        group = groups.group_create(actor=owner, name="G", path="g")
    else:
        from dockyard.namespaces.models import Namespace

        group = Namespace.objects.get(pk=group_id)
    project = None
    start = User.objects.count()
    for i in range(n):
        user = accounts.user_create(username=f"u{start + i}", email=f"u{start + i}@example.com", name=f"U {i}")
        sub = groups.group_create(actor=owner, name=f"S{start + i}", path=f"s{start + i}", parent=group)
        project = projects.project_create(actor=owner, namespace=sub, name=f"p{start + i}")
        members.member_add(actor=owner, source=group, user=user, access_level=30)
        members.member_add(actor=owner, source=project, user=user, access_level=20)
        accounts.token_create(user=owner, name=f"t{i}", scopes=["api"])
    assert project is not None
    return group.pk, project.pk


def _count(client: Client, token: str, url: str) -> int:
    client.get(url, HTTP_PRIVATE_TOKEN=token)  # warm up: the once-a-minute token/activity writes
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, HTTP_PRIVATE_TOKEN=token)
    assert response.status_code == 200, (url, response.content[:300])
    return len(ctx.captured_queries)


@pytest.mark.django_db
@pytest.mark.parametrize("as_admin", [True, False])
def test_list_queries_do_not_grow_with_rows(as_admin: bool) -> None:
    owner = accounts.user_create(username="owner", email="owner@example.com", name="Owner", is_admin=as_admin)
    _, token = accounts.token_create(user=owner, name="api", scopes=["api"])
    client = Client()
    group_id, project_id = _populate(owner, None, 3)
    small = {url: _count(client, token, url.format(group=group_id, project=project_id)) for url in ENDPOINTS}
    _populate(owner, group_id, 12)
    large = {url: _count(client, token, url.format(group=group_id, project=project_id)) for url in ENDPOINTS}
    assert large == small
