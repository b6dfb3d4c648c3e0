"""Minimal settings: auth + contenttypes for one ORM query on SQLite, no middleware, no templates.

This is the cheapest Django that still does a real request: URL resolution, a view, one query and a
JSON response. Everything Dockyard adds on top (middleware, token auth, django-ninja, schemas, the
ASGI bridge) shows up as the ratio between the two.
"""

from __future__ import annotations

import os

SECRET_KEY = "bench-only-not-secret"  # never served beyond loopback
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "baseline.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCH_BASELINE_DB", "/tmp/dockyard-bench-baseline.sqlite3"),
        # 0 (Django's default, and Dockyard's on SQLite): a new connection per request.
        "CONN_MAX_AGE": int(os.environ.get("BENCH_CONN_MAX_AGE", "0")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
LOGGING_CONFIG = None
