from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "dockyard.notes"
    label = "notes"
