"""Git transport benchmark: push, clone and no-op fetch of a large repository, Dockyard vs ``git http-backend``.

Both servers run on loopback in the same run and serve the same repository:

- Dockyard: ``dockyard serve`` (granian, the native ASGI git route, ``git upload-pack|receive-pack
  --stateless-rpc``, Dockyard's hooks on push), a private project, the root user's token as password;
- the baseline: ``git http-backend`` as CGI behind ``bench/githttp.py`` (a small threaded HTTP/1.1
  server, Basic credentials asked for and not checked), the repository configured as Dockyard
  configures its own (``git config`` copied, minus the hooks path).

The repository is built by ``bench/gitrepo.py`` (a deterministic synthetic history of about 50 MB
packed, cached under ``.cache/bench-git/``). Measured, in interleaved rounds (the order alternates):

- **full push** of the whole history into a new, empty repository;
- **clone** (``git clone --mirror``, so no checkout: the client's work is the same on both sides)
  after Dockyard's own housekeeping ran (geometric repack, multi-pack index with bitmap,
  commit-graph); the baseline clones an exact copy of Dockyard's repository directory (same packs,
  same bitmaps, same ``multi-pack-index``);
- **no-op fetch** (everything up to date) and **small push** (one commit changing one file).

For each: wall time on the client and **server CPU** (user + sys of the server's whole process tree:
``utime + stime + cutime + cstime`` from ``/proc/<pid>/stat`` of every live process, so git processes
the server ran and reaped count too), as medians and ratios Dockyard / baseline. Dockyard's background
work after a push (housekeeping, push events) is waited for before the next measurement and reported on
its own. Asserts nothing on times; exits non-zero only when a measurement could not be made.

Run with ``make bench`` (all benchmarks) or ``make bench-git``; directly:
``.venv/bin/python bench/git.py [--clones 3] [--pushes 2] [--fetches 15] [--small-pushes 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchkit import (
    BENCH_DIR,
    HOST,
    REPO,
    BenchError,
    Server,
    Servers,
    clean_env,
    free_port,
    git_describe,
    http_post_json,
    machine_line,
    process_tree,
    run_with_servers,
    table,
)
from gitrepo import build

from dockyard.repos.git.paths import repository_path

ROOT_TOKEN = "glpat-benchgit000000000000"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGETS = {"clone wall": 1.1, "clone server CPU": 1.5, "full push wall": 1.1}
# What ``git config --list`` of Dockyard's repository holds that is about this one directory or
# Dockyard's hooks, not about serving: not copied to the baseline.
_LOCAL_CONFIG = ("core.hookspath", "core.repositoryformatversion", "core.bare", "core.filemode")


def client_env() -> dict[str, str]:
    """The git client's environment: no user or system configuration, no prompts."""
    env = {k: v for k, v in clean_env().items() if not k.startswith("GIT_")}
    return env | {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0"}


def git(*args: str, cwd: Path | None = None, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=client_env(), check=False)
    if check and result.returncode != 0:
        raise BenchError(f"git {' '.join(args[:3])} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


# --------------------------------------------------------------------------- CPU of a process tree


def tree_cpu_split(root: int) -> tuple[float, float]:
    """CPU seconds (user + sys) of ``root``'s live process tree: (its live processes themselves, the
    children they reaped). For both servers the reaped children are git (and, on a push, its hooks)."""
    own = reaped = 0
    for pid in process_tree(root):
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        own += int(fields[11]) + int(fields[12])  # utime stime
        reaped += int(fields[13]) + int(fields[14])  # cutime cstime
    return own / CLK_TCK, reaped / CLK_TCK


def tree_cpu(root: int) -> float:
    """Seconds of CPU used by ``root``'s live process tree and every child it reaped."""
    return sum(tree_cpu_split(root))


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_idle(server: Server, *, quiet: float = 2.0, timeout: float = 600.0) -> float:
    """Wait until the server tree uses under 5 % of a core for ``quiet`` seconds; returns the CPU
    seconds it used meanwhile (background work such as Dockyard's housekeeping after a push)."""
    start = last = tree_cpu(server.proc.pid)
    since = time.monotonic()
    deadline = since + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = tree_cpu(server.proc.pid)
        if now - last > 0.05 * 0.5 + 1 / CLK_TCK:
            since = time.monotonic()
        last = now
        if time.monotonic() - since >= quiet:
            return now - start
    raise BenchError(f"{server.name} did not go idle within {timeout:.0f}s")


# --------------------------------------------------------------------------- the two servers


@dataclass
class Target:
    name: str
    server: Server
    new_repo: Callable[[str], tuple[str, Path]]  # name -> (remote URL with credentials, directory on disk)
    clone_url: str = ""
    clone_dir: Path | None = None
    measured: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # op -> [(wall, cpu)]
    git_share: dict[str, list[float]] = field(default_factory=dict)  # op -> [CPU of reaped git processes]
    background: list[float] = field(default_factory=list)

    def record(self, op: str, wall: float, cpu: float, git_cpu: float) -> None:
        self.measured.setdefault(op, []).append((wall, cpu))
        self.git_share.setdefault(op, []).append(git_cpu)


def start_dockyard(servers: Servers, tmp: Path) -> Target:
    home = tmp / "dockyard-home"
    env = clean_env(DOCKYARD_HOME=str(home), DOCKYARD_ROOT_PASSWORD="password123", DOCKYARD_ROOT_TOKEN=ROOT_TOKEN)
    port = free_port()
    argv = [sys.executable, "-m", "dockyard.cli", "serve", "--host", HOST, "--port", str(port), "--workers", "1"]
    server = servers.start("dockyard serve", argv, env, port, cwd=REPO)
    startup = server.wait_ready("/-/readiness")
    print(f"dockyard serve ready in {startup:.1f}s")
    repositories = home / "repositories"

    def new_repo(name: str) -> tuple[str, Path]:
        body = json.dumps({"name": name, "visibility": "private"}).encode()
        status, answer = http_post_json(f"{server.url}/api/v4/projects", body, {"PRIVATE-TOKEN": ROOT_TOKEN})
        if status != 201:
            raise BenchError(f"POST /api/v4/projects answered {status}: {answer[:300]!r}")
        project = json.loads(answer)
        url = f"http://root:{ROOT_TOKEN}@{HOST}:{port}/{project['path_with_namespace']}.git"
        return url, repository_path(repositories, int(project["id"]))

    return Target("dockyard serve", server, new_repo)


def start_baseline(servers: Servers, tmp: Path, config_from: Path) -> Target:
    root = tmp / "baseline-repos"
    root.mkdir()
    port = free_port()
    argv = [sys.executable, str(BENCH_DIR / "githttp.py"), "--root", str(root), "--host", HOST, "--port", str(port)]
    server = servers.start("git http-backend", argv, clean_env(), port, cwd=REPO)
    _wait_port(server)
    config = dockyard_config(config_from)

    def new_repo(name: str) -> tuple[str, Path]:
        path = root / f"{name}.git"
        git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
        for key, value in config:
            git("config", "--file", str(path / "config"), key, value)
        return f"http://bench:secret@{HOST}:{port}/{name}.git", path

    return Target("git http-backend", server, new_repo)


def dockyard_config(repo: Path) -> list[tuple[str, str]]:
    out = git("config", "--file", str(repo / "config"), "--list")
    pairs = [line.split("=", 1) for line in out.splitlines() if "=" in line]
    return [(k, v) for k, v in pairs if k.lower() not in _LOCAL_CONFIG]


def _wait_port(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise BenchError(f"{server.name} exited:\n{server.log_tail()}")
        with socket.socket() as sock:
            if sock.connect_ex((HOST, server.port)) == 0:
                return
        time.sleep(0.1)
    raise BenchError(f"{server.name} is not listening after {timeout:.0f}s")


# --------------------------------------------------------------------------- operations


def timed(target: Target, op: str, argv: list[str], cwd: Path | None = None) -> float:
    own_before, git_before = tree_cpu_split(target.server.proc.pid)
    started = time.monotonic()
    git(*argv, cwd=cwd)
    wall = time.monotonic() - started
    own_after, git_after = tree_cpu_split(target.server.proc.pid)
    git_cpu = git_after - git_before
    target.record(op, wall, own_after - own_before + git_cpu, git_cpu)
    return wall


def wait_housekept(target: Target, repo: Path, timeout: float = 600.0) -> None:
    """Wait for Dockyard's housekeeping after a push: the multi-pack index appears, then CPU settles."""
    before = tree_cpu(target.server.proc.pid)
    deadline = time.monotonic() + timeout
    midx = repo / "objects" / "pack" / "multi-pack-index"
    while not midx.exists():
        if time.monotonic() > deadline:
            raise BenchError(f"no housekeeping in {repo} after {timeout:.0f}s (is the embedded worker off?)")
        time.sleep(0.5)
    wait_idle(target.server)
    target.background.append(tree_cpu(target.server.proc.pid) - before)


def layout(repo: Path) -> str:
    pack = repo / "objects" / "pack"
    packs = len(list(pack.glob("*.pack")))
    bitmaps = len(list(pack.glob("*.bitmap")))
    midx = (pack / "multi-pack-index").exists()
    graph = (repo / "objects" / "info" / "commit-graph").exists() or (
        repo / "objects" / "info" / "commit-graphs"
    ).exists()
    loose = sum(1 for d in (repo / "objects").glob("[0-9a-f][0-9a-f]") for _ in d.iterdir())
    size = sum(p.stat().st_size for p in pack.glob("*.pack")) / 1e6
    return (
        f"{packs} pack(s) {size:.1f} MB, {bitmaps} bitmap file(s), multi-pack-index {'yes' if midx else 'no'},"
        f" commit-graph {'yes' if graph else 'no'}, {loose} loose objects"
    )


def small_commit(scratch: Path, parent: str, n: int) -> str:
    """A commit on ``parent`` that appends a line to one file, made with plumbing (no checkout)."""
    index = scratch / "bench-index"
    env_git = ["-c", "user.name=Bench", "-c", "user.email=bench@bench.invalid"]
    path = git("ls-tree", "-r", "--name-only", parent, cwd=scratch).splitlines()[n * 7919 % 1000]
    content = git("cat-file", "blob", f"{parent}:{path}", cwd=scratch) + f"\n# small push {n}\n"
    blob = (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=scratch,
            input=content.encode(),
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    env = {**client_env(), "GIT_INDEX_FILE": str(index)}
    for argv in (["read-tree", parent], ["update-index", "--cacheinfo", f"100644,{blob},{path}"]):
        subprocess.run(["git", *argv], cwd=scratch, env=env, check=True, capture_output=True)
    tree = subprocess.run(["git", "write-tree"], cwd=scratch, env=env, check=True, capture_output=True, text=True)
    return git(*env_git, "commit-tree", tree.stdout.strip(), "-p", parent, "-m", f"small push {n}", cwd=scratch).strip()


# --------------------------------------------------------------------------- the run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushes", type=int, default=2, help="full pushes per server (default 2)")
    parser.add_argument("--clones", type=int, default=3, help="clones per server (default 3)")
    parser.add_argument("--fetches", type=int, default=15, help="no-op fetches per server (default 15)")
    parser.add_argument("--small-pushes", type=int, default=5, help="one-commit pushes per server (default 5)")
    parser.add_argument(
        "--cache", type=Path, default=REPO / ".cache" / "bench-git", help="where the generated repository is kept"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("git") is None:
        print("git is not installed", file=sys.stderr)
        return 2
    print("Git transport benchmark: Dockyard vs git http-backend (CGI), loopback")
    print(f"  machine: {machine_line()}; {git('--version').strip()}")
    print(f"  code:    {git_describe()}")
    source = build(args.cache)
    print(
        f"  repository: {source.path.name}: {source.commits} commits, {source.files} files,"
        f" {source.text_mb:.0f} MB of text, {source.pack_mb:.1f} MB packed"
    )
    print()
    return run_with_servers("dockyard-bench-git-", lambda tmp, servers: bench(args, tmp, servers, source.path))


def bench(args: argparse.Namespace, tmp: Path, servers: Servers, source: Path) -> int:
    dockyard = start_dockyard(servers, tmp)
    probe_url, probe_dir = dockyard.new_repo("config-probe")
    baseline = start_baseline(servers, tmp, probe_dir)
    del probe_url
    pair = [dockyard, baseline]
    push_refs = ["refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"]

    print(f"full pushes ({args.pushes} each, whole history into an empty repository):")
    kept: dict[str, tuple[str, Path]] = {}
    for round_no in range(args.pushes):
        for target in pair if round_no % 2 == 0 else reversed(pair):
            url, repo = target.new_repo(f"big-{round_no}")
            wall = timed(target, "full push", ["push", "--quiet", url, *push_refs], cwd=source)
            kept.setdefault(target.name, (url, repo))
            if target is dockyard:
                wait_housekept(target, repo)
                extra = f", then {target.background[-1]:.1f}s CPU of background work (housekeeping, events)"
            else:
                wait_idle(target.server)
                extra = ""
            print(f"  {target.name}: {wall:.1f}s{extra}", flush=True)

    # The clone target: Dockyard's first repository after its housekeeping; the baseline gets a byte-for-byte copy.
    dockyard.clone_url, dockyard_repo = kept[dockyard.name]
    base_url, base_repo = baseline.new_repo("clone-copy")
    shutil.rmtree(base_repo)
    shutil.copytree(dockyard_repo, base_repo, symlinks=True)
    git("config", "--file", str(base_repo / "config"), "--unset", "core.hooksPath", check=False)
    baseline.clone_url = base_url
    print(f"  Dockyard's repository after housekeeping: {layout(dockyard_repo)}")
    print(f"  the baseline's copy for clones:           {layout(base_repo)}")
    print()

    print(f"clones ({args.clones} each, git clone --mirror):", end="", flush=True)
    for round_no in range(args.clones):
        for target in pair if round_no % 2 == 0 else reversed(pair):
            dest = tmp / f"clone-{target.server.port}"
            shutil.rmtree(dest, ignore_errors=True)
            wall = timed(target, "clone", ["clone", "--mirror", "--quiet", target.clone_url, str(dest)])
            print(f"  {target.name.split()[0]} {wall:.1f}s", end="", flush=True)
            target.clone_dir = dest
            wait_idle(target.server)
    print()

    print(f"no-op fetches ({args.fetches} each):", end="", flush=True)
    for round_no in range(args.fetches):
        for target in pair if round_no % 2 == 0 else reversed(pair):
            assert target.clone_dir is not None
            timed(target, "no-op fetch", ["fetch", "--quiet"], cwd=target.clone_dir)
    print(" done")

    small_pushes(args.small_pushes, pair, tmp, source)
    print()
    report(dockyard, baseline)
    print()
    print(
        "rerun: make bench-git  (or: .venv/bin/python bench/git.py"
        f" --pushes {args.pushes} --clones {args.clones} --fetches {args.fetches} --small-pushes {args.small_pushes})"
    )
    return 0


def small_pushes(count: int, pair: list[Target], tmp: Path, source: Path) -> None:
    print(f"small pushes ({count} each, one commit changing one file):", end="", flush=True)
    scratch = tmp / "scratch.git"
    git("clone", "--quiet", "--bare", "--shared", str(source), str(scratch))
    parent = git("rev-parse", "refs/heads/main", cwd=scratch).strip()
    for round_no in range(count):
        parent = small_commit(scratch, parent, round_no)
        for target in pair if round_no % 2 == 0 else reversed(pair):
            timed(target, "small push", ["push", "--quiet", target.clone_url, f"{parent}:refs/heads/main"], cwd=scratch)
            target.background.append(wait_idle(target.server))
    print(" done")


def report(dockyard: Target, baseline: Target) -> None:
    rows = []
    verdicts = []
    for op in ("full push", "clone", "no-op fetch", "small push"):
        d = dockyard.measured[op]
        b = baseline.measured[op]
        d_wall, b_wall = statistics.median(w for w, _ in d), statistics.median(w for w, _ in b)
        d_cpu, b_cpu = statistics.median(c for _, c in d), statistics.median(c for _, c in b)
        unit, scale = ("ms", 1000.0) if op in ("no-op fetch", "small push") else ("s", 1.0)
        wall_ratio = d_wall / b_wall
        cpu_ratio = d_cpu / b_cpu if b_cpu > 0 else float("inf")
        rows.append(
            [
                op,
                f"{d_wall * scale:.{0 if unit == 'ms' else 2}f} {unit}",
                f"{b_wall * scale:.{0 if unit == 'ms' else 2}f} {unit}",
                f"{wall_ratio:.2f}",
                f"{_spread([w for w, _ in d], scale)} / {_spread([w for w, _ in b], scale)}",
                f"{d_cpu * scale:.{0 if unit == 'ms' else 2}f} {unit}",
                f"{b_cpu * scale:.{0 if unit == 'ms' else 2}f} {unit}",
                f"{cpu_ratio:.2f}",
                f"{statistics.median(dockyard.git_share[op]) * scale:.{0 if unit == 'ms' else 2}f}"
                f" / {statistics.median(baseline.git_share[op]) * scale:.{0 if unit == 'ms' else 2}f}",
            ]
        )
        for name, value in ((f"{op} wall", wall_ratio), (f"{op} server CPU", cpu_ratio)):
            if name in TARGETS:
                verdicts.append((name, value, TARGETS[name]))
    headers = [
        "operation (median)",
        "Dockyard wall",
        "baseline wall",
        "wall ratio",
        "wall min-max D / B",
        "Dockyard server CPU",
        "baseline server CPU",
        "CPU ratio",
        "of which git D / B",
    ]
    print(table(headers, rows))
    print()
    print("targets (Dockyard / git http-backend):")
    for name, value, limit in verdicts:
        print(f"  {name:18} {value:5.2f}  target <= {limit:.1f}  {'met' if value <= limit else 'NOT MET'}")
    if dockyard.background:
        print(
            f"Dockyard's background work after pushes (housekeeping, push events): "
            f"{dockyard.background[0]:.1f}s CPU after the first full push, "
            f"median {statistics.median(dockyard.background[len(dockyard.measured['full push']) :] or [0]):.2f}s"
            " after a small push"
        )


def _spread(values: list[float], scale: float) -> str:
    digits = 0 if scale > 1 else 1
    return f"{min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f}"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
