"""What a push brought: commit counts for new refs ignore the new ref itself, HEAD and internal refs."""

from __future__ import annotations

import pytest

from dockyard.accounts import services as accounts
from dockyard.projects import services as projects
from dockyard.repos import git
from dockyard.repos.git.admin import ZERO_SHA
from dockyard.repos.git.read import Repository
from dockyard.repos.git.write import update_ref

pytestmark = pytest.mark.django_db


def test_first_push_counts_its_commits_despite_head_and_pipeline_refs() -> None:
    owner = accounts.user_create(username="counter", email="counter@example.com", name="Counter")
    project = projects.project_create(
        actor=owner, namespace=owner.namespace, name="counted", initialize_with_readme=True
    )
    head = git.default_branch_of(project.id)
    assert head == "main"
    sha = Repository(project.id).resolve("refs/heads/main")
    assert sha is not None
    # HEAD names main: the first push of main brought its one commit.
    assert git.commit_count(project.id, ZERO_SHA, sha, ref="refs/heads/main") == 1
    # A pipeline ref at the same commit must not hide it either.
    update_ref(project.id, "refs/pipelines/1", sha, ZERO_SHA)
    assert git.commit_count(project.id, ZERO_SHA, sha, ref="refs/heads/main") == 1
    # A new branch at a commit another branch already has brought nothing new.
    update_ref(project.id, "refs/heads/copy", sha, ZERO_SHA)
    assert git.commit_count(project.id, ZERO_SHA, sha, ref="refs/heads/copy") == 0
