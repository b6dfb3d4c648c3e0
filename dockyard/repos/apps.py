from django.apps import AppConfig


class ReposConfig(AppConfig):
    name = "dockyard.repos"
    label = "repos"

    def ready(self) -> None:
        # Registers the post-push listeners this app owns.
        from dockyard.repos import tasks  # noqa: F401
