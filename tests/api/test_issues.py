"""Issues, notes, labels and milestones driven by python-gitlab against a live ``dockyard serve``."""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Any

import gitlab
import pytest
import requests

from tests.api.test_gitlab_client import _name, _user
from tests.git.conftest import Git
from tests.live import LiveServer

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50


def _project(root: gitlab.Gitlab, **attrs: object) -> tuple[gitlab.v4.objects.Group, gitlab.v4.objects.Project]:
    group = root.groups.create({"name": _name("Iss"), "path": _name("iss"), **attrs})
    project = root.projects.create({"name": "tracker", "namespace_id": group.id, **attrs})
    return group, project


def test_create_filter_and_page_issues(root: gitlab.Gitlab) -> None:
    group, project = _project(root)
    dev, dev_gl = _user(root, "dev")
    project.members.create({"user_id": dev.id, "access_level": DEVELOPER})
    bug = project.labels.create({"name": "bug", "color": "#ff0000"})
    assert (bug.name, bug.color, bug.is_project_label) == ("bug", "#ff0000", True)
    project.labels.create({"name": "needs review", "color": "#00ff00", "description": "look"})
    v1 = project.milestones.create({"title": "v1", "due_date": "2030-01-01"})
    assert v1.iid == 1 and v1.state == "active"

    first = project.issues.create(
        {
            "title": "Crash on start",
            "description": "It **crashes** with a stack trace",
            "labels": "bug,needs review",
            "milestone_id": v1.id,
            "assignee_ids": [dev.id],
        }
    )
    assert first.iid == 1 and first.state == "opened" and first.type == "ISSUE"
    assert first.labels == ["bug", "needs review"]
    assert first.milestone["title"] == "v1" and first.assignee["username"] == dev.username
    assert first.author["username"] == "root"
    assert first.references == {"short": "#1", "relative": "#1", "full": f"{project.path_with_namespace}#1"}
    assert first.web_url.endswith(f"/{project.path_with_namespace}/-/issues/1")
    assert first.attributes["time_stats"] == {
        "time_estimate": 0,
        "total_time_spent": 0,
        "human_time_estimate": None,
        "human_total_time_spent": None,
    }
    dev_project = dev_gl.projects.get(project.id)
    second = dev_project.issues.create({"title": "Docs typo", "labels": ["docs"]})  # a new label is created
    assert second.iid == 2 and second.labels == ["docs"] and second.author["username"] == dev.username
    second.state_event = "close"
    second.save()
    assert (
        project.issues.get(2).state == "closed"
        and project.issues.get(2).attributes["closed_by"]["username"] == dev.username
    )
    for i in range(22):
        project.issues.create({"title": f"Filler {i:02d}", "description": "padding"})

    def iids(**params: Any) -> list[int]:
        return sorted(i.iid for i in project.issues.list(get_all=True, **params))

    assert iids(state="closed") == [2]
    assert len(iids(state="opened")) == 23
    assert iids(labels="bug") == [1]
    assert iids(labels="bug,needs review") == [1]
    assert iids(labels="Any") == [1, 2]
    assert 1 not in iids(labels="None") and len(iids(labels="None")) == 22
    assert iids(milestone="v1") == [1]
    assert iids(milestone="None") == list(range(2, 25))
    assert iids(assignee_id=dev.id) == [1]
    assert iids(assignee_username=dev.username) == [1]
    assert 1 not in iids(assignee_id="None")
    assert iids(author_id=dev.id) == [2]
    assert iids(author_username=dev.username) == [2]
    assert iids(search="stack trace") == [1]
    assert iids(search="Crash") == [1]
    assert iids(iids=[1, 3]) == [1, 3]
    assert iids(confidential=True) == []
    titles = [i.title for i in project.issues.list(order_by="title", sort="asc", per_page=3, get_all=False)]
    assert titles == ["Crash on start", "Docs typo", "Filler 00"]
    detailed = project.issues.list(iids=[1], with_labels_details=True)[0]
    assert detailed.labels[0]["name"] == "bug" and detailed.labels[0]["color"] == "#ff0000"

    # Paging: 24 issues, 20 a page, with GitLab's headers.
    listing = project.issues.list(iterator=True)
    assert listing.total == 24 and listing.total_pages == 2 and listing.per_page == 20
    assert len(project.issues.list(page=2, get_all=False)) == 4
    assert len(project.issues.list(get_all=True)) == 24

    stats = project.issues_statistics.get()
    assert stats.statistics["counts"] == {"all": 24, "closed": 1, "opened": 23}
    group_stats = group.issues_statistics.get()
    assert group_stats.statistics["counts"]["all"] == 24
    assert {i.iid for i in group.issues.list(get_all=True, labels="bug")} == {1}
    # /issues defaults to the caller's own issues.
    assert [i.iid for i in dev_gl.issues.list(get_all=True)] == [2]
    assert {i.iid for i in dev_gl.issues.list(get_all=True, scope="assigned_to_me")} == {1}

    # Label counts and milestone issues.
    labels = {lb.name: lb for lb in project.labels.list(with_counts=True)}
    assert labels["bug"].open_issues_count == 1 and labels["docs"].closed_issues_count == 1
    assert [i.iid for i in v1.issues()] == [1]
    v1.state_event = "close"
    v1.save()
    assert project.milestones.get(v1.id).state == "closed"
    assert [m.title for m in project.milestones.list(state="closed")] == ["v1"]

    # Editing: labels added and removed, milestone cleared, system notes for each.
    issue = project.issues.get(1)
    issue.add_labels = "docs"
    issue.remove_labels = "needs review"
    issue.milestone_id = None
    issue.title = "Crash at startup"
    issue.save()
    issue = project.issues.get(1)
    assert issue.labels == ["bug", "docs"] and issue.milestone is None and issue.title == "Crash at startup"
    bodies = [n.body for n in issue.notes.list(get_all=True, sort="asc") if n.system]
    assert 'added ~docs label and removed ~"needs review" label' in bodies
    assert "removed milestone %v1" in bodies
    assert "changed title from **Crash on start** to **Crash at startup**" in bodies

    project.issues.delete(1)
    with pytest.raises(gitlab.GitlabGetError) as gone:
        project.issues.get(1)
    assert gone.value.response_code == 404 and gone.value.error_message == "404 Issue Not Found"
    root.groups.delete(group.id)


