"""The Fork button, the fork form and the "Forked from" line, through Django's test client."""

from __future__ import annotations

import secrets

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dockyard.core.visibility import Visibility
from dockyard.namespaces import services as groups
from dockyard.projects import services as projects
from dockyard.projects.models import Project
from tests.web.test_pages import make_user, signed_in
from tests.web.test_repository_pages import _own_repositories  # noqa: F401  # autouse: storage per test


@pytest.mark.django_db
def test_fork_button_form_and_forked_from_line() -> None:
    alice, bob = make_user("alice"), make_user("bob")
    source = projects.project_create(
        actor=alice,
        namespace=alice.namespace,
        name="Harbour",
        visibility=Visibility.PUBLIC,
        initialize_with_readme=True,
    )
    page = "/alice/harbour"
    form = "/alice/harbour/-/forks/new"
    assert b"/-/forks/new" not in Client().get(page).content  # signed out: no Fork button
    client = signed_in(bob)
    assert f'href="{form}"'.encode() in client.get(page).content

    shown = client.get(form)
    assert shown.status_code == 200
    assert b'<option value="%d" selected>bob (personal)</option>' % bob.namespace.pk in shown.content
    assert b'value="harbour"' in shown.content

    done = client.post(
        form, {"namespace_id": bob.namespace.pk, "name": "Harbour", "path": "harbour", "visibility": "public"}
    )
    assert done.status_code == 302 and done["Location"] == "/bob/harbour"
    fork = Project.objects.get(namespace=bob.namespace, path="harbour")
    assert fork.forked_from_id == source.pk
    forked_page = client.get("/bob/harbour").content.decode()
    assert 'Forked from <a href="/alice/harbour">Alice / Harbour</a>' in forked_page
    assert "README.md" in forked_page  # the fork has the source's files
    assert 'aria-label="1 fork"' in client.get(page).content.decode()

    again = client.post(form, {"namespace_id": bob.namespace.pk, "name": "Harbour", "path": "harbour"})
    assert again.status_code == 400 and b"has already been taken" in again.content


@pytest.mark.django_db
def test_fork_form_is_404_for_who_cannot_see_the_code() -> None:
    alice, bob = make_user("alice"), make_user("bob")
    projects.project_create(actor=alice, namespace=alice.namespace, name="Secret", visibility=Visibility.PRIVATE)
    assert signed_in(bob).get("/alice/secret/-/forks/new").status_code == 404
    assert Client().get("/alice/secret/-/forks/new").status_code == 302  # to sign in


@pytest.mark.django_db
def test_fork_form_namespace_choices_keep_a_fixed_number_of_queries() -> None:
    alice, bob = make_user("alice"), make_user("bob")
    projects.project_create(actor=alice, namespace=alice.namespace, name="Harbour", visibility=Visibility.PUBLIC)
    client = signed_in(bob)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/alice/harbour/-/forks/new").status_code == 200
        return len(ctx.captured_queries)

    def add_groups(n: int) -> None:
        for _ in range(n):
            name = f"g{secrets.token_hex(3)}"
            groups.group_create(actor=bob, name=name, path=name)

    add_groups(1)
    count()
    small = count()
    add_groups(5)
    assert count() == small
