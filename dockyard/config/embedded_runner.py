"""The runner ``dockyard serve`` starts by default (``DOCKYARD_EMBEDDED_RUNNER=1``).

The server side of it lives here: an instance runner row (found again on every start by its
registration type), a fresh ``glrt-`` token each start (only its digest is stored), a configuration
file under ``$DOCKYARD_HOME/runner/``, and ``python -m dockyard.runner run`` as a child process with a
clean environment (no database URL, no root token). The runner itself only speaks HTTP.
"""

from __future__ import annotations

import logging
import os
import subprocess  # noqa: TID251 - starts the runner program, as a service manager would
import sys

from dockyard.ci import services
from dockyard.ci.models import Runner
from dockyard.config.env import ENV
from dockyard.runner import config as runner_config
from dockyard.runner.executors import bwrap_works

log = logging.getLogger("dockyard.runner")
REGISTRATION_TYPE = "embedded"


def _runner() -> tuple[Runner, str]:
    runner = Runner.objects.filter(registration_type=REGISTRATION_TYPE).order_by("pk").first()
    if runner is None:
        return services.runner_create(
            actor=None,  # type: ignore[arg-type]  # the installation's own runner has no creator
            runner_type=Runner.Type.INSTANCE,
            description="embedded runner (dockyard serve)",
            registration_type=REGISTRATION_TYPE,
        )
    return runner, services.runner_reset_token(runner=runner)


def start(*, host: str, port: int) -> subprocess.Popen[bytes]:
    runner, token = _runner()
    executor = "sandbox" if bwrap_works() else "shell"
    home = ENV.home / "runner"
    path = home / "config.toml"
    address = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    config = runner_config.Config(
        concurrent=ENV.embedded_runner_concurrent,
        runners=[
            runner_config.RunnerConfig(
                name="embedded", url=f"http://{address}:{port}", token=token, executor=executor,
                builds_dir=str(home / "builds"), cache_dir=str(home / "cache"), id=runner.pk,
            )
        ],
    )  # fmt: skip
    runner_config.save(config, path)
    why = "bubblewrap works here" if executor == "sandbox" else "bubblewrap (bwrap) is not usable here"
    print(f"  Embedded runner #{runner.pk}: {executor} executor ({why})", flush=True)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "TMPDIR")}
    env["DOCKYARD_RUNNER_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-m", "dockyard.runner", "run", "--config", str(path), "--exit-with-parent"], env=env
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