def test_comments_quick_actions_and_discussions(root: gitlab.Gitlab) -> None:
    group, project = _project(root)
    dev, dev_gl = _user(root, "qa")
    project.members.create({"user_id": dev.id, "access_level": DEVELOPER})
    project.labels.create({"name": "bug", "color": "#ff0000"})
    project.labels.create({"name": "two words", "color": "#0000ff"})
    project.milestones.create({"title": "v2"})
    issue = project.issues.create({"title": "Quick"})
    dev_issue = dev_gl.projects.get(project.id).issues.get(issue.iid)

    note = dev_issue.notes.create(
        {
            "body": 'Looks bad.\n/label ~bug ~"two words"\n/assign @' + dev.username + "\n/milestone %v2\n"
            "/due 2031-02-03\n/estimate 1w 2d 3h\n/spend 30m"
        }
    )
    assert note.body == "Looks bad." and note.system is False and note.author["username"] == dev.username
    issue = project.issues.get(issue.iid)
    assert issue.labels == ["bug", "two words"]
    assert issue.assignees[0]["username"] == dev.username
    assert issue.milestone["title"] == "v2" and issue.due_date == "2031-02-03"
    assert issue.attributes["time_stats"]["human_time_estimate"] == "1w 2d 3h"
    assert issue.attributes["time_stats"]["total_time_spent"] == 1800
    assert issue.user_notes_count == 1

    # A comment of nothing but commands is accepted without storing a note.
    r = requests.post(
        f"{root.url}/api/v4/projects/{project.id}/issues/{issue.iid}/notes",
        json={"body": "/close"},
        headers={"PRIVATE-TOKEN": str(dev_gl.private_token)},
        timeout=10,
    )
    assert r.status_code == 202 and "close" in r.json()["commands_changes"]
    assert project.issues.get(issue.iid).state == "closed"
    dev_issue.notes.create({"body": "/reopen\n/unlabel ~bug\n/unassign\nagain"})
    issue = project.issues.get(issue.iid)
    assert issue.state == "opened" and issue.labels == ["two words"] and issue.assignees == []

    system = [n.body for n in issue.notes.list(get_all=True, sort="asc") if n.system]
    for expected in (
        'added ~bug ~"two words" labels',
        f"assigned to @{dev.username}",
        "changed milestone to %v2",
        "changed due date to February 3, 2031",
        "changed time estimate to 1w 2d 3h",
        "added 30m of time spent",
        "closed",
        "reopened",
        "removed ~bug label",
        f"unassigned @{dev.username}",
    ):
        assert expected in system, (expected, system)

    # Notes: list order, edit by author only, delete.
    comments = [n for n in issue.notes.list(get_all=True, sort="asc") if not n.system]
    assert [n.body for n in comments] == ["Looks bad.", "again"]
    other, other_gl = _user(root, "other")
    project.members.create({"user_id": other.id, "access_level": DEVELOPER})
    theirs = other_gl.projects.get(project.id).issues.get(issue.iid).notes.get(comments[0].id)
    theirs.body = "hijack"
    with pytest.raises(gitlab.GitlabUpdateError) as denied:
        theirs.save()
    assert denied.value.response_code == 403
    mine = dev_issue.notes.get(comments[0].id)
    mine.body = "Looks really bad."
    mine.save()
    assert issue.notes.get(comments[0].id).body == "Looks really bad."
    dev_issue.notes.delete(comments[1].id)
    assert [n.body for n in issue.notes.list(get_all=True) if not n.system] == ["Looks really bad."]

    # Discussions: a thread with a reply, resolvable; individual notes stand alone.
    thread = issue.discussions.create({"body": "Shall we?"})
    assert len(thread.id) == 40 and thread.individual_note is False
    thread.notes.create({"body": "Yes"})
    thread = issue.discussions.get(thread.id)
    assert [n["body"] for n in thread.attributes["notes"]] == ["Shall we?", "Yes"]
    assert thread.attributes["notes"][0]["resolvable"] is True
    # python-gitlab resolves merge request threads only; the endpoint is the same for issues.
    root.http_put(f"/projects/{project.id}/issues/{issue.iid}/discussions/{thread.id}", query_data={"resolved": True})
    assert all(n["resolved"] for n in issue.discussions.get(thread.id).attributes["notes"])
    discussions = issue.discussions.list(get_all=True)
    assert any(d.individual_note for d in discussions) and thread.id in [d.id for d in discussions]
    root.groups.delete(group.id)


