from django.apps import AppConfig


class KeyprofilesConfig(AppConfig):
    name = "keyprofiles"
    verbose_name = "Key profiles"
