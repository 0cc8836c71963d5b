from django.apps import AppConfig


class KeyprofilesConfig(AppConfig):
    name = "keyprofiles"
    verbose_name = "Key profiles"

    def ready(self) -> None:
        from keyprofiles import checks  # noqa: F401 - registers the system checks
