from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from axes.signals import user_locked_out  # type: ignore[import-untyped]
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from portal.apikeys import api_key_deleted
        from portal.console import audit_login_failure, audit_login_lockout, audit_login_success, roles_post_migrate

        # The console roles are (re)made after every migrate, and after the flush between transactional tests.
        post_migrate.connect(roles_post_migrate, sender=self, dispatch_uid="portal.roles")
        # Every console login, failed, refused while locked out, or successful, is an audit event.
        user_login_failed.connect(audit_login_failure, dispatch_uid="portal.audit_login_failure")
        user_locked_out.connect(audit_login_lockout, dispatch_uid="portal.audit_login_lockout")
        user_logged_in.connect(audit_login_success, dispatch_uid="portal.audit_login_success")
        # A deleted API key stops working on every process within seconds, as a revoked one does.
        post_delete.connect(api_key_deleted, sender="portal.ApiKey", dispatch_uid="portal.api_key_deleted")
