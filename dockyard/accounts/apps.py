from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "dockyard.accounts"
    label = "accounts"
