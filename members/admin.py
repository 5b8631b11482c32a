"""Identity reference data in the admin: stores, tiers and the tier history.

The member admin itself lives in :mod:`loyalty.admin.members`: a member's page shows points,
which ``members`` may not import.
"""


from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import Store, Tier, TierChange


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "channel", "is_active")
    list_filter = ("channel", "is_active")
    search_fields = ("code", "name")


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ("rank", "code", "name", "basis", "threshold", "window_months", "earn_multiplier", "is_active")
    ordering = ("rank",)


admin.site.site_header = _("Dangol loyalty back office")
admin.site.site_title = _("Dangol")
admin.site.index_title = _("Operations")


@admin.register(TierChange)
class TierChangeAdmin(admin.ModelAdmin):
    list_display = ("member", "from_tier", "to_tier", "reason", "changed_at")
    list_filter = ("reason",)
    raw_id_fields = ("member",)

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
