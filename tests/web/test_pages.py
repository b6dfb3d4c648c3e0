"""The server-rendered pages, through Django's test client against the real services."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dockyard.accounts import selectors as accounts_selectors
from dockyard.accounts import services as accounts
from dockyard.accounts.models import PersonalAccessToken, User
from dockyard.core.visibility import Visibility
from dockyard.namespaces import services as groups
from dockyard.namespaces.models import Namespace
from dockyard.permissions import services as members
from dockyard.projects import services as projects
from dockyard.projects.models import Project

PASSWORD = "correct-horse-battery"


def make_user(username: str, *, admin: bool = False) -> User:
    return accounts.user_create(
        username=username, email=f"{username}@example.com", name=username.title(), password=PASSWORD, is_admin=admin
    )


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def alice() -> User:
    return make_user("alice")


@pytest.fixture
def bob() -> User:
    return make_user("bob")


# --- sign in / sign out -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("login", ["alice", "ALICE", "alice@example.com"])
def test_sign_in_with_username_or_email(alice: User, login: str) -> None:
    client = Client()
    page = client.get("/users/sign_in")
    assert page.status_code == 200
    assert b'<label for="login">' in page.content and b'<label for="password">' in page.content
    response = client.post("/users/sign_in", {"login": login, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "_gitlab_session" in response.cookies
    assert b"Your projects" in client.get("/").content


@pytest.mark.django_db
def test_sign_in_follows_only_local_next(alice: User) -> None:
    local = Client().post("/users/sign_in", {"login": "alice", "password": PASSWORD, "next": "/explore/projects"})
    assert local["Location"] == "/explore/projects"
    foreign = Client().post("/users/sign_in", {"login": "alice", "password": PASSWORD, "next": "https://evil.test/"})
    assert foreign["Location"] == "/"


@pytest.mark.django_db
@pytest.mark.parametrize("login", ["alice", "nobody"])
def test_sign_in_wrong_password_is_refused(alice: User, login: str) -> None:
    client = Client()
    response = client.post("/users/sign_in", {"login": login, "password": "wrong-password"})
    assert response.status_code == 401
    assert b"Invalid login or password." in response.content
    assert b'value="' + login.encode() + b'"' in response.content  # the login is kept, the password is not
    assert client.get("/")["Location"].startswith("/users/sign_in")


@pytest.mark.django_db
def test_blocked_user_is_refused_with_a_clear_message(alice: User) -> None:
    admin = make_user("boss", admin=True)
    accounts.user_block(user=alice, actor=admin)
    client = Client()
    response = client.post("/users/sign_in", {"login": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert b"Your account has been blocked" in response.content
    assert client.get("/").status_code == 302
    # With a wrong password a blocked account looks like any other failed sign-in.
    wrong = client.post("/users/sign_in", {"login": "alice", "password": "wrong-password"})
    assert b"blocked" not in wrong.content


@pytest.mark.django_db
def test_sign_out_needs_post_and_ends_the_session(alice: User) -> None:
    client = signed_in(alice)
    assert client.get("/users/sign_out").status_code == 405
    response = client.post("/users/sign_out")
    assert response.status_code == 302 and response["Location"] == "/users/sign_in"
    assert client.get("/")["Location"] == "/users/sign_in?next=/"


@pytest.mark.django_db
def test_sign_out_requires_csrf_token(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    assert client.post("/users/sign_out").status_code == 403


# --- dashboard and explore ----------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_home_redirects_to_sign_in() -> None:
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"] == "/users/sign_in?next=/"


@pytest.mark.django_db
def test_dashboard_lists_member_projects_only(alice: User, bob: User) -> None:
    projects.project_create(actor=alice, namespace=alice.namespace, name="Alice Tool")
    team = groups.group_create(actor=bob, name="Team", path="team")
    projects.project_create(actor=bob, namespace=team, name="Shared")
    members.member_add(actor=bob, source=team, user=alice, access_level=30)
    projects.project_create(actor=bob, namespace=bob.namespace, name="Bob Public", visibility=Visibility.PUBLIC)

    page = signed_in(alice).get("/").content.decode()
    assert "Alice Tool" in page
    assert "Shared" in page
    assert "Bob Public" not in page  # visible to alice, but she is no member
    assert 'href="/groups/team"' in page  # her groups are listed too


@pytest.mark.django_db
def test_explore_lists_visible_projects_and_searches(alice: User, bob: User) -> None:
    projects.project_create(actor=bob, namespace=bob.namespace, name="Open Thing", visibility=Visibility.PUBLIC)
    projects.project_create(actor=bob, namespace=bob.namespace, name="Inner Thing", visibility=Visibility.INTERNAL)
    projects.project_create(actor=bob, namespace=bob.namespace, name="Secret Thing")

    anonymous = Client().get("/explore/projects").content.decode()
    assert "Open Thing" in anonymous and "Inner Thing" not in anonymous and "Secret Thing" not in anonymous
    signed = signed_in(alice).get("/explore/projects").content.decode()
    assert "Open Thing" in signed and "Inner Thing" in signed and "Secret Thing" not in signed
    found = signed_in(alice).get("/explore/projects", {"search": "inner"}).content.decode()
    assert "Inner Thing" in found and "Open Thing" not in found


def _populate(owner: User, n: int) -> None:
    group = Namespace.objects.filter(path="budget").first() or groups.group_create(
        actor=owner, name="Budget", path="budget", visibility=Visibility.PUBLIC
    )
    start = Project.objects.count()
    for i in range(start, start + n):
        sub = groups.group_create(
            actor=owner, name=f"Sub {i}", path=f"sub{i}", parent=group, visibility=Visibility.PUBLIC
        )
        projects.project_create(actor=owner, namespace=sub, name=f"P{i}", visibility=Visibility.PUBLIC)


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/explore/projects", "/groups/budget", "/alice"])
def test_list_pages_run_a_bounded_number_of_queries(alice: User, url: str) -> None:
    _populate(alice, 5)
    for i in range(5):
        projects.project_create(actor=alice, namespace=alice.namespace, name=f"Mine {i}")
    few = _queries(signed_in(alice), url)
    _populate(alice, 20)
    for i in range(5, 25):
        projects.project_create(actor=alice, namespace=alice.namespace, name=f"Mine {i}")
    many = _queries(signed_in(alice), url)
    assert many == few, f"{url}: {few} queries for 5 rows, {many} for 25"
    assert few <= 15


@pytest.mark.django_db
def test_lists_are_paginated(alice: User) -> None:
    for i in range(23):
        projects.project_create(actor=alice, namespace=alice.namespace, name=f"Row {i:02d}")
    client = signed_in(alice)
    first = client.get("/").content.decode()
    assert first.count('class="row-title"') == 20
    assert "Page 1 of 2" in first
    second = client.get("/?page=2").content.decode()
    assert second.count('class="row-title"') == 3


# --- new group and new project -------------------------------------------------------------------


@pytest.mark.django_db
def test_new_group_form_creates_a_group_and_reports_a_taken_path(alice: User) -> None:
    client = signed_in(alice)
    page = client.get("/groups/new")
    assert page.status_code == 200 and b'<label for="group-name">' in page.content
    response = client.post("/groups/new", {"name": "Platform", "path": "platform", "visibility": "internal"})
    assert response.status_code == 302 and response["Location"] == "/groups/platform"
    group = Namespace.objects.get(full_path="platform")
    assert group.visibility == Visibility.INTERNAL
    assert b"Platform" in client.get("/groups/platform").content

    again = client.post("/groups/new", {"name": "Platform 2", "path": "platform", "visibility": "private"})
    assert again.status_code == 400
    html = again.content.decode()
    assert 'id="group-path-error"' in html and "Group URL has already been taken" in html
    assert 'value="Platform 2"' in html  # what was typed is kept


@pytest.mark.django_db
def test_new_subgroup_needs_rights_on_the_parent(alice: User, bob: User) -> None:
    parent = groups.group_create(actor=alice, name="Top", path="top", visibility=Visibility.PUBLIC)
    created = signed_in(alice).post("/groups/new", {"name": "Sub", "path": "sub", "parent_id": parent.pk})
    assert created.status_code == 302
    assert Namespace.objects.filter(full_path="top/sub").exists()
    refused = signed_in(bob).post("/groups/new", {"name": "Mine", "path": "mine", "parent_id": parent.pk})
    assert refused.status_code == 400 and b"403 Forbidden" in refused.content
    assert not Namespace.objects.filter(full_path="top/mine").exists()
    # Visibility may not exceed the parent's: the service's error lands on the visibility field.
    private = groups.group_create(actor=alice, name="Closed", path="closed")
    wide = signed_in(alice).post(
        "/groups/new", {"name": "Wide", "path": "wide", "parent_id": private.pk, "visibility": "public"}
    )
    assert wide.status_code == 400 and b'id="group-visibility-error"' in wide.content


@pytest.mark.django_db
def test_new_project_form_creates_a_project_and_reports_a_taken_path(alice: User) -> None:
    group = groups.group_create(actor=alice, name="Apps", path="apps")
    client = signed_in(alice)
    page = client.get("/projects/new").content.decode()
    assert f'<option value="{group.pk}"' in page and f'<option value="{alice.namespace.pk}"' in page

    created = client.post(
        "/projects/new",
        {"namespace_id": group.pk, "name": "My Web App", "path": "", "description": "Hi", "visibility": "private"},
    )
    assert created.status_code == 302 and created["Location"] == "/apps/my-web-app"  # slug derived from the name
    project = Project.objects.get(namespace=group, path="my-web-app")
    assert project.description == "Hi"

    again = client.post("/projects/new", {"namespace_id": group.pk, "name": "Other", "path": "my-web-app"})
    assert again.status_code == 400
    assert "Project slug has already been taken" in again.content.decode()
    blank = client.post("/projects/new", {"namespace_id": group.pk, "name": "", "path": ""})
    assert blank.status_code == 400 and b'id="project-name-error"' in blank.content


@pytest.mark.django_db
def test_new_project_namespace_choices_and_refusal(alice: User, bob: User) -> None:
    guest_group = groups.group_create(actor=bob, name="Guests", path="guests")
    members.member_add(actor=bob, source=guest_group, user=alice, access_level=10)
    page = signed_in(alice).get("/projects/new").content.decode()
    assert f'<option value="{guest_group.pk}"' not in page  # a guest may not create projects there
    refused = signed_in(alice).post("/projects/new", {"namespace_id": guest_group.pk, "name": "Nope"})
    assert refused.status_code == 400 and b"permission to create projects" in refused.content
    assert not Project.objects.filter(name="Nope").exists()


@pytest.mark.django_db
def test_forms_need_sign_in() -> None:
    for url in ("/groups/new", "/projects/new", "/-/user_settings/personal_access_tokens"):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/users/sign_in?next=")


# --- overview pages ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_project_page_shows_the_project(alice: User) -> None:
    group = groups.group_create(actor=alice, name="Team", path="team")
    sub = groups.group_create(actor=alice, name="Sub", path="sub", parent=group)
    projects.project_create(
        actor=alice, namespace=sub, name="Engine", description="Makes it go", topics=["python", "forge"]
    )
    html = signed_in(alice).get("/team/sub/engine").content.decode()
    assert "<h1>Engine" in html and "Makes it go" in html
    assert "http://testserver/team/sub/engine.git" in html
    assert "badge-private" in html and "python" in html and "forge" in html
    assert re.search(r"<dt>Members</dt><dd>1</dd>", html)


@pytest.mark.django_db
def test_private_pages_are_404_for_outsiders(alice: User, bob: User) -> None:
    group = groups.group_create(actor=alice, name="Hidden", path="hidden")
    projects.project_create(actor=alice, namespace=group, name="Vault")
    projects.project_create(actor=alice, namespace=alice.namespace, name="Diary")
    for client in (signed_in(bob), Client()):
        for url in ("/hidden/vault", "/alice/diary", "/groups/hidden", "/nobody/nothing", "/groups/nothing"):
            response = client.get(url)
            assert response.status_code == 404, url
            assert b"Page not found" in response.content
    assert signed_in(alice).get("/hidden/vault").status_code == 200
    # The profile is public; the private project on it is not listed to others.
    profile = signed_in(bob).get("/alice")
    assert profile.status_code == 200 and b"@alice" in profile.content and b"Diary" not in profile.content
    assert b"Diary" in signed_in(alice).get("/alice").content


@pytest.mark.django_db
def test_group_page_lists_subgroups_and_projects(alice: User) -> None:
    group = groups.group_create(actor=alice, name="Org", path="org", visibility=Visibility.PUBLIC)
    groups.group_create(actor=alice, name="Backend", path="backend", parent=group, visibility=Visibility.PUBLIC)
    projects.project_create(actor=alice, namespace=group, name="Website", visibility=Visibility.PUBLIC)
    html = Client().get("/groups/org").content.decode()
    assert 'href="/groups/org/backend"' in html and 'href="/org/website"' in html
    assert Client().get("/org")["Location"] == "/groups/org"  # a top-level group at /<path>


@pytest.mark.django_db
def test_fixed_routes_are_not_shadowed(alice: User) -> None:
    client = signed_in(alice)
    assert client.get("/api/v4/version").status_code == 200
    assert client.get("/api/v4/nothing-here").json() == {"error": "404 Not Found"}
    assert client.get("/-/health").status_code == 200
    assert client.get("/explore").status_code == 302
    assert client.get("/dashboard")["Location"] == "/"
    assert client.get("/profile")["Location"] == "/alice"
    assert Client().get("/-/static/web/dockyard.css").status_code == 200


# --- personal access tokens ----------------------------------------------------------------------


@pytest.mark.django_db
def test_token_page_creates_a_token_and_shows_it_once(alice: User) -> None:
    client = signed_in(alice)
    page = client.get("/-/user_settings/personal_access_tokens").content.decode()
    for scope in PersonalAccessToken.SCOPES:
        assert f'<input type="checkbox" id="scope-{scope}" name="scopes" value="{scope}"' in page
    response = client.post(
        "/-/user_settings/personal_access_tokens", {"name": "ci", "expires_at": "", "scopes": ["api", "read_user"]}
    )
    assert response.status_code == 302
    shown = client.get("/-/user_settings/personal_access_tokens")
    assert "no-store" in shown["Cache-Control"] or "max-age=0" in shown["Cache-Control"]
    match = re.search(r'id="created-token"[^>]*value="(glpat-[^"]+)"', shown.content.decode())
    assert match, "the new secret is shown"
    secret = match.group(1)
    found = accounts_selectors.user_authenticate_token_readonly(secret=secret)
    assert found is not None and found[0] == alice and found[1].scopes == ["api", "read_user"]
    again = client.get("/-/user_settings/personal_access_tokens").content.decode()
    assert secret not in again and 'id="created-token"' not in again
    assert "ci" in again  # listed, without its secret


@pytest.mark.django_db
def test_token_form_errors_and_revoke(alice: User, bob: User) -> None:
    client = signed_in(alice)
    bad = client.post("/-/user_settings/personal_access_tokens", {"name": "", "expires_at": "2000-01-01"})
    html = bad.content.decode()
    assert bad.status_code == 400
    assert "Token name can&#x27;t be blank" in html and "Scopes can&#x27;t be blank" in html
    assert "Expiration date must be in the future" in html
    token, _ = accounts.token_create(user=alice, name="old", scopes=["api"])
    others, _ = accounts.token_create(user=bob, name="bobs", scopes=["api"])
    assert client.post(f"/-/user_settings/personal_access_tokens/{others.pk}/revoke").status_code == 404
    assert client.post(f"/-/user_settings/personal_access_tokens/{token.pk}/revoke").status_code == 302
    token.refresh_from_db()
    others.refresh_from_db()
    assert token.revoked and not others.revoked


# --- admin area ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_users_page_is_404_for_non_admins(alice: User, bob: User) -> None:
    for client in (signed_in(alice), Client()):
        assert client.get("/admin/users").status_code == 404
        assert client.post("/admin/users/bob/block").status_code == 404
    bob.refresh_from_db()
    assert not bob.is_blocked


@pytest.mark.django_db
def test_admin_blocks_unblocks_and_grants_admin(alice: User, bob: User) -> None:
    root = make_user("root", admin=True)
    client = signed_in(root)
    page = client.get("/admin/users").content.decode()
    assert "@alice" in page and "@bob" in page
    assert client.post("/admin/users/bob/block")["Location"] == "/admin/users"
    bob.refresh_from_db()
    assert bob.is_blocked
    refused_sign_in = Client().post("/users/sign_in", {"login": "bob", "password": PASSWORD})
    assert b"Your account has been blocked" in refused_sign_in.content
    client.post("/admin/users/bob/unblock", {"return_query": "search=bo"})
    bob.refresh_from_db()
    assert not bob.is_blocked
    client.post("/admin/users/alice/admin", {"is_admin": "true"})
    alice.refresh_from_db()
    assert alice.is_admin
    client.post("/admin/users/alice/admin", {"is_admin": "false"})
    alice.refresh_from_db()
    assert not alice.is_admin
    # The service refuses self-blocking; the page shows its message.
    refused = client.post("/admin/users/root/block", follow=True)
    assert b"You cannot block yourself" in refused.content
    assert client.get("/admin/users", {"search": "ali"}).content.decode().count('class="user-cell"') == 1


@pytest.mark.django_db
def test_admin_users_page_is_paginated_with_bounded_queries() -> None:
    root = make_user("root", admin=True)
    for i in range(4):
        make_user(f"user{i}")
    few = _queries(signed_in(root), "/admin/users")
    for i in range(4, 30):
        make_user(f"user{i}")
    many = _queries(signed_in(root), "/admin/users")
    assert few == many
    assert "Page 1 of 2" in signed_in(root).get("/admin/users").content.decode()
