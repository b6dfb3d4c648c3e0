from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "dockyard.projects"
    label = "projects"
