"""Running background tasks: an embedded worker thread inside ``dockyard serve``, or ``dockyard worker``.

The embedded worker does not poll on a short interval: an idle ``dockyard serve`` spent about 3 % of a
core asking the database for tasks twice a second (decision 0004). It drains the queue, then sleeps
until a task is enqueued in this process (the usual case: requests and tasks of this server enqueue
them), until the next deferred task is due (webhook retries), or at the latest ``IDLE_POLL`` seconds,
which bounds the delay for tasks enqueued by another process (``dockyard manage``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from dockyard.core.logging import get_logger

log = get_logger("dockyard.worker")
_started = threading.Event()
_wakeup = threading.Event()
IDLE_POLL = 10.0


def _worker(interval: float, *, batch: bool = False):  # type: ignore[no-untyped-def]  # django_tasks_db's Worker is untyped
    from django_tasks_db.management.commands.db_worker import Worker

    return Worker(
        queue_names=["*"],
        interval=interval,
        batch=batch,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"[:64],
        excluded_queue_names=[],
    )


def _task_enqueued(sender: object, **kwargs: Any) -> None:
    from django.db import transaction

    # The worker sees the task once the enqueueing transaction commits (at once outside a transaction).
    transaction.on_commit(_wakeup.set)


def _until_next_deferred(backend_name: str) -> float:
    """Seconds until the earliest deferred task is due, at most :data:`IDLE_POLL`."""
    from django.utils import timezone
    from django_tasks_db.compat import TaskResultStatus
    from django_tasks_db.models import DBTaskResult, get_date_max

    now = timezone.now()
    due = (
        DBTaskResult.objects.filter(backend_name=backend_name, status=TaskResultStatus.READY, run_after__gt=now)
        .exclude(run_after=get_date_max())
        .order_by("run_after")
        .values_list("run_after", flat=True)
        .first()
    )
    return IDLE_POLL if due is None else min(IDLE_POLL, max(0.0, (due - now).total_seconds()))


def _run_embedded(worker: Any) -> None:
    from django.db import close_old_connections

    while True:
        _wakeup.clear()  # before looking: an enqueue from now on wakes the wait below
        try:
            worker.run()  # batch mode: runs every ready task, returns once none is left
            wait = _until_next_deferred(worker.backend_name)
        except Exception:
            log.exception("embedded_worker_failed")  # the database went away: try again later
            wait = IDLE_POLL
        close_old_connections()
        _wakeup.wait(wait)


def _periodic(interval: float) -> None:
    """Work that runs on a clock rather than on an event: the due pipeline schedules, then expired job
    artifacts. Every worker runs it; what it does is claimed row by row (see ``dockyard.ci.schedules``
    and ``artifacts_destroy_expired``), so several workers never do the same thing twice."""
    from django.db import close_old_connections

    from dockyard.ci import schedules
    from dockyard.ci import services as ci_services

    while True:
        time.sleep(interval)
        close_old_connections()
        try:
            schedules.schedules_run_due()
        except Exception:  # the clock keeps going whatever one pass met
            log.exception("periodic_failed")
        finally:
            close_old_connections()
        # Apart, so a failing schedule never stops artifacts expiring, nor the reverse.
        try:
            ci_services.artifacts_destroy_expired()
        except Exception:
            log.exception("artifact_expiry_failed")
        finally:
            close_old_connections()


def _start_periodic() -> None:
    from dockyard.config.env import ENV

    thread = threading.Thread(target=_periodic, args=(ENV.schedule_interval,), name="dockyard-periodic", daemon=True)
    thread.start()


def start_embedded_worker(interval: float = 0.5) -> None:
    """Start one worker thread in this process (once), for the single-machine default."""
    from django.conf import settings
    from django_tasks.signals import task_enqueued

    if _started.is_set() or "DatabaseBackend" not in settings.TASKS["default"]["BACKEND"]:
        return
    _started.set()
    task_enqueued.connect(_task_enqueued, dispatch_uid="dockyard-embedded-worker")
    # Batch mode logs a start and an exit at INFO on every wake-up; its warnings and errors still show.
    logging.getLogger("django_tasks_db").setLevel(logging.WARNING)
    worker = _worker(interval, batch=True)
    thread = threading.Thread(target=_run_embedded, args=(worker,), name="dockyard-worker", daemon=True)
    thread.start()
    _start_periodic()
    log.info("embedded_worker_started", worker_id=worker.worker_id)


def run_worker(interval: float = 1.0) -> None:
    """The ``dockyard worker`` loop: stops gracefully on SIGTERM/SIGINT (finishing the running task)."""
    worker = _worker(interval)
    worker.configure_signals()
    _start_periodic()
    log.info("worker_started", worker_id=worker.worker_id)
    worker.run()
