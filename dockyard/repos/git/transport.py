"""git's smart HTTP transport: ``upload-pack`` / ``receive-pack`` in stateless-RPC mode, streamed.

Request bodies are piped into git as they arrive and git's output is sent on as git writes it, so
memory stays bounded by the pipe buffers whatever the size of a pack.

git's output comes through a pipe of our own, read with ``os.read`` on its non-blocking end: each
read takes whatever git has written since the last one, up to a whole pipe (1 MiB where the kernel
allows it). Relaying a 50 MB pack through asyncio's ``StreamReader`` in 64 KiB pieces cost more
server CPU than the ``upload-pack`` producing it (decision 0004); the fewer, bigger pieces are what
brings the relay down, since every piece costs a loop wake-up and a ``send()`` into the server
whatever its size. Back-pressure is unchanged: while ``send()`` waits for a slow client nothing is
read, the pipe fills and git blocks on its next write.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import zlib
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator, Mapping

from dockyard.repos.git.admin import _base_env, storage_path

SERVICES = frozenset({"git-upload-pack", "git-receive-pack"})
# The kernel's limit for unprivileged processes (/proc/sys/fs/pipe-max-size) by default; where it is
# lower, or the user's pipe budget is spent, the pipe keeps its default 64 KiB and everything still works.
PIPE_SIZE = 1024 * 1024
# Pack generation is the expensive part of serving git; a burst of parallel CI clones of one repository
# queues here instead of running N pack-objects at once and exhausting memory.
PACKS_PER_REPOSITORY = 4
_pack_slots: defaultdict[int, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(PACKS_PER_REPOSITORY))


def pkt_line(text: str) -> bytes:
    data = text.encode()
    return f"{len(data) + 4:04x}".encode() + data


def _env(git_protocol: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    env = _base_env()
    if git_protocol and all(part.startswith("version=") or "=" in part for part in git_protocol.split(":")):
        env["GIT_PROTOCOL"] = git_protocol
    if extra:
        env.update(extra)
    return env


def _output_pipe() -> tuple[int, int]:
    """A pipe for git's stdout: (our non-blocking read end, git's write end), both close-on-exec."""
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    os.set_blocking(read_fd, False)
    return read_fd, write_fd


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _read_output(fd: int) -> AsyncGenerator[bytes, None]:
    """Everything written to the pipe ``fd``, a read's worth at a time, until every writer closed it.

    Reads first and waits for the loop only when the pipe is empty: while the relay is behind git
    (the usual case on a big clone) no wake-up is spent at all.
    """
    loop = asyncio.get_running_loop()
    while True:
        try:
            data = os.read(fd, PIPE_SIZE)
        except BlockingIOError:
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _wake, readable)
            try:
                await readable
            finally:
                loop.remove_reader(fd)
            continue
        if not data:
            return
        yield data


async def _spawn(
    args: list[str], env: dict[str, str], *, stdin: int = asyncio.subprocess.DEVNULL
) -> tuple[asyncio.subprocess.Process, int]:
    """Start git with its stdout on a fresh :func:`_output_pipe`; returns the process and our read end."""
    read_fd, write_fd = _output_pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            "git", *args, stdin=stdin, stdout=write_fd, stderr=asyncio.subprocess.DEVNULL, env=env
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)  # git holds its own copy: end of output is git closing it
    return proc, read_fd


async def _finish(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    await proc.wait()


async def advertise_refs(service: str, project_id: int, *, git_protocol: str | None) -> AsyncGenerator[bytes, None]:
    """The ``info/refs`` response body: the service line (protocol v0/v1 only) and git's advertisement."""
    args = [service.removeprefix("git-"), "--stateless-rpc", "--advertise-refs", str(storage_path(project_id))]
    proc, output = await _spawn(args, _env(git_protocol, None))
    try:
        if "version=2" not in (git_protocol or ""):
            yield pkt_line(f"# service={service}\n") + b"0000"
        async for chunk in _read_output(output):
            yield chunk
    finally:
        os.close(output)
        await _finish(proc)


async def _feed(proc: asyncio.subprocess.Process, body: AsyncIterator[bytes], gzipped: bool) -> None:
    assert proc.stdin is not None
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    try:
        async for chunk in body:
            data = inflater.decompress(chunk) if inflater else chunk
            if data:
                proc.stdin.write(data)
                await proc.stdin.drain()  # back-pressure: never buffer more than the pipe holds
        if inflater:
            tail = inflater.flush()
            if tail:
                proc.stdin.write(tail)
                await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # git stopped reading (it answered early or failed); its output says why
    finally:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.close()
            await proc.stdin.wait_closed()


async def stateless_rpc(
    service: str,
    project_id: int,
    body: AsyncIterator[bytes],
    *,
    gzipped: bool,
    git_protocol: str | None,
    env: Mapping[str, str] | None = None,
) -> AsyncGenerator[bytes, None]:
    """Run ``git upload-pack|receive-pack --stateless-rpc`` with ``body`` as input, yielding its output."""
    limiter = _pack_slots[project_id] if service == "git-upload-pack" else contextlib.nullcontext()
    async with limiter:
        args = [service.removeprefix("git-"), "--stateless-rpc", str(storage_path(project_id))]
        proc, output = await _spawn(args, _env(git_protocol, env), stdin=asyncio.subprocess.PIPE)
        feeder = asyncio.create_task(_feed(proc, body, gzipped))
        try:
            async for chunk in _read_output(output):
                yield chunk
            await feeder
        finally:
            os.close(output)  # a client gone mid-clone: git's next write fails and it exits
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
            if proc.returncode is None:
                # git finished writing; give it a moment to exit on its own (receive-pack runs post-receive).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), timeout=300)
            await _finish(proc)
