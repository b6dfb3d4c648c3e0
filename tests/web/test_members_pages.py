"""Members pages of projects and groups: the list (direct and inherited), adding, changing, removing,
who sees the controls, and the query budget."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dockyard.accounts.models import User
from dockyard.core.visibility import Visibility
from dockyard.namespaces import services as groups
from dockyard.permissions import selectors as member_selectors
from dockyard.permissions import services as members
from dockyard.permissions.models import AccessLevel, Membership
from dockyard.projects import services as projects
from tests.web.test_pages import make_user, signed_in


@pytest.fixture
def setup(db: None) -> dict[str, Any]:
    owner = make_user("owner")
    dev = make_user("dev")
    group = groups.group_create(actor=owner, name="Acme", path="acme", visibility=Visibility.PRIVATE)
    project = projects.project_create(actor=owner, namespace=group, name="Rocket")
    members.member_add(actor=owner, source=project, user=dev, access_level=AccessLevel.DEVELOPER)
    return {"owner": owner, "dev": dev, "group": group, "project": project}


URL = "/acme/rocket/-/project_members"


def test_members_page_lists_direct_and_inherited(setup: dict[str, Any]) -> None:
    page = signed_in(setup["owner"]).get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "@dev" in html and "Direct member" in html
    # The owner's membership comes from the group: marked with its source, no controls on that row.
    assert 'Inherited from <a href="/groups/acme">acme</a>' in html
    assert "Add a member" in html and 'aria-label="Remove dev"' in html and 'aria-label="Save role of dev"' in html
    assert 'aria-label="Save role of owner"' not in html


def test_maintainer_adds_changes_and_removes_a_member(setup: dict[str, Any]) -> None:
    carol = make_user("carol")
    client = signed_in(setup["owner"])
    added = client.post(URL, {"username": "@carol", "access_level": "20", "expires_at": ""})
    assert added.status_code == 302 and added["Location"] == URL
    assert "Added carol as Reporter." in client.get(URL).content.decode()
    row = Membership.objects.get(user=carol, project=setup["project"])
    assert row.access_level == AccessLevel.REPORTER

    changed = client.post(f"{URL}/{carol.pk}", {"access_level": "40", "expires_at": "2099-01-31"})
    assert changed.status_code == 302
    row.refresh_from_db()
    assert row.access_level == AccessLevel.MAINTAINER and str(row.expires_at) == "2099-01-31"
    assert "carol is now Maintainer." in client.get(URL).content.decode()

    removed = client.post(f"{URL}/{carol.pk}/remove")
    assert removed.status_code == 302
    assert not Membership.objects.filter(user=carol, project=setup["project"]).exists()


def test_add_member_form_errors(setup: dict[str, Any]) -> None:
    client = signed_in(setup["owner"])
    blank = client.post(URL, {"username": "", "access_level": "99", "expires_at": "2001-01-01"})
    assert blank.status_code == 400
    html = blank.content.decode()
    assert "Username can&#x27;t be blank" in html
    assert "Role must be one of the roles" in html
    assert "Expiration date must be in the future" in html
    assert 'aria-invalid="true" aria-describedby="member-role-error"' in html
    unknown = client.post(URL, {"username": "nobody", "access_level": "30"})
    assert unknown.status_code == 400 and "Username does not match any user" in unknown.content.decode()
    again = client.post(URL, {"username": "dev", "access_level": "30"})
    assert again.status_code == 400 and "Username is already a direct member." in again.content.decode()
    assert 'value="dev"' in again.content.decode()  # the input is kept


def test_developer_sees_members_but_no_controls_and_gets_404_posting(setup: dict[str, Any]) -> None:
    dev: User = setup["dev"]
    owner: User = setup["owner"]
    client = signed_in(dev)
    html = client.get(URL).content.decode()
    assert "@owner" in html and "@dev" in html
    assert "Add a member" not in html and 'aria-label="Remove owner"' not in html and "<select" not in html
    assert 'aria-label="Leave Rocket"' in html  # one's own direct membership can be left
    assert client.post(URL, {"username": "dev", "access_level": "50"}).status_code == 404
    assert client.post(f"{URL}/{dev.pk}", {"access_level": "50"}).status_code == 404
    assert client.post(f"{URL}/{owner.pk}/remove").status_code == 404
    assert Membership.objects.get(user=dev, project=setup["project"]).access_level == AccessLevel.DEVELOPER
    # Leaving is one's own business.
    left = client.post(f"{URL}/{dev.pk}/remove")
    assert left.status_code == 302 and left["Location"] == "/"
    assert not Membership.objects.filter(user=dev, project=setup["project"]).exists()


def test_outsiders_and_anonymous_get_404(setup: dict[str, Any]) -> None:
    stranger = make_user("stranger")
    assert signed_in(stranger).get(URL).status_code == 404
    assert Client().get(URL).status_code == 404
    assert Client().post(URL, {"username": "stranger", "access_level": "30"}).status_code == 404
    assert signed_in(stranger).get("/groups/acme/-/group_members").status_code == 404


def test_owner_role_needs_an_owner(setup: dict[str, Any]) -> None:
    dev: User = setup["dev"]
    maint = make_user("maint")
    members.member_add(actor=setup["owner"], source=setup["project"], user=maint, access_level=AccessLevel.MAINTAINER)
    client = signed_in(maint)
    refused = client.post(URL, {"username": "newbie_absent", "access_level": "50"})
    assert refused.status_code == 400  # unknown user first
    make_user("newbie")
    refused = client.post(URL, {"username": "newbie", "access_level": "50"})
    assert refused.status_code == 400 and "Only owners can give the Owner role." in refused.content.decode()
    client.post(f"{URL}/{dev.pk}", {"access_level": "50"})
    assert Membership.objects.get(user=dev, project=setup["project"]).access_level == AccessLevel.DEVELOPER
    assert "Only owners can give the Owner role." in client.get(URL).content.decode()


def test_group_members_page_and_last_owner(setup: dict[str, Any]) -> None:
    owner: User = setup["owner"]
    dev: User = setup["dev"]
    client = signed_in(owner)
    url = "/groups/acme/-/group_members"
    assert client.post(url, {"username": "dev", "access_level": "10"}).status_code == 302
    html = client.get(url).content.decode()
    assert "Added dev as Guest." in html and 'aria-label="Save role of dev"' in html
    # The last owner can neither be demoted nor removed.
    client.post(f"{url}/{owner.pk}", {"access_level": "40"})
    assert "a group must keep at least one owner" in client.get(url).content.decode()
    client.post(f"{url}/{owner.pk}/remove")
    assert "A group must keep at least one owner" in client.get(url).content.decode()
    assert Membership.objects.get(user=owner, namespace=setup["group"]).access_level == AccessLevel.OWNER
    # A group guest sees the list without controls and is refused with 404.
    guest = signed_in(dev)
    assert "Add a member" not in guest.get(url).content.decode()
    assert guest.post(url, {"username": "owner", "access_level": "10"}).status_code == 404
    # Group members show up as inherited on the project's page.
    project_html = client.get(URL).content.decode()
    assert project_html.count("Inherited from") >= 1


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", [URL, "/groups/acme/-/group_members"])
def test_members_pages_query_budget(setup: dict[str, Any], url: str) -> None:
    owner: User = setup["owner"]
    source = setup["project"] if "project_members" in url else setup["group"]

    def grow_to(total: int) -> None:
        while member_selectors.member_users(source=source, inherited=True).count() < total:
            u = make_user(f"member{User.objects.count()}")
            members.member_add(actor=owner, source=source, user=u, access_level=AccessLevel.REPORTER)

    grow_to(3)
    few = _queries(signed_in(owner), url)
    grow_to(15)
    many = _queries(signed_in(owner), url)
    assert many == few, f"{url}: {few} queries for 3 members, {many} for 15"
    assert few <= 14
