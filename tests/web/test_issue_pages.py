"""The issue pages (list with tabs and filters, new issue, one issue with its thread, comments with quick
actions, close/reopen, the sidebar's forms, edit and delete) through Django's test client, on issues made
by the issue services."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dockyard.config.env import Env
from dockyard.core.visibility import Visibility
from dockyard.issues import services as issues
from dockyard.issues.models import Issue
from dockyard.namespaces import services as groups
from dockyard.notes.models import Note
from dockyard.permissions import services as members
from dockyard.permissions.models import AccessLevel
from dockyard.projects import services as projects
from tests.web.test_pages import make_user, signed_in

BASE = "/acme/rocket/-/issues"
pytestmark = pytest.mark.django_db  # also switches the page tests' fast password hasher on (tests/web/conftest.py)


@pytest.fixture(autouse=True)
def _own_repositories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Project ids repeat between tests (rolled back); each test gets its own repository storage."""
    monkeypatch.setattr(Env, "repositories", property(lambda self: tmp_path / "repositories"))


@pytest.fixture
def setup(db: None) -> dict[str, Any]:
    owner = make_user("owner")
    reporter = make_user("reporter")
    guest = make_user("guest")
    outsider = make_user("outsider")
    group = groups.group_create(actor=owner, name="Acme", path="acme", visibility=Visibility.INTERNAL)
    project = projects.project_create(
        actor=owner, namespace=group, name="Rocket", visibility=Visibility.INTERNAL, initialize_with_readme=False
    )
    members.member_add(actor=owner, source=project, user=reporter, access_level=AccessLevel.REPORTER)
    members.member_add(actor=owner, source=project, user=guest, access_level=AccessLevel.GUEST)
    bug = issues.label_create(actor=owner, project=project, name="bug", color="#d9534f")
    ux = issues.label_create(actor=owner, project=project, name="ux", color="#f0ad4e")
    v1 = issues.milestone_create(actor=owner, project=project, title="v1.0")
    return {
        "owner": owner,
        "reporter": reporter,
        "guest": guest,
        "outsider": outsider,
        "project": project,
        "bug": bug,
        "ux": ux,
        "v1": v1,
    }


def _html(client: Client, url: str, **params: Any) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def _issue(setup: dict[str, Any], title: str, **extra: Any) -> Issue:
    return issues.issue_create(actor=extra.pop("actor", setup["owner"]), project=setup["project"], title=title, **extra)


def _titles(page: str) -> list[str]:
    return re.findall(r'class="row-title" href="[^"]+">([^<]+)</a>', page)


def test_list_tabs_counts_filters_and_sort(setup: dict[str, Any]) -> None:
    owner, reporter = setup["owner"], setup["reporter"]
    crash = _issue(setup, "Crash on start", labels=["bug"], milestone_id=setup["v1"].pk, assignee_ids=[reporter.pk])
    _issue(setup, "Ugly button", labels=["ux"])
    done = _issue(setup, "Old crash", labels=["bug"], actor=reporter)
    issues.issue_close(actor=owner, issue=done)
    client = signed_in(reporter)

    page = _html(client, BASE)
    assert _titles(page) == ["Ugly button", "Crash on start"]
    assert re.search(r'aria-current="page">Open <span class="count">2</span>', page)
    assert 'Closed <span class="count">1</span>' in page and 'All <span class="count">3</span>' in page
    # Labels are coloured chips; the sidebar shows the open count.
    assert 'class="label-chip" style="--label-bg: #d9534f; --label-fg: #FFFFFF"' in page
    sidebar = r'href="/acme/rocket/-/issues" aria-current="page">.*?Issues <span class="count sidebar-count">2<'
    assert re.search(sidebar, page, re.S)

    assert _titles(_html(client, BASE, state="closed")) == ["Old crash"]
    oldest_first = _titles(_html(client, BASE, state="all", sort="created_asc"))
    assert oldest_first == ["Crash on start", "Ugly button", "Old crash"]
    assert _titles(_html(client, BASE, **{"label_name[]": "bug", "state": "all"})) == ["Old crash", "Crash on start"]
    assert _titles(_html(client, BASE, milestone_title="v1.0")) == ["Crash on start"]
    assert _titles(_html(client, BASE, milestone_title="None")) == ["Ugly button"]
    assert _titles(_html(client, BASE, assignee_username="reporter")) == ["Crash on start"]
    assert _titles(_html(client, BASE, author_username="reporter", state="all")) == ["Old crash"]
    filtered = _html(client, BASE, search="button")
    assert _titles(filtered) == ["Ugly button"]
    # The counts follow the filters; the tabs keep them in their links.
    assert 'Open <span class="count">1</span>' in filtered and 'Closed <span class="count">0</span>' in filtered
    assert "?search=button&amp;state=closed" in filtered
    assert "No issues match these filters" in _html(client, BASE, search="nothing like it")
    # Nonsense parameters fall back to the defaults instead of failing.
    assert _titles(_html(client, BASE, state="weird", sort="sideways")) == ["Ugly button", "Crash on start"]
    assert crash.iid == 1


