"""The pages in a real browser (Debian's headless Chromium, driven by Playwright) against a real
``dockyard serve``: sign in, create a group and a project, create a token and use it, sign out."""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.live import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/dockyard-dashboard.png")


@pytest.fixture
def page() -> Iterator[Page]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make browser)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1360, "height": 860})
            yield context.new_page()
        finally:
            browser.close()


def _api_user(base: str, token: str) -> dict[str, object]:
    request = urllib.request.Request(f"{base}/api/v4/user", headers={"PRIVATE-TOKEN": token})
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, object] = json.load(response)
        return data


def test_sign_in_create_group_project_token_and_sign_out(live_server: LiveServer, page: Page) -> None:
    assert live_server.root_password is not None
    base = live_server.url
    suffix = secrets.token_hex(3)

    # Anonymous visitors land on the sign-in page.
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/users/sign_in?next=/")
    page.get_by_label("Username or email").fill("root")
    page.get_by_label("Password").fill(live_server.root_password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/")
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()

    # A group, through the form.
    page.goto(f"{base}/groups/new")
    page.get_by_label("Group name").fill(f"Web Team {suffix}")
    page.get_by_label("Group URL").fill(f"web-team-{suffix}")
    page.get_by_label("Internal").check()
    page.get_by_role("button", name="Create group").click()
    expect(page).to_have_url(f"{base}/groups/web-team-{suffix}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Web Team {suffix}")

    # A project in it: the group page's button preselects the group as namespace.
    page.get_by_role("main").get_by_role("link", name="New project").click()
    assert page.get_by_label("Namespace").evaluate("s => s.options[s.selectedIndex].text") == f"web-team-{suffix}"
    page.get_by_label("Project name").fill("Harbour Master")
    page.get_by_label("Description").fill("Keeps the ships in order.")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(f"{base}/web-team-{suffix}/harbour-master")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Harbour Master")
    expect(page.get_by_label("Clone with HTTPS")).to_have_value(f"{base}/web-team-{suffix}/harbour-master.git")

    # The dashboard lists it; keep a picture of it for a human to judge.
    page.goto(f"{base}/")
    expect(page.get_by_role("link", name="Harbour Master")).to_be_visible()
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # An access token, shown once, that works against the API.
    page.get_by_label("User menu for root").click()
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Access tokens").click()
    expect(page).to_have_url(f"{base}/-/user_settings/personal_access_tokens")
    page.get_by_label("Token name").fill(f"browser-{suffix}")
    page.get_by_label("read_api").check()
    page.get_by_label("read_user").check()
    page.get_by_role("button", name="Create personal access token").click()
    secret = page.locator("#created-token").input_value()
    assert secret.startswith("glpat-")
    assert _api_user(base, secret)["username"] == "root"
    page.reload()
    expect(page.locator("#created-token")).to_have_count(0)
    expect(page.get_by_role("row", name=f"browser-{suffix}")).to_be_visible()

    # Sign out from the user menu (a POST form; the menu is a <details>, no script needed).
    page.get_by_label("User menu for root").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{base}/users/sign_in")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/users/sign_in?next=/")


def test_pages_work_without_javascript_and_have_a_skip_link(live_server: LiveServer) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make browser)")
    assert live_server.root_password is not None
    base = live_server.url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(java_script_enabled=False).new_page()
            # The first Tab reaches the skip link, which moves focus past the navigation.
            page.goto(f"{base}/explore/projects")
            page.keyboard.press("Tab")
            expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
            page.keyboard.press("Enter")
            expect(page.locator("main#main")).to_be_focused()
            page.goto(f"{base}/users/sign_in")
            page.get_by_label("Username or email").fill("root")
            page.get_by_label("Password").fill("not-the-password")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("alert")).to_have_text("Invalid login or password.")
            page.get_by_label("Password").fill(live_server.root_password)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Your projects")).to_be_visible()
            # The user menu opens without script; the admin area is there for root.
            page.get_by_label("User menu for root").click()
            page.get_by_role("navigation", name="Account").get_by_role("link", name="Admin area").click()
            expect(page.get_by_role("heading", name="Users", level=1)).to_be_visible()
            response = page.goto(f"{base}/no-such-user/no-such-project")
            assert response is not None and response.status == 404
            expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
        finally:
            browser.close()
