"""A job's log: masked as it is written, sent incrementally with ``PATCH /jobs/:id/trace``.

The uploader thread sends what is new every ``interval`` seconds with ``Content-Range: start-end``;
on 416 it resumes from the offset in the server's ``Range``; when the connection drops it retries with
backoff from the last acknowledged offset. When nothing is new it sends ``PUT /jobs/:id`` (state
``running``) now and then, so a cancel from the server is noticed while a job is silent.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterable

import httpx

from dockyard.runner.masking import Masker
from dockyard.runner.network import JobState, Network

log = logging.getLogger("dockyard.runner")

MAX_TRACE = 64 * 1024 * 1024
MAX_PATCH = 1024 * 1024


class JobTrace:
    def __init__(
        self, network: Network, job_id: int, token: str, *, secrets: Iterable[str], prefixes: Iterable[str],
        on_abort: Callable[[], None], interval: float = 1.0, keepalive: float = 3.0,
    ) -> None:  # fmt: skip
        self.network, self.job_id, self.token = network, job_id, token
        self.masker = Masker(secrets, prefixes)
        self.on_abort = on_abort
        self.interval, self.keepalive = interval, keepalive
        self.buffer = bytearray()
        self.sent = 0
        self.lock = threading.Lock()
        self.aborted = False
        self._limit_hit = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"trace-{job_id}", daemon=True)
        self._last_contact = time.monotonic()
        self._failures = 0

    # --- writing --------------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        with self.lock:
            self._append(self.masker.feed(data))

    def _append(self, data: bytes) -> None:
        if self._limit_hit or not data:
            return
        if len(self.buffer) + len(data) > MAX_TRACE:
            data = data[: MAX_TRACE - len(self.buffer)]
            data += b"\n\x1b[31;1mJob's log exceeded limit of 64 MiB; the rest is not shown.\x1b[0;m\n"
            self._limit_hit = True
        self.buffer += data

    def text(self, message: str) -> None:
        self.write(message.encode())

    # --- sending --------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def _abort(self, state: JobState) -> None:
        if not self.aborted:
            self.aborted = True
            log.info("job %s: the server says %s (%s); aborting", self.job_id, state.job_status or "no", state.status)
            self.on_abort()

    def send_pending(self) -> bool:
        """Send what is new; True when everything written so far has been acknowledged."""
        with self.lock:
            data = bytes(self.buffer[self.sent : self.sent + MAX_PATCH])
            offset = self.sent
        if not data:
            return True
        state = self.network.patch_trace(self.job_id, self.token, offset, data)
        self._last_contact = time.monotonic()
        if state.status == 202:
            self.sent = min(state.new_offset if state.new_offset is not None else offset + len(data), len(self.buffer))
        elif state.status == 416 and state.new_offset is not None:
            self.sent = min(state.new_offset, len(self.buffer))
        if state.aborted or state.status == 404:
            self._abort(state)
            return True
        return self.sent >= len(self.buffer)

    def _tick(self) -> None:
        if self.aborted:
            return
        if self.sent < len(self.buffer):
            self.send_pending()
        elif time.monotonic() - self._last_contact >= self.keepalive:
            state = self.network.update_job(self.job_id, self.token, "running")
            self._last_contact = time.monotonic()
            if state.aborted or state.status == 404:
                self._abort(state)

    def _loop(self) -> None:
        while not self._stop.wait(self._delay()):
            try:
                self._tick()
                self._failures = 0
            except httpx.HTTPError as exc:
                self._failures += 1
                log.warning("job %s: sending the log failed (%s); retrying", self.job_id, exc)

    def _delay(self) -> float:
        return min(self.interval * (2 ** min(self._failures, 5)), 30.0) if self._failures else self.interval

    def finish(self, attempts: int = 8) -> None:
        """Flush the masker, stop the thread and send the rest, retrying with backoff."""
        with self.lock:
            self._append(self.masker.flush())
        self._stop.set()
        self._thread.join(timeout=30)
        delay = 0.5
        for _ in range(attempts):
            if self.aborted:
                return
            try:
                for _ in range(10_000):  # each round sends up to 1 MiB or moves to the server's offset
                    if self.send_pending():
                        return
                return
            except httpx.HTTPError as exc:
                log.warning("job %s: sending the log failed (%s); retrying in %.1fs", self.job_id, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 15)

    def output(self) -> dict[str, object]:
        return {"checksum": f"crc32:{zlib.crc32(bytes(self.buffer)) & 0xFFFFFFFF:08x}", "bytesize": len(self.buffer)}
