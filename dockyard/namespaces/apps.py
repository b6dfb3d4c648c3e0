from django.apps import AppConfig


class NamespacesConfig(AppConfig):
    name = "dockyard.namespaces"
    label = "namespaces"
