from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "dockyard.web"
    label = "web"
