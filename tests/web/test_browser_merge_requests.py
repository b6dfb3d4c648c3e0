"""Merge request pages in a real browser (headless Chromium against ``dockyard serve``): a developer pushes a
branch with real git, opens a merge request through "compare branches", views its diff and comments on a
line; a maintainer approves and merges it; the branch's commit is on the default branch afterwards."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import gitlab
from playwright.sync_api import Page, expect

from tests.git import conftest as git_fixtures
from tests.git.conftest import Account, Git
from tests.live import LiveServer
from tests.web.test_browser import page  # noqa: F401  # the fixture

git = git_fixtures.git  # the real-git fixtures of tests/git
make_user = git_fixtures.make_user
SHOTS = Path("/tmp/dockyard-merge-requests")
DEVELOPER = 30


def _sign_in(tab: Page, base: str, username: str, password: str) -> None:
    tab.goto(f"{base}/users/sign_in")
    tab.get_by_label("Username or email").fill(username)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("heading", name="Your projects")).to_be_visible()


def test_open_review_approve_and_merge(
    live_server: LiveServer,
    root: gitlab.Gitlab,
    git: Git,
    make_user: Callable[[str], Account],
    tmp_path: Path,
    page: Page,  # noqa: F811
) -> None:
    assert live_server.root_password is not None
    base = live_server.url
    SHOTS.mkdir(exist_ok=True)
    project = root.projects.create({"name": f"Quay {secrets.token_hex(3)}", "initialize_with_readme": True})
    path = project.path_with_namespace
    dev = make_user("deckhand")
    project.members.create({"user_id": dev.user_id, "access_level": DEVELOPER})
    work = tmp_path / "work"
    git.run("clone", "-q", dev.url(live_server, path), str(work))
    git.run("checkout", "-q", "-b", "add-bollard", cwd=work)
    head = git.commit(work, "bollard.py", "def tie(rope):\n    return rope\n", "Add a bollard")
    git.run("push", "-q", "origin", "add-bollard", cwd=work)

    # The developer finds the list through the sidebar and compares branches.
    _sign_in(page, base, dev.username, dev.password)
    page.goto(f"{base}/{path}")
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Merge requests").click()
    expect(page).to_have_url(f"{base}/{path}/-/merge_requests")
    page.get_by_role("link", name="New merge request").click()
    page.get_by_label("Source branch").select_option("add-bollard")
    page.get_by_label("Target branch").select_option("main")
    page.get_by_role("button", name="Compare branches and continue").click()
    expect(page.get_by_label("Title")).to_have_value("Add a bollard")
    expect(page.get_by_role("region", name="bollard.py")).to_contain_text("return rope")
    page.get_by_label("Description").fill("Ties ships to the quay.")
    page.get_by_role("button", name="Create merge request").click()
    expect(page).to_have_url(f"{base}/{path}/-/merge_requests/1")
    expect(page.locator(".mr-status")).to_contain_text("Ready to merge!")

    # The diff, and a comment on line 2 of the new file.
    page.get_by_role("navigation", name="Merge request tabs").get_by_role("link", name="Changes").click()
    diff = page.get_by_role("region", name="bollard.py")
    expect(diff.locator(".kd, .k").first).to_be_visible()  # highlighted
    diff.get_by_role("link", name="Comment on bollard.py line 2").click()
    page.get_by_role("textbox", name="Line comment").fill("Should this check the **knot**?")
    page.get_by_role("button", name="Start a thread").click()
    thread = page.get_by_role("region", name="Thread on bollard.py line 2")
    expect(thread).to_contain_text("Should this check the knot?")
    page.get_by_role("link", name="Side-by-side").click()
    expect(page.get_by_role("region", name="Thread on bollard.py line 2")).to_be_visible()
    page.screenshot(path=str(SHOTS / "changes.png"), full_page=True)
    page.context.clear_cookies()  # signed out

    # A maintainer resolves the thread, approves and merges.
    _sign_in(page, base, "root", live_server.root_password)
    page.goto(f"{base}/{path}/-/merge_requests/1")
    page.get_by_role("region", name="Thread on bollard.py line 2").get_by_role("button", name="Resolve thread").click()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_label("Approvals")).to_contain_text("approved by Administrator")
    page.get_by_label("Delete source branch").check()
    page.get_by_role("button", name="Merge", exact=True).click()
    expect(page.locator(".mr-status")).to_contain_text("Merged by Administrator")
    page.screenshot(path=str(SHOTS / "merged.png"), full_page=True)

    main = [c.id for c in project.commits.list(ref_name="main", get_all=False, per_page=5)]
    assert head in main
    assert "add-bollard" not in [b.name for b in project.branches.list(get_all=True)]
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Merge requests").click()
    page.get_by_role("navigation", name="Merge request state").get_by_role("link", name="Merged").click()
    expect(page.get_by_role("link", name="Add a bollard")).to_be_visible()
