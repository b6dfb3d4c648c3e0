"""The WSGI application for Django's ordinary requests (see docs/decisions/0001-serving.md)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockyard.config.settings")
application = get_wsgi_application()
