from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "dockyard.notifications"
    label = "notifications"