def test_confidential_issues_stay_hidden(root: gitlab.Gitlab, live_server: LiveServer) -> None:
    group, project = _project(root, visibility="public")
    guest, guest_gl = _user(root, "guest")
    reporter, reporter_gl = _user(root, "rep")
    author, author_gl = _user(root, "auth")
    _, outsider_gl = _user(root, "out")
    project.members.create({"user_id": guest.id, "access_level": GUEST})
    project.members.create({"user_id": reporter.id, "access_level": REPORTER})
    project.members.create({"user_id": author.id, "access_level": GUEST})
    public = project.issues.create({"title": "Public"})
    secret = author_gl.projects.get(project.id).issues.create({"title": "Secret", "confidential": True})
    assert secret.confidential is True
    anonymous = gitlab.Gitlab(live_server.url)

    for client in (guest_gl, outsider_gl, anonymous):
        seen = client.projects.get(project.id)
        assert [i.iid for i in seen.issues.list(get_all=True)] == [public.iid]
        with pytest.raises(gitlab.GitlabGetError) as hidden:
            seen.issues.get(secret.iid)
        assert hidden.value.response_code == 404
        assert seen.issues_statistics.get().statistics["counts"]["all"] == 1
        assert [i.iid for i in client.issues.list(get_all=True, scope="all", search="Secret")] == []
    for client in (reporter_gl, author_gl, root):
        seen = client.projects.get(project.id)
        assert seen.issues.get(secret.iid).title == "Secret"
        assert seen.issues_statistics.get().statistics["counts"]["all"] == 2
    assert guest_gl.groups.get(group.id).issues_statistics.get().statistics["counts"]["all"] == 1
    assert reporter_gl.groups.get(group.id).issues_statistics.get().statistics["counts"]["all"] == 2

    # A reference to the confidential issue in a public comment is linked only for those who may read it.
    public.notes.create({"body": f"See #{secret.iid} and #{public.iid}"})
    labels = project.labels.create({"name": "sec", "color": "#123456"})
    secret_issue = project.issues.get(secret.iid)
    secret_issue.labels = ["sec"]
    secret_issue.save()
    assert {lb.name: lb.open_issues_count for lb in guest_gl.projects.get(project.id).labels.list(with_counts=True)}[
        labels.name
    ] == 0
    assert {lb.name: lb.open_issues_count for lb in reporter_gl.projects.get(project.id).labels.list(with_counts=True)}[
        labels.name
    ] == 1

    # An assignee sees it too, once assigned.
    secret_issue.assignee_ids = [guest.id]
    secret_issue.save()
    assert guest_gl.projects.get(project.id).issues.get(secret.iid).title == "Secret"
    root.groups.delete(group.id)


