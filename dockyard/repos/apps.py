from django.apps import AppConfig


class ReposConfig(AppConfig):
    name = "dockyard.repos"
    label = "repos"