def test_pagination(setup: dict[str, Any]) -> None:
    for i in range(23):
        _issue(setup, f"Issue number {i}")
    client = signed_in(setup["reporter"])
    first = _html(client, BASE)
    assert len(_titles(first)) == 20 and "Page 1 of 2" in first
    assert _titles(_html(client, BASE, page=2)) == ["Issue number 2", "Issue number 1", "Issue number 0"]


def test_create_issue_with_metadata(setup: dict[str, Any]) -> None:
    client = signed_in(setup["reporter"])
    form = _html(client, f"{BASE}/new")
    assert 'name="labels" value="bug"' in form and 'name="milestone_id"' in form
    response = client.post(
        f"{BASE}/new",
        {
            "title": "Engine stalls",
            "description": "It stalls after **10s**, see #1 and @owner.",
            "labels": ["bug", "ux"],
            "assignee_ids": [str(setup["owner"].pk)],
            "milestone_id": str(setup["v1"].pk),
            "due_date": "2030-01-31",
            "confidential": "on",
        },
    )
    issue = Issue.objects.get(project=setup["project"], title="Engine stalls")
    assert response.status_code == 302 and response["Location"] == f"{BASE}/{issue.iid}"
    assert {lb.title for lb in issue.labels.all()} == {"bug", "ux"}
    assert list(issue.assignees.all()) == [setup["owner"]]
    assert issue.milestone == setup["v1"] and str(issue.due_date) == "2030-01-31" and issue.confidential
    page = _html(client, f"{BASE}/{issue.iid}")
    assert "<strong>10s</strong>" in page
    assert 'href="http://testserver/owner" class="gfm gfm-project_member"' in page or "gfm-project_member" in page
    assert "Confidential" in page and "Jan 31, 2030" in page


def test_create_errors_and_guests_metadata(setup: dict[str, Any]) -> None:
    client = signed_in(setup["guest"])
    response = client.post(f"{BASE}/new", {"title": "   "})
    assert response.status_code == 400 and "Title can&#x27;t be blank" in response.content.decode()
    # A guest sees no metadata fields; metadata posted anyway is dropped, as GitLab does.
    assert 'name="labels"' not in _html(client, f"{BASE}/new")
    client.post(f"{BASE}/new", {"title": "From a guest", "labels": ["bug"]})
    issue = Issue.objects.get(title="From a guest")
    assert issue.author == setup["guest"] and not issue.labels.exists()
    # Anonymous visitors are sent to sign in.
    assert Client().get(f"{BASE}/new").status_code == 302


