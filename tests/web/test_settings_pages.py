"""Project, group and user settings pages: each form saves, shows field errors, refuses those without
the role with 404, and deletion needs the typed confirmation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from dockyard.accounts.models import User
from dockyard.config.env import Env
from dockyard.core.visibility import Visibility
from dockyard.namespaces import services as groups
from dockyard.namespaces.models import Namespace
from dockyard.permissions import services as members
from dockyard.permissions.models import AccessLevel
from dockyard.projects import services as projects
from dockyard.projects.models import Project
from dockyard.repos.models import ProtectedBranch, ProtectedTag, RefAccessLevel
from tests.web.test_pages import PASSWORD, make_user, signed_in


@pytest.fixture(autouse=True)
def _own_repositories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Project ids repeat between tests (rolled back); a repository left under the same id would answer."""
    monkeypatch.setattr(Env, "repositories", property(lambda self: tmp_path / "repositories"))


@pytest.fixture
def world(db: None) -> dict[str, Any]:
    owner = make_user("owner")
    dev = make_user("dev")
    maint = make_user("maint")
    group = groups.group_create(actor=owner, name="Acme", path="acme", visibility=Visibility.INTERNAL)
    project = projects.project_create(actor=owner, namespace=group, name="Rocket", initialize_with_readme=True)
    members.member_add(actor=owner, source=project, user=dev, access_level=AccessLevel.DEVELOPER)
    members.member_add(actor=owner, source=project, user=maint, access_level=AccessLevel.MAINTAINER)
    return {"owner": owner, "dev": dev, "maint": maint, "group": group, "project": project}


def _edit_data(**overrides: str) -> dict[str, str]:
    data = {
        "name": "Rocket",
        "path": "rocket",
        "description": "",
        "visibility": "private",
        "topics": "",
        "default_branch": "main",
        "issues_enabled": "on",
        "merge_requests_enabled": "on",
    }
    data.update(overrides)
    return data


# --- project settings -----------------------------------------------------------------------------


def test_project_settings_save(world: dict[str, Any]) -> None:
    client = signed_in(world["owner"])
    page = client.get("/acme/rocket/-/edit")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<option value="main" selected>main</option>' in html
    assert 'name="issues_enabled" checked' in html
    saved = client.post(
        "/acme/rocket/-/edit",
        _edit_data(name="Rocket Two", path="rocket-two", description="Goes up.", topics="space, rust , ,space"),
    )
    assert saved.status_code == 302 and saved["Location"] == "/acme/rocket-two/-/edit"
    project = Project.objects.get(pk=world["project"].pk)
    assert (project.name, project.path, project.description) == ("Rocket Two", "rocket-two", "Goes up.")
    assert project.topics == ["space", "rust"]
    assert project.visibility == Visibility.PRIVATE
    assert project.issues_enabled and not project.wiki_enabled  # unchecked boxes switch features off
    assert "was successfully updated" in client.get("/acme/rocket-two/-/edit").content.decode()


