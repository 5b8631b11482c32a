"""Plain admin registrations for identity data (the rich member page is its own work)."""

from django.contrib import admin

from .models import Member, Store, Tier, TierChange


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "channel", "is_active")
    list_filter = ("channel", "is_active")
    search_fields = ("code", "name")


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ("rank", "code", "name", "basis", "threshold", "window_months", "earn_multiplier", "is_active")
    ordering = ("rank",)


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("external_id", "name", "phone", "email", "tier", "channel", "status", "joined_at")
    list_filter = ("status", "channel", "tier", "home_store")
    search_fields = ("external_id", "name", "phone", "email", "referral_code")
    list_select_related = ("tier",)
    raw_id_fields = ("referred_by", "merged_into")
    readonly_fields = ("referral_code", "joined_at", "updated_at", "birthday_changed_at", "marketing_consent_at")


@admin.register(TierChange)
class TierChangeAdmin(admin.ModelAdmin):
    list_display = ("member", "from_tier", "to_tier", "reason", "changed_at")
    list_filter = ("reason",)
    raw_id_fields = ("member",)

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
