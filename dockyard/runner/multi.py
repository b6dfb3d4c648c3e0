"""``dockyard runner run``: ask for jobs and run up to ``concurrent`` of them at once.

One thread per slot asks the server for a job (the server long-polls), runs it, and asks again.
SIGQUIT: finish the running jobs, take no new ones, exit. SIGTERM/SIGINT: cancel the running jobs
(their process trees are killed and they are reported failed), exit.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
import time
from pathlib import Path

import httpx

from dockyard.runner.config import Config, RunnerConfig
from dockyard.runner.executors import executor_for
from dockyard.runner.job import Job
from dockyard.runner.network import Forbidden, Network

log = logging.getLogger("dockyard.runner")


def system_id(config_path: Path) -> str:
    """``s_`` + 12 hex, kept next to the configuration so a host keeps its identity (gitlab-runner's
    ``.runner_system_id``)."""
    path = config_path.parent / ".runner_system_id"
    try:
        value = path.read_text().strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    value = "s_" + secrets.token_hex(6)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n")
    return value


class Runner:
    def __init__(self, config: Config, *, system_id: str, exit_with_parent: bool = False) -> None:
        self.config = config
        self.system_id = system_id
        self.stopping = threading.Event()  # no new jobs
        self.shutdown = threading.Event()  # cancel running jobs
        self.active = 0
        self.lock = threading.Lock()
        self.parent = os.getppid() if exit_with_parent else None

    def _slot(self, index: int) -> None:
        runners = self.config.runners
        networks = {r.name: Network(r.url, executor=r.executor) for r in runners}
        last_update = {r.name: "" for r in runners}
        turn = 0
        while not self.stopping.is_set():
            runner = runners[turn % len(runners)]
            turn += 1
            network = networks[runner.name]
            try:
                payload, last_update[runner.name] = network.request_job(
                    runner.token, self.system_id, last_update[runner.name]
                )
            except Forbidden:
                log.error("runner %s: the server refused its token; not asking again for a minute", runner.name)
                self.stopping.wait(60)
                continue
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("runner %s: asking for a job failed (%s)", runner.name, exc)
                self.stopping.wait(3)
                continue
            if payload is None:
                self.stopping.wait(self.config.check_interval)
                continue
            self._run(payload, network, runner, index)

    def _run(self, payload: dict[str, object], network: Network, runner: RunnerConfig, slot: int) -> None:
        with self.lock:
            self.active += 1
        log.info("runner %s: job %s received (slot %s)", runner.name, payload.get("id"), slot)
        try:
            Job(
                payload, network=network, config=runner, executor=executor_for(runner), slot=slot,
                shutdown=self.shutdown,
            ).run()  # fmt: skip
        except Exception:
            log.exception("runner %s: job %s crashed the runner's job thread", runner.name, payload.get("id"))
        finally:
            with self.lock:
                self.active -= 1

    def run(self) -> int:
        if not self.config.runners:
            log.error("no runners configured; register one with `dockyard runner register`")
            return 1
        signal.signal(signal.SIGQUIT, lambda *_: self._graceful())
        signal.signal(signal.SIGTERM, lambda *_: self._forceful())
        signal.signal(signal.SIGINT, lambda *_: self._forceful())
        for runner in self.config.runners:
            log.info(
                "runner %s: %s executor, builds in %s, asking %s for jobs",
                runner.name, runner.executor, runner.builds_dir, runner.url,
            )  # fmt: skip
        for index in range(self.config.concurrent):
            threading.Thread(target=self._slot, args=(index,), name=f"slot-{index}", daemon=True).start()
        while not self.stopping.is_set():
            self.stopping.wait(1)
            if self.parent is not None and os.getppid() != self.parent:
                log.info("the server that started this runner is gone; stopping")
                self._forceful()
        # Slots still waiting on a long poll are daemon threads; only running jobs are waited for.
        while self.active:
            time.sleep(0.2)
        log.info("runner stopped")
        return 0

    def _graceful(self) -> None:
        log.info("SIGQUIT: finishing running jobs, then exiting")
        self.stopping.set()

    def _forceful(self) -> None:
        log.info("stopping: canceling running jobs")
        self.shutdown.set()
        self.stopping.set()
