from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("Audit trail")

    def ready(self) -> None:
        from .context import log_entry_fill_context
        from .tracking import tracking_register

        tracking_register()
        log_entry_fill_context()
