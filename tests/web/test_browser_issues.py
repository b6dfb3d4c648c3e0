"""Issue pages in a real browser (headless Chromium against ``dockyard serve``): sign in, open an issue with
labels and a milestone made through the API, comment on it, run a quick action from a comment, close it
with the button, reopen and find it in the list. Screenshots for a human to judge."""

from __future__ import annotations

import secrets
from pathlib import Path

import gitlab
from playwright.sync_api import Page, expect

from tests.live import LiveServer
from tests.web.test_browser import page  # noqa: F401  # the fixture

SHOTS = Path("/tmp/dockyard-issues")


def test_create_comment_and_close_an_issue(live_server: LiveServer, root: gitlab.Gitlab, page: Page) -> None:  # noqa: F811
    assert live_server.root_password is not None
    base = live_server.url
    SHOTS.mkdir(exist_ok=True)
    project = root.projects.create({"name": f"Harbour {secrets.token_hex(3)}"})
    project.labels.create({"name": "bug", "color": "#d9534f"})
    project.labels.create({"name": "needs design", "color": "#f0f4ff", "description": "UX should look at it"})
    project.milestones.create({"title": "v1.0", "due_date": "2030-06-30"})
    project.issues.create({"title": "Earlier report", "labels": ["needs design"]})
    path = project.path_with_namespace

    page.goto(f"{base}/users/sign_in")
    page.get_by_label("Username or email").fill("root")
    page.get_by_label("Password").fill(live_server.root_password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()

    # The sidebar's Issues entry, with its open count, leads to the list.
    page.goto(f"{base}/{path}")
    issues_link = page.get_by_role("navigation", name="Project").get_by_role("link", name="Issues")
    expect(issues_link).to_contain_text("1")
    issues_link.click()
    expect(page).to_have_url(f"{base}/{path}/-/issues")
    page.get_by_role("link", name="New issue").click()

    # A new issue with metadata.
    page.get_by_label("Title").fill("Anchor chain snaps under load")
    page.get_by_label("Description").fill(
        "Steps:\n\n1. Lower the anchor\n2. Wait for the tide\n\nLike #1 but **worse**. <script>alert(1)</script>"
    )
    page.get_by_role("group", name="Labels").get_by_label("bug").check()
    page.get_by_role("group", name="Assignees").get_by_label("Administrator").check()
    page.get_by_label("Milestone").select_option(label="v1.0")
    page.get_by_label("Due date").fill("2030-05-01")
    page.get_by_role("button", name="Create issue").click()
    expect(page).to_have_url(f"{base}/{path}/-/issues/2")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Anchor chain snaps under load")
    expect(page.locator(".issue-description strong")).to_have_text("worse")
    expect(page.locator(".issue-description a.gfm-issue")).to_have_text("#1")
    expect(page.get_by_role("complementary", name="Issue details")).to_contain_text("v1.0")

    # A comment, then a comment of quick actions.
    page.get_by_role("textbox", name="Comment").fill("Reproduced on the **night** shift.")
    page.get_by_role("button", name="Comment", exact=True).click()
    comment = page.get_by_role("article", name="Comment by Administrator")
    expect(comment).to_contain_text("Reproduced on the night shift.")
    page.get_by_role("textbox", name="Comment").fill('/label ~"needs design"')
    page.get_by_role("button", name="Comment", exact=True).click()
    expect(page.locator(".timeline-system").last).to_contain_text("needs design")
    page.screenshot(path=str(SHOTS / "issue-open.png"), full_page=True)

    # Close it with the button; the state badge and the buttons follow.
    page.get_by_role("button", name="Close issue").click()
    expect(page.locator(".issue-badge-closed")).to_be_visible()
    expect(page.locator(".timeline-system").last).to_contain_text("closed")
    page.screenshot(path=str(SHOTS / "issue-closed.png"), full_page=True)

    # The sidebar's milestone form without script.
    milestone = page.get_by_role("region", name="Milestone")
    milestone.get_by_role("combobox", name="Milestone").select_option(label="No milestone")
    milestone.get_by_role("button", name="Set").click()
    expect(page.get_by_role("region", name="Milestone").locator("p")).to_have_text("None")

    # The list: open tab has the earlier one; the closed tab has ours, with its label chips.
    page.goto(f"{base}/{path}/-/issues")
    expect(page.get_by_role("link", name="Earlier report")).to_be_visible()
    expect(page.get_by_role("link", name="Anchor chain snaps under load")).to_have_count(0)
    page.get_by_role("navigation", name="Issue state").get_by_role("link", name="Closed").click()
    expect(page.get_by_role("link", name="Anchor chain snaps under load")).to_be_visible()
    page.get_by_role("searchbox", name="Search", exact=True).fill("anchor")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name="Anchor chain snaps under load")).to_be_visible()
    page.goto(f"{base}/{path}/-/issues?state=all")
    page.screenshot(path=str(SHOTS / "issue-list.png"), full_page=True)
    page.goto(f"{base}/{path}/-/issues/new")
    page.screenshot(path=str(SHOTS / "issue-new.png"), full_page=True)
