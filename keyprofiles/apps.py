from django.apps import AppConfig


class KeyprofilesConfig(AppConfig):
    name = "keyprofiles"
    verbose_name = "Key profiles"

    def ready(self) -> None:
        from keyprofiles import checks  # noqa: F401 - registers the system checks
        from keyprofiles.selectors import keyprofile_names
        from portal.profile_names import profile_names_provider_register

        profile_names_provider_register(keyprofile_names)
