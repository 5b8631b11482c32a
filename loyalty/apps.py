from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty points")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate, post_save

        from .api import schema  # noqa: F401  (registers the OpenAPI auth extensions)
        from .policy import policy_cache_clear

        post_migrate.connect(_seed_after_migrate, sender=self)
        post_save.connect(policy_cache_clear, sender="loyalty.ProgramPolicy")


def _seed_after_migrate(**kwargs: object) -> None:
    from django.apps import apps

    if apps.is_installed("django_celery_beat"):
        from .schedules import schedules_seed

        schedules_seed()
