"""The repository pages (files, blame, raw, commits, a commit's diff, branches, tags, the README on the
project page) through Django's test client, on real repositories written by the services the API uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dockyard.accounts.models import User
from dockyard.config.env import Env
from dockyard.core.visibility import Visibility
from dockyard.permissions import services as members
from dockyard.projects import services as projects
from dockyard.projects.models import Project
from dockyard.repos import services as repos
from dockyard.repos.git.write import FileAction
from tests.web.test_pages import make_user, signed_in

README = """# Harbour

Keeps the **ships** in order.

<script>alert("owned")</script>

```python
def dock(ship):
    return ship
```
"""
APP = 'import os\n\n\ndef main() -> None:\n    """Say hello."""\n    print("hello", os.getpid())\n'


@pytest.fixture(autouse=True)
def _own_repositories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own repository storage: project ids repeat between tests (rolled back), and a
    repository left by an earlier test under the same id would answer for the new project."""
    monkeypatch.setattr(Env, "repositories", property(lambda self: tmp_path / "repositories"))


@pytest.fixture
def alice() -> User:
    return make_user("alice")


def commit(project: Project, user: User, branch: str, files: dict[str, str], message: str, **kw: str) -> str:
    actions = [FileAction(action="create", path=path, content=content.encode()) for path, content in files.items()]
    return repos.commit_create(project=project, user=user, branch=branch, message=message, actions=actions, **kw)


def update(project: Project, user: User, branch: str, path: str, content: str, message: str) -> str:
    action = FileAction(action="update", path=path, content=content.encode())
    return repos.commit_create(project=project, user=user, branch=branch, message=message, actions=[action])


def harbour(owner: User, *, visibility: Visibility = Visibility.PRIVATE) -> Project:
    """A project with a README, a Python file in a directory and a branch with a slash in its name."""
    project = projects.project_create(
        actor=owner,
        namespace=owner.namespace,
        name="Harbour",
        visibility=visibility,
        initialize_with_readme=True,
    )
    update(project, owner, "main", "README.md", README, "Write the README")
    commit(project, owner, "main", {"src/app.py": APP, "src/lib/util.py": "X = 1\n"}, "Add the app\n\nWith a body.")
    commit(project, owner, "feature/x", {"src/feature.txt": "on the branch\n"}, "Feature work", start_branch="main")
    return project


# --- project page ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_project_page_renders_the_readme_sanitised(alice: User) -> None:
    harbour(alice)
    html = signed_in(alice).get("/alice/harbour").content.decode()
    assert "<h1>Harbour</h1>" in html
    assert "<strong>ships</strong>" in html
    assert "<script>" not in html.split("</head>", 1)[1].split('class="card-body markdown"', 1)[1]
    assert 'alert("owned")' not in html and "alert(&quot;owned&quot;)" not in html
    assert '<span class="k">def</span>' in html  # the fenced block is highlighted
    # The sidebar leads to the repository pages.
    for name, url in [("Files", "tree"), ("Commits", "commits"), ("Branches", "branches"), ("Tags", "tags")]:
        assert f'<a href="/alice/harbour/-/{url}" >' in html or f'href="/alice/harbour/-/{url}"' in html, name


@pytest.mark.django_db
def test_empty_project_shows_push_instructions(alice: User) -> None:
    projects.project_create(actor=alice, namespace=alice.namespace, name="Blank")
    html = signed_in(alice).get("/alice/blank").content.decode()
    assert "The repository for this project is empty" in html
    assert "git remote add origin http://testserver/alice/blank.git" in html
    assert "git push --set-upstream origin main" in html
    assert signed_in(alice).get("/alice/blank/-/tree")["Location"] == "/alice/blank"


