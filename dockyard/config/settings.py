"""Django settings. Values come from :mod:`dockyard.config.env`, never from ``os.environ`` here."""

from __future__ import annotations

import dj_database_url

from dockyard.config.env import ENV

BASE_DIR = ENV.home
SECRET_KEY = ENV.secret_key
DEBUG = ENV.debug
ALLOWED_HOSTS = ["*"]
# Behind a TLS-terminating proxy the scheme comes from X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = True

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "dockyard.core",
    "dockyard.accounts",
    "dockyard.namespaces",
    "dockyard.projects",
    "dockyard.permissions",
    "dockyard.repos",
    "dockyard.events",
    "dockyard.issues",
    "dockyard.notes",
    "dockyard.merge_requests",
    "dockyard.webhooks",
    "dockyard.ci",
    "dockyard.notifications",
    "dockyard.web",
]

MIDDLEWARE = [
    "dockyard.core.middleware.RequestContextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "dockyard.accounts.middleware.BlockedUserSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dockyard.config.urls"
WSGI_APPLICATION = "dockyard.config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/users/sign_in"
LOGIN_REDIRECT_URL = "/"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dockyard.web.context.site",
            ],
        },
    },
]

if ENV.database_url:
    DATABASES = {"default": dj_database_url.parse(ENV.database_url, conn_max_age=600, conn_health_checks=True)}
else:
    ENV.home.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(ENV.sqlite_path),
            "OPTIONS": {
                # Writers take the lock when their transaction starts (BEGIN IMMEDIATE), so a
                # reader-turned-writer never hits "database is locked" mid-transaction; WAL lets
                # readers run beside the one writer; busy_timeout queues writers instead of failing.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
                    " PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
                ),
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
]

SESSION_COOKIE_NAME = "_gitlab_session"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/-/static/"
STATIC_ROOT = str(ENV.home / "static")
(ENV.home / "static").mkdir(parents=True, exist_ok=True)  # whitenoise warns on a missing root
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = False

NINJA_PAGINATION_MAX_LIMIT = 100

# Background work (docs/decisions/0003-background-tasks.md): Django's task API (django-tasks) on the
# database backend, run by an embedded worker thread or by `dockyard worker` processes. "immediate"
# runs tasks inline, which in-process unit tests use.
TASKS = {
    "default": {
        "BACKEND": (
            "django_tasks.backends.immediate.ImmediateBackend"
            if ENV.tasks_backend == "immediate"
            else "django_tasks_db.DatabaseBackend"
        ),
    }
}

# Outgoing mail through Django's SMTP backend, configured by DOCKYARD_SMTP_* (docs/admin-guide.md).
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = ENV.smtp_host or "localhost"
EMAIL_PORT = ENV.smtp_port
EMAIL_HOST_USER = ENV.smtp_user
EMAIL_HOST_PASSWORD = ENV.smtp_password
EMAIL_USE_TLS = ENV.smtp_tls == "starttls"
EMAIL_USE_SSL = ENV.smtp_tls == "ssl"
EMAIL_TIMEOUT = ENV.smtp_timeout
DEFAULT_FROM_EMAIL = ENV.email_from

LOGGING_CONFIG = None  # dockyard.core.logging configures structlog + stdlib once
