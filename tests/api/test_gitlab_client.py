"""The foundation driven end to end by the real python-gitlab client against a live ``dockyard serve``."""

from __future__ import annotations

import secrets
import urllib.parse

import gitlab
import pytest
import requests

from tests.live import LiveServer

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def _user(root: gitlab.Gitlab, prefix: str = "user") -> tuple[gitlab.v4.objects.User, gitlab.Gitlab]:
    """A new user and a python-gitlab client holding a token of theirs."""
    username = _name(prefix)
    user = root.users.create(
        {"username": username, "email": f"{username}@example.com", "name": username.title(), "password": "s3cret-pass"}
    )
    token = user.personal_access_tokens.create({"name": "test", "scopes": ["api"]})
    client = gitlab.Gitlab(root.url, private_token=token.token)
    client.auth()
    return user, client


def test_root_authenticates_with_the_seeded_token(root: gitlab.Gitlab) -> None:
    assert root.user is not None
    assert root.user.username == "root"
    assert root.user.is_admin is True
    version, revision = root.version()
    assert version.count(".") == 2 and revision


def test_users_groups_subgroups_projects_members_and_deletion(root: gitlab.Gitlab) -> None:
    alice, alice_gl = _user(root, "alice")
    members = {level: _user(root, f"m{level}") for level in (GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER)}

    top = root.groups.create({"name": _name("Top"), "path": _name("top")})
    sub = root.groups.create({"name": "Sub", "path": "sub", "parent_id": top.id})
    subsub = root.groups.create({"name": "Deep", "path": "deep", "parent_id": sub.id})
    assert subsub.full_path == f"{top.path}/sub/deep"
    assert [g.id for g in top.subgroups.list(get_all=True)] == [sub.id]

    in_group = root.projects.create({"name": "Service", "namespace_id": subsub.id})
    assert in_group.path_with_namespace == f"{top.path}/sub/deep/service"
    personal = alice_gl.projects.create({"name": "Personal Project"})
    assert personal.path_with_namespace == f"{alice.username}/personal-project"
    assert personal.owner["username"] == alice.username

    # Memberships at every level on the top group are inherited by the project three levels down.
    for level, (user, _) in members.items():
        top.members.create({"user_id": user.id, "access_level": level})
    direct = {m.username: m.access_level for m in top.members.list(get_all=True)}
    assert {direct[u.username] for u, _ in members.values()} == {GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER}
    inherited = {m.username: m.access_level for m in in_group.members_all.list(get_all=True)}
    for level, (user, _) in members.items():
        assert inherited[user.username] == level
    assert in_group.members.list(get_all=True) == [] or all(
        m.username == "root" for m in in_group.members.list(get_all=True)
    )

    # Each member sees the private project through the inherited membership.
    for level, (_, client) in members.items():
        seen = client.projects.get(in_group.path_with_namespace)
        assert seen.id == in_group.id
        assert seen.permissions["group_access"]["access_level"] == level

    # Fetch by URL-encoded full path, and by id.
    by_path = root.projects.get(f"{top.path}/sub/deep/service")
    assert by_path.id == in_group.id
    assert root.groups.get(f"{top.path}/sub").id == sub.id

    # Deleting the top group takes its subgroups and projects with it.
    root.groups.delete(top.id)
    with pytest.raises(gitlab.GitlabGetError) as err:
        root.projects.get(in_group.id)
    assert err.value.response_code == 404
    with pytest.raises(gitlab.GitlabGetError):
        root.groups.get(sub.id)
    alice_gl.projects.delete(personal.id)
    root.users.delete(alice.id)
    with pytest.raises(gitlab.GitlabGetError):
        root.users.get(alice.id)


