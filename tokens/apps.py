from django.apps import AppConfig


class TokensConfig(AppConfig):
    name = "tokens"
    verbose_name = "Token APIs"

    def ready(self) -> None:
        from tokens import admin_rotation, checks  # noqa: F401 - checks registers the system checks

        # The admin discovered every app's admin module before this app is ready (django.contrib.admin comes
        # first in INSTALLED_APPS); the key-profile admin gains its Rotate page now.
        admin_rotation.install()

        from portal.views import register_version_probe, register_warm_probe
        from tokens.runtime import gateway

        register_warm_probe("gateway", gateway.is_warm)
        register_version_probe("gateway", gateway.serving_version)

        from portal.metrics import register_collector
        from tokens import metrics

        gateway.on_refresh.append(metrics.record_refresh)
        register_collector(metrics.certificate_expiry)
