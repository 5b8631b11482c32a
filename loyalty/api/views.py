"""The REST API: one class per operation, thin over the services (../shared/API.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from members.models import Member, Store
from members.selectors import members_by_email, members_by_phone
from members.services import UNSET

from .. import clock, services
from ..errors import MemberNotFound, NotFound
from ..models import ApiKey, ApiScope, EntryKind, LedgerEntry, Purchase, Redemption
from ..policy import policy_cached
from ..selectors import balance_card, member_with_tier
from .auth import ApiKeyAuthentication, HasScope, IsWidgetToken, WidgetTokenAuthentication
from .fields import IDENTIFIER_FORMAT, IDENTIFIER_PATTERN, identifier_problem
from .keys import WidgetClaims, widget_token_issue
from .serializers import (
    ActivityInputSerializer,
    ActivityOutputSerializer,
    BalanceOutputSerializer,
    CancelOutputSerializer,
    EntrySerializer,
    ErrorSerializer,
    HistoryPageSerializer,
    MemberInputSerializer,
    MemberListSerializer,
    MemberOutputSerializer,
    PurchaseInputSerializer,
    PurchaseOutputSerializer,
    RedemptionInputSerializer,
    RedemptionOutputSerializer,
    RefundInputSerializer,
    RefundOutputSerializer,
    WidgetTokenInputSerializer,
    WidgetTokenOutputSerializer,
    money,
)
from .throttle import ApiKeyRateThrottle

BALANCE_EXAMPLE = OpenApiExample("Balance card", response_only=True, value={
    "external_id": "C1001", "available": 3200, "pending": 450, "tier": {"code": "gold", "name": "Gold"},
    "next_tier": {"code": "vip", "name": "VIP", "amount_to_go": "80000"},
    "expiring_soon": [{"points": 500, "expires_on": "2026-12-31"}],
    "point_value": "1", "currency": "KRW", "as_of": "2026-11-24T09:00:00+09:00"})
PURCHASE_EXAMPLE = OpenApiExample("Points earned", response_only=True, status_codes=["201"], value={
    "order_id": "A-20261124-0001", "points": 450, "status": "pending", "available_on": "2026-12-01",
    "expires_on": "2027-11-24", "breakdown": [{"source": "rule", "name": "구매 적립 (100원당 1P)", "points": 450}],
    "balance": {"available": 3200, "pending": 900}})
ERROR_EXAMPLES = [
    OpenApiExample("Not enough points", response_only=True, status_codes=["409"],
                   value={"code": "insufficient_points", "detail": "Only 800 points are available; 1000 were asked."}),
    OpenApiExample("Policy", response_only=True, status_codes=["422"],
                   value={"code": "redemption_rule", "detail": "Points are redeemed in multiples of 10."}),
    OpenApiExample("Validation", response_only=True, status_codes=["400"],
                   value={"code": "invalid", "detail": "Invalid input.",
                          "errors": {"amount": ["A valid number is required."]}}),
]


def path_id(name: str, max_length: int) -> OpenApiParameter:
    """An identifier in the path, with the rule it keeps (API.md, "Errors")."""
    return OpenApiParameter(name, {"type": "string", "format": IDENTIFIER_FORMAT, "pattern": IDENTIFIER_PATTERN,
                                   "minLength": 1, "maxLength": max_length}, OpenApiParameter.PATH)


EXTERNAL_ID = path_id("external_id", 64)
ORDER_ID = path_id("order_id", 100)

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="invalid"),
    401: OpenApiResponse(ErrorSerializer, description="not_authenticated / authentication_failed"),
    403: OpenApiResponse(ErrorSerializer, description="permission_denied"),
    404: OpenApiResponse(ErrorSerializer, description="member_not_found / not_found"),
    413: OpenApiResponse(ErrorSerializer, description="too_large"),
    429: OpenApiResponse(ErrorSerializer, description="throttled"),
    503: OpenApiResponse(ErrorSerializer, description="service_unavailable"),
}


def clean_id(value: str) -> str | None:
    """Path and query ids with a NUL or over-long text can name nothing: treat as unknown."""
    if not value or "\x00" in value or len(value) > 200:
        return None
    return value


class KeyView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [ApiKeyRateThrottle]
    required_scope: str | None = None

    @property
    def key(self) -> ApiKey:
        assert isinstance(self.request.auth, ApiKey)
        return self.request.auth

    def member_get(self, external_id: str, queryset: QuerySet[Member] | None = None, *,
                   with_tier_only: bool = False) -> Member:
        """The member or a 404; ``queryset`` says what to load with it (default: what the member
        representation shows); ``with_tier_only``: the member and its tier in one prepared
        statement (:func:`member_with_tier`), for the write endpoints."""
        ident = clean_id(external_id)
        member: Member | None
        if with_tier_only:
            member = member_with_tier(ident) if ident else None
        else:
            qs = queryset if queryset is not None else Member.objects.select_related(
                "tier", "home_store", "referred_by")
            # external_id is unique: no ORDER BY (the model's default ordering would sort for nothing)
            found = list(qs.filter(external_id=ident).order_by()[:1]) if ident else []
            member = found[0] if found else None
        if member is None:
            raise MemberNotFound(f"No member with external id {external_id[:64]!r}.")
        return member

    def store_for(self, store_code: str | None) -> Store | None:
        """The sale's store; a store-bound key may only speak for its own store."""
        bound = self.key.store
        if store_code:
            if bound is not None and bound.code != store_code:
                raise exceptions.PermissionDenied("This key may only report sales of its own store.")
            store = Store.objects.filter(code=store_code).first()
            if store is None:
                raise exceptions.ValidationError({"store_code": ["Unknown store."]})
            return store
        return bound

    def validated(self, serializer_class: type[Serializer]) -> dict[str, Any]:
        if not isinstance(self.request.data, dict):
            raise exceptions.ParseError("The body must be a JSON object.")
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


