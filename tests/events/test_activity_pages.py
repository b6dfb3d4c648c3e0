"""The project activity page and the activity on a profile, through Django's test client: what a viewer
may not see never shows, and the pages' queries do not grow with the events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dockyard.config.env import Env
from dockyard.core.visibility import Visibility
from dockyard.issues import services as issues
from dockyard.namespaces import services as groups
from dockyard.permissions import services as members
from dockyard.permissions.models import AccessLevel
from dockyard.projects import services as projects
from dockyard.repos import services as repos
from dockyard.repos.git.write import FileAction
from tests.web.test_pages import make_user, signed_in

PAGE = "/acme/rocket/-/activity"


@pytest.fixture(autouse=True)
def _own_repositories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Env, "repositories", property(lambda self: tmp_path / "repositories"))


@pytest.fixture
def setup(db: None) -> dict[str, Any]:
    owner, guest, outsider = make_user("owner"), make_user("guest"), make_user("outsider")
    group = groups.group_create(actor=owner, name="Acme", path="acme", visibility=Visibility.PRIVATE)
    project = projects.project_create(actor=owner, namespace=group, name="Rocket", initialize_with_readme=True)
    members.member_add(actor=owner, source=project, user=guest, access_level=AccessLevel.GUEST)
    return {"owner": owner, "guest": guest, "outsider": outsider, "project": project}


def _act(setup: dict[str, Any], n: int) -> None:
    owner, project = setup["owner"], setup["project"]
    for i in range(n):
        issue = issues.issue_create(actor=owner, project=project, title=f"Public bug {i}")
        issues.issue_note_create(actor=owner, issue=issue, body="seen it")
        issues.issue_create(actor=owner, project=project, title=f"Secret hole {i}", confidential=True)
        repos.commit_create(
            project=project,
            user=owner,
            branch="main",
            message=f"Fix {i}",
            actions=[FileAction(action="create", path=f"fix{issue.pk}.txt", content=b"x")],
        )


def test_project_activity_shows_what_the_viewer_may_see(setup: dict[str, Any]) -> None:
    _act(setup, 1)
    owner_page = signed_in(setup["owner"]).get(PAGE).content.decode()
    assert "Secret hole 0" in owner_page and "pushed to" in owner_page
    assert 'href="/acme/rocket/-/commits/main"' in owner_page
    assert 'href="/acme/rocket/-/issues/1"' in owner_page and "commented on" in owner_page
    guest_page = signed_in(setup["guest"]).get(PAGE).content.decode()
    assert "Public bug 0" in guest_page and "opened" in guest_page
    assert "Secret hole" not in guest_page and "pushed to" not in guest_page
    assert signed_in(setup["outsider"]).get(PAGE).status_code == 404
    pushes = signed_in(setup["owner"]).get(PAGE, {"event_filter": "pushed"}).content.decode()
    assert "pushed to" in pushes and "Public bug" not in pushes
    # The owner's profile shows their activity to those who may see it, and nothing of a private project to others.
    assert "Public bug 0" in signed_in(setup["guest"]).get("/owner").content.decode()
    assert "Public bug 0" not in signed_in(setup["outsider"]).get("/owner").content.decode()


def _queries(client: Any, url: str) -> int:
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_activity_pages_queries_do_not_grow(setup: dict[str, Any]) -> None:
    client = signed_in(setup["guest"])
    _act(setup, 1)
    small = (_queries(client, PAGE), _queries(client, "/owner"))
    _act(setup, 5)
    assert (_queries(client, PAGE), _queries(client, "/owner")) == small
