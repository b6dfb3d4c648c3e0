"""(c) What ``dockyard serve`` did until the WSGIBridge shipped: a small router -> a2wsgi -> a WSGI app.

``a2wsgi.WSGIMiddleware`` runs the WSGI application on a pool of ``BENCH_BRIDGE_THREADS`` threads
(Dockyard: ``DOCKYARD_WEB_THREADS``, default 16) and hands every response message (start, each body
chunk, the final empty chunk) back to the event loop one at a time, waiting for each.
"""

from __future__ import annotations

import os

from a2wsgi import WSGIMiddleware

from baseline.routing import Router, wsgi_app_from_env

THREADS = int(os.environ.get("BENCH_BRIDGE_THREADS", "16"))
application = Router(WSGIMiddleware(wsgi_app_from_env(), workers=THREADS))  # type: ignore[arg-type]