# --- files ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_tree_lists_directories_first_with_last_commits_and_crumbs(alice: User) -> None:
    harbour(alice)
    client = signed_in(alice)
    assert client.get("/alice/harbour/-/tree")["Location"] == "/alice/harbour/-/tree/main"
    html = client.get("/alice/harbour/-/tree/main").content.decode()
    names = re.findall(r'class="file-name" href="([^"]+)"', html)
    assert names == ["/alice/harbour/-/tree/main/src", "/alice/harbour/-/blob/main/README.md"]
    # Each entry shows the last commit that touched it.
    assert re.search(r'/-/tree/main/src">.*?Add the app</a>', html, re.S)
    assert re.search(r'/-/blob/main/README.md">.*?Write the README</a>', html, re.S)
    # The switcher lists branches and tags; the README shows under the root listing.
    assert '<option value="feature/x">feature/x</option>' in html
    assert '<option value="main" selected>main</option>' in html
    assert "<strong>ships</strong>" in html

    sub = client.get("/alice/harbour/-/tree/main/src").content.decode()
    assert re.findall(r'class="file-name" href="([^"]+)"', sub) == [
        "/alice/harbour/-/tree/main",  # ".."
        "/alice/harbour/-/tree/main/src/lib",
        "/alice/harbour/-/blob/main/src/app.py",
    ]
    assert '<a href="/alice/harbour/-/tree/main">harbour</a>' in sub
    assert '<span aria-current="page">src</span>' in sub
    assert client.get("/alice/harbour/-/tree/main/nope").status_code == 404
    assert client.get("/alice/harbour/-/tree/no-such-branch").status_code == 404


@pytest.mark.django_db
def test_refs_with_slashes_resolve_to_the_longest_existing_ref(alice: User) -> None:
    project = harbour(alice)
    # A tag "feature" is a prefix of the branch "feature/x": the longest ref that exists wins.
    repos.tag_create(project=project, user=alice, tag_name="feature", ref="main")
    client = signed_in(alice)
    html = client.get("/alice/harbour/-/tree/feature/x/src").content.decode()
    assert "/alice/harbour/-/blob/feature/x/src/feature.txt" in html
    assert '<option value="feature/x" selected>' in html
    blob = client.get("/alice/harbour/-/blob/feature/x/src/feature.txt")
    assert blob.status_code == 200 and b"on the branch" in blob.content
    assert client.get("/alice/harbour/-/raw/feature/x/src/feature.txt").content == b"on the branch\n"
    assert b"ships" in client.get("/alice/harbour/-/raw/feature/README.md").content
    assert client.get("/alice/harbour/-/blob/feature/src/feature.txt").status_code == 404
    assert client.get("/alice/harbour/-/blob/main/src/feature.txt").status_code == 404
    # The switcher is a plain GET form; its target redirects to the same place on the other ref.
    switched = client.get("/alice/harbour/-/refs/switch", {"ref": "feature/x", "destination": "tree", "path": "src"})
    assert switched["Location"] == "/alice/harbour/-/tree/feature/x/src"


@pytest.mark.django_db
def test_blob_is_highlighted_with_line_anchors(alice: User) -> None:
    harbour(alice)
    html = signed_in(alice).get("/alice/harbour/-/blob/main/src/app.py").content.decode()
    assert '<span class="kn">import</span>' in html and '<span class="k">def</span>' in html
    assert '<tr id="L4"><td class="ln"><a href="#L4" aria-label="Line 4">4</a>' in html
    assert 'id="L6"' in html and 'id="L7"' not in html  # six lines, no phantom line after the last newline
    assert '<span class="s2">"hello"</span>' in html
    assert 'href="/alice/harbour/-/raw/main/src/app.py"' in html
    assert 'href="/alice/harbour/-/blame/main/src/app.py"' in html
    assert "Add the app" in html  # its last commit


@pytest.mark.django_db
def test_markdown_blob_is_rendered_and_its_source_available(alice: User) -> None:
    harbour(alice)
    client = signed_in(alice)
    rendered = client.get("/alice/harbour/-/blob/main/README.md").content.decode()
    assert "<strong>ships</strong>" in rendered and "<script>alert" not in rendered
    source = client.get("/alice/harbour/-/blob/main/README.md?plain=1").content.decode()
    assert 'id="L1"' in source and "**ships**" in source and "<script>alert" not in source


@pytest.mark.django_db
def test_binary_and_large_files_are_not_rendered_inline(alice: User) -> None:
    project = harbour(alice)
    big = "x" * (1024 * 1024 + 10) + "\n"
    actions = [
        FileAction(action="create", path="blob.bin", content=b"\x00\x01\x02binary"),
        FileAction(action="create", path="big.txt", content=big.encode()),
    ]
    repos.commit_create(project=project, user=alice, branch="main", message="Data", actions=actions)
    client = signed_in(alice)
    binary = client.get("/alice/harbour/-/blob/main/blob.bin").content.decode()
    assert "binary file and is not shown" in binary and 'id="L1"' not in binary
    large = client.get("/alice/harbour/-/blob/main/big.txt").content.decode()
    assert "too large to show here" in large and 'id="L1"' not in large


