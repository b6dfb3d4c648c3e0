"""(e) An experiment: a buffered WSGI bridge with one thread hop each way per request.

The request body is read on the event loop first; the whole WSGI call (view, response iteration)
then runs in one executor job that returns status, headers and body together, and the loop sends them.
a2wsgi instead waits on the loop for every response message from inside the worker thread.

Not production-ready as written: a streaming response (``StreamingHttpResponse``, ``FileResponse``)
would be held in memory whole; a real version would fall back to chunk-by-chunk sending for those
(``response.streaming``), and Dockyard sends big bodies through native routes anyway.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from a2wsgi.wsgi import build_environ

from baseline.routing import Receive, Router, Scope, Send, wsgi_app_from_env

Result = tuple[int, list[tuple[bytes, bytes]], bytes]


class BufferedWSGI:
    def __init__(self, app: Callable[..., Iterable[bytes]], threads: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        # a2wsgi's own environ builder, so both bridges hand Django the same environ; it only stores
        # the body object as ``wsgi.input``, so a BytesIO does for its Body class.
        environ = build_environ(cast(Any, scope), cast(Any, io.BytesIO(bytes(body))))
        call = functools.partial(contextvars.copy_context().run, self._call, environ)
        status, headers, content = await asyncio.get_running_loop().run_in_executor(self.executor, call)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def _call(self, environ: Any) -> Result:
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            started[:] = [status, headers]
            return chunks.append

        iterable = self.app(environ, start_response)
        try:
            chunks.extend(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        status, headers = started
        encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        return int(status.split(" ", 1)[0]), encoded, b"".join(chunks)


THREADS = int(os.environ.get("BENCH_BRIDGE_THREADS", "16"))
application = Router(BufferedWSGI(wsgi_app_from_env(), THREADS))
