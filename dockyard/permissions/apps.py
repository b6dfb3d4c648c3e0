from django.apps import AppConfig


class PermissionsConfig(AppConfig):
    name = "dockyard.permissions"
    label = "permissions"
