"""git's smart HTTP transport: ``upload-pack`` / ``receive-pack`` in stateless-RPC mode, streamed.

Request bodies are piped into git as they arrive and git's output is sent on as git writes it, so
memory stays bounded by the pipe buffers whatever the size of a pack.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping

from dockyard.repos.git.admin import _base_env, storage_path

SERVICES = frozenset({"git-upload-pack", "git-receive-pack"})
CHUNK = 64 * 1024
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


async def _stream_stdout(proc: asyncio.subprocess.Process) -> AsyncIterator[bytes]:
    assert proc.stdout is not None
    while chunk := await proc.stdout.read(CHUNK):
        yield chunk


async def _finish(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    await proc.wait()


async def advertise_refs(service: str, project_id: int, *, git_protocol: str | None) -> AsyncIterator[bytes]:
    """The ``info/refs`` response body: the service line (protocol v0/v1 only) and git's advertisement."""
    env = _env(git_protocol, None)
    proc = await asyncio.create_subprocess_exec(
        "git",
        service.removeprefix("git-"),
        "--stateless-rpc",
        "--advertise-refs",
        str(storage_path(project_id)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    try:
        if "version=2" not in (git_protocol or ""):
            yield pkt_line(f"# service={service}\n") + b"0000"
        async for chunk in _stream_stdout(proc):
            yield chunk
    finally:
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
) -> AsyncIterator[bytes]:
    """Run ``git upload-pack|receive-pack --stateless-rpc`` with ``body`` as input, yielding its output."""
    limiter = _pack_slots[project_id] if service == "git-upload-pack" else contextlib.nullcontext()
    async with limiter:
        proc = await asyncio.create_subprocess_exec(
            "git",
            service.removeprefix("git-"),
            "--stateless-rpc",
            str(storage_path(project_id)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=_env(git_protocol, env),
        )
        feeder = asyncio.create_task(_feed(proc, body, gzipped))
        try:
            async for chunk in _stream_stdout(proc):
                yield chunk
            await feeder
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
            if proc.returncode is None:
                # git finished writing; give it a moment to exit on its own (receive-pack runs post-receive).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), timeout=300)
            await _finish(proc)
