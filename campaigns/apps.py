from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from loyalty.boosts import provider_register

        from .provider import CAMPAIGN_BOOSTS

        provider_register(CAMPAIGN_BOOSTS)
        post_migrate.connect(_seed_after_migrate, sender=self)


def _seed_after_migrate(**kwargs: object) -> None:
    from django.apps import apps

    if apps.is_installed("django_celery_beat"):
        from .schedules import schedules_seed

        schedules_seed()
