"""Request and response shapes of the REST contract (../shared/API.md)."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from members.models import Channel, Member

from ..models import EntryKind, LedgerEntry
from .fields import (
    BirthdayField,
    IdentifierField,
    LineAmountField,
    NameField,
    PhoneField,
    PositiveAmountField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictSlugField,
)


def money_field() -> serializers.DecimalField:
    """Money in: an ASCII decimal string or number, positive, with at most two decimals."""
    return PositiveAmountField()


class ConsentSerializer(serializers.Serializer):
    sms = StrictBooleanField(required=False)
    email = StrictBooleanField(required=False)


class MemberInputSerializer(serializers.Serializer):
    name = NameField(max_length=100)
    phone = PhoneField(max_length=30, required=False, allow_blank=True, allow_null=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, allow_null=True)
    birthday = BirthdayField(required=False, allow_null=True)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    store_code = StrictCharField(max_length=32, required=False, allow_blank=True, allow_null=True)
    referrer_code = StrictCharField(max_length=16, required=False, allow_blank=True, allow_null=True)
    marketing_consent = ConsentSerializer(required=False)


class TierRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class MemberOutputSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    name = serializers.CharField()
    phone = serializers.CharField()
    email = serializers.CharField()
    birthday = serializers.DateField(allow_null=True)
    channel = serializers.CharField()
    store_code = serializers.SerializerMethodField()
    referral_code = serializers.CharField()
    referrer_code = serializers.SerializerMethodField()
    marketing_consent = serializers.SerializerMethodField()
    tier = serializers.SerializerMethodField()
    joined_at = serializers.DateTimeField()
    status = serializers.CharField()

    def get_store_code(self, member: Member) -> str | None:
        return member.home_store.code if member.home_store_id and member.home_store else None

    def get_referrer_code(self, member: Member) -> str | None:
        return member.referred_by.referral_code if member.referred_by_id and member.referred_by else None

    def get_marketing_consent(self, member: Member) -> dict[str, bool]:
        return {"sms": member.marketing_sms, "email": member.marketing_email}

    def get_tier(self, member: Member) -> dict[str, str] | None:
        return {"code": member.tier.code, "name": member.tier.name} if member.tier_id and member.tier else None


class MemberListSerializer(serializers.Serializer):
    results = MemberOutputSerializer(many=True)


class ItemSerializer(serializers.Serializer):
    sku = StrictCharField(max_length=64, required=False, allow_blank=True)
    category = StrictCharField(max_length=64, required=False, allow_blank=True)
    amount = LineAmountField()
    quantity = StrictIntegerField(min_value=1, max_value=100000, required=False, default=1)


class BalanceSerializer(serializers.Serializer):
    available = serializers.IntegerField()
    pending = serializers.IntegerField()


class PurchaseInputSerializer(serializers.Serializer):
    external_id = IdentifierField(max_length=64)
    order_id = IdentifierField(max_length=100)
    amount = money_field()
    occurred_at = serializers.DateTimeField(required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    store_code = StrictCharField(max_length=32, required=False, allow_blank=True)
    items = ItemSerializer(many=True, required=False, max_length=500)  # type: ignore[call-arg]


class BreakdownSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=["rule", "tier", "campaign"])  # type: ignore[assignment]
    name = serializers.CharField()
    points = serializers.IntegerField()


class PurchaseOutputSerializer(serializers.Serializer):
    order_id = serializers.CharField()
    points = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["pending", "available"])
    available_on = serializers.DateField()
    expires_on = serializers.DateField(allow_null=True)
    breakdown = BreakdownSerializer(many=True)
    balance = BalanceSerializer()


class RefundInputSerializer(serializers.Serializer):
    refund_id = IdentifierField(max_length=100)
    amount = money_field()


class RefundOutputSerializer(serializers.Serializer):
    refund_id = serializers.CharField()
    points_reversed = serializers.IntegerField()
    points_restored = serializers.IntegerField()
    balance = BalanceSerializer()


class RedemptionInputSerializer(serializers.Serializer):
    external_id = IdentifierField(max_length=64)
    points = StrictIntegerField(min_value=1, max_value=10**12)
    order_id = IdentifierField(max_length=100)
    order_amount = money_field()
    items = ItemSerializer(many=True, required=False, max_length=500)  # type: ignore[call-arg]


class RedemptionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    points = serializers.IntegerField()
    balance = BalanceSerializer()


class CancelOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    points_restored = serializers.IntegerField()
    balance = BalanceSerializer()


class ActivityInputSerializer(serializers.Serializer):
    external_id = IdentifierField(max_length=64)
    type = StrictSlugField(max_length=40)
    reference = IdentifierField(max_length=200)
    occurred_at = serializers.DateTimeField(required=False)


class ActivityOutputSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    rule = serializers.CharField(required=False, allow_null=True)
    reason = serializers.CharField(required=False)
    balance = BalanceSerializer()


class ExpiringSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    expires_on = serializers.DateField()


class NextTierSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    amount_to_go = serializers.CharField()


class BalanceOutputSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    available = serializers.IntegerField()
    pending = serializers.IntegerField()
    tier = TierRefSerializer(allow_null=True)
    next_tier = NextTierSerializer(allow_null=True)
    expiring_soon = ExpiringSerializer(many=True)
    point_value = serializers.CharField()
    currency = serializers.CharField()
    as_of = serializers.DateTimeField()


class EntrySerializer(serializers.ModelSerializer):
    available_on = serializers.SerializerMethodField()
    expires_on = serializers.SerializerMethodField()
    description = serializers.CharField()
    kind = serializers.ChoiceField(choices=EntryKind.choices)

    class Meta:
        model = LedgerEntry
        fields = ["id", "kind", "points", "balance_after", "description", "order_id", "occurred_at",
                  "available_on", "expires_on"]

    def get_available_on(self, entry: LedgerEntry) -> str | None:
        return entry.lot.available_on.isoformat() if entry.lot_id and entry.lot else None

    def get_expires_on(self, entry: LedgerEntry) -> str | None:
        return entry.lot.expires_on.isoformat() if entry.lot_id and entry.lot and entry.lot.expires_on else None


class HistoryPageSerializer(serializers.Serializer):
    """One page of history: ``next`` is the URL of the following page, null on the last."""

    results = EntrySerializer(many=True)
    next = serializers.URLField(allow_null=True)


class WidgetTokenInputSerializer(serializers.Serializer):
    external_id = IdentifierField(max_length=64)


class WidgetTokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


def money(value: Decimal) -> str:
    """Decimal strings with the currency's precision: ``"45000"``, ``"12.50"``."""
    normalized = value.quantize(Decimal("0.01"))
    return f"{normalized:f}".removesuffix(".00")


