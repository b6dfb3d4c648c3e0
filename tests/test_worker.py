"""The embedded task worker sleeps while idle: what wakes it, and how long it sleeps."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from dockyard.config import worker


def _queued(*, run_after: dt.datetime | None = None, status: str = "READY") -> None:
    fields = {"run_after": run_after} if run_after is not None else {}
    DBTaskResult.objects.create(
        args_kwargs={"args": [], "kwargs": {}},
        task_path="dockyard.webhooks.tasks.hook_deliver",
        queue_name="default",
        backend_name="default",
        status=status,
        **fields,
    )


@pytest.mark.django_db(transaction=True)
def test_an_enqueue_wakes_the_worker_once_its_transaction_commits() -> None:
    worker._wakeup.clear()
    with transaction.atomic():
        worker._task_enqueued(sender=None)
        assert not worker._wakeup.is_set()  # the worker would not see the row yet
    assert worker._wakeup.is_set()

    worker._wakeup.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        worker._task_enqueued(sender=None)
        raise RuntimeError  # rolled back: there is nothing to run
    assert not worker._wakeup.is_set()

    worker._task_enqueued(sender=None)  # outside a transaction: at once
    assert worker._wakeup.is_set()


@pytest.mark.django_db
def test_an_idle_worker_sleeps_until_the_next_deferred_task_is_due() -> None:
    assert worker._until_next_deferred("default") == worker.IDLE_POLL
    _queued()  # not deferred: ready now, so the worker's own batch would have run it
    _queued(run_after=timezone.now() + dt.timedelta(hours=1))
    _queued(run_after=timezone.now() + dt.timedelta(seconds=2), status="SUCCESSFUL")
    assert worker._until_next_deferred("default") == worker.IDLE_POLL
    _queued(run_after=timezone.now() + dt.timedelta(seconds=3))
    assert 0 < worker._until_next_deferred("default") <= 3
    assert worker._until_next_deferred("other-backend") == worker.IDLE_POLL
