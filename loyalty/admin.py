"""Plain admin registrations; ledger data is read-only here: points move through services."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import (
    Account,
    Activity,
    Adjustment,
    EarningRule,
    LedgerEntry,
    Lot,
    Operation,
    ProgramPolicy,
    Purchase,
    Redemption,
    Refund,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is written by the loyalty services only; staff read it here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(EarningRule)
class EarningRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "activity_type", "points", "rate_points", "rate_amount",
                    "pending_days", "validity_days", "priority", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "activity_type")


@admin.register(ProgramPolicy)
class ProgramPolicyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "point_value", "redeem_min_points", "redeem_unit", "redeem_max_share",
                    "negative_balance_policy")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not ProgramPolicy.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "system_code", "balance", "debt", "version")
    list_filter = ("system_code",)
    search_fields = ("member__external_id", "member__name")
    list_select_related = ("member",)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "kind", "source", "points", "balance_after", "order_id", "occurred_at")
    list_filter = ("kind", "source")
    search_fields = ("order_id", "reference", "account__member__external_id")
    list_select_related = ("account__member",)


@admin.register(Lot)
class LotAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "source", "points", "remaining", "available_on", "expires_on")
    list_filter = ("source",)
    list_select_related = ("account__member",)


@admin.register(Operation)
class OperationAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "key", "actor_label", "created_at")
    list_filter = ("kind",)
    search_fields = ("key",)


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = ("order_id", "member", "amount", "refunded_amount", "points", "points_reversed", "occurred_at")
    search_fields = ("order_id", "member__external_id")
    list_select_related = ("member",)


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("refund_id", "purchase", "amount", "points_reversed", "points_restored", "created_at")
    search_fields = ("refund_id", "purchase__order_id")


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = ("id", "member", "order_id", "points", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("order_id", "member__external_id")
    list_select_related = ("member",)


@admin.register(Activity)
class ActivityAdmin(ReadOnlyAdmin):
    list_display = ("type", "reference", "member", "points", "occurred_at")
    list_filter = ("type",)
    search_fields = ("reference", "member__external_id")


@admin.register(Adjustment)
class AdjustmentAdmin(ReadOnlyAdmin):
    list_display = ("member", "points", "reason", "status", "requested_by", "decided_by", "created_at")
    list_filter = ("status",)

from . import admin_keys  # noqa: E402, F401  (registers the API key admin)
