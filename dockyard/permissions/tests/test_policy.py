"""The permission module's rules: inheritance down the group tree, visibility, admins, blocked users."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone

from dockyard.accounts import services as accounts
from dockyard.accounts.models import User
from dockyard.core.visibility import Visibility
from dockyard.namespaces import services as groups
from dockyard.namespaces.models import Namespace
from dockyard.permissions import policy, services
from dockyard.permissions.models import AccessLevel
from dockyard.projects import services as projects
from dockyard.projects.models import Project

pytestmark = pytest.mark.django_db


def _user(name: str, *, is_admin: bool = False, external: bool = False) -> User:
    return accounts.user_create(
        username=name, email=f"{name}@example.com", name=name, is_admin=is_admin, external=external
    )


@dataclass
class Tree:
    owner: User
    top: Namespace
    mid: Namespace
    leaf: Namespace
    project: Project


@pytest.fixture
def tree() -> Tree:
    owner = _user("owner")
    top = groups.group_create(actor=owner, name="Top", path="top")
    mid = groups.group_create(actor=owner, name="Mid", path="mid", parent=top)
    leaf = groups.group_create(actor=owner, name="Leaf", path="leaf", parent=mid)
    project = projects.project_create(actor=owner, namespace=leaf, name="App")
    return Tree(owner, top, mid, leaf, project)


def test_levels_are_inherited_down_the_tree_and_the_highest_wins(tree: Tree) -> None:
    owner, top, mid, project = tree.owner, tree.top, tree.mid, tree.project
    dev = _user("dev")
    services.member_add(actor=owner, source=top, user=dev, access_level=AccessLevel.REPORTER)
    services.member_add(actor=owner, source=mid, user=dev, access_level=AccessLevel.DEVELOPER)
    assert policy.project_access_level(dev, project) == AccessLevel.DEVELOPER
    assert policy.can(dev, "read_project", project)
    assert not policy.can(dev, "admin_project", project)
    assert list(policy.visible_projects(dev)) == [project]
    assert policy.namespace_access_level(dev, top) == AccessLevel.REPORTER


def test_members_of_a_subgroup_see_the_groups_above_but_not_their_private_siblings(tree: Tree) -> None:
    owner, top, leaf = tree.owner, tree.top, tree.leaf
    sibling = groups.group_create(actor=owner, name="Other", path="other", parent=top)
    hidden = projects.project_create(actor=owner, namespace=sibling, name="Hidden")
    guest = _user("guest")
    services.member_add(actor=owner, source=leaf, user=guest, access_level=AccessLevel.GUEST)
    visible = set(policy.visible_namespaces(guest).values_list("path", flat=True))
    assert visible == {"top", "mid", "leaf"}
    assert not policy.can_read_project(guest, hidden)


def test_visibility_levels_for_anonymous_signed_in_and_external_users(tree: Tree) -> None:
    owner = tree.owner
    ns = owner.namespace
    public = projects.project_create(actor=owner, namespace=ns, name="Pub", visibility=Visibility.PUBLIC)
    internal = projects.project_create(actor=owner, namespace=ns, name="Int", visibility=Visibility.INTERNAL)
    private = projects.project_create(actor=owner, namespace=ns, name="Priv")
    someone, external = _user("someone"), _user("ext", external=True)
    assert set(policy.visible_projects(None)) == {public}
    assert set(policy.visible_projects(someone)) == {public, internal}
    assert set(policy.visible_projects(external)) == {public}
    assert private in set(policy.visible_projects(owner))


def test_admins_may_do_anything_and_blocked_users_nothing(tree: Tree) -> None:
    owner, project = tree.owner, tree.project
    admin = _user("boss", is_admin=True)
    assert policy.can(admin, "remove_project", project)
    accounts.user_block(user=owner, actor=admin)
    owner.refresh_from_db()
    assert not policy.can(owner, "read_project", project)
    assert policy.project_access_level(owner, project) == 0


def test_expired_memberships_grant_nothing(tree: Tree) -> None:
    owner, project = tree.owner, tree.project
    temp = _user("temp")
    membership = services.member_add(actor=owner, source=project, user=temp, access_level=AccessLevel.DEVELOPER)
    membership.expires_at = timezone.now().date() - dt.timedelta(days=1)
    membership.save()
    policy.forget(temp)
    assert not policy.can_read_project(temp, project)


def test_a_group_keeps_its_last_owner(tree: Tree) -> None:
    from dockyard.core.errors import DockyardError

    owner, top = tree.owner, tree.top
    with pytest.raises(DockyardError):
        services.member_remove(actor=owner, source=top, user=owner)


def test_renaming_a_group_rewrites_every_path_below_it(tree: Tree) -> None:
    top, leaf, project = tree.top, tree.leaf, tree.project
    groups.group_update(group=top, path="renamed", name="Renamed")
    leaf.refresh_from_db()
    assert leaf.full_path == "renamed/mid/leaf"
    assert leaf.full_name == "Renamed / Mid / Leaf"
    project.refresh_from_db()
    assert project.full_path == "renamed/mid/leaf/app"
