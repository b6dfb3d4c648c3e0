from django.apps import AppConfig


class IssuesConfig(AppConfig):
    name = "dockyard.issues"
    label = "issues"

    def ready(self) -> None:
        # Registers the post-push listener that closes issues named in commit messages.
        from dockyard.issues import tasks  # noqa: F401
