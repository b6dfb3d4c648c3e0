"""One job, from the payload of ``POST /jobs/request`` to the final ``PUT /jobs/:id``.

Stages, each framed by GitLab's section markers in the log: prepare the executor, get the sources (git,
outside any sandbox), download the dependencies' artifacts, restore the cache, the script
(``before_script`` + ``script`` in one shell), ``after_script`` (own shell, own timeout, runs after a
failure too), save the cache, upload artifacts and reports.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from dockyard.runner import VERSION, archive
from dockyard.runner.config import RunnerConfig
from dockyard.runner.executors import Executor, Outcome
from dockyard.runner.network import Network
from dockyard.runner.trace import JobTrace

log = logging.getLogger("dockyard.runner")

AFTER_SCRIPT_TIMEOUT = 300
NO_IMAGES = "This runner's executor cannot run images; use a container executor"
_VAR = re.compile(r"\$\$|\$\{(\w+)\}|\$(\w+)")
_DOTENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=.*$")


class JobFailed(Exception):
    def __init__(self, message: str, reason: str = "script_failure", exit_code: int | None = None) -> None:
        super().__init__(message)
        self.reason, self.exit_code = reason, exit_code


class JobAborted(Exception):
    """The server canceled the job, or the runner is shutting down."""


def expand(value: str, variables: dict[str, str]) -> str:
    """``$VAR`` / ``${VAR}`` from ``variables`` (unknown ones become empty), ``$$`` is a literal ``$``."""
    return _VAR.sub(lambda m: "$" if m.group() == "$$" else variables.get(m[1] or m[2], ""), value)


def section_start(name: str, header: str) -> bytes:
    return f"section_start:{int(time.time())}:{name}\r\x1b[0K\x1b[0K\x1b[36;1m{header}\x1b[0;m\n".encode()


def section_end(name: str) -> bytes:
    return f"section_end:{int(time.time())}:{name}\r\x1b[0K".encode()


def _ansi_c(text: str) -> str:
    out = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return "$'" + out.replace("\x1b", "\\e") + "'"


def shell_script(commands: list[str], *, project_dir: Path) -> str:
    """A bash script echoing each command (``$ cmd`` in green, as gitlab-runner) before running it."""
    lines = ["set -eo pipefail", "set +o noclobber", f"cd {_ansi_c(str(project_dir))}"]
    for command in commands:
        shown = command.splitlines()[0] if command.strip() else command
        if "\n" in command.strip():
            shown += " # collapsed multi-line command"
        lines.append(f"printf '%s\\n' {_ansi_c(chr(27) + '[32;1m$ ' + shown + chr(27) + '[0;m')}")
        lines.append(command)
    return "\n".join(lines) + "\n"


def _safe_name(value: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", value).strip(".-")
    return cleaned[:100] or "default"


class Job:
    def __init__(
        self, payload: dict[str, Any], *, network: Network, config: RunnerConfig, executor: Executor, slot: int,
        shutdown: threading.Event,
    ) -> None:  # fmt: skip
        self.payload = payload
        self.id = int(payload["id"])
        self.token = str(payload["token"])
        self.network, self.config, self.executor = network, config, executor
        self.cancel = threading.Event()
        self.shutdown = shutdown
        info = payload.get("job_info") or {}
        self.project_path = str(info.get("project_full_path") or f"project-{info.get('project_id', 0)}")
        if ".." in Path(self.project_path).parts or self.project_path.startswith("/"):
            self.project_path = f"project-{info.get('project_id', 0)}"
        self.build_dir = Path(config.builds_dir) / str(slot) / self.project_path
        self.tmp_dir = self.build_dir.with_name(self.build_dir.name + ".tmp")
        self.inner_build, self.inner_tmp = executor.inner(self.build_dir, self.tmp_dir, self.project_path)
        features = payload.get("features") or {}
        self.failure_reasons = set(features.get("failure_reasons") or ["script_failure", "runner_system_failure"])
        raw_vars = payload.get("variables") or []
        masked = [str(v.get("value") or "") for v in raw_vars if v.get("masked")]
        self.trace = JobTrace(
            network, self.id, self.token,
            secrets=[*masked, self.token],
            prefixes=features.get("token_mask_prefixes") or ["glpat-", "glcbt-", "glrt-"],
            on_abort=self.cancel.set,
        )  # fmt: skip
        self.timeout = int((payload.get("runner_info") or {}).get("timeout") or 3600)
        self.deadline = time.monotonic() + self.timeout

    # --- helpers --------------------------------------------------------------------------------------

    def say(self, message: str, color: str = "") -> None:
        codes = {"": "", "green": "\x1b[32;1m", "red": "\x1b[31;1m", "yellow": "\x1b[0;33m"}
        self.trace.text(f"{codes[color]}{message}{chr(27) + '[0;m' if color else ''}\n")

    def _reason(self, wanted: str) -> str:
        return wanted if wanted in self.failure_reasons else "runner_system_failure"

    def _check_abort(self) -> None:
        if self.cancel.is_set() or self.shutdown.is_set():
            raise JobAborted()

    def variables(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The job's environment: the executor's base, the job's variables (expanded unless raw, file
        variables written to files), the runner's own ``CI_*`` additions."""
        env = self.executor.base_env()
        env.update(
            CI_PROJECT_DIR=str(self.inner_build),
            CI_BUILDS_DIR=str(self.inner_build.parents[len(Path(self.project_path).parts) - 1]),
            CI_RUNNER_VERSION=VERSION,
            CI_RUNNER_EXECUTABLE="dockyard-runner",
            CI_SERVER_TLS_CA_FILE="",
        )
        for item in self.payload.get("variables") or []:
            key, value = str(item.get("key") or ""), str(item.get("value") or "")
            if not key:
                continue
            if not item.get("raw"):
                value = expand(value, env)
            if item.get("file"):
                path = self.tmp_dir / _safe_name(key)
                path.write_text(value)
                value = str(self.inner_tmp / path.name)
            env[key] = value
        env.update(extra or {})
        return env

    def section(self, name: str, header: str) -> _Section:
        return _Section(self, name, header)

    # --- stages ---------------------------------------------------------------------------------------

    def prepare(self) -> None:
        image = (self.payload.get("image") or {}).get("name") or ""
        self.say(f"Running with dockyard-runner {VERSION}")
        with self.section("prepare_executor", f'Preparing the "{self.executor.name}" executor'):
            if self.executor.name == "sandbox":
                net = "with network access" if self.config.network else "without network access"
                self.say(f"Using the sandbox executor (bubblewrap), {net}...")
            else:
                self.say("Using Shell (bash) executor...")
            if image:
                raise JobFailed(f"{NO_IMAGES} (image {image!r})", self._reason("runner_unsupported"))
            if self.payload.get("services"):
                self.say("WARNING: services are ignored by this executor", "yellow")
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir(parents=True, mode=0o700)
        self.build_dir.mkdir(parents=True, exist_ok=True)

    def _git(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[bytes]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.tmp_dir), "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_LFS_SKIP_SMUDGE": "1", "LANG": "C.UTF-8",
        }  # fmt: skip
        result = subprocess.run(
            ["git", "-c", "safe.directory=*", "-c", "advice.detachedHead=false", *args],
            cwd=self.build_dir, env=env, capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
        self.trace.write(result.stdout + result.stderr)
        return result

    def get_sources(self) -> None:
        git_info = self.payload.get("git_info") or {}
        repo_url, sha = str(git_info.get("repo_url") or ""), str(git_info.get("sha") or "")
        parts = urlsplit(repo_url)
        netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        clean_url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        with self.section("get_sources", "Getting source from Git repository"):
            if not (self.build_dir / ".git").is_dir():
                self.say(f"Initialized empty Git repository in {self.inner_build}/.git/")
                if self._git("init", "-q", ".").returncode != 0:
                    raise JobFailed("git init failed", self._reason("runner_system_failure"))
            else:
                self.say(f"Reinitialized existing Git repository in {self.inner_build}/.git/")
            self._git("remote", "remove", "origin")
            self._git("remote", "add", "origin", clean_url)
            refspecs = [str(r) for r in git_info.get("refspecs") or []] or [f"+{sha}"]
            depth = int(git_info.get("depth") or 0)
            self.say(f"Fetching changes{f' with git depth set to {depth}' if depth else ''}...")
            fetch = ["fetch", "--prune", "--quiet", "--no-tags"] + ([f"--depth={depth}"] if depth else [])
            # The URL with the job token is passed for this fetch only; it is not stored in .git/config.
            if self._git(*fetch, repo_url, *refspecs).returncode != 0:
                raise JobFailed("fetching the repository failed", self._reason("runner_system_failure"))
            self.say(f"Checking out {sha[:8]} as detached HEAD (ref is {git_info.get('ref')})...")
            if self._git("checkout", "-f", "-q", sha).returncode != 0:
                raise JobFailed(f"checking out {sha} failed", self._reason("runner_system_failure"))
            self._git("clean", "-ffdx", "-q")
            self.say("Skipping Git submodules setup")

    def download_artifacts(self) -> None:
        deps = [d for d in self.payload.get("dependencies") or [] if d.get("artifacts_file")]
        if not deps:
            return
        with self.section("download_artifacts", "Downloading artifacts"):
            for dep in deps:
                self._check_abort()
                name, dep_id = dep.get("name"), int(dep["id"])
                self.say(f"Downloading artifacts for {name} ({dep_id})...")
                dest = self.tmp_dir / f"dependency-{dep_id}.zip"
                status = self.network.download_artifact(dep_id, str(dep.get("token") or self.token), dest)
                if status != 200:
                    raise JobFailed(
                        f"downloading artifacts of {name} failed: HTTP {status}",
                        self._reason("missing_dependency_failure" if status == 404 else "runner_system_failure"),
                    )
                try:
                    count = archive.extract_zip(dest, self.build_dir)
                except (archive.UnsafeArchive, ValueError, OSError) as exc:
                    raise JobFailed(f"artifacts of {name} could not be extracted: {exc}") from exc
                finally:
                    dest.unlink(missing_ok=True)
                self.say(f"Downloaded and extracted {count} entries from {name}", "green")

    def _cache_file(self, key: str) -> Path:
        return Path(self.config.cache_dir) / self.project_path / _safe_name(key) / "cache.zip"

    def _caches(self, env: dict[str, str]) -> list[dict[str, Any]]:
        out = []
        for cache in self.payload.get("cache") or []:
            key = expand(str(cache.get("key") or "default"), env)
            fallbacks = [expand(str(k), env) for k in cache.get("fallback_keys") or []]
            out.append({**cache, "key": key, "fallback_keys": fallbacks})
        return out

    def restore_cache(self, env: dict[str, str]) -> None:
        caches = [c for c in self._caches(env) if (c.get("policy") or "pull-push") in ("pull", "pull-push")]
        if not caches:
            return
        with self.section("restore_cache", "Restoring cache"):
            for cache in caches:
                for key in [cache["key"], *cache["fallback_keys"]]:
                    path = self._cache_file(key)
                    if path.is_file():
                        self.say(f"Checking cache for {key}...")
                        try:
                            archive.extract_zip(path, self.build_dir)
                            self.say(f"Successfully extracted cache {key}", "green")
                        except (archive.UnsafeArchive, ValueError, OSError) as exc:
                            self.say(f"WARNING: cache {key} is unusable: {exc}", "yellow")
                        break
                else:
                    self.say(f"WARNING: no cache found for {cache['key']}", "yellow")

    def save_cache(self, env: dict[str, str], succeeded: bool) -> None:
        wanted = "on_success" if succeeded else "on_failure"
        caches = [
            c
            for c in self._caches(env)
            if (c.get("policy") or "pull-push") in ("push", "pull-push")
            and (c.get("when") or "on_success") in (wanted, "always")
        ]
        if not caches:
            return
        with self.section("archive_cache" if succeeded else "archive_cache_on_failure", "Saving cache"):
            for cache in caches:
                names = archive.collect(
                    self.build_dir, [expand(p, env) for p in cache.get("paths") or []],
                    extra=self._untracked() if cache.get("untracked") else (),
                )  # fmt: skip
                path = self._cache_file(cache["key"])
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".zip")
                os.close(fd)
                count = archive.write_zip(self.build_dir, names, Path(tmp))
                os.replace(tmp, path)
                self.say(f"Created cache {cache['key']} ({count} entries)", "green")

    def _untracked(self) -> list[str]:
        result = subprocess.run(
            ["git", "-c", "safe.directory=*", "ls-files", "-z", "--others", "--exclude-standard"],
            cwd=self.build_dir, capture_output=True, check=False, timeout=120,
        )  # fmt: skip
        return [n for n in result.stdout.decode(errors="replace").split("\0") if n]

    def run_step(self, name: str, commands: list[str], env: dict[str, str], timeout: float) -> Outcome:
        script = self.tmp_dir / f"{name}.sh"
        script.write_text(shell_script(commands, project_dir=self.inner_build))
        self.executor.prepare(self.build_dir, self.tmp_dir)
        return self.executor.run(
            script, build_dir=self.build_dir, tmp_dir=self.tmp_dir, inner_build=self.inner_build,
            inner_tmp=self.inner_tmp, env=env, timeout=max(timeout, 0.1), cancel=self._stop_event(),
            output=self.trace.write,
        )  # fmt: skip

    def _stop_event(self) -> threading.Event:
        """Set when the server cancels the job or the runner shuts down."""
        event = threading.Event()

        def watch() -> None:
            while not event.is_set():
                if self.cancel.wait(0.2) or self.shutdown.is_set():
                    event.set()

        threading.Thread(target=watch, daemon=True).start()
        return event

    def upload_artifacts(self, env: dict[str, str], succeeded: bool) -> None:
        wanted = "on_success" if succeeded else "on_failure"
        items = [
            a for a in self.payload.get("artifacts") or [] if (a.get("when") or "on_success") in (wanted, "always")
        ]
        if not items:
            return
        with self.section("upload_artifacts_on_" + ("success" if succeeded else "failure"), "Uploading artifacts"):
            for item in items:
                self._upload(item, env)

    def _upload(self, item: dict[str, Any], env: dict[str, str]) -> None:
        kind = str(item.get("artifact_type") or "archive")
        paths = [expand(str(p), env) for p in item.get("paths") or []]
        names = archive.collect(
            self.build_dir, paths, [expand(str(e), env) for e in item.get("exclude") or []],
            extra=self._untracked() if item.get("untracked") else (),
        )  # fmt: skip
        if not names:
            self.say(f"WARNING: {', '.join(paths) or 'untracked'}: no matching files for {kind}", "yellow")
            return
        fmt = str(item.get("artifact_format") or "zip")
        dest = self.tmp_dir / f"upload-{kind}"
        if fmt == "zip":
            archive.write_zip(self.build_dir, names, dest)
            filename = f"{expand(str(item.get('name') or 'artifacts'), env)}.zip"
        else:
            fmt = "gzip"
            files = [n for n in names if (self.build_dir / n).is_file() and not (self.build_dir / n).is_symlink()]
            with gzip.open(dest, "wb") as out:
                for name in files:
                    data = (self.build_dir / name).read_bytes()
                    if kind == "dotenv":
                        data = self._dotenv(name, data)
                    out.write(data)
            filename = ".env.gz" if kind == "dotenv" else f"{kind}.gz"
        self.say(f"Uploading {filename} ({len(names)} files) as {kind}...")
        response = self.network.upload_artifact(
            self.id, self.token, dest, filename=filename, artifact_type=kind, artifact_format=fmt,
            expire_in=item.get("expire_in"),
        )  # fmt: skip
        dest.unlink(missing_ok=True)
        if response.status_code != 201:
            raise JobFailed(
                f"uploading {kind} artifacts failed: HTTP {response.status_code}", self._reason("runner_system_failure")
            )
        self.say(f'Uploading artifacts as "{kind}" to coordinator... 201 Created', "green")

    def _dotenv(self, name: str, data: bytes) -> bytes:
        """A dotenv report: ``KEY=VALUE`` lines; others are reported and left out."""
        good = []
        for line in data.decode("utf-8", "replace").splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if _DOTENV.match(line):
                good.append(line)
            else:
                self.say(f"WARNING: {name}: not a KEY=VALUE line, skipped: {line[:80]}", "yellow")
        self.say(f"{name}: {len(good)} variables in the dotenv report")
        return ("\n".join(good) + "\n").encode() if good else b""

    # --- the whole job --------------------------------------------------------------------------------

    def run(self) -> None:
        self.trace.start()
        state, reason, exit_code = "success", None, None
        aborted = False
        try:
            ack = self.network.update_job(self.id, self.token, "running")
            if ack.aborted:
                self.cancel.set()
            self._check_abort()
            state, reason, exit_code = self._stages()
        except JobAborted:
            aborted = True
        except JobFailed as exc:
            self.say(f"ERROR: Job failed: {exc}", "red")
            state, reason, exit_code = "failed", exc.reason, exc.exit_code
        except (httpx.HTTPError, OSError, subprocess.SubprocessError) as exc:
            log.exception("job %s: runner error", self.id)
            self.say(f"ERROR: Job failed (system failure): {exc}", "red")
            state, reason = "failed", "runner_system_failure"
        if self.shutdown.is_set() and not self.cancel.is_set():
            self.say("ERROR: Job failed: the runner is shutting down", "red")
            state, reason, exit_code, aborted = "failed", "runner_system_failure", None, False
        self.trace.finish()
        if aborted or self.trace.aborted:
            log.info("job %s: canceled", self.id)
            return
        self._finish(state, reason, exit_code)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def _finish(self, state: str, reason: str | None, exit_code: int | None) -> None:
        body: dict[str, Any] = {"output": self.trace.output(), "checksum": self.trace.output()["checksum"]}
        if state == "failed":
            body["failure_reason"] = reason or "script_failure"
        if exit_code is not None:
            body["exit_code"] = exit_code
        delay = 1.0
        for _ in range(20):
            try:
                result = self.network.update_job(self.id, self.token, state, **body)
            except httpx.HTTPError as exc:
                log.warning("job %s: final update failed (%s); retrying", self.id, exc)
                time.sleep(delay)
                delay = min(delay * 2, 30)
                continue
            if result.status == 202:
                time.sleep(min(result.interval or delay, 30))
                continue
            log.info("job %s: %s (HTTP %s)", self.id, state, result.status)
            return

    def _stages(self) -> tuple[str, str | None, int | None]:
        self.prepare()
        self._check_abort()
        self.get_sources()
        self._check_abort()
        self.download_artifacts()
        env = self.variables()
        self.restore_cache(env)
        self._check_abort()
        steps = {s.get("name"): s for s in self.payload.get("steps") or []}
        script = steps.get("script") or {"script": []}
        with self.section("step_script", 'Executing "step_script" stage of the job script'):
            outcome = self.run_step("script", list(script.get("script") or []), env, self.deadline - time.monotonic())
        if outcome.canceled:
            raise JobAborted()
        succeeded = not outcome.timed_out and outcome.exit_code == 0
        after = steps.get("after_script")
        if after and after.get("script"):
            status = "success" if succeeded else "failed"
            with self.section("after_script", "Running after_script"):
                self.say("Running after script...")
                result = self.run_step(
                    "after_script", list(after["script"]), {**env, "CI_JOB_STATUS": status},
                    min(float(after.get("timeout") or AFTER_SCRIPT_TIMEOUT), AFTER_SCRIPT_TIMEOUT),
                )  # fmt: skip
            if result.canceled:
                raise JobAborted()
            if result.timed_out or result.exit_code:
                self.say("WARNING: after_script failed, but the job will continue unaffected", "yellow")
        self.save_cache(env, succeeded)
        self.upload_artifacts(env, succeeded)
        if outcome.timed_out:
            raise JobFailed(f"execution took longer than {self.timeout}s seconds", "job_execution_timeout")
        if outcome.exit_code:
            raise JobFailed(f"exit code {outcome.exit_code}", "script_failure", outcome.exit_code)
        self.say("Job succeeded", "green")
        return "success", None, 0


class _Section:
    def __init__(self, job: Job, name: str, header: str) -> None:
        self.job, self.name, self.header = job, name, header

    def __enter__(self) -> _Section:
        self.job.trace.write(section_start(self.name, self.header))
        return self

    def __exit__(self, *exc: object) -> None:
        self.job.trace.write(section_end(self.name))
