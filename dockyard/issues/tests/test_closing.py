"""GitLab's default closing pattern and per-project internal ids."""

from __future__ import annotations

import pytest

from dockyard.accounts import services as accounts
from dockyard.core.human_time import format_duration, parse_duration
from dockyard.issues import selectors, services
from dockyard.namespaces import services as groups
from dockyard.projects import services as projects


def test_durations() -> None:
    assert parse_duration("1w 2d 3h") == (5 * 8 + 2 * 8 + 3) * 3600
    assert parse_duration("1h30m") == 5400
    assert parse_duration("-30m") == -1800
    assert parse_duration("1mo") == 4 * 5 * 8 * 3600
    assert parse_duration("soon") is None
    assert format_duration(5400) == "1h 30m"
    assert format_duration(0) is None


@pytest.mark.django_db
def test_closing_references() -> None:
    owner = accounts.user_create(username="closer", email="c@example.com", name="C")
    group = groups.group_create(actor=owner, name="Grp", path="grp")
    project = projects.project_create(actor=owner, namespace=group, name="one")
    other = projects.project_create(actor=owner, namespace=group, name="two")
    made = [services.issue_create(actor=owner, project=project, title=f"t{i}") for i in range(6)]
    remote = services.issue_create(actor=owner, project=other, title="remote")

    def iids(text: str) -> list[tuple[str, int]]:
        return [(i.project.path, i.iid) for i in selectors.closing_issue_references(text, project, viewer=owner)]

    assert iids("Closes #1") == [("one", 1)]
    assert iids("fixes #3, #4 and #2") == [("one", 3), ("one", 4), ("one", 2)]
    assert iids("Resolves grp/two#1") == [("two", remote.iid)]
    assert iids("Implements #5\n\nAlso closed: #6") == [("one", 5), ("one", 6)]
    assert iids(f"Fixes http://host/grp/one/-/issues/{made[1].iid}") == [("one", 2)]
    assert iids("See #1, mentions #2") == []
    assert iids("Closes #99") == []
    assert iids("closing #1 fixed #2") == [("one", 1), ("one", 2)]


@pytest.mark.django_db
def test_iids_are_per_project_and_consecutive() -> None:
    owner = accounts.user_create(username="iid", email="i@example.com", name="I")
    a = projects.project_create(actor=owner, namespace=owner.namespace, name="a")
    b = projects.project_create(actor=owner, namespace=owner.namespace, name="b")
    assert [projects.iid_next(project=a, usage="issues") for _ in range(3)] == [1, 2, 3]
    assert projects.iid_next(project=b, usage="issues") == 1
    assert projects.iid_next(project=a, usage="milestones") == 1
