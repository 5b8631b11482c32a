from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_migrate, post_save

        from .roles import roles_sync_after_migrate
        from .selectors import tiers_cache_clear

        for signal in (post_save, post_delete):
            signal.connect(tiers_cache_clear, sender="members.Tier", dispatch_uid="members_tiers_cache_clear")
        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="members.roles_sync")
