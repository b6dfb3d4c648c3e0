from django.apps import AppConfig


class CiConfig(AppConfig):
    name = "dockyard.ci"
    label = "ci"

    def ready(self) -> None:
        # The post-push listener that creates pipelines, and the CI job token as a git credential.
        from dockyard.ci import tasks  # noqa: F401
        from dockyard.ci.schemas import commit_last_pipeline
        from dockyard.ci.selectors import job_token_git_user
        from dockyard.repos.selectors import register_commit_pipeline_lookup, register_job_token_check

        register_job_token_check(job_token_git_user)
        register_commit_pipeline_lookup(commit_last_pipeline)