def test_pages_through_more_than_a_hundred_projects(root: gitlab.Gitlab) -> None:
    group = root.groups.create({"name": _name("Many"), "path": _name("many")})
    for i in range(105):
        root.projects.create({"name": f"p{i:03d}", "namespace_id": group.id})

    pages = group.projects.list(per_page=100, page=1)
    assert len(pages) == 100
    everything = group.projects.list(get_all=True, per_page=100)
    assert sorted(p.name for p in everything) == [f"p{i:03d}" for i in range(105)]
    listing = group.projects.list(iterator=True, per_page=40)
    assert listing.total == 105 and listing.total_pages == 3

    # Keyset pagination, as GitLab offers for projects ordered by id.
    keyset = list(root.projects.list(iterator=True, pagination="keyset", order_by="id", sort="asc", per_page=50))
    ids = [p.id for p in keyset]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) and len(ids) >= 105

    root.groups.delete(group.id)


def test_outsider_reporter_and_blocked_user(root: gitlab.Gitlab) -> None:
    group = root.groups.create({"name": _name("Priv"), "path": _name("priv")})
    project = root.projects.create({"name": "secret", "namespace_id": group.id, "visibility": "private"})
    _, outsider = _user(root, "outsider")
    reporter, reporter_gl = _user(root, "reporter")
    project.members.create({"user_id": reporter.id, "access_level": REPORTER})

    # An outsider cannot tell the private project from a missing one.
    with pytest.raises(gitlab.GitlabGetError) as missing:
        outsider.projects.get(project.id)
    assert missing.value.response_code == 404
    assert missing.value.error_message == "404 Project Not Found"
    with pytest.raises(gitlab.GitlabGetError) as by_path:
        outsider.projects.get(project.path_with_namespace)
    assert by_path.value.response_code == 404
    assert project.id not in [p.id for p in outsider.projects.list(get_all=True)]

    # A reporter sees it but may not edit it.
    seen = reporter_gl.projects.get(project.id)
    seen.description = "changed"
    with pytest.raises(gitlab.GitlabUpdateError) as forbidden:
        seen.save()
    assert forbidden.value.response_code == 403
    assert root.projects.get(project.id).description in ("", None)

    # A blocked user's token is refused; unblocking restores it.
    blocked, blocked_gl = _user(root, "blocked")
    blocked.block()
    with pytest.raises(gitlab.GitlabAuthenticationError):
        blocked_gl.auth()
    blocked.unblock()
    blocked_gl.auth()
    root.groups.delete(group.id)


def test_public_and_internal_visibility(root: gitlab.Gitlab, live_server: LiveServer) -> None:
    group = root.groups.create({"name": _name("Open"), "path": _name("open"), "visibility": "public"})
    public = root.projects.create({"name": "pub", "namespace_id": group.id, "visibility": "public"})
    internal = root.projects.create({"name": "int", "namespace_id": group.id, "visibility": "internal"})
    anonymous = gitlab.Gitlab(live_server.url)
    assert anonymous.projects.get(public.id).name == "pub"
    with pytest.raises(gitlab.GitlabGetError):
        anonymous.projects.get(internal.id)
    _, someone = _user(root, "someone")
    assert someone.projects.get(internal.id).name == "int"
    # A project may not be more open than its group.
    private_group = root.groups.create({"name": _name("Closed"), "path": _name("closed")})
    with pytest.raises(gitlab.GitlabCreateError) as err:
        root.projects.create({"name": "x", "namespace_id": private_group.id, "visibility": "public"})
    assert err.value.response_code == 400
    root.groups.delete(group.id)
    root.groups.delete(private_group.id)