def test_roles_reporter_comments_but_cannot_delete(root: gitlab.Gitlab) -> None:
    group, project = _project(root)
    reporter, reporter_gl = _user(root, "rpt")
    guest, guest_gl = _user(root, "gst")
    project.members.create({"user_id": reporter.id, "access_level": REPORTER})
    project.members.create({"user_id": guest.id, "access_level": GUEST})
    issue = project.issues.create({"title": "Roles"})
    as_reporter = reporter_gl.projects.get(project.id)
    as_reporter.issues.get(issue.iid).notes.create({"body": "I can comment"})
    as_reporter.labels.create({"name": "triage", "color": "#aabbcc"})  # reporters manage labels
    with pytest.raises(gitlab.GitlabDeleteError) as denied:
        as_reporter.issues.delete(issue.iid)
    assert denied.value.response_code == 403
    # A guest may open issues and comment, but may not set labels or manage milestones.
    as_guest = guest_gl.projects.get(project.id)
    own = as_guest.issues.create({"title": "From a guest", "labels": "triage"})
    assert own.labels == []
    as_guest.issues.get(issue.iid).notes.create({"body": "guest says hi\n/label ~triage"})
    assert project.issues.get(issue.iid).labels == []
    with pytest.raises(gitlab.GitlabCreateError) as no_milestone:
        as_guest.milestones.create({"title": "nope"})
    assert no_milestone.value.response_code == 403
    edit = as_guest.issues.get(issue.iid)
    edit.title = "renamed by guest"
    with pytest.raises(gitlab.GitlabUpdateError):
        edit.save()
    # A locked discussion takes comments from reporters only.
    locked = project.issues.get(issue.iid)
    locked.discussion_locked = True
    locked.save()
    with pytest.raises(gitlab.GitlabCreateError) as closed_to_guests:
        as_guest.issues.get(issue.iid).notes.create({"body": "let me in"})
    assert closed_to_guests.value.response_code == 403
    as_reporter.issues.get(issue.iid).notes.create({"body": "still here"})
    # The owner deletes.
    project.issues.delete(issue.iid)
    root.groups.delete(group.id)


def test_time_tracking_and_links(root: gitlab.Gitlab) -> None:
    group, project = _project(root)
    other = root.projects.create({"name": "other", "namespace_id": group.id})
    a = project.issues.create({"title": "A"})
    b = project.issues.create({"title": "B"})
    c = other.issues.create({"title": "C"})

    assert a.time_estimate("3h30m")["human_time_estimate"] == "3h 30m"
    assert a.add_spent_time("1h")["total_time_spent"] == 3600
    assert a.add_spent_time("1d")["human_total_time_spent"] == "1d 1h"
    assert project.issues.get(a.iid).attributes["time_stats"]["time_estimate"] == 12600
    assert a.reset_spent_time()["total_time_spent"] == 0
    assert a.reset_time_estimate()["time_estimate"] == 0
    with pytest.raises(gitlab.GitlabTimeTrackingError):
        a.time_estimate("soon")

    src, dst = a.links.create({"target_project_id": project.id, "target_issue_iid": b.iid, "link_type": "blocks"})
    assert (src.iid, dst.iid) == (a.iid, b.iid)
    a.links.create({"target_project_id": other.id, "target_issue_iid": c.iid})
    linked = {i.iid: i for i in a.links.list()}
    assert linked[b.iid].link_type == "blocks"
    seen_from_b = b.links.list()
    assert [(i.iid, i.link_type) for i in seen_from_b] == [(a.iid, "is_blocked_by")]
    with pytest.raises(gitlab.GitlabCreateError) as dup:
        b.links.create({"target_project_id": project.id, "target_issue_iid": a.iid})
    assert dup.value.response_code == 409
    a.links.delete(linked[b.iid].issue_link_id)
    assert [i.iid for i in b.links.list()] == []
    notes = [n.body for n in b.notes.list(get_all=True)]
    assert f"marked this issue as blocked by #{a.iid}" in notes and f"removed the relation with #{a.iid}" in notes
    root.groups.delete(group.id)


