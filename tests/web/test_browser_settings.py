"""Members and settings pages in a real browser (headless Chromium against ``dockyard serve``): add a
member, change their role, protect a branch, edit the profile; screenshots for a human to judge."""

from __future__ import annotations

import json
import secrets
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.live import LiveServer
from tests.web.test_browser import page  # noqa: F401  # the fixture

SHOTS = Path("/tmp/dockyard-settings")


def _api(base: str, token: str, method: str, path: str, data: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        f"{base}/api/v4{path}",
        data=json.dumps(data).encode(),
        method=method,
        headers={"PRIVATE-TOKEN": token, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, object] = json.load(response)
        return result


def test_members_and_settings(live_server: LiveServer, page: Page) -> None:  # noqa: F811
    assert live_server.root_password is not None
    base = live_server.url
    suffix = secrets.token_hex(3)
    SHOTS.mkdir(exist_ok=True)
    username = f"crew{suffix}"
    _api(
        base,
        live_server.root_token,
        "POST",
        "/users",
        {
            "username": username,
            "email": f"{username}@example.com",
            "name": f"Crew Member {suffix}",
            "password": "crew-password-1",
            "skip_confirmation": True,
        },
    )
    project = _api(
        base,
        live_server.root_token,
        "POST",
        "/projects",
        {"name": f"Lighthouse {suffix}", "initialize_with_readme": True},
    )
    full_path = str(project["path_with_namespace"])

    page.goto(f"{base}/users/sign_in")
    page.get_by_label("Username or email").fill("root")
    page.get_by_label("Password").fill(live_server.root_password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()

    # Members, from the project's sidebar.
    page.goto(f"{base}/{full_path}")
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Members").click()
    expect(page).to_have_url(f"{base}/{full_path}/-/project_members")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Role", exact=True).select_option(label="Developer")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("status")).to_have_text(f"Added {username} as Developer.")
    row = page.get_by_role("row", name=f"Crew Member {suffix}")
    expect(row.get_by_label(f"Role of {username}", exact=True)).to_have_value("30")
    row.get_by_label(f"Role of {username}", exact=True).select_option(label="Maintainer")
    row.get_by_role("button", name=f"Save role of {username}").click()
    expect(page.get_by_role("status")).to_have_text(f"{username} is now Maintainer.")
    expect(
        page.get_by_role("row", name=f"Crew Member {suffix}").get_by_label(f"Role of {username}", exact=True)
    ).to_have_value("40")
    page.screenshot(path=str(SHOTS / "members.png"), full_page=True)

    # General settings: an empty name is reported beside the field.
    page.get_by_role("navigation", name="Project").get_by_role("link", name="General").click()
    page.get_by_label("Project name").fill("")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#project-name-error")).to_contain_text("can't be blank")
    page.screenshot(path=str(SHOTS / "project-settings.png"), full_page=True)

    # Protected branches.
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Repository", exact=True).click()
    page.get_by_label("Branch", exact=True).fill("release/*")
    page.get_by_label("Allowed to push", exact=True).select_option(label="No one")
    page.get_by_role("button", name="Protect branch", exact=True).click()
    expect(page.get_by_role("row", name="release/*")).to_be_visible()
    page.screenshot(path=str(SHOTS / "repository-settings.png"), full_page=True)
    page.get_by_role("button", name="Unprotect branch release/*").click()
    expect(page.get_by_role("row", name="release/*")).to_have_count(0)

    # The user's profile settings.
    page.goto(f"{base}/-/user_settings/profile")
    page.get_by_label("Bio").fill("Keeps the light on.")
    page.get_by_role("button", name="Update profile settings").click()
    expect(page.get_by_role("status")).to_have_text("Profile was successfully updated.")
    page.screenshot(path=str(SHOTS / "profile.png"), full_page=True)
