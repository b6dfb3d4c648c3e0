"""The repository pages in a real browser (Debian's headless Chromium through Playwright) against a real
``dockyard serve``: a project whose README is rendered, the file tree, a highlighted file, a commit's diff."""

from __future__ import annotations

import base64
import json
import secrets
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.live import LiveServer
from tests.web.test_browser import page  # noqa: F401  # the browser fixture, shared

SHOTS = Path("/tmp")
README = (
    "# Lighthouse\n\nGuides **ships** home.\n\n"
    "<script>document.title = 'owned'</script>\n\n"
    "- [x] lamp\n- [ ] fog horn\n"
)
APP = 'import sys\n\n\ndef beam(power: int) -> str:\n    """Sweep the sea."""\n    return "*" * power\n'


def _api(base: str, token: str, method: str, path: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        f"{base}/api/v4{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"PRIVATE-TOKEN": token, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        data: dict[str, object] = json.load(response)
        return data


def _commit(base: str, token: str, project_id: object, message: str, actions: list[dict[str, str]]) -> str:
    for action in actions:
        action["encoding"] = "base64"
        action["content"] = base64.b64encode(action["content"].encode()).decode()
    made = _api(
        base,
        token,
        "POST",
        f"/projects/{project_id}/repository/commits",
        {"branch": "main", "commit_message": message, "actions": actions},
    )
    return str(made["id"])


def test_browse_readme_tree_file_and_commit(live_server: LiveServer, page: Page) -> None:  # noqa: F811
    assert live_server.root_password is not None
    base, token = live_server.url, live_server.root_token
    name = f"lighthouse-{secrets.token_hex(3)}"
    project = _api(base, token, "POST", "/projects", {"name": name, "initialize_with_readme": True})
    _commit(
        base,
        token,
        project["id"],
        "Write the README",
        [{"action": "update", "file_path": "README.md", "content": README}],
    )
    sha = _commit(
        base,
        token,
        project["id"],
        "Add the beam",
        [{"action": "create", "file_path": "src/beam.py", "content": APP}],
    )
    path = f"root/{name}"

    page.goto(f"{base}/users/sign_in")
    page.get_by_label("Username or email").fill("root")
    page.get_by_label("Password").fill(live_server.root_password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()

    # The project page renders the README; its script is gone.
    page.goto(f"{base}/{path}")
    readme = page.locator(".readme .markdown")
    expect(readme.get_by_role("heading", name="Lighthouse")).to_be_visible()
    expect(readme.locator("strong")).to_have_text("ships")
    expect(readme.locator("script")).to_have_count(0)
    assert page.title() != "owned"
    page.screenshot(path=str(SHOTS / "dockyard-project-readme.png"), full_page=True)

    # Files in the sidebar, then into a directory.
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Files").click()
    expect(page).to_have_url(f"{base}/{path}/-/tree/main")
    expect(page.get_by_role("row", name="src")).to_contain_text("Add the beam")
    page.get_by_role("link", name="src", exact=True).click()
    expect(page).to_have_url(f"{base}/{path}/-/tree/main/src")
    page.screenshot(path=str(SHOTS / "dockyard-tree.png"), full_page=True)

    # A highlighted file, with a linkable line.
    page.get_by_role("link", name="beam.py").click()
    expect(page).to_have_url(f"{base}/{path}/-/blob/main/src/beam.py")
    expect(page.locator("#L4 .k").first).to_have_text("def")
    page.get_by_role("link", name="Line 4", exact=True).click()
    expect(page).to_have_url(f"{base}/{path}/-/blob/main/src/beam.py#L4")
    page.screenshot(path=str(SHOTS / "dockyard-blob.png"), full_page=True)

    # The ref switcher works as a plain form.
    page.get_by_label("Branch or tag", exact=True).select_option("main")
    page.get_by_role("button", name="Switch").click()
    expect(page).to_have_url(f"{base}/{path}/-/blob/main/src/beam.py")

    # The last commit, and its diff.
    page.get_by_role("link", name="Add the beam").first.click()
    expect(page).to_have_url(f"{base}/{path}/-/commit/{sha}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Add the beam")
    diff = page.get_by_role("region", name="src/beam.py")
    expect(diff.locator("tr.diff-add")).to_have_count(6)
    expect(diff.locator("tr.diff-add").nth(3)).to_contain_text("def beam(power: int) -> str:")
    page.screenshot(path=str(SHOTS / "dockyard-commit.png"), full_page=True)

    # Commits and branches from the sidebar.
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Commits").click()
    expect(page.get_by_role("link", name="Add the beam")).to_be_visible()
    page.screenshot(path=str(SHOTS / "dockyard-commits.png"), full_page=True)
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Branches").click()
    expect(page.get_by_role("main").get_by_role("link", name="main", exact=True)).to_be_visible()
    page.screenshot(path=str(SHOTS / "dockyard-branches.png"), full_page=True)
