"""Expiring job artifacts: what the periodic pass deletes (rows and stored objects), what GitLab's "keep
artifacts from most recent successful jobs" keeps whatever the expiry, and what keep and delete change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dockyard.accounts import services as accounts
from dockyard.accounts.models import User
from dockyard.ci import services
from dockyard.ci.models import JobArtifact, Pipeline, Runner
from dockyard.core.storage import object_storage
from dockyard.namespaces import services as groups
from dockyard.projects import services as projects
from dockyard.projects.models import Project
from dockyard.repos.git import read as git_read

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("remove_repositories")]

YAML = 'build:\n  script: ["make"]\n  artifacts:\n    paths: [out/]\n'
PAST = timezone.now() - dt.timedelta(days=1)
FUTURE = timezone.now() + dt.timedelta(days=1)


@pytest.fixture
def owner() -> User:
    return accounts.user_create(username="ci-expiry", email="cix@example.com", name="CI")


@pytest.fixture
def project(owner: User) -> Project:
    group = groups.group_create(actor=owner, name="CI expiry", path="ci-expiry-grp")
    return projects.project_create(actor=owner, namespace=group, name="app", initialize_with_readme=True)


@pytest.fixture
def runner(owner: User) -> Runner:
    runner, _ = services.runner_create(actor=owner, runner_type="instance_type")
    return runner


@pytest.fixture
def run(project: Project, runner: Runner) -> Callable[..., JobArtifact]:
    """Runs a one-job pipeline on ``ref`` to ``status`` and returns its uploaded archive, stored for real."""
    sha = git_read.Repository(project.id).resolve("refs/heads/main")

    def run(*, ref: str = "main", status: str = "success", expire_at: dt.datetime | None = PAST) -> JobArtifact:
        pipeline = services.pipeline_create(
            project=project, user=project.creator, ref=ref, sha=sha, tag=False, source="push", content=YAML
        )
        assert pipeline is not None
        assignment = services.job_request(runner=runner, manager=None)
        assert assignment is not None and assignment.job.pipeline_id == pipeline.pk
        artifact = _upload(assignment.job, file_type="archive", expire_at=expire_at)
        services.job_finish(job=assignment.job, status=status, exit_code=0 if status == "success" else 1)
        assert Pipeline.objects.get(pk=pipeline.pk).status == status
        return artifact

    return run


def _upload(job: Any, *, file_type: str, expire_at: dt.datetime | None) -> JobArtifact:
    key = services.artifact_key(job=job, file_type=file_type)
    with object_storage().open_write(key) as writer:
        writer.write(b"PK\x05\x06" + bytes(18))
        writer.commit()
    return JobArtifact.objects.create(
        job=job, project_id=job.project_id, file_type=file_type, filename="artifacts.zip",
        storage_key=key, size=22, sha256="0" * 64, expire_at=expire_at,
    )  # fmt: skip


def _present(artifact: JobArtifact) -> bool:
    """The row and its object are both there; asserted together so neither outlives the other."""
    row = JobArtifact.objects.filter(pk=artifact.pk).exists()
    stored = object_storage().exists(artifact.storage_key)
    assert row == stored, f"row {row}, object {stored}"
    return row


def _expire(capture: Callable[..., Any], **kwargs: Any) -> int:
    """One expiry pass, with the object removals that run once its transactions commit."""
    with capture(execute=True):
        return services.artifacts_destroy_expired(**kwargs)


def test_expired_artifacts_go_and_the_latest_successful_pipeline_keeps_its_own(
    run: Callable[..., JobArtifact], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    first = run()
    report = _upload(first.job, file_type="junit", expire_at=FUTURE)
    never = _upload(first.job, file_type="dotenv", expire_at=None)
    second = run()
    other_ref = run(ref="release")

    assert _expire(django_capture_on_commit_callbacks) == 1
    assert not _present(first)  # expired, and a newer pipeline of main succeeded
    assert _present(report) and _present(never)  # not expired yet, or never
    assert _present(second)  # expired, but main's latest successful pipeline keeps it
    assert _present(other_ref)  # the latest of its own ref

    # Once a newer pipeline of main succeeds, the one before it is an ordinary expired one.
    third = run()
    assert _expire(django_capture_on_commit_callbacks) == 1
    assert not _present(second)
    assert _present(third) and _present(other_ref)
    assert _expire(django_capture_on_commit_callbacks) == 0


def test_failed_pipelines_keep_theirs_only_until_a_newer_one_of_the_ref_finishes(
    run: Callable[..., JobArtifact], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    succeeded = run()
    failed = run(status="failed")
    assert _expire(django_capture_on_commit_callbacks) == 0  # the latest success, and the latest (retryable)

    failed_again = run(status="failed")
    assert _expire(django_capture_on_commit_callbacks) == 1
    assert not _present(failed)
    assert _present(succeeded) and _present(failed_again)


def test_keep_clears_the_expiry_and_deleting_a_project_s_artifacts_expires_all_but_the_latest(
    run: Callable[..., JobArtifact], project: Project, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    kept = run()
    latest = run(expire_at=FUTURE)

    services.artifacts_keep(job=kept.job)
    assert JobArtifact.objects.get(pk=kept.pk).expire_at is None
    assert _expire(django_capture_on_commit_callbacks) == 0
    assert _present(kept)

    # ``DELETE /projects/:id/artifacts``: kept ones too expire now; the latest pipeline's stay as they were.
    assert services.artifacts_expire_project(project=project) == 1
    assert JobArtifact.objects.get(pk=latest.pk).expire_at == latest.expire_at
    assert _expire(django_capture_on_commit_callbacks) == 1
    assert not _present(kept) and _present(latest)


def test_deleting_a_job_s_artifacts_removes_objects_only_once_the_rows_are_committed(
    run: Callable[..., JobArtifact], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    artifact = run(expire_at=None)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.artifacts_delete(job=artifact.job)
    assert not JobArtifact.objects.filter(job=artifact.job).exists()
    assert object_storage().exists(artifact.storage_key)  # not before the commit...
    for callback in callbacks:
        callback()
    assert not object_storage().exists(artifact.storage_key)  # ...but right after it


def test_an_expiry_pass_works_in_bounded_batches_whose_queries_do_not_grow_with_the_rows(
    run: Callable[..., JobArtifact], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    def expire_queries(rows: int) -> int:
        artifacts = [run() for _ in range(rows)]
        run()  # releases them all (and the one that released the previous round), as main's latest success
        stored = JobArtifact.objects.count()
        with CaptureQueriesContext(connection) as ctx:
            assert _expire(django_capture_on_commit_callbacks, batch_size=100) == stored - 1
        assert not any(_present(a) for a in artifacts)
        assert JobArtifact.objects.count() == 1
        return len(ctx.captured_queries)

    assert expire_queries(1) == expire_queries(6)

    many = [run() for _ in range(4)]
    run()
    # Two rows a batch, at most two batches a pass: the rest waits for the next pass (four from this
    # round, and the previous round's latest success).
    assert _expire(django_capture_on_commit_callbacks, batch_size=2, max_batches=2) == 4
    assert _expire(django_capture_on_commit_callbacks, batch_size=2, max_batches=2) == 1
    assert not any(_present(a) for a in many)
