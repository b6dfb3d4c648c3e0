"""The merge request pages (list with tabs and filters, overview with threads, approvals and the merge
widget, commits, changes with line comments, compare → new) through Django's test client, on real
repositories and merge requests made by the services the API uses."""

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
from dockyard.merge_requests import services as mrs
from dockyard.merge_requests.models import MergeRequest
from dockyard.notes.models import Note
from dockyard.permissions import services as members
from dockyard.permissions.models import AccessLevel
from dockyard.projects import services as projects
from dockyard.repos.git import read as git_read
from tests.web.test_pages import make_user, signed_in
from tests.web.test_repository_pages import commit

BASE = "/alice/harbour/-/merge_requests"
pytestmark = pytest.mark.django_db  # also switches the page tests' fast password hasher on (tests/web/conftest.py)


@pytest.fixture(autouse=True)
def _own_repositories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Project ids repeat between tests (rolled back); each test gets its own repository storage."""
    monkeypatch.setattr(Env, "repositories", property(lambda self: tmp_path / "repositories"))


@pytest.fixture
def setup(db: None) -> dict[str, Any]:
    owner = make_user("alice")
    dev = make_user("dev")
    reporter = make_user("reporter")
    outsider = make_user("outsider")
    project = projects.project_create(
        actor=owner,
        namespace=owner.namespace,
        name="Harbour",
        visibility=Visibility.PRIVATE,
        initialize_with_readme=True,
    )
    members.member_add(actor=owner, source=project, user=dev, access_level=AccessLevel.DEVELOPER)
    members.member_add(actor=owner, source=project, user=reporter, access_level=AccessLevel.REPORTER)
    commit(project, owner, "main", {"src/app.py": "def main():\n    return 1\n"}, "Add the app")
    return {"owner": owner, "dev": dev, "reporter": reporter, "outsider": outsider, "project": project}


def _branch(setup: dict[str, Any], name: str, files: dict[str, str] | None = None) -> str:
    """A branch off main by ``dev`` with one commit adding ``files`` (a file named after it by default)."""
    return commit(
        setup["project"],
        setup["dev"],
        name,
        files or {f"{name}.txt": f"{name}\n"},
        f"Work on {name}",
        start_branch="main",
    )


def _mr(setup: dict[str, Any], branch: str, title: str, **extra: Any) -> MergeRequest:
    _branch(setup, branch, extra.pop("files", None))
    return mrs.merge_request_create(
        actor=extra.pop("actor", setup["dev"]),
        project=setup["project"],
        source_branch=branch,
        target_branch="main",
        title=title,
        **extra,
    )


def _html(client: Client, url: str, **params: Any) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def _titles(page: str) -> list[str]:
    return re.findall(r'class="row-title" href="[^"]+">([^<]+)</a>', page)


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_list_tabs_counts_filters_sidebar_and_budget(setup: dict[str, Any]) -> None:
    owner, dev = setup["owner"], setup["dev"]
    first = _mr(setup, "one", "Fix the crane", labels=["bug"], assignee_ids=[dev.pk])
    _mr(setup, "two", "Paint the hull")
    merged = _mr(setup, "three", "Oil the winch")
    mrs.merge(actor=owner, mr=mrs.status_refresh(merged), options=mrs.MergeOptions())
    closed = _mr(setup, "four", "Old idea")
    mrs.merge_request_close(actor=dev, mr=closed)
    client = signed_in(setup["reporter"])

    page = _html(client, BASE)
    assert _titles(page) == ["Paint the hull", "Fix the crane"]
    for tab, count in (("Open", 2), ("Merged", 1), ("Closed", 1), ("All", 4)):
        assert f'{tab} <span class="count">{count}</span>' in page
    sidebar = r'href="/alice/harbour/-/merge_requests" aria-current="page">.*?Merge requests <span [^>]+>2<'
    assert re.search(sidebar, page, re.S)
    assert _titles(_html(client, BASE, state="merged")) == ["Oil the winch"]
    assert _titles(_html(client, BASE, state="closed")) == ["Old idea"]
    assert _titles(_html(client, BASE, state="all", sort="created_asc"))[0] == "Fix the crane"
    assert _titles(_html(client, BASE, **{"label_name[]": "bug"})) == ["Fix the crane"]
    assert _titles(_html(client, BASE, assignee_username="dev")) == ["Fix the crane"]
    assert _titles(_html(client, BASE, search="hull")) == ["Paint the hull"]
    assert "No merge requests match these filters" in _html(client, BASE, search="nothing like it")
    assert first.iid == 1

    # The list's queries do not grow with its rows (labels, assignees, authors included).
    before = _queries(client, f"{BASE}?state=all")
    for i in range(4):
        _mr(setup, f"more-{i}", f"More work {i}", labels=["bug", "ux"], assignee_ids=[dev.pk], reviewer_ids=[owner.pk])
    assert _queries(client, f"{BASE}?state=all") == before


def test_overview_thread_quick_actions_approve_and_merge(setup: dict[str, Any]) -> None:
    owner, dev, project = setup["owner"], setup["dev"], setup["project"]
    mr = _mr(setup, "feature", "Add the feature", description="Adds **bold** things. <script>x()</script>")
    url = f"{BASE}/{mr.iid}"
    author = signed_in(dev)

    page = _html(author, url)
    assert "<strong>bold</strong>" in page and "<script>x()" not in page
    assert 'data-status="mergeable"' in page and "Ready to merge!" in page
    assert "Merge commit" in page  # the project's merge method
    assert ">Approve<" not in page  # authors may not approve their own

    # A comment with a quick action runs it through the same note service as the API.
    response = author.post(f"{url}/notes", {"note": "Still polishing.\n/draft"})
    assert response.status_code == 302
    mr.refresh_from_db()
    assert mr.draft and mr.title == "Draft: Add the feature"
    page = _html(author, url)
    assert "Still polishing." in page and 'data-status="draft_status"' in page and "Mark as ready" in page
    author.post(f"{url}/toggle_draft")
    mr.refresh_from_db()
    assert not mr.draft

    # A thread, a reply, resolve and unresolve.
    reviewer = signed_in(owner)
    reviewer.post(
        f"{url}/notes",
        {"note": "Why this name?", "new_path": "feature.txt", "old_path": "feature.txt", **_shas(mr), "new_line": "1"},
    )
    thread = Note.objects.get(merge_request=mr, body="Why this name?")
    assert thread.type == Note.Type.DIFF and thread.resolvable and (thread.position or {}).get("new_line") == 1
    author.post(f"{url}/notes", {"note": "It reads well.", "discussion_id": thread.discussion_id})
    author.post(f"{url}/discussions/{thread.discussion_id}/resolve", {"resolved": "1"})
    thread.refresh_from_db()
    assert thread.resolved
    page = _html(reviewer, url)
    assert "It reads well." in page and "Unresolve thread" in page and "feature.txt:1" in page

    # Approve (another developer), then merge with the widget's form; the branch's commit lands on main.
    assert ">Approve<" in page
    reviewer.post(f"{url}/approve", {"sha": _shas(mr)["head_sha"]})
    page = _html(reviewer, url)
    assert "approved by Alice" in page and "Revoke approval" in page
    response = reviewer.post(f"{url}/merge", {"sha": _shas(mr)["head_sha"], "should_remove_source_branch": "on"})
    assert response.status_code == 302
    mr.refresh_from_db()
    assert mr.state == "merged"
    repo = git_read.Repository(project.pk)
    assert repo.ref_target("refs/heads/feature") is None
    assert _shas(mr)["head_sha"] in [c.id for c in repo.log("main", limit=5).commits]
    page = _html(reviewer, url)
    assert "Merged by Alice" in page and ">Merge</button>" not in page


def _shas(mr: MergeRequest) -> dict[str, str]:
    version = mr.diffs.order_by("-id").first()
    assert version is not None
    return {
        "base_sha": version.base_commit_sha,
        "start_sha": version.start_commit_sha,
        "head_sha": version.head_commit_sha,
    }


def test_stale_head_and_conflicts_come_back_as_messages(setup: dict[str, Any]) -> None:
    owner = setup["owner"]
    mr = _mr(setup, "clash", "Clash", files={"clash.txt": "ours\n"})
    url = f"{BASE}/{mr.iid}"
    client = signed_in(owner)
    response = client.post(f"{url}/merge", {"sha": "0" * 40}, follow=True)
    assert "SHA does not match HEAD of source branch" in response.content.decode()
    commit(setup["project"], owner, "main", {"clash.txt": "theirs\n"}, "Clash on main")
    mr.refresh_from_db()
    mrs.mark_unchecked(mr)
    page = _html(client, url)
    assert 'data-status="conflict"' in page and "has conflicts" in page
    response = client.post(f"{url}/merge", {"sha": _shas(mr)["head_sha"]}, follow=True)
    mr.refresh_from_db()
    assert mr.state == "opened"


def test_reporter_sees_no_merge_button_and_outsiders_no_page(setup: dict[str, Any]) -> None:
    mr = _mr(setup, "feature", "Add the feature")
    url = f"{BASE}/{mr.iid}"
    reporter = signed_in(setup["reporter"])
    page = _html(reporter, url)
    assert ">Merge</button>" not in page and ">Approve<" not in page and "Close merge request" not in page
    assert "Add a comment" in page  # reporters comment
    assert reporter.post(f"{url}/merge", {"sha": _shas(mr)["head_sha"]}).status_code == 404
    assert reporter.post(f"{url}/approve").status_code == 404
    assert reporter.post(f"{url}/close").status_code == 404
    mr.refresh_from_db()
    assert mr.state == "opened" and not mr.approvals.exists()
    assert reporter.get(f"{BASE}/new").status_code == 404
    # A private project's merge requests are 404 to outsiders and anonymous visitors alike.
    for client in (signed_in(setup["outsider"]), Client()):
        for path in (url, f"{url}/diffs", f"{url}/commits", BASE):
            assert client.get(path).status_code in (404, 302), path
        assert client.get(url).status_code == 404 or client.get(url)["Location"].startswith("/users/sign_in")
    assert signed_in(setup["outsider"]).get(url).status_code == 404
    assert signed_in(setup["outsider"]).post(f"{url}/merge").status_code == 404


def test_overview_queries_do_not_grow_with_notes(setup: dict[str, Any]) -> None:
    owner, dev = setup["owner"], setup["dev"]
    mr = _mr(setup, "feature", "Add the feature", description="See #1 and @dev")
    url = f"{BASE}/{mr.iid}"
    client = signed_in(owner)
    mrs.merge_request_note_create(actor=dev, mr=mr, body="First ~bug @alice")
    _html(client, url)  # the mergeability check runs on the first view
    before = _queries(client, url)
    for i in range(5):
        note = mrs.merge_request_note_create(actor=dev, mr=mr, body=f"Note {i} @alice !1", thread=True)
        assert isinstance(note, Note)
        mrs.merge_request_note_create(actor=owner, mr=mr, body="Reply", discussion_id=note.discussion_id)
    mr.refresh_from_db()  # the page's mergeability check changed it; a stale save() would undo that
    mrs.merge_request_update(actor=owner, mr=mr, labels=["bug"], assignee_ids=[dev.pk])
    assert _queries(client, url) == before


def test_changes_inline_parallel_line_comment_and_budget(setup: dict[str, Any]) -> None:
    owner = setup["owner"]
    code = "import os\n\n\ndef main():\n    return os.getpid()\n"
    mr = _mr(setup, "feature", "Add code", files={"src/tool.py": code, "docs/notes.md": "# Notes\n"})
    url = f"{BASE}/{mr.iid}"
    client = signed_in(owner)

    page = _html(client, f"{url}/diffs")
    assert "2 changed files" in page
    assert '<span class="kn">import</span>' in page  # highlighted as the blob pages highlight
    assert 'href="#diff-src-tool-py"' in page and "src/" in page  # the file tree
    parallel = _html(client, f"{url}/diffs", view="parallel")
    assert "diff-parallel" in parallel and 'aria-current="page">Side-by-side' in parallel

    # "Comment" on line 4 of the new file opens the form there; posting it starts a diff thread at that line.
    link = re.search(r'href="([^"]*)" class="diff-comment-link" aria-label="Comment on src/tool.py line 4"', page)
    assert link is not None
    form_page = _html(client, link.group(1).replace("&amp;", "&").split("#")[0])
    assert "Start a thread" in form_page
    fields = dict(
        re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form_page.split("diff-comment-form")[1])
    )
    assert fields["new_line"] == "4" and fields["old_line"] == "" and fields["new_path"] == "src/tool.py"
    response = client.post(f"{url}/notes", {**fields, "note": "Name this better"})
    assert response.status_code == 302 and "/diffs?view=inline#note_" in response["Location"]
    note = Note.objects.get(merge_request=mr, body="Name this better")
    assert note.type == Note.Type.DIFF and (note.position or {}).get("new_line") == 4
    page = _html(client, f"{url}/diffs")
    row = page.index('id="diff-src-tool-py-n4"')
    assert page.index("Name this better") > row and "Resolve thread" in page[row:]
    assert "Name this better" in _html(client, url)  # on the overview too

    # Commits tab.
    commits = _html(client, f"{url}/commits")
    assert "Work on feature" in commits
    assert 'Commits <span class="count">1</span>' in commits and 'Changes <span class="count">2</span>' in commits

    # The Changes tab's queries do not grow with files or threads.
    before = _queries(client, f"{url}/diffs")
    for i in range(4):
        commit(setup["project"], setup["dev"], "feature", {f"more/f{i}.py": f"X = {i}\n"}, f"More {i}")
    assert _queries(client, f"{url}/diffs") == before


def test_compare_branches_then_create(setup: dict[str, Any]) -> None:
    dev, owner = setup["dev"], setup["owner"]
    _branch(setup, "add-winch")
    client = signed_in(dev)
    chooser = _html(client, f"{BASE}/new")
    assert "Compare branches" in chooser and '<option value="add-winch"' in chooser
    assert "Create merge request" not in chooser
    page = _html(client, f"{BASE}/new", source_branch="add-winch", target_branch="main")
    assert 'value="Work on add-winch"' in page  # one commit: its title
    assert "add-winch.txt" in page and "Create merge request" in page
    assert "nothing to merge" in _html(client, f"{BASE}/new", source_branch="main", target_branch="add-winch")

    response = client.post(
        f"{BASE}/new",
        {
            "source_branch": "add-winch",
            "target_branch": "main",
            "title": "Add a winch",
            "description": "For the anchor.",
            "draft": "on",
            "assignee_ids": [str(dev.pk)],
            "reviewer_ids": [str(owner.pk)],
            "remove_source_branch": "on",
            "squash": "on",
        },
    )
    assert response.status_code == 302 and response["Location"] == f"{BASE}/1"
    mr = MergeRequest.objects.get(project=setup["project"], iid=1)
    assert mr.title == "Draft: Add a winch" and mr.draft and mr.squash and mr.force_remove_source_branch
    assert list(mr.reviewers.all()) == [owner] and list(mr.assignees.all()) == [dev]
    # A second one from the same branch is refused with GitLab's reason.
    again = client.post(f"{BASE}/new", {"source_branch": "add-winch", "target_branch": "main", "title": "Again"})
    assert again.status_code == 400 and "Another open merge request already exists" in again.content.decode()


def test_merge_request_from_a_fork(setup: dict[str, Any]) -> None:
    reporter, owner = setup["reporter"], setup["owner"]
    fork = projects.project_fork(actor=reporter, source=setup["project"])
    commit(fork, reporter, "fix", {"fix.txt": "from the fork\n"}, "Fix from a fork", start_branch="main")
    mr = mrs.merge_request_create(
        actor=reporter,
        project=fork,
        target_project=setup["project"],
        source_branch="fix",
        target_branch="main",
        title="Fix from a fork",
    )
    client = signed_in(owner)
    page = _html(client, f"{BASE}/{mr.iid}")
    assert f"{fork.full_path}:fix" in page and 'data-status="mergeable"' in page
    assert "fix.txt" in _html(client, f"{BASE}/{mr.iid}/diffs")
    assert "Fix from a fork" in _html(client, f"{BASE}/{mr.iid}/commits")
