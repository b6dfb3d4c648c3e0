from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "dockyard.events"
    label = "events"
