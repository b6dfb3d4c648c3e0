"""The Events API driven by python-gitlab against a live ``dockyard serve``: GitLab's field shapes, filters,
and that private projects and confidential issues never leak into someone else's feed."""

from __future__ import annotations

import gitlab
import pytest

from tests.api.test_gitlab_client import _name, _user

REPORTER, GUEST = 20, 10


@pytest.fixture(scope="module")
def activity(root: gitlab.Gitlab) -> dict[str, object]:
    """A private project with a push, an opened and closed issue, a confidential issue and comments."""
    group = root.groups.create({"name": _name("Ev"), "path": _name("ev"), "visibility": "private"})
    project = root.projects.create(
        {"name": "feed", "namespace_id": group.id, "visibility": "private", "initialize_with_readme": True}
    )
    reporter, reporter_gl = _user(root, "rep")
    guest, guest_gl = _user(root, "guest")
    outsider, outsider_gl = _user(root, "out")
    project.members.create({"user_id": reporter.id, "access_level": REPORTER})
    project.members.create({"user_id": guest.id, "access_level": GUEST})
    project.files.create(
        {"file_path": "NOTES.md", "branch": "main", "content": "hi", "commit_message": "Add the notes"}
    )
    issue = project.issues.create({"title": "Open bug"})
    issue.notes.create({"body": "I can reproduce it"})
    issue.state_event = "close"
    issue.save()
    secret = project.issues.create({"title": "Secret hole", "confidential": True})
    secret.notes.create({"body": "details of the hole"})
    return {
        "project": project,
        "issue": issue,
        "secret": secret,
        "reporter": reporter_gl,
        "guest": guest_gl,
        "outsider": outsider_gl,
        "outsider_user": outsider,
    }


def test_project_events_have_gitlabs_shapes(root: gitlab.Gitlab, activity: dict[str, object]) -> None:
    project = activity["project"]
    events = project.events.list(get_all=True)  # type: ignore[attr-defined]
    names = [(e.action_name, e.target_type) for e in events]
    # Newest first, as GitLab sorts by default.
    assert names == [
        ("commented on", "Note"),
        ("opened", "Issue"),
        ("closed", "Issue"),
        ("commented on", "Note"),
        ("opened", "Issue"),
        ("pushed to", None),
    ]
    push = events[-1]
    assert push.push_data["ref"] == "main" and push.push_data["ref_type"] == "branch"
    assert push.push_data["action"] == "pushed" and push.push_data["commit_count"] == 1
    assert push.push_data["commit_title"] == "Add the notes"
    assert push.target_id is None and push.target_title is None and push.note is None
    opened = events[4]
    issue = activity["issue"]
    assert (opened.target_id, opened.target_iid, opened.target_title) == (issue.id, issue.iid, "Open bug")  # type: ignore[attr-defined]
    assert opened.author["username"] == "root" and opened.author_username == "root"
    assert opened.author_id == root.user.id and opened.project_id == project.id  # type: ignore[union-attr, attr-defined]
    assert opened.created_at.endswith("Z")
    comment = events[3]
    assert comment.note["body"] == "I can reproduce it" and comment.note["noteable_type"] == "Issue"
    assert comment.note["noteable_iid"] == issue.iid and comment.target_title == "Open bug"  # type: ignore[attr-defined]
    assert set(opened.attributes) >= {
        "id", "project_id", "action_name", "target_id", "target_iid", "target_type", "author_id",
        "target_title", "created_at", "author", "author_username",
    }  # fmt: skip


def test_filters_sort_and_pages(activity: dict[str, object]) -> None:
    project = activity["project"]
    ev = project.events  # type: ignore[attr-defined]
    assert [e.action_name for e in ev.list(action="pushed", get_all=True)] == ["pushed to"]
    assert [e.action_name for e in ev.list(action="created", target_type="issue", get_all=True)] == ["opened"] * 2
    assert {e.target_type for e in ev.list(target_type="note", get_all=True)} == {"Note"}
    assert ev.list(sort="asc", get_all=True)[0].action_name == "pushed to"
    assert ev.list(before="2000-01-01", get_all=True) == []
    assert len(ev.list(after="2000-01-01", get_all=True)) == 6
    page = ev.list(per_page=2, page=2)
    assert len(page) == 2 and page[0].action_name == "closed"
    with pytest.raises(gitlab.GitlabListError) as err:
        ev.list(action="exploded", get_all=True)
    assert err.value.response_code == 400


def test_visibility_of_events(root: gitlab.Gitlab, activity: dict[str, object]) -> None:
    project_id = activity["project"].id  # type: ignore[attr-defined]
    reporter_feed = activity["reporter"].projects.get(project_id, lazy=True).events.list(get_all=True)  # type: ignore[attr-defined]
    assert len(reporter_feed) == 6
    # A guest sees neither the push (no code access on a private project) nor the confidential issue.
    guest_feed = activity["guest"].projects.get(project_id, lazy=True).events.list(get_all=True)  # type: ignore[attr-defined]
    assert [(e.action_name, e.target_title) for e in guest_feed] == [
        ("closed", "Open bug"),
        ("commented on", "Open bug"),
        ("opened", "Open bug"),
    ]
    # Someone outside the private project: 404, and root's events there are missing from root's profile feed.
    outsider = activity["outsider"]
    with pytest.raises(gitlab.GitlabListError) as err:
        outsider.projects.get(project_id, lazy=True).events.list(get_all=True)  # type: ignore[attr-defined]
    assert err.value.response_code == 404
    root_profile = outsider.users.get(root.user.id, lazy=True).events.list(get_all=True)  # type: ignore[attr-defined, union-attr]
    assert all(e.project_id != project_id for e in root_profile)
    assert any(
        e.project_id == project_id
        for e in root.users.get(root.user.id, lazy=True).events.list(per_page=20, get_all=False)  # type: ignore[union-attr]
    )


def test_own_events_and_scope_all(activity: dict[str, object]) -> None:
    reporter = activity["reporter"]
    project_id = activity["project"].id  # type: ignore[attr-defined]
    assert len(reporter.events.list(scope="all", get_all=True)) == 6  # type: ignore[attr-defined]
    issue = reporter.projects.get(project_id, lazy=True).issues.get(activity["issue"].iid, lazy=True)  # type: ignore[attr-defined]
    issue.notes.create({"body": "a reporter's word"})
    own = reporter.events.list(get_all=True)  # type: ignore[attr-defined]
    assert [(e.action_name, e.note["body"]) for e in own] == [("commented on", "a reporter's word")]
    with pytest.raises(gitlab.GitlabAuthenticationError):
        gitlab.Gitlab(reporter.url).events.list(get_all=True)  # type: ignore[attr-defined]