@pytest.mark.django_db
def test_raw_is_plain_text_and_markup_is_a_download(alice: User) -> None:
    project = harbour(alice)
    files = {
        "page.html": "<html><script>alert(1)</script></html>\n",
        "logo.svg": '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>\n',
        "sneaky.txt": "<!DOCTYPE html><script>alert(1)</script>\n",
    }
    commit(project, alice, "main", files, "Markup")
    client = signed_in(alice)
    text = client.get("/alice/harbour/-/raw/main/src/app.py")
    assert text["Content-Type"] == "text/plain; charset=utf-8"
    assert text["Content-Disposition"].startswith("inline")
    assert text["X-Content-Type-Options"] == "nosniff"
    assert text.content == APP.encode()
    for name in files:
        response = client.get(f"/alice/harbour/-/raw/main/{name}")
        assert response["Content-Disposition"].startswith("attachment"), name
        assert "html" not in response["Content-Type"] and "svg" not in response["Content-Type"], name
        assert "sandbox" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_blame_shows_each_lines_commit(alice: User) -> None:
    project = harbour(alice)
    update(project, alice, "main", "src/lib/util.py", "X = 1\nY = 2\n", "Add Y")
    html = signed_in(alice).get("/alice/harbour/-/blame/main/src/lib/util.py").content.decode()
    assert html.count('class="blame-commit"') == 2
    assert re.search(r'<tr id="L1" class="blame-start">\s*<td class="blame-commit"[^>]*><a [^>]*>Add the app</a>', html)
    assert re.search(r'<tr id="L2" class="blame-start">\s*<td class="blame-commit"[^>]*><a [^>]*>Add Y</a>', html)


# --- commits --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_commits_list_is_paginated_and_filters_by_path(alice: User) -> None:
    project = harbour(alice)
    for i in range(22):
        update(project, alice, "main", "src/lib/util.py", f"X = {i + 2}\n", f"Bump X to {i + 2}")
    client = signed_in(alice)
    first = client.get("/alice/harbour/-/commits/main").content.decode()
    assert first.count('class="row-title"') == 20 and "Page 1 of 2" in first
    assert "Bump X to 23" in first and "Initial commit" not in first
    second = client.get("/alice/harbour/-/commits/main?page=2").content.decode()
    assert second.count('class="row-title"') == 5 and "Initial commit" in second
    only_readme = client.get("/alice/harbour/-/commits/main/README.md").content.decode()
    assert only_readme.count('class="row-title"') == 2 and "Write the README" in only_readme
    assert client.get("/alice/harbour/-/commits")["Location"] == "/alice/harbour/-/commits/main"


@pytest.mark.django_db
def test_commit_page_shows_a_readable_diff(alice: User) -> None:
    project = harbour(alice)
    sha = update(project, alice, "main", "src/app.py", APP.replace('"hello"', '"ahoy"') + "main()\n", "Say ahoy")
    html = signed_in(alice).get(f"/alice/harbour/-/commit/{sha}").content.decode()
    assert "<h1>Say ahoy</h1>" in html and sha in html
    assert "1 changed file" in html and "+2" in html and "\N{MINUS SIGN}1" in html
    assert 'href="#diff-src-app-py"' in html
    # Old and new line numbers, additions and deletions marked.
    assert re.search(r'<tr class="diff-del"><td class="ln">6</td><td class="ln"></td>.*?print\(&quot;hello&quot;', html)
    assert re.search(r'<tr class="diff-add"><td class="ln"></td><td class="ln">6</td>.*?print\(&quot;ahoy&quot;', html)
    assert re.search(r'<tr class="diff-add"><td class="ln"></td><td class="ln">7</td>.*?main\(\)', html)
    assert '<tr class="diff-context"><td class="ln">5</td><td class="ln">5</td>' in html
    # An abbreviated id works; an unknown one is a 404.
    assert signed_in(alice).get(f"/alice/harbour/-/commit/{sha[:8]}").status_code == 200
    assert signed_in(alice).get("/alice/harbour/-/commit/" + "0" * 40).status_code == 404


