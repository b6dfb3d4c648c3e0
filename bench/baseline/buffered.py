"""(e) What ``dockyard serve`` ships: ASGI server -> a small router -> Dockyard's ``WSGIBridge``.

``dockyard.config.wsgi_bridge.WSGIBridge`` reads the request body on the event loop, runs the whole
WSGI call as one job on a pool of ``BENCH_BRIDGE_THREADS`` threads (Dockyard: ``DOCKYARD_WEB_THREADS``)
and sends status, headers and body from the loop: one thread hop each way per ordinary request. It
started as an experiment in this file (decision 0001) and now ships; the module imports nothing from
Django or Dockyard's settings, so the bare baseline can use it as is.
"""

from __future__ import annotations

import os

from baseline.routing import Router, wsgi_app_from_env
from dockyard.config.wsgi_bridge import WSGIBridge

THREADS = int(os.environ.get("BENCH_BRIDGE_THREADS", "16"))
application = Router(WSGIBridge(wsgi_app_from_env(), threads=THREADS))