def test_project_settings_field_errors(world: dict[str, Any]) -> None:
    projects.project_create(actor=world["owner"], namespace=world["group"], name="Other")
    client = signed_in(world["owner"])
    response = client.post("/acme/rocket/-/edit", _edit_data(name="", path="other", default_branch="nope"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Default branch is not a branch of this project" in html
    blank = client.post("/acme/rocket/-/edit", _edit_data(name=""))
    assert blank.status_code == 400 and 'id="project-name-error"' in blank.content.decode()
    assert 'aria-invalid="true" aria-describedby="project-name-error"' in blank.content.decode()
    taken = client.post("/acme/rocket/-/edit", _edit_data(path="other"))
    html = taken.content.decode()
    assert taken.status_code == 400 and 'id="project-path-error"' in html and "Path has already been taken" in html
    assert 'value="other"' in html  # the rejected input is kept in the form
    assert Project.objects.get(pk=world["project"].pk).path == "rocket"


def test_maintainer_edits_but_cannot_change_visibility_or_delete(world: dict[str, Any]) -> None:
    client = signed_in(world["maint"])
    html = client.get("/acme/rocket/-/edit").content.decode()
    assert "Only owners can change the visibility." in html
    assert "Delete project" not in html and "Archive project" in html
    # A visibility in the post is ignored for maintainers, the rest is saved.
    assert (
        client.post("/acme/rocket/-/edit", _edit_data(description="by maint", visibility="internal")).status_code == 302
    )
    project = Project.objects.get(pk=world["project"].pk)
    assert project.description == "by maint" and project.visibility == Visibility.PRIVATE
    assert client.post("/acme/rocket/-/remove", {"confirm_path": "acme/rocket"}).status_code == 404
    assert Project.objects.filter(pk=project.pk).exists()


def test_developer_gets_404_on_settings(world: dict[str, Any]) -> None:
    client = signed_in(world["dev"])
    html = client.get("/acme/rocket").content.decode()
    assert "/acme/rocket/-/project_members" in html and "/acme/rocket/-/edit" not in html
    for url in ["/acme/rocket/-/edit", "/acme/rocket/-/settings/repository"]:
        assert client.get(url).status_code == 404
    assert client.post("/acme/rocket/-/edit", _edit_data(name="Hacked")).status_code == 404
    assert client.post("/acme/rocket/-/archive").status_code == 404
    assert (
        client.post(
            "/acme/rocket/-/protected_branches", {"name": "x", "push_access_level": "30", "merge_access_level": "30"}
        ).status_code
        == 404
    )
    assert client.post("/acme/rocket/-/protected_branches/unprotect", {"name": "main"}).status_code == 404
    assert client.post("/acme/rocket/-/remove", {"confirm_path": "acme/rocket"}).status_code == 404
    assert Project.objects.get(pk=world["project"].pk).name == "Rocket"
    assert Client().get("/acme/rocket/-/edit")["Location"].startswith("/users/sign_in")


def test_archive_and_unarchive(world: dict[str, Any]) -> None:
    client = signed_in(world["maint"])
    assert client.post("/acme/rocket/-/archive").status_code == 302
    assert Project.objects.get(pk=world["project"].pk).archived
    html = client.get("/acme/rocket/-/edit").content.decode()
    assert "was archived" in html and "Unarchive project" in html
    assert client.post("/acme/rocket/-/unarchive").status_code == 302
    assert not Project.objects.get(pk=world["project"].pk).archived


def test_delete_needs_the_typed_path(world: dict[str, Any]) -> None:
    client = signed_in(world["owner"])
    missing = client.post("/acme/rocket/-/remove", {"confirm_path": ""})
    assert missing.status_code == 400 and "Enter the project path to confirm." in missing.content.decode()
    wrong = client.post("/acme/rocket/-/remove", {"confirm_path": "rocket"})
    assert wrong.status_code == 400 and "Type acme/rocket to confirm." in wrong.content.decode()
    assert 'aria-describedby="confirm-path-error"' in wrong.content.decode()
    assert Project.objects.filter(pk=world["project"].pk).exists()
    done = client.post("/acme/rocket/-/remove", {"confirm_path": "acme/rocket"})
    assert done.status_code == 302 and done["Location"] == "/groups/acme"
    assert not Project.objects.filter(pk=world["project"].pk).exists()
    assert "Project &#x27;Rocket&#x27; was deleted." in client.get("/groups/acme").content.decode()


# --- protected branches and tags ------------------------------------------------------------------


def test_protect_and_unprotect_a_branch_and_a_tag(world: dict[str, Any]) -> None:
    client = signed_in(world["maint"])
    page = client.get("/acme/rocket/-/settings/repository").content.decode()
    assert '<span class="mono">main</span> <span class="badge badge-neutral">default</span>' in page
    created = client.post(
        "/acme/rocket/-/protected_branches",
        {"name": "release/*", "push_access_level": "0", "merge_access_level": "30", "allow_force_push": "on"},
    )
    assert created.status_code == 302
    rule = ProtectedBranch.objects.get(project=world["project"], name="release/*")
    assert (rule.push_access_level, rule.merge_access_level, rule.allow_force_push) == (0, 30, True)
    html = client.get("/acme/rocket/-/settings/repository").content.decode()
    assert "Protected branch release/*." in html and "Developers + Maintainers" in html and "No one" in html
    # Errors: a duplicate name lands on the name field, a bad level on its select.
    dup = client.post(
        "/acme/rocket/-/protected_branches",
        {"name": "release/*", "push_access_level": "40", "merge_access_level": "40"},
    )
    assert (
        dup.status_code == 400
        and 'id="branch-name-error"' in dup.content.decode()
        and "already exists" in dup.content.decode()
    )
    bad = client.post(
        "/acme/rocket/-/protected_branches", {"name": "", "push_access_level": "7", "merge_access_level": "40"}
    )
    assert bad.status_code == 400 and "Allowed to push is not a valid choice" in bad.content.decode()
    assert client.post("/acme/rocket/-/protected_branches/unprotect", {"name": "release/*"}).status_code == 302
    assert not ProtectedBranch.objects.filter(project=world["project"], name="release/*").exists()

    assert client.post("/acme/rocket/-/protected_tags", {"name": "v*", "create_access_level": "40"}).status_code == 302
    assert (
        ProtectedTag.objects.get(project=world["project"], name="v*").create_access_level == RefAccessLevel.MAINTAINER
    )
    blank = client.post("/acme/rocket/-/protected_tags", {"name": " ", "create_access_level": "40"})
    assert blank.status_code == 400 and "Tag can&#x27;t be blank" in blank.content.decode()
    assert client.post("/acme/rocket/-/protected_tags/unprotect", {"name": "v*"}).status_code == 302
    assert not ProtectedTag.objects.filter(project=world["project"]).exists()


# --- group settings -------------------------------------------------------------------------------


def test_group_settings_save_errors_and_delete(world: dict[str, Any]) -> None:
    client = signed_in(world["owner"])
    groups.group_create(actor=world["owner"], name="Taken", path="taken")
    data = {"name": "Acme Corp", "path": "acme-corp", "description": "Makers.", "visibility": "internal"}
    saved = client.post("/groups/acme/-/edit", data)
    assert saved.status_code == 302 and saved["Location"] == "/groups/acme-corp/-/edit"
    group = Namespace.objects.get(pk=world["group"].pk)
    assert (group.name, group.full_path, group.description) == ("Acme Corp", "acme-corp", "Makers.")
    assert Project.objects.get(pk=world["project"].pk).full_path == "acme-corp/rocket"

    taken = client.post("/groups/acme-corp/-/edit", {**data, "path": "taken", "name": ""})
    assert taken.status_code == 400
    html = taken.content.decode()
    assert (
        'id="group-path-error"' in html
        and "Group URL has already been taken" in html
        and 'id="group-name-error"' in html
    )

    wrong = client.post("/groups/acme-corp/-/remove", {"confirm_path": "acme"})
    assert wrong.status_code == 400 and "Type acme-corp to confirm." in wrong.content.decode()
    done = client.post("/groups/acme-corp/-/remove", {"confirm_path": "acme-corp"})
    assert done.status_code == 302 and done["Location"] == "/"
    assert not Namespace.objects.filter(pk=group.pk).exists()


def test_group_settings_are_for_owners(world: dict[str, Any]) -> None:
    maint: User = world["maint"]
    members.member_add(actor=world["owner"], source=world["group"], user=maint, access_level=AccessLevel.MAINTAINER)
    client = signed_in(maint)
    assert "/groups/acme/-/edit" not in client.get("/groups/acme").content.decode()
    assert client.get("/groups/acme/-/edit").status_code == 404
    assert client.post("/groups/acme/-/remove", {"confirm_path": "acme"}).status_code == 404
    assert "/groups/acme/-/edit" in signed_in(world["owner"]).get("/groups/acme").content.decode()


# --- user settings --------------------------------------------------------------------------------


def test_profile_settings(world: dict[str, Any]) -> None:
    dev: User = world["dev"]
    client = signed_in(dev)
    assert client.get("/-/user_settings/profile").status_code == 200
    data = {
        "name": "Dev Eloper",
        "email": "dev@example.com",
        "public_email": "dev@example.com",
        "bio": "Writes code.",
        "location": "Lisbon",
        "website_url": "https://dev.example",
        "organization": "Acme",
        "job_title": "Engineer",
    }
    assert client.post("/-/user_settings/profile", data).status_code == 302
    dev.refresh_from_db()
    assert (dev.name, dev.public_email, dev.bio, dev.location) == (
        "Dev Eloper",
        "dev@example.com",
        "Writes code.",
        "Lisbon",
    )
    bad = client.post(
        "/-/user_settings/profile", {**data, "name": " ", "email": "owner@example.com", "public_email": "x@y.z"}
    )
    assert bad.status_code == 400
    html = bad.content.decode()
    assert "Public email must be your email address or empty" in html
    bad = client.post("/-/user_settings/profile", {**data, "name": " ", "email": "owner@example.com"})
    html = bad.content.decode()
    assert "Email has already been taken" in html and "Full name can&#x27;t be blank" in html
    assert 'id="user-email-error"' in html
    dev.refresh_from_db()
    assert dev.email == "dev@example.com"


def test_password_change(world: dict[str, Any]) -> None:
    dev: User = world["dev"]
    client = Client()
    assert client.post("/users/sign_in", {"login": "dev", "password": PASSWORD}).status_code == 302
    other = Client()
    other.post("/users/sign_in", {"login": "dev", "password": PASSWORD})
    wrong = client.post(
        "/-/user_settings/password",
        {"current_password": "nope", "new_password": "new-password-1", "password_confirmation": "new-password-1"},
    )
    assert wrong.status_code == 400 and "Current password is incorrect" in wrong.content.decode()
    short = client.post(
        "/-/user_settings/password",
        {"current_password": PASSWORD, "new_password": "short", "password_confirmation": "short"},
    )
    assert short.status_code == 400 and "New password is too short" in short.content.decode()
    mismatch = client.post(
        "/-/user_settings/password",
        {"current_password": PASSWORD, "new_password": "new-password-1", "password_confirmation": "new-password-2"},
    )
    assert mismatch.status_code == 400 and "Password confirmation doesn&#x27;t match" in mismatch.content.decode()
    done = client.post(
        "/-/user_settings/password",
        {"current_password": PASSWORD, "new_password": "new-password-1", "password_confirmation": "new-password-1"},
    )
    assert done.status_code == 302
    dev.refresh_from_db()
    assert dev.check_password("new-password-1")
    assert client.get("/").status_code == 200  # this session carries on
    assert other.get("/").status_code == 302  # the other one is signed out