def test_personal_access_tokens_revoke_rotate_and_scopes(root: gitlab.Gitlab, live_server: LiveServer) -> None:
    user, client = _user(root, "tok")
    own_secret = client.private_token
    own = client.personal_access_tokens.get("self")
    assert own.scopes == ["api"] and own.active is True

    # read_api tokens may read but not write.
    reader = user.personal_access_tokens.create({"name": "reader", "scopes": ["read_api"]})
    assert reader.token.startswith("glpat-")
    read_only = gitlab.Gitlab(live_server.url, private_token=reader.token)
    read_only.auth()
    with pytest.raises(gitlab.GitlabCreateError) as scope_err:
        read_only.projects.create({"name": "nope"})
    assert scope_err.value.response_code == 403

    # Rotation returns a new secret that works.
    rotated = client.personal_access_tokens.rotate("self")
    assert rotated["token"].startswith("glpat-") and rotated["token"] != own_secret
    client = gitlab.Gitlab(live_server.url, private_token=rotated["token"])
    client.auth()

    # Presenting the rotated-away secret again means it leaked: it fails, and its successor is revoked too.
    reuse = gitlab.Gitlab(live_server.url, private_token=own_secret)
    with pytest.raises(gitlab.GitlabAuthenticationError):
        reuse.auth()
    with pytest.raises(gitlab.GitlabAuthenticationError):
        client.auth()
    fresh = user.personal_access_tokens.create({"name": "after-reuse", "scopes": ["api"]})
    client = gitlab.Gitlab(live_server.url, private_token=fresh.token)
    client.auth()
    rotated = client.personal_access_tokens.rotate("self")
    client = gitlab.Gitlab(live_server.url, private_token=rotated["token"])

    # Revocation: the token stops working at once.
    client.personal_access_tokens.delete(rotated["id"])
    with pytest.raises(gitlab.GitlabAuthenticationError):
        client.auth()

    # Another user's token is invisible, not forbidden.
    _, other = _user(root, "other")
    with pytest.raises(gitlab.GitlabGetError) as err:
        other.personal_access_tokens.get(reader.id)
    assert err.value.response_code == 404


def test_sudo_acts_as_another_user(root: gitlab.Gitlab, live_server: LiveServer) -> None:
    user, client = _user(root, "sudo")
    as_user = gitlab.Gitlab(live_server.url, private_token=live_server.root_token)
    as_user.headers["Sudo"] = user.username
    as_user.auth()
    assert as_user.user is not None and as_user.user.username == user.username
    # A non-admin may not use sudo.
    client.headers["Sudo"] = "root"
    with pytest.raises(gitlab.GitlabGetError) as err:
        client.auth()
    assert err.value.response_code == 403
    assert err.value.error_message == "403 Forbidden - Must be admin to use sudo"


