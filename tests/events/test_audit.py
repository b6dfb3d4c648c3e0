"""The audit log: entries for sign-in, tokens, members and visibility, read through python-gitlab from a live
server and on the admin page; who may read which log."""

from __future__ import annotations

import gitlab
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dockyard.accounts import services as accounts
from tests.api.test_gitlab_client import _name, _user
from tests.web.test_pages import PASSWORD, make_user, signed_in

DEVELOPER = 30


def test_token_member_and_visibility_changes_are_audited(root: gitlab.Gitlab) -> None:
    user, _ = _user(root, "aud")  # created by root, with a token root made for them
    names = [e.event_name for e in root.audit_events.list(entity_type="User", entity_id=user.id, get_all=True)]
    assert names == ["personal_access_token_created", "user_created"]
    token_entry = root.audit_events.list(entity_type="User", entity_id=user.id, per_page=1, get_all=False)[0]
    assert token_entry.author_id == root.user.id and token_entry.entity_type == "User"  # type: ignore[union-attr]
    details = token_entry.details
    assert details["author_name"] == root.user.name and details["target_type"] == "PersonalAccessToken"  # type: ignore[union-attr]
    assert details["target_details"] == "test" and details["entity_path"] == user.username
    assert details["ip_address"] == "127.0.0.1" and "api" in details["custom_message"]
    assert root.audit_events.get(token_entry.id).event_name == "personal_access_token_created"

    dev, dev_gl = _user(root, "auddev")
    project = root.projects.create({"name": _name("audited"), "visibility": "private"})
    project.members.create({"user_id": dev.id, "access_level": DEVELOPER})
    project.visibility = "internal"
    project.save()
    entries = project.audit_events.list(get_all=True)
    assert [e.event_name for e in entries][:2] == ["project_visibility_level_updated", "member_created"]
    change = entries[0].details
    assert (change["change"], change["from"], change["to"]) == ("visibility", "private", "internal")
    assert entries[1].details["target_details"] == dev.username
    # Maintainers read a project's log; a developer may not, and the instance log is for admins only.
    with pytest.raises(gitlab.GitlabListError) as err:
        dev_gl.projects.get(project.id, lazy=True).audit_events.list(get_all=True)
    assert err.value.response_code == 403
    with pytest.raises(gitlab.GitlabListError) as err:
        dev_gl.audit_events.list(get_all=True)
    assert err.value.response_code == 403


@pytest.mark.django_db
def test_sign_ins_are_audited_and_shown_to_admins_only() -> None:
    alice = make_user("alice")
    admin = make_user("boss", admin=True)
    browser = Client(REMOTE_ADDR="10.1.2.3")
    assert browser.post("/users/sign_in", {"login": "alice", "password": "wrong"}).status_code == 401
    assert browser.post("/users/sign_in", {"login": "alice", "password": PASSWORD}).status_code == 302
    page = signed_in(admin)
    html = page.get("/admin/audit_events").content.decode()
    assert "user_signed_in" in html and "user_sign_in_failed" in html and "10.1.2.3" in html
    assert signed_in(alice).get("/admin/audit_events").status_code == 404

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert page.get("/admin/audit_events").status_code == 200
        return len(ctx.captured_queries)

    before = queries()
    for i in range(5):
        accounts.token_create(user=alice, name=f"t{i}", scopes=["api"])
    assert queries() == before