def answer(outcome: services.Outcome, fields: tuple[str, ...] | None = None, *, always_200: bool = False) -> Response:
    """A service's result as the contract's body: 201 when this call did it, 200 on a replay."""
    body = outcome.data if fields is None else {field: outcome.data[field] for field in fields}
    created = outcome.created and not always_200
    return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class MemberDetailApi(KeyView):
    def get_permissions(self) -> Any:
        self.required_scope = ApiScope.MEMBERS_WRITE if self.request.method == "PUT" else ApiScope.MEMBERS_READ
        return super().get_permissions()

    @extend_schema(parameters=[EXTERNAL_ID], responses={200: MemberOutputSerializer, **ERRORS},
                   summary="Read a member")
    def get(self, request: Request, external_id: str) -> Response:
        return Response(MemberOutputSerializer(self.member_get(external_id)).data)

    @extend_schema(
        request=MemberInputSerializer, parameters=[EXTERNAL_ID],
        responses={200: MemberOutputSerializer, 201: MemberOutputSerializer, **ERRORS},
        summary="Create or update a member",
        examples=[OpenApiExample("Sign-up", request_only=True, value={
            "name": "김단골", "phone": "010-1234-5678", "email": "dangol@example.com", "birthday": "1990-05-31",
            "channel": "online", "marketing_consent": {"sms": True, "email": False}})],
    )
    def put(self, request: Request, external_id: str) -> Response:
        problem = identifier_problem(external_id)
        if problem is None and len(external_id) > 64:
            problem = "Ensure this field has no more than 64 characters."
        if problem is not None:
            raise exceptions.ValidationError({"external_id": [problem]})
        ident = external_id
        data = self.validated(MemberInputSerializer)
        bound = self.key.store
        # A store key changes only its own store's members; one with no home store (every
        # online member) belongs to the brand, and only an unbound key may change it.
        existing = (Member.objects.filter(external_id=ident).only("pk", "home_store_id").order_by().first()
                    if bound is not None else None)
        if bound is not None and existing is not None and existing.home_store_id != bound.pk:
            raise exceptions.PermissionDenied("This store key may only change members of its own store.")
        if bound is not None and data.get("store_code") and data["store_code"] != bound.code:
            raise exceptions.PermissionDenied("This key may only register members of its own store.")
        consent = data.get("marketing_consent") or {}
        store_code = data.get("store_code") or (bound.code if bound is not None and existing is None else None)
        result = services.member_register(
            external_id=ident, name=data["name"], phone=data.get("phone"), email=data.get("email"),
            birthday=data.get("birthday", UNSET),
            channel=data.get("channel"), store_code=store_code, referrer_code=data.get("referrer_code"),
            marketing_sms=consent.get("sms"), marketing_email=consent.get("email"),
        )
        return Response(MemberOutputSerializer(result.member).data,  # read with its tier, store and referrer
                        status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class MemberFilter(django_filters.FilterSet):
    phone = django_filters.CharFilter(method="by_phone", max_length=30)
    email = django_filters.CharFilter(method="by_email", max_length=254)

    class Meta:
        model = Member
        fields: list[str] = []

    def by_phone(self, queryset: QuerySet[Member], name: str, value: str) -> QuerySet[Member]:
        return queryset & members_by_phone(value) if "\x00" not in value else queryset.none()

    def by_email(self, queryset: QuerySet[Member], name: str, value: str) -> QuerySet[Member]:
        return queryset & members_by_email(value) if "\x00" not in value else queryset.none()


class MemberLookupApi(KeyView):
    required_scope = ApiScope.MEMBERS_READ

    @extend_schema(
        parameters=[OpenApiParameter("phone", str, description="Any notation: 010-1234-5678, +82 10 …"),
                    OpenApiParameter("email", str)],
        responses={200: MemberListSerializer, **ERRORS}, summary="Look members up by phone or email",
        operation_id="members_lookup",
    )
    def get(self, request: Request) -> Response:
        if not (request.query_params.get("phone") or request.query_params.get("email")):
            return Response({"results": []})  # nothing asked, nothing found (never a list of everyone)
        filtered = MemberFilter(
            request.query_params,
            queryset=Member.objects.select_related("tier", "home_store", "referred_by").order_by("pk"),
        )
        if not filtered.is_valid():
            raise exceptions.ValidationError(filtered.errors)
        members = list(filtered.qs[:50])
        return Response({"results": MemberOutputSerializer(members, many=True).data})


def card_data(*, external_id: str | None = None, member_id: int | None = None) -> dict[str, Any] | None:
    """The balance card body (API.md, "Balance and history"), or ``None`` for no such member."""
    policy = policy_cached()
    card = balance_card(clock.today(), policy.expiry_notice_days, external_id=external_id, member_id=member_id)
    if card is None:
        return None
    return {
        "external_id": card.external_id,
        "available": card.balance.available,
        "pending": card.balance.pending,
        "tier": {"code": card.tier[0], "name": card.tier[1]} if card.tier else None,
        "next_tier": (
            {"code": card.next_tier.code, "name": card.next_tier.name,
             "amount_to_go": money(card.amount_to_go or Decimal("0"))}
            if card.next_tier else None
        ),
        "expiring_soon": [{"points": p, "expires_on": d.isoformat()} for p, d in card.balance.expiring_soon],
        "point_value": money(policy.point_value),
        "currency": policy.currency,
        "as_of": timezone.localtime().isoformat(),
    }


class MemberBalanceApi(KeyView):
    required_scope = ApiScope.MEMBERS_READ

    @extend_schema(parameters=[EXTERNAL_ID], responses={200: BalanceOutputSerializer, **ERRORS},
                   summary="Balance for a widget or the POS",
                   examples=[BALANCE_EXAMPLE])
    def get(self, request: Request, external_id: str) -> Response:
        ident = clean_id(external_id)
        body = card_data(external_id=ident) if ident else None
        if body is None:
            raise MemberNotFound(f"No member with external id {external_id[:64]!r}.")
        return Response(body)


class HistoryPagination(CursorPagination):
    ordering = ("-occurred_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request: Request) -> Cursor | None:
        """DRF checks a cursor's shape but not its position, which goes straight into
        ``occurred_at < position``: a forged ``p=x`` made that filter raise (a 500). Only a
        timestamp, as this paginator writes it, is a position."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                parsed = parse_datetime(str(cursor.position))
            except ValueError:
                parsed = None
            if parsed is None:
                raise exceptions.NotFound(self.invalid_cursor_message)
        return cursor

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"results": data, "next": self.get_next_link()})


class EntryFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=EntryKind.choices)
    since = django_filters.DateFilter(field_name="occurred_at", lookup_expr="date__gte")
    until = django_filters.DateFilter(field_name="occurred_at", lookup_expr="date__lte")

    class Meta:
        model = LedgerEntry
        fields = ["kind"]


class MemberTransactionsApi(KeyView):
    required_scope = ApiScope.MEMBERS_READ

    @extend_schema(
        parameters=[
            EXTERNAL_ID,
            OpenApiParameter("kind", str, enum=EntryKind.values), OpenApiParameter("since", OpenApiTypes.DATE),
            OpenApiParameter("until", OpenApiTypes.DATE),
            OpenApiParameter("page_size", {"type": "integer", "minimum": 1, "maximum": 200}),
            OpenApiParameter("cursor", str),
        ],
        responses={200: HistoryPageSerializer, **ERRORS}, summary="Points history, newest first",
    )
    def get(self, request: Request, external_id: str) -> Response:
        member = self.member_get(external_id, Member.objects.only("pk", "external_id"))
        for name in ("kind", "since", "until"):
            if request.query_params.get(name, None) == "":  # django-filter would ignore it: not "everything"
                raise exceptions.ValidationError({name: ["This field may not be blank."]})
        page_size = request.query_params.get("page_size")
        if page_size is not None and (not page_size.isdigit() or not 1 <= int(page_size) <= 200):
            raise exceptions.ValidationError({"page_size": ["Between 1 and 200."]})
        filtered = EntryFilter(
            request.query_params,
            # by the member: one written as identity alone has no account yet, and no history
            queryset=LedgerEntry.objects.filter(account__member_id=member.pk).select_related("lot"),
        )
        if not filtered.is_valid():
            raise exceptions.ValidationError(filtered.errors)
        paginator = HistoryPagination()
        try:
            page: list[LedgerEntry] | None = paginator.paginate_queryset(filtered.qs, request, view=self)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"cursor": ["Invalid cursor."]}) from None
        return paginator.get_paginated_response(EntrySerializer(page, many=True).data)


class PurchaseCreateApi(KeyView):
    required_scope = ApiScope.POINTS_WRITE

    @extend_schema(
        request=PurchaseInputSerializer,
        responses={201: PurchaseOutputSerializer, 200: PurchaseOutputSerializer, 409: ErrorSerializer, **ERRORS},
        summary="Report a paid order",
        examples=[OpenApiExample("Order", request_only=True, value={
            "external_id": "C1001", "order_id": "A-20261124-0001", "amount": "45000", "channel": "online",
            "items": [{"sku": "TEA-01", "category": "tea", "amount": "45000", "quantity": 1}]}),
            PURCHASE_EXAMPLE, ERROR_EXAMPLES[2]],
    )
    def post(self, request: Request) -> Response:
        data = self.validated(PurchaseInputSerializer)
        store = self.store_for(data.get("store_code"))
        member = self.member_get(data["external_id"], with_tier_only=True)
        return answer(services.purchase_record(
            member=member, order_id=data["order_id"], amount=data["amount"], occurred_at=data.get("occurred_at"),
            channel=data.get("channel", ""), store=store, items=data.get("items", []), actor=self.key.name,
        ))


class RefundCreateApi(KeyView):
    required_scope = ApiScope.POINTS_WRITE

    @extend_schema(
        request=RefundInputSerializer, parameters=[ORDER_ID],
        responses={201: RefundOutputSerializer, 200: RefundOutputSerializer, 409: ErrorSerializer, **ERRORS},
        summary="Refund part or all of an order",
    )
    def post(self, request: Request, order_id: str) -> Response:
        data = self.validated(RefundInputSerializer)
        ident = clean_id(order_id)
        if ident is None:
            raise NotFound(f"No purchase with order id {order_id[:100]!r}.")
        bound = self.key.store
        if bound is not None:  # the service finds the purchase (or says 404): a store key also checks whose sale
            stores = list(Purchase.objects.filter(order_id=ident).values_list("store_id", flat=True)[:1])
            if not stores:
                raise NotFound(f"No purchase with order id {order_id[:100]!r}.")
            if stores[0] != bound.pk:
                raise exceptions.PermissionDenied("This key may only refund sales of its own store.")
        outcome = services.purchase_refund(order_id=ident, refund_id=data["refund_id"],
                                           amount=data["amount"], actor=self.key.name)
        return answer(outcome, ("refund_id", "points_reversed", "points_restored", "balance"))


class RedemptionCreateApi(KeyView):
    required_scope = ApiScope.POINTS_WRITE

    @extend_schema(
        request=RedemptionInputSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 200},
                                     OpenApiParameter.HEADER)],
        responses={201: RedemptionOutputSerializer, 200: RedemptionOutputSerializer,
                   409: OpenApiResponse(ErrorSerializer, description="insufficient_points / idempotency_conflict"),
                   422: OpenApiResponse(ErrorSerializer, description="redemption_rule"), **ERRORS},
        summary="Spend points on an order",
        examples=[OpenApiExample("Redeem", request_only=True, value={
            "external_id": "C1001", "points": 1000, "order_id": "A-20261124-0002", "order_amount": "30000"}),
            *ERROR_EXAMPLES],
    )
    def post(self, request: Request) -> Response:
        data = self.validated(RedemptionInputSerializer)
        key = request.headers.get("Idempotency-Key") or None
        if key is not None and (len(key) > 200 or "\x00" in key):
            raise exceptions.ValidationError({"Idempotency-Key": ["At most 200 characters."]})
        member = self.member_get(data["external_id"], with_tier_only=True)
        outcome = services.points_redeem(
            member=member, points=data["points"], order_id=data["order_id"], order_amount=data["order_amount"],
            items=data.get("items", []), idempotency_key=key, actor=self.key.name, store=self.key.store,
        )
        return answer(outcome, ("id", "points", "balance"))


class RedemptionCancelApi(KeyView):
    required_scope = ApiScope.POINTS_WRITE

    @extend_schema(request=None, responses={200: CancelOutputSerializer, **ERRORS}, summary="Cancel a redemption")
    def post(self, request: Request, redemption_id: int) -> Response:
        bound = self.key.store
        if bound is not None:  # the service finds the redemption (or says 404): a store key also checks whose
            # Redemption ids are sequential: a store key cancels only what a key of its store spent.
            found = Redemption.objects.filter(pk=redemption_id).values_list("store_id", flat=True)[:1]
            if not found:
                raise NotFound(f"No redemption {redemption_id}.")
            if found[0] != bound.pk:
                raise exceptions.PermissionDenied("This key may only cancel redemptions made for its own store.")
        outcome = services.redemption_cancel(redemption_id=redemption_id, actor=self.key.name)
        return answer(outcome, ("id", "points_restored", "balance"), always_200=True)


class ActivityCreateApi(KeyView):
    required_scope = ApiScope.POINTS_WRITE

    @extend_schema(
        request=ActivityInputSerializer,
        responses={201: ActivityOutputSerializer, 200: ActivityOutputSerializer, **ERRORS},
        summary="Report a review, visit, share …",
    )
    def post(self, request: Request) -> Response:
        data = self.validated(ActivityInputSerializer)
        member = self.member_get(data["external_id"], with_tier_only=True)
        outcome = services.activity_record(
            member=member, type=data["type"], reference=data["reference"], occurred_at=data.get("occurred_at"),
            actor=self.key.name,
        )
        # The contract's body; a campaign's share ("breakdown") is kept on the operation for the admin.
        return answer(outcome, tuple(field for field in outcome.data if field != "breakdown"))


class WidgetTokenApi(KeyView):
    required_scope = None

    @extend_schema(request=WidgetTokenInputSerializer, responses={201: WidgetTokenOutputSerializer, **ERRORS},
                   summary="A 15-minute token for one member's balance widget")
    def post(self, request: Request) -> Response:
        data = self.validated(WidgetTokenInputSerializer)
        member = self.member_get(data["external_id"], Member.objects.only("pk", "external_id"))
        token, expires_at = widget_token_issue(member_id=member.pk, key=self.key)
        return Response({"token": token, "expires_at": timezone.localtime(expires_at).isoformat()},
                        status=status.HTTP_201_CREATED)


class WidgetBalanceApi(APIView):
    authentication_classes = [WidgetTokenAuthentication]
    permission_classes = [IsWidgetToken]
    throttle_classes = [ApiKeyRateThrottle]

    @extend_schema(responses={200: BalanceOutputSerializer, **ERRORS}, summary="The token's member's balance",
                   examples=[BALANCE_EXAMPLE])
    def get(self, request: Request) -> Response:
        claims = request.auth
        assert isinstance(claims, WidgetClaims)
        body = card_data(member_id=claims.member_id)
        if body is None:
            raise MemberNotFound("The member of this token no longer exists.")
        return Response(body)
