"""(b)/(d) Django's own ASGI handler: sync views run through ``sync_to_async`` on one thread."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baseline.settings")
application = get_asgi_application()