# --- branches and tags ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_branches_page_badges_and_delete(alice: User) -> None:
    project = harbour(alice)
    developer = make_user("dev")
    members.member_add(actor=alice, source=project, user=developer, access_level=30)
    client = signed_in(alice)
    html = client.get("/alice/harbour/-/branches").content.decode()
    main_row = html.split('href="/alice/harbour/-/tree/main"', 1)[1].split("</li>", 1)[0]
    assert "default" in main_row and "protected" in main_row
    assert 'aria-label="Delete branch feature/x"' in html
    assert 'aria-label="Delete branch main"' not in html  # the default branch cannot be deleted
    # A developer sees no delete button on a protected branch; the owner deletes through the service.
    repos.branch_create(project=project, user=alice, branch="release", ref="main")
    repos.protected_branch_create(project=project, name="release")
    dev_html = signed_in(developer).get("/alice/harbour/-/branches").content.decode()
    assert 'aria-label="Delete branch feature/x"' in dev_html
    assert 'aria-label="Delete branch release"' not in dev_html
    refused = signed_in(developer).post("/alice/harbour/-/branches", {"branch": "release"}, follow=True)
    assert b"Only a project maintainer or owner can delete a protected branch." in refused.content
    response = client.post("/alice/harbour/-/branches", {"branch": "feature/x"})
    assert response.status_code == 302 and response["Location"] == "/alice/harbour/-/branches"
    after = client.get("/alice/harbour/-/branches").content.decode()
    assert "Branch &#x27;feature/x&#x27; was deleted." in after and "/-/tree/feature/x" not in after
    assert Client().post("/alice/harbour/-/branches", {"branch": "release"}).status_code == 404


@pytest.mark.django_db
def test_tags_page_lists_tags_with_messages(alice: User) -> None:
    project = harbour(alice)
    repos.tag_create(project=project, user=alice, tag_name="v1.0", ref="main", message="First release")
    repos.tag_create(project=project, user=alice, tag_name="light", ref="feature/x")
    html = signed_in(alice).get("/alice/harbour/-/tags").content.decode()
    assert 'href="/alice/harbour/-/tree/v1.0"' in html and "First release" in html
    assert 'href="/alice/harbour/-/tree/light"' in html and "Feature work" in html
    tree = signed_in(alice).get("/alice/harbour/-/tree/v1.0/src").content.decode()
    assert '<option value="v1.0" selected>' in tree


# --- access and query budgets ---------------------------------------------------------------------

PAGES = [
    "/alice/harbour/-/tree/main",
    "/alice/harbour/-/tree/main/src",
    "/alice/harbour/-/blob/main/src/app.py",
    "/alice/harbour/-/raw/main/src/app.py",
    "/alice/harbour/-/blame/main/src/app.py",
    "/alice/harbour/-/commits/main",
    "/alice/harbour/-/branches",
    "/alice/harbour/-/tags",
]


@pytest.mark.django_db
def test_private_repository_pages_are_404_for_outsiders(alice: User) -> None:
    project = harbour(alice)
    sha = repos.commit_create(
        project=project,
        user=alice,
        branch="main",
        message="More",
        actions=[FileAction(action="create", path="more.txt", content=b"m\n")],
    )
    bob = make_user("bob")
    guest = make_user("guest")
    members.member_add(actor=alice, source=project, user=guest, access_level=10)
    urls = [*PAGES, f"/alice/harbour/-/commit/{sha}"]
    for client in (signed_in(bob), Client(), signed_in(guest)):
        for url in urls:
            response = client.get(url)
            assert response.status_code == 404, url
    # A guest sees the project but not its code, so neither the README nor the repository links.
    overview = signed_in(guest).get("/alice/harbour").content.decode()
    assert "ships" not in overview and "/-/tree" not in overview
    for url in urls:
        assert signed_in(alice).get(url).status_code == 200, url


@pytest.mark.django_db
def test_public_repository_pages_are_open_to_anonymous_visitors(alice: User) -> None:
    harbour(alice, visibility=Visibility.PUBLIC)
    for url in PAGES:
        assert Client().get(url).status_code == 200, url


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


@pytest.mark.django_db
@pytest.mark.parametrize("url", [*PAGES, "/alice/harbour"])
def test_repository_pages_run_a_bounded_number_of_queries(alice: User, url: str) -> None:
    project = harbour(alice)
    client = signed_in(alice)
    few = _queries(client, url)
    files = {f"src/gen_{i}.py": f"N = {i}\n" for i in range(15)}
    commit(project, alice, "main", files, "Many files")
    for i in range(12):
        update(project, alice, "main", "src/app.py", APP + f"# {i}\n", f"Edit {i}")
        repos.branch_create(project=project, user=alice, branch=f"topic-{i}", ref="main")
        repos.tag_create(project=project, user=alice, tag_name=f"v0.{i}", ref="main")
    many = _queries(client, url)
    assert many == few, f"{url}: {few} queries before, {many} with more files, commits, branches and tags"
    assert few <= 12
