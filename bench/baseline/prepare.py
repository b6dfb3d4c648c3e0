"""Create the baseline database: tables for auth, and the one user the ORM view reads."""

from __future__ import annotations

import os


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baseline.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    if not User.objects.filter(pk=1).exists():
        User.objects.create(pk=1, username="root", email="root@example.com")


if __name__ == "__main__":
    main()
