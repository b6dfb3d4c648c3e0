"""Running background tasks: an embedded worker thread inside ``dockyard serve``, or ``dockyard worker``."""

from __future__ import annotations

import os
import socket
import threading

from dockyard.core.logging import get_logger

log = get_logger("dockyard.worker")
_started = threading.Event()


def _worker(interval: float):  # type: ignore[no-untyped-def]  # django_tasks_db's Worker is untyped
    from django_tasks_db.management.commands.db_worker import Worker

    return Worker(
        queue_names=["*"],
        interval=interval,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"[:64],
        excluded_queue_names=[],
    )


def start_embedded_worker(interval: float = 0.5) -> None:
    """Start one worker thread in this process (once), for the single-machine default."""
    from django.conf import settings

    if _started.is_set() or "DatabaseBackend" not in settings.TASKS["default"]["BACKEND"]:
        return
    _started.set()
    worker = _worker(interval)
    thread = threading.Thread(target=worker.run, name="dockyard-worker", daemon=True)
    thread.start()
    log.info("embedded_worker_started", worker_id=worker.worker_id)


def run_worker(interval: float = 1.0) -> None:
    """The ``dockyard worker`` loop: stops gracefully on SIGTERM/SIGINT (finishing the running task)."""
    worker = _worker(interval)
    worker.configure_signals()
    log.info("worker_started", worker_id=worker.worker_id)
    worker.run()
