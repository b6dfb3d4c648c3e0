from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "dockyard.webhooks"
    label = "webhooks"

    def ready(self) -> None:
        # Registers the push listener (``repos.services.on_push``) that queues push and tag push hooks.
        from dockyard.webhooks import tasks  # noqa: F401
