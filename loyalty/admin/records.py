"""Ledger records (accounts, entries, lots, operations, purchases, refunds, redemptions,
activities): read-only for everyone, superusers included; points move through services.

Every list is built for ten million rows (see :mod:`.readonly`): ordered newest first by
primary key, sortable only by indexed columns, no filter that would scan, and a search that
is an exact match on an indexed column: an order id, refund id, operation key or reference,
a member's external id, or the row's own id.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model, Q
from django.utils.translation import gettext_lazy as _

from ..models import Account, Activity, LedgerEntry, Lot, Operation, Purchase, Redemption, Refund
from .exports import FilteredExportMixin
from .readonly import ReadOnlyAdmin, account_id_for, member_id_for, operation_keys_for, pk_filter


def operation_ids_for(term: str) -> list[int]:
    """The operations a typed reference names (unique index on the key)."""
    return list(Operation.objects.filter(key__in=operation_keys_for(term)).values_list("pk", flat=True))


def operation_or_account_filter(term: str) -> Q:
    """Rows of the operation a typed reference names, or of the account of the member it names
    (each an indexed lookup done first, so the list's query is an OR over indexed columns)."""
    found = Q()
    operation_ids = operation_ids_for(term)
    if operation_ids:
        found |= Q(operation_id__in=operation_ids)
    account_id = account_id_for(term)
    if account_id:
        found |= Q(account_id=account_id)
    return found


@admin.display(description=_("points account"))
def account_column(row: Model) -> str:
    """The account an entry or lot belongs to (the model's field has no translated label)."""
    return str(row.account)  # type: ignore[attr-defined]


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "__str__", "system_code", "balance", "debt", "version")
    list_filter = ("system_code",)
    list_select_related = ("member",)
    search_fields = ("member__external_id",)
    search_help_text = _("Exact member external id or account id.")
    sortable_by = ("id",)

    def search_filter(self, term: str) -> Q:
        member_id = member_id_for(term)
        return pk_filter(term) | Q(member_id=member_id) if member_id else pk_filter(term)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(FilteredExportMixin, ReadOnlyAdmin):
    list_display = ("id", account_column, "kind", "source", "points", "balance_after", "order_id", "occurred_at")
    list_select_related = ("account__member",)
    search_fields = ("order_id", "reference", "account__member__external_id")
    search_help_text = _("Exact order id, refund id, reference, operation key, member external id or entry id.")
    sortable_by = ("id",)
    raw_id_fields = ("operation", "account", "lot")

    def search_filter(self, term: str) -> Q:
        return pk_filter(term) | Q(order_id=term) | operation_or_account_filter(term)


@admin.register(Lot)
class LotAdmin(ReadOnlyAdmin):
    list_display = ("id", account_column, "source", "points", "remaining", "available_on", "expires_on")
    list_select_related = ("account__member",)
    search_fields = ("account__member__external_id",)
    search_help_text = _("Exact member external id, order id or operation key, or lot id.")
    sortable_by = ("id",)
    raw_id_fields = ("account", "operation", "moved_from")

    def search_filter(self, term: str) -> Q:
        return pk_filter(term) | operation_or_account_filter(term)


@admin.register(Operation)
class OperationAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "key", "actor_label", "created_at")
    search_fields = ("key",)
    search_help_text = _("Exact operation key (e.g. purchase:ORDER-1) or the id after the colon, or operation id.")
    sortable_by = ("id",)
    raw_id_fields = ("actor",)

    def search_filter(self, term: str) -> Q:
        return pk_filter(term) | Q(key__in=operation_keys_for(term))


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = ("order_id", "member", "amount", "refunded_amount", "points", "points_reversed", "occurred_at")
    list_select_related = ("member",)
    search_fields = ("order_id", "member__external_id")
    search_help_text = _("Exact order id or member external id.")
    raw_id_fields = ("member", "store", "lot", "operation")

    def search_filter(self, term: str) -> Q:
        member_id = member_id_for(term)
        found = Q(order_id=term)
        return found | Q(member_id=member_id) if member_id else found


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("refund_id", "purchase", "amount", "points_reversed", "points_restored", "created_at")
    list_select_related = ("purchase",)
    search_fields = ("refund_id", "purchase__order_id")
    search_help_text = _("Exact refund id or the order id of its purchase.")
    raw_id_fields = ("purchase", "operation")

    def search_filter(self, term: str) -> Q:
        found = Q(refund_id=term)
        purchase_id = Purchase.objects.filter(order_id=term).values_list("pk", flat=True).first()
        return found | Q(purchase_id=purchase_id) if purchase_id else found


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = ("id", "member", "order_id", "points", "status", "created_at")
    list_select_related = ("member",)
    search_fields = ("order_id", "idempotency_key", "member__external_id")
    search_help_text = _("Exact order id, idempotency key, member external id or redemption id.")
    sortable_by = ("id",)
    raw_id_fields = ("member", "operation", "cancel_operation")

    def search_filter(self, term: str) -> Q:
        found = pk_filter(term) | Q(order_id=term) | Q(idempotency_key=term)
        member_id = member_id_for(term)
        return found | Q(member_id=member_id) if member_id else found


@admin.register(Activity)
class ActivityAdmin(ReadOnlyAdmin):
    list_display = ("type", "reference", "member", "points", "occurred_at")
    list_select_related = ("member",)
    search_fields = ("reference", "member__external_id")
    search_help_text = _("Exact activity reference or member external id.")
    raw_id_fields = ("member", "rule", "operation")

    def search_filter(self, term: str) -> Q:
        found = Q(reference=term)
        member_id = member_id_for(term)
        return found | Q(member_id=member_id) if member_id else found
