"""The GitLab Runner HTTP protocol, client side (gitlab-runner's ``network/gitlab.go`` in spirit).

Every call answers with what the runner needs to decide its next step; network failures raise
:class:`httpx.TransportError` and the callers retry.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from dockyard.runner import VERSION

# The server holds ``jobs/request`` up to ~50 s; gitlab-runner waits up to 10 minutes for headers.
LONG_POLL_TIMEOUT = 600.0
FEATURES = [
    "variables", "artifacts", "cache", "shared", "upload_multiple_artifacts", "upload_raw_artifacts", "refspecs",
    "masking", "raw_variables", "artifacts_exclude", "multi_build_steps", "trace_reset", "trace_checksum",
    "trace_size", "cancelable", "return_exit_code",
]  # fmt: skip


class Forbidden(Exception):
    """403: the token is not (or no longer) valid."""


@dataclass
class JobState:
    """What a job-scoped response says: HTTP status, ``Job-Status`` and the suggested update interval."""

    status: int
    job_status: str = ""
    interval: float | None = None
    new_offset: int | None = None

    @property
    def aborted(self) -> bool:
        """GitLab's rule: 403, or a job that is no longer running (``canceled``, ``failed``...)."""
        return self.status == 403 or self.job_status in ("canceled", "failed", "success", "skipped")


def _range_end(value: str | None) -> int | None:
    if not value or "-" not in value:
        return None
    try:
        return int(value.split("-", 1)[1])
    except ValueError:
        return None


def _state(response: httpx.Response) -> JobState:
    interval = response.headers.get("X-GitLab-Trace-Update-Interval")
    try:
        seconds = float(interval) if interval else None
    except ValueError:
        seconds = None
    return JobState(
        status=response.status_code,
        job_status=response.headers.get("Job-Status", ""),
        interval=seconds,
        new_offset=_range_end(response.headers.get("Range")),
    )


class Network:
    def __init__(self, url: str, *, executor: str = "shell") -> None:
        self.base = url.rstrip("/") + "/api/v4/"
        self.executor = executor
        self.http = httpx.Client(
            base_url=self.base,
            timeout=httpx.Timeout(30.0, read=60.0),
            headers={
                "User-Agent": f"dockyard-runner {VERSION} ({platform.system().lower()}; {platform.machine()})",
                "Accept": "application/json",
            },
            follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def info(self) -> dict[str, Any]:
        return {
            "name": "dockyard-runner",
            "version": VERSION,
            "revision": "",
            "platform": platform.system().lower(),
            "architecture": platform.machine(),
            "executor": self.executor,
            "shell": "bash",
            "features": dict.fromkeys(FEATURES, True),
        }

    # --- runner-scoped --------------------------------------------------------------------------------

    def verify(self, token: str, system_id: str) -> dict[str, Any]:
        response = self.http.post("runners/verify", json={"token": token, "system_id": system_id, "info": self.info()})
        if response.status_code == 403:
            raise Forbidden("the server does not know this runner token")
        response.raise_for_status()
        try:
            body = response.json()
        except ValueError:
            body = {}
        return body if isinstance(body, dict) else {}

    def request_job(self, token: str, system_id: str, last_update: str) -> tuple[dict[str, Any] | None, str]:
        """A job (201), or ``None`` (204 / 409 / 5xx: try again). Raises :class:`Forbidden` on 403."""
        response = self.http.post(
            "jobs/request",
            json={"token": token, "system_id": system_id, "last_update": last_update, "info": self.info()},
            timeout=httpx.Timeout(30.0, read=LONG_POLL_TIMEOUT),
        )
        last_update = response.headers.get("X-GitLab-Last-Update", last_update)
        if response.status_code == 201:
            job = response.json()
            return (job if isinstance(job, dict) else None), last_update
        if response.status_code == 403:
            raise Forbidden("the server refused this runner token")
        return None, last_update

    # --- job-scoped -----------------------------------------------------------------------------------

    def update_job(self, job_id: int, token: str, state: str, **extra: Any) -> JobState:
        response = self.http.put(
            f"jobs/{job_id}", json={"token": token, "state": state, **extra}, headers={"JOB-TOKEN": token}
        )
        return _state(response)

    def patch_trace(self, job_id: int, token: str, offset: int, data: bytes) -> JobState:
        response = self.http.patch(
            f"jobs/{job_id}/trace",
            params={"debug_trace": "false"},
            content=data,
            headers={
                "JOB-TOKEN": token,
                "Content-Type": "text/plain",
                "Content-Range": f"{offset}-{offset + len(data) - 1}",
            },
        )
        return _state(response)

    def upload_artifact(
        self, job_id: int, token: str, path: Path, *, filename: str, artifact_type: str, artifact_format: str,
        expire_in: str | None,
    ) -> httpx.Response:  # fmt: skip
        params = {"artifact_format": artifact_format, "artifact_type": artifact_type}
        if expire_in:
            params["expire_in"] = expire_in
        with path.open("rb") as fh:
            return self.http.post(
                f"jobs/{job_id}/artifacts",
                params=params,
                files={"file": (filename, fh, "application/octet-stream")},
                headers={"JOB-TOKEN": token},
                timeout=httpx.Timeout(30.0, read=600.0, write=600.0),
            )

    def download_artifact(self, job_id: int, token: str, dest: Path) -> int:
        """Stream a job's archive to ``dest``; the HTTP status (200 when written)."""
        url = f"jobs/{job_id}/artifacts"
        for _ in range(3):  # object storage may answer with a redirect
            with self.http.stream("GET", url, params={"direct_download": "false"}, headers={"JOB-TOKEN": token}) as r:
                if r.status_code in (302, 307) and r.headers.get("Location"):
                    url = r.headers["Location"]
                    continue
                if r.status_code != 200:
                    return r.status_code
                with dest.open("wb") as fh:
                    for chunk in r.iter_bytes(256 * 1024):
                        fh.write(chunk)
                return 200
        return 310
