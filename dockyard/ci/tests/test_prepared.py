"""Prepared queries give what the ORM gives, compile once per shape, and refuse what they can't reuse."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from dockyard.accounts import services as accounts
from dockyard.core.prepared import Prepared, padded, save_fields
from dockyard.namespaces import services as groups
from dockyard.projects import services as projects
from dockyard.projects.models import Project

pytestmark = pytest.mark.usefixtures("remove_repositories")


def _projects() -> list[Project]:
    owner = accounts.user_create(username="prep", email="prep@example.com", name="Prep")
    group = groups.group_create(actor=owner, name="Prep", path="prep-grp")
    return [projects.project_create(actor=owner, namespace=group, name=f"app{i}") for i in range(3)]


@pytest.mark.django_db
def test_rows_match_the_orm_and_one_compiled_shape_serves_every_value() -> None:
    made = _projects()
    by_id: Prepared[Project] = Prepared(
        lambda pk: Project.objects.select_related("namespace").filter(pk=pk, archived=False)[:1]
    )
    for project in made:
        with CaptureQueriesContext(connection) as ctx:
            found = by_id.one(project.pk)
        assert found is not None and found == project
        assert len(ctx.captured_queries) == 1  # the namespace came with it
        with CaptureQueriesContext(connection) as ctx:
            assert found.namespace.full_path == "prep-grp" and found.full_path == project.full_path
        assert not ctx.captured_queries
        assert found.created_at == Project.objects.get(pk=project.pk).created_at  # converters applied
    assert by_id.one(max(p.pk for p in made) + 100) is None
    assert len(by_id._shapes) == 1

    names: Prepared[tuple[int, str]] = Prepared(
        lambda ids, path: Project.objects.filter(pk__in=ids).exclude(path=path).order_by("id").values_list("id", "path")
    )
    ids = [p.pk for p in made]
    expected = list(Project.objects.filter(pk__in=ids).exclude(path="app1").order_by("id").values_list("id", "path"))
    assert names.all(padded(ids, 5), "app1") == expected == [(made[0].pk, "app0"), (made[2].pk, "app2")]
    assert names.all(padded(ids[:1], 5), "app1") == expected[:1]
    assert len(names._shapes) == 1  # padded lists keep one shape

    flat: Prepared[str] = Prepared(lambda paths: Project.objects.filter(path__in=paths).values_list("path", flat=True))
    assert sorted(flat.all(["app2", "app0", "nope"])) == ["app0", "app2"]


@pytest.mark.django_db
def test_refuses_arguments_it_cannot_reuse() -> None:
    _projects()
    pattern: Prepared[Project] = Prepared(lambda prefix: Project.objects.filter(path__startswith=prefix))
    with pytest.raises(ValueError, match="transformed"):
        pattern.all("app")  # the argument becomes a LIKE pattern, not a parameter
    unused: Prepared[Project] = Prepared(lambda pk: Project.objects.all())
    with pytest.raises(ValueError, match="not an SQL parameter"):
        unused.all(1)
    flag: Prepared[Project] = Prepared(lambda archived: Project.objects.filter(archived=archived))
    with pytest.raises(TypeError, match="booleans"):
        flag.all(True)
    prefetching: Prepared[Project] = Prepared(lambda pk: Project.objects.filter(pk=pk).prefetch_related("forks"))
    with pytest.raises(ValueError, match="prefetch"):
        prefetching.all(1)


@pytest.mark.django_db(transaction=True)
def test_locking_reads_need_a_transaction_where_the_database_locks() -> None:
    project = _projects()[0]
    locked: Prepared[Project] = Prepared(lambda pk: Project.objects.select_for_update().filter(pk=pk))
    with transaction.atomic():
        assert locked.all(project.pk) == [project]
    if connection.features.has_select_for_update:
        with pytest.raises(TransactionManagementError):
            locked.all(project.pk)


@pytest.mark.django_db
def test_save_fields_writes_only_the_named_fields() -> None:
    project = _projects()[0]
    stale = Project.objects.get(pk=project.pk)
    project.description = "new words"
    project.name = "renamed in memory only"
    with CaptureQueriesContext(connection) as ctx:
        save_fields(project, ["description"])
    assert len(ctx.captured_queries) == 1
    fresh: Any = Project.objects.get(pk=project.pk)
    assert fresh.description == "new words" and fresh.name == stale.name
