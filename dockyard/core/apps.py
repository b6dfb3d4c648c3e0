from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "dockyard.core"
    label = "core"

    def ready(self) -> None:
        from dockyard.core import logging

        logging.configure()