def test_group_labels_and_milestones_reach_subgroup_projects(root: gitlab.Gitlab) -> None:
    top = root.groups.create({"name": _name("Top"), "path": _name("top")})
    sub = root.groups.create({"name": "Sub", "path": "sub", "parent_id": top.id})
    project = root.projects.create({"name": "deep", "namespace_id": sub.id})
    label = top.labels.create({"name": "platform", "color": "#336699"})
    assert label.is_project_label is False
    milestone = top.milestones.create({"title": "Q1", "start_date": "2030-01-01", "due_date": "2030-03-31"})
    assert milestone.group_id == top.id and milestone.iid == 1
    assert "platform" in [lb.name for lb in project.labels.list(get_all=True)]
    assert "platform" in [lb.name for lb in sub.labels.list(get_all=True)]
    assert "Q1" in [m.title for m in project.milestones.list(include_ancestors=True)]
    issue = project.issues.create({"title": "Inherited", "labels": "platform", "milestone_id": milestone.id})
    assert issue.labels == ["platform"] and issue.milestone["id"] == milestone.id
    assert [i.iid for i in project.issues.list(milestone="Q1")] == [issue.iid]
    assert [i.title for i in milestone.issues()] == ["Inherited"]
    counts = {lb.name: lb.open_issues_count for lb in top.labels.list(with_counts=True)}
    assert counts["platform"] == 1
    edited = top.labels.get(label.id)
    edited.new_name = "infra"
    edited.save()
    assert project.issues.get(issue.iid).labels == ["infra"]
    top.labels.delete(label.id)
    assert project.issues.get(issue.iid).labels == []
    root.groups.delete(top.id)


def test_iids_are_unique_under_concurrent_creation(root: gitlab.Gitlab, live_server: LiveServer) -> None:
    group, project = _project(root)
    results: list[int] = []
    errors: list[str] = []

    def create(n: int) -> None:
        for i in range(4):
            r = requests.post(
                f"{live_server.url}/api/v4/projects/{project.id}/issues",
                json={"title": f"t{n}-{i}"},
                headers={"PRIVATE-TOKEN": live_server.root_token},
                timeout=60,
            )
            if r.status_code == 201:
                results.append(r.json()["iid"])
            else:
                errors.append(r.text)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == list(range(1, 33))
    root.groups.delete(group.id)


def test_push_closing_an_issue_to_the_default_branch(
    root: gitlab.Gitlab, live_server: LiveServer, tmp_path: Path
) -> None:
    group, project = _project(root)
    target = project.issues.create({"title": "To be fixed"})
    other = project.issues.create({"title": "Fixed on a side branch"})
    home = tmp_path / "home"
    home.mkdir()
    git = Git(home)
    git.run("config", "--global", "init.defaultBranch", "main")
    url = live_server.url.replace("://", f"://root:{live_server.root_token}@") + f"/{project.path_with_namespace}.git"
    work = tmp_path / "work"
    git.run("clone", "-q", url, str(work))
    git.commit(work, "README.md", "hello\n", message="Initial")
    git.run("push", "-q", "origin", "main", cwd=work)
    git.run("checkout", "-q", "-b", "side", cwd=work)
    git.commit(work, "side.txt", "x\n", message=f"Fixes #{other.iid}")
    git.run("push", "-q", "origin", "side", cwd=work)
    git.run("checkout", "-q", "main", cwd=work)
    sha = git.commit(work, "fix.txt", "fixed\n", message=f"Repair the thing\n\nCloses #{target.iid}")
    git.run("push", "-q", "origin", "main", cwd=work)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and project.issues.get(target.iid).state != "closed":
        time.sleep(0.3)
    closed = project.issues.get(target.iid)
    assert closed.state == "closed"
    assert f"closed via commit {sha}" in [n.body for n in closed.notes.list(get_all=True)]
    assert project.issues.get(other.iid).state == "opened"  # not the default branch
    root.groups.delete(group.id)


def test_unknown_and_invalid_requests(root: gitlab.Gitlab, live_server: LiveServer) -> None:
    group, project = _project(root)
    auth = {"PRIVATE-TOKEN": live_server.root_token}
    api = f"{live_server.url}/api/v4/projects/{project.id}"
    r = requests.post(f"{api}/issues", json={"description": "no title"}, headers=auth, timeout=10)
    assert r.status_code == 400 and r.json() == {"error": "title is missing"}
    r = requests.get(f"{api}/issues/999", headers=auth, timeout=10)
    assert r.status_code == 404 and r.json() == {"message": "404 Issue Not Found"}
    r = requests.get(f"{api}/issues", params={"order_by": "nonsense"}, headers=auth, timeout=10)
    assert r.status_code == 400
    r = requests.post(f"{api}/labels", json={"name": "x", "color": "not-a-color"}, headers=auth, timeout=10)
    assert r.status_code == 400 and "color" in r.json()["message"]
    requests.post(f"{api}/labels", json={"name": "dup", "color": "#000000"}, headers=auth, timeout=10)
    r = requests.post(f"{api}/labels", json={"name": "dup", "color": "#000000"}, headers=auth, timeout=10)
    assert r.status_code == 409 and r.json() == {"message": "Label already exists"}
    _ = secrets
    root.groups.delete(group.id)
