"""Ledger records (accounts, entries, lots, operations, purchases, refunds, redemptions,
activities): read-only for everyone, superusers included; points move through services."""

from django.contrib import admin

from ..models import Account, Activity, LedgerEntry, Lot, Operation, Purchase, Redemption, Refund
from .exports import FilteredExportMixin
from .readonly import ReadOnlyAdmin


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "system_code", "balance", "debt", "version")
    list_filter = ("system_code",)
    search_fields = ("member__external_id", "member__name")
    list_select_related = ("member",)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(FilteredExportMixin, ReadOnlyAdmin):
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