def test_comment_quick_actions_close_and_reopen(setup: dict[str, Any]) -> None:
    issue = _issue(setup, "Flaky test")
    client = signed_in(setup["reporter"])
    url = f"{BASE}/{issue.iid}"
    response = client.post(f"{url}/notes", {"note": "I can **reproduce** it <script>alert(1)</script>"})
    note = Note.objects.get(issue=issue, system=False)
    assert response.status_code == 302 and response["Location"] == f"{url}#note_{note.pk}"
    page = _html(client, url)
    assert "<strong>reproduce</strong>" in page and "<script>alert(1)" not in page
    assert f'id="note_{note.pk}"' in page and "timeline-note" in page

    # A comment of quick actions only: they run, nothing is stored, the summary is shown.
    response = client.post(f"{url}/notes", {"note": "/label ~bug\n/close"}, follow=True)
    issue.refresh_from_db()
    assert issue.state == "closed" and {lb.title for lb in issue.labels.all()} == {"bug"}
    page = response.content.decode()
    assert Note.objects.filter(issue=issue, system=False).count() == 1
    # System notes are styled apart and link their references.
    assert 'class="timeline-system"' in page and "gfm-label" in page and "Reopen issue" in page
    assert 'class="badge issue-badge-closed"' in page

    response = client.post(f"{url}/reopen")
    issue.refresh_from_db()
    assert response.status_code == 302 and issue.state == "opened"
    client.post(f"{url}/close")
    issue.refresh_from_db()
    assert issue.state == "closed" and Note.objects.filter(issue=issue, system=True, body="closed").count() == 2
    assert client.post(f"{url}/notes", {"note": "  "}).status_code == 302  # empty: a message, nothing stored
    assert Note.objects.filter(issue=issue, system=False).count() == 1


def test_sidebar_forms(setup: dict[str, Any]) -> None:
    issue = _issue(setup, "Needs triage")
    client = signed_in(setup["reporter"])
    url = f"{BASE}/{issue.iid}"
    assert 'name="field" value="labels"' in _html(client, url)
    client.post(f"{url}/update", {"field": "labels", "labels": ["bug", "ux"]})
    client.post(f"{url}/update", {"field": "assignees", "assignee_ids": [str(setup["reporter"].pk)]})
    client.post(f"{url}/update", {"field": "milestone", "milestone_id": str(setup["v1"].pk)})
    client.post(f"{url}/update", {"field": "due_date", "due_date": "2031-05-01"})
    issue.refresh_from_db()
    assert {lb.title for lb in issue.labels.all()} == {"bug", "ux"}
    assert list(issue.assignees.all()) == [setup["reporter"]]
    assert issue.milestone == setup["v1"] and str(issue.due_date) == "2031-05-01"
    response = client.post(f"{url}/update", {"field": "due_date", "due_date": "not a date"}, follow=True)
    assert "Due date is not a date" in response.content.decode()
    client.post(f"{url}/update", {"field": "milestone", "milestone_id": ""})
    client.post(f"{url}/update", {"field": "due_date", "due_date": ""})
    issue.refresh_from_db()
    assert issue.milestone is None and issue.due_date is None
    page = _html(client, url)
    assert "changed milestone" in page or "removed milestone" in page
    # A guest sees no forms and may not post them.
    guest = signed_in(setup["guest"])
    assert 'name="field"' not in _html(guest, url)
    assert guest.post(f"{url}/update", {"field": "labels", "labels": []}).status_code == 404
    assert issue.labels.count() == 2


def test_edit_title_and_description(setup: dict[str, Any]) -> None:
    issue = _issue(setup, "Typo in docs", actor=setup["guest"])
    author = signed_in(setup["guest"])
    url = f"{BASE}/{issue.iid}"
    assert 'value="Typo in docs"' in _html(author, f"{url}/edit")
    response = author.post(f"{url}/edit", {"title": "Typo in the docs", "description": "In `README`."})
    assert response.status_code == 302
    issue.refresh_from_db()
    assert issue.title == "Typo in the docs" and issue.description == "In `README`."
    assert author.post(f"{url}/edit", {"title": ""}).status_code == 400
    # Another guest may read but not edit it.
    other = make_user("other")
    members.member_add(actor=setup["owner"], source=setup["project"], user=other, access_level=AccessLevel.GUEST)
    viewer = signed_in(other)
    assert "Edit</a>" not in _html(viewer, url)
    assert viewer.get(f"{url}/edit").status_code == 404


