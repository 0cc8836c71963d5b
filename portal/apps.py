from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from portal.console import roles_post_migrate

        # The console roles are (re)made after every migrate, and after the flush between transactional tests.
        post_migrate.connect(roles_post_migrate, sender=self, dispatch_uid="portal.roles")

        from portal.apikeys import api_key_deleted

        post_delete.connect(api_key_deleted, sender="portal.ApiKey", dispatch_uid="portal.api_key_deleted")
