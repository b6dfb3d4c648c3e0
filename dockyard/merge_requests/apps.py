from django.apps import AppConfig


class MergeRequestsConfig(AppConfig):
    name = "dockyard.merge_requests"
    label = "merge_requests"

    def ready(self) -> None:
        # Registers the post-push listener that refreshes merge requests of pushed branches.
        from dockyard.merge_requests import tasks  # noqa: F401