def test_confidential_issue_is_404_for_outsiders(setup: dict[str, Any]) -> None:
    secret = _issue(setup, "Security hole", confidential=True)
    public = _issue(setup, "Public bug", description=f"Related to #{secret.iid}")
    url = f"{BASE}/{secret.iid}"
    outsider = signed_in(setup["outsider"])  # sees the internal project, not the confidential issue
    assert outsider.get(url).status_code == 404
    assert outsider.post(f"{url}/notes", {"note": "hi"}).status_code == 404
    assert outsider.post(f"{url}/close").status_code == 404
    listing = _html(outsider, BASE)
    assert "Security hole" not in listing and 'Open <span class="count">1</span>' in listing
    assert 'Issues <span class="count sidebar-count">1' in listing
    # The reference to it in another issue stays plain text for them, and is a link for a reporter.
    assert "gfm-issue" not in _html(outsider, f"{BASE}/{public.iid}")
    reporter = signed_in(setup["reporter"])
    assert "gfm-issue" in _html(reporter, f"{BASE}/{public.iid}")
    page = _html(reporter, url)
    assert "Security hole" in page and "badge-confidential" in page
    assert "Security hole" in _html(reporter, BASE)
    # Anonymous visitors of an internal project: 404 (the project is not visible to them).
    assert Client().get(url).status_code == 404


def test_reporter_comments_but_cannot_delete(setup: dict[str, Any]) -> None:
    issue = _issue(setup, "Discuss")
    owner_note = issues.issue_note_create(actor=setup["owner"], issue=issue, body="Owner's comment")
    assert isinstance(owner_note, Note)
    reporter = signed_in(setup["reporter"])
    url = f"{BASE}/{issue.iid}"
    reporter.post(f"{url}/notes", {"note": "Reporter's comment"})
    mine = Note.objects.get(issue=issue, body="Reporter's comment")
    page = _html(reporter, url)
    # Their own comment has a delete button, the owner's does not; the owner's cannot be deleted by them.
    assert f'aria-label="Delete comment {mine.pk}"' in page
    assert f'aria-label="Delete comment {owner_note.pk}"' not in page
    assert reporter.post(f"{url}/notes/{owner_note.pk}/delete").status_code == 404
    assert Note.objects.filter(pk=owner_note.pk).exists()
    # Nor the issue itself (owners only), and the edit page offers no delete.
    assert "Delete issue" not in _html(reporter, f"{url}/edit")
    assert reporter.post(f"{url}/delete").status_code == 404
    assert Issue.objects.filter(pk=issue.pk).exists()
    # They delete their own comment; the owner deletes the issue.
    assert reporter.post(f"{url}/notes/{mine.pk}/delete").status_code == 302
    assert not Note.objects.filter(pk=mine.pk).exists()
    owner = signed_in(setup["owner"])
    assert "Delete issue" in _html(owner, f"{url}/edit")
    assert owner.post(f"{url}/delete")["Location"] == BASE
    assert not Issue.objects.filter(pk=issue.pk).exists()


def test_issues_off_and_sidebar_entry(setup: dict[str, Any]) -> None:
    client = signed_in(setup["owner"])
    assert f'href="{BASE}"' in _html(client, "/acme/rocket")
    projects.project_update(actor=setup["owner"], project=setup["project"], issues_enabled=False)
    assert client.get(BASE).status_code == 404
    assert client.get(f"{BASE}/new").status_code == 404
    assert f'href="{BASE}"' not in _html(client, "/acme/rocket")


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _busy_issue(setup: dict[str, Any], n: int, title: str) -> Issue:
    owner, reporter = setup["owner"], setup["reporter"]
    issue = _issue(
        setup,
        title,
        description="See #1, ~bug and @reporter",
        labels=["bug", "ux"],
        assignee_ids=[owner.pk, reporter.pk],
        milestone_id=setup["v1"].pk,
    )
    for i in range(n):
        author = owner if i % 2 else reporter
        issues.issue_note_create(actor=author, issue=issue, body=f"Comment {i} about #1 and ~ux by @owner")
        issues.issue_update(actor=owner, issue=issue, due_date=f"2030-01-{i + 1:02d}")  # a system note each
    return issue


def test_query_budgets(setup: dict[str, Any]) -> None:
    client = signed_in(setup["reporter"])
    few_issue = _busy_issue(setup, 3, "Few")
    few_list = _queries(client, BASE)
    few_page = _queries(client, f"{BASE}/{few_issue.iid}")
    for i in range(12):
        _busy_issue(setup, 0, f"More {i}")
    many_issue = _busy_issue(setup, 15, "Many")
    assert _queries(client, BASE) == few_list
    assert _queries(client, f"{BASE}/{many_issue.iid}") == few_page
    assert few_list <= 20 and few_page <= 25, (few_list, few_page)