class TestWireShapes:
    """Status codes, headers and error bodies as GitLab clients expect them (plain HTTP)."""

    def test_unknown_route_and_bad_token(self, live_server: LiveServer) -> None:
        r = requests.get(f"{live_server.url}/api/v4/no/such/route", timeout=10)
        assert r.status_code == 404 and r.json() == {"error": "404 Not Found"}
        r = requests.get(f"{live_server.url}/api/v4/user", headers={"PRIVATE-TOKEN": "glpat-wrong"}, timeout=10)
        assert r.status_code == 401 and r.json() == {"message": "401 Unauthorized"}
        r = requests.get(f"{live_server.url}/api/v4/user", timeout=10)
        assert r.status_code == 401
        r = requests.patch(f"{live_server.url}/api/v4/version", timeout=10)
        assert r.status_code == 405 and r.json() == {"message": "405 Method Not Allowed"}
        r = requests.get(
            f"{live_server.url}/api/v4/user", headers={"Authorization": f"Bearer {live_server.root_token}"}, timeout=10
        )
        assert r.status_code == 200 and r.json()["username"] == "root"
        r = requests.get(f"{live_server.url}/api/v4/user", params={"private_token": live_server.root_token}, timeout=10)
        assert r.status_code == 200

    def test_validation_errors_change_nothing(self, live_server: LiveServer) -> None:
        auth = {"PRIVATE-TOKEN": live_server.root_token}
        api = f"{live_server.url}/api/v4"
        r = requests.post(f"{api}/groups", json={"path": "x"}, headers=auth, timeout=10)
        assert r.status_code == 400 and r.json() == {"error": "name is missing"}
        r = requests.post(f"{api}/groups", json={"name": "Bad", "path": "-bad-"}, headers=auth, timeout=10)
        assert r.status_code == 400 and "path" in r.json()["message"]
        path = _name("dup")
        assert (
            requests.post(f"{api}/groups", data={"name": path, "path": path}, headers=auth, timeout=10).status_code
            == 201
        )
        r = requests.post(f"{api}/groups", data={"name": path, "path": path}, headers=auth, timeout=10)
        assert r.status_code == 400 and r.json()["message"]["path"] == ["has already been taken"]
        r = requests.post(
            f"{api}/users", json={"username": "x", "email": "not-an-email", "name": "X"}, headers=auth, timeout=10
        )
        assert r.status_code == 400 and r.json()["message"]["email"] == ["is invalid"]
        assert requests.get(f"{api}/users", params={"username": "x"}, headers=auth, timeout=10).json() == []
        r = requests.post(f"{api}/projects", json={"name": "v", "visibility": "secret"}, headers=auth, timeout=10)
        assert r.status_code == 400 and r.json() == {"error": "visibility does not have a valid value"}

    def test_pagination_headers(self, live_server: LiveServer, root: gitlab.Gitlab) -> None:
        group = root.groups.create({"name": _name("Pg"), "path": _name("pg")})
        for i in range(3):
            root.projects.create({"name": f"q{i}", "namespace_id": group.id})
        r = requests.get(
            f"{live_server.url}/api/v4/groups/{group.id}/projects",
            params={"per_page": 2, "page": 1},
            headers={"PRIVATE-TOKEN": live_server.root_token},
            timeout=10,
        )
        assert r.status_code == 200 and len(r.json()) == 2
        h = r.headers
        assert (h["X-Total"], h["X-Total-Pages"], h["X-Page"], h["X-Per-Page"]) == ("3", "2", "1", "2")
        assert (h["X-Next-Page"], h["X-Prev-Page"]) == ("2", "")
        assert 'rel="next"' in h["Link"] and 'rel="last"' in h["Link"]
        next_url = r.links["next"]["url"]
        assert next_url.startswith(live_server.url) and "private_token" not in next_url
        root.groups.delete(group.id)

    def test_health_metrics_and_openapi(self, live_server: LiveServer) -> None:
        assert requests.get(f"{live_server.url}/-/health", timeout=10).text == "GitLab OK"
        assert requests.get(f"{live_server.url}/-/liveness", timeout=10).json()["status"] == "ok"
        ready = requests.get(f"{live_server.url}/-/readiness", timeout=10)
        assert ready.status_code == 200 and ready.json()["db_check"][0]["status"] == "ok"
        requests.get(f"{live_server.url}/api/v4/projects", timeout=10)
        metrics = requests.get(f"{live_server.url}/-/metrics", timeout=10).text
        assert 'dockyard_http_requests_total{method="GET",route="/api/v4/projects",status="200"}' in metrics
        spec = requests.get(f"{live_server.url}/api/v4/openapi.json", timeout=10).json()
        assert "/api/v4/projects/{project_id}" in spec["paths"]
        assert "X-Request-Id" in requests.get(f"{live_server.url}/-/health", timeout=10).headers

    def test_encoded_paths_route_as_one_segment(self, live_server: LiveServer, root: gitlab.Gitlab) -> None:
        group = root.groups.create({"name": _name("Enc"), "path": _name("enc")})
        project = root.projects.create({"name": "thing", "namespace_id": group.id})
        encoded = urllib.parse.quote(project.path_with_namespace, safe="")
        r = requests.get(
            f"{live_server.url}/api/v4/projects/{encoded}/members/all",
            headers={"PRIVATE-TOKEN": live_server.root_token},
            timeout=10,
        )
        assert r.status_code == 200
        root.groups.delete(group.id)
