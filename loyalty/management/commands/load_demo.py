"""``manage.py load_demo``: stores, tiers and a few hundred members with 14 months of history.

Every point in the demo moves through the loyalty services, exactly as the API, the admin and
the scheduler move them, so the demo can never hold a history the ledger would refuse and
``manage.py audit_ledger`` passes after it. A refusal by the rules (too few points, a cap
reached) is counted and the load goes on, as a real shop's traffic would.

Idempotent: stores and tiers are created when their code is missing and otherwise left as staff
edited them; members are keyed by their external id (``DEMO00001`` …) and only members this run
creates get a history, so a second run adds nothing (``--members 500`` after 300 adds 200).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from loyalty.errors import LoyaltyError
from loyalty.models import Purchase
from loyalty.selectors import balance_summary
from loyalty.services import (
    activity_record,
    member_register,
    points_adjust,
    points_expire_due,
    points_import_opening,
    points_redeem,
    purchase_record,
    purchase_refund,
    redemption_cancel,
)
from members.models import Channel, Member, Store, Tier, TierBasis

ACTOR = "load_demo"
HISTORY_DAYS = 425  # about 14 months: old enough that some points have already expired

STORES = [
    ("GN01", "강남점", Channel.OFFLINE),
    ("HD02", "현대점", Channel.OFFLINE),
    ("SM03", "성수점", Channel.OFFLINE),
    ("BS04", "부산점", Channel.OFFLINE),
    ("ONLINE", "온라인몰", Channel.ONLINE),
]
OFFLINE_STORES = [code for code, _name, channel in STORES if channel == Channel.OFFLINE]

TIERS = [
    # code, name, rank, threshold (KRW spent in 12 months), earn multiplier, benefits
    ("welcome", "웰컴", 0, "0", "1.00", "가입 즉시 적용 · 구매 금액 100원당 1P 적립"),
    ("silver", "실버", 1, "300000", "1.00", "생일 쿠폰 · 무료 배송 월 1회"),
    ("gold", "골드", 2, "1000000", "1.50", "적립 1.5배 · 무료 배송 · 생일 쿠폰"),
    ("vip", "VIP", 3, "3000000", "2.00", "적립 2배 · 전용 상담 · 신제품 우선 체험"),
]

# A small cosmetics and lifestyle catalogue: (sku, category, unit price in KRW).
CATALOGUE = [
    ("SKN-TONER-200", "skincare", 28000),
    ("SKN-SERUM-50", "skincare", 46000),
    ("SKN-CREAM-50", "skincare", 39000),
    ("SKN-SUNCARE-50", "skincare", 24000),
    ("MKP-CUSHION-15", "makeup", 32000),
    ("MKP-LIPTINT-04", "makeup", 19000),
    ("BDY-WASH-500", "body", 15000),
    ("BDY-LOTION-300", "body", 22000),
    ("HAIR-SHAMPOO-500", "hair", 18000),
    ("SET-GIFT-HOLIDAY", "gift_set", 89000),
    ("ACC-POUCH", "accessory", 12000),
]

SURNAMES = (
    ["김"] * 21 + ["이"] * 15 + ["박"] * 8 + ["최"] * 5 + ["정"] * 5
    + ["강", "조", "윤", "장", "임", "한", "오", "서", "신", "권"] * 2
    + ["황", "안", "송", "류", "전", "홍", "고", "문", "양", "손"] * 2
    + ["배", "백", "허", "유", "남", "심", "노", "하", "곽", "성", "차", "주", "우", "구", "민", "진"]
)
GIVEN_NAMES = [
    "민준", "서준", "도윤", "예준", "시우", "하준", "주원", "지호", "지후", "준우", "준서", "건우", "현우", "우진",
    "선우", "서진", "연우", "유준", "정우", "승우", "승현", "시윤", "준혁", "은우", "지환", "승민", "지훈", "민재",
    "서연", "서윤", "지우", "서현", "민서", "하은", "하윤", "윤서", "지유", "지민", "채원", "지윤", "은서", "수아",
    "다은", "예은", "수빈", "지아", "소율", "예린", "하린", "유진", "수민", "예원", "민지", "지현", "혜진", "은지",
    "영희", "철수", "영수", "미경", "정희", "성민", "상훈", "경숙", "현정", "미영", "동현", "재원", "혜원", "수정",
]
ROMAN_SURNAMES = {
    "김": "kim", "이": "lee", "박": "park", "최": "choi", "정": "jung", "강": "kang", "조": "cho", "윤": "yoon",
    "장": "jang", "임": "lim", "한": "han", "오": "oh", "서": "seo", "신": "shin", "권": "kwon", "황": "hwang",
    "안": "ahn", "송": "song", "류": "ryu", "전": "jeon", "홍": "hong", "고": "ko", "문": "moon", "양": "yang",
    "손": "son", "배": "bae", "백": "baek", "허": "heo", "유": "yoo", "남": "nam", "심": "shim", "노": "noh",
    "하": "ha", "곽": "kwak", "성": "sung", "차": "cha", "주": "joo", "우": "woo", "구": "koo", "민": "min",
    "진": "jin",
}
# Reserved example domains (RFC 2606): demo members must never receive a real message.
EMAIL_DOMAINS = ["example.com", "example.net", "example.org"]
ADJUSTMENTS = [
    (1000, "배송 지연 보상"),
    (500, "고객센터 불편 보상"),
    (3000, "VOC 처리 보상"),
    (-300, "중복 적립 정정"),
]


@dataclass
class Tally:
    """What the load did, for the summary line."""

    done: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)

    def attempt(self, what: str, call: Any, **kwargs: Any) -> Any:
        """Call one service; a refusal by the rules is counted, not fatal."""
        try:
            outcome = call(**kwargs)
        except LoyaltyError as exc:
            self.refused[f"{what} ({exc.code})"] += 1
            return None
        self.done[what] += 1
        return outcome


@dataclass(frozen=True)
class Event:
    """One backdated thing a member did: a purchase, an activity or an opening balance."""

    at: datetime
    kind: str
    ref: str = ""


class Command(BaseCommand):
    help = (
        "Load demo stores, tiers and members with about 14 months of purchases, activities, "
        "redemptions, refunds and adjustments, all through the loyalty services. Safe to run twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, default=300, help="How many demo members (default 300).")
        parser.add_argument("--seed", type=int, default=7, help="Random seed: the same seed, the same people.")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        self.rng = random.Random(options["seed"])  # noqa: S311 (demo data, reproducible by seed)
        self.now = timezone.localtime()
        self.tally = Tally()
        self._sqlite_fast_writes()

        stores = self._stores()
        self._tiers()
        created = self._members(options["members"], stores)
        if created:
            self._today(created, stores)
        expired = points_expire_due()

        done = ", ".join(f"{n} {what}" for what, n in sorted(self.tally.done.items())) or "nothing new"
        self.stdout.write(self.style.SUCCESS(
            f"Demo data: {len(created)} new members ({Member.objects.filter(external_id__startswith='DEMO').count()}"
            f" demo members in all); {done}; {expired} P expired; {time.monotonic() - started:.1f}s."
        ))
        if self.tally.refused:
            refused = ", ".join(f"{n} {what}" for what, n in sorted(self.tally.refused.items()))
            self.stdout.write(f"Refused by the rules, as they should be: {refused}.")

    def _sqlite_fast_writes(self) -> None:
        """On SQLite, skip the fsync per commit: every service call is its own durable
        transaction, and thousands of fsyncs would make the demo crawl. Demo data only;
        the setting lasts as long as this connection."""
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA synchronous = OFF")

    # Reference data -------------------------------------------------------------------

    def _stores(self) -> dict[str, Store]:
        for code, name, channel in STORES:
            Store.objects.get_or_create(code=code, defaults={"name": name, "channel": channel})
        return {store.code: store for store in Store.objects.filter(code__in=[code for code, *_ in STORES])}

    def _tiers(self) -> None:
        """Create the four tiers unless a tier with that code or rank is already there."""
        for code, name, rank, threshold, multiplier, benefits in TIERS:
            if Tier.objects.filter(Q(code=code) | Q(rank=rank)).exists():
                continue
            Tier.objects.create(
                code=code, name=name, rank=rank, basis=TierBasis.SPEND, threshold=Decimal(threshold),
                window_months=12, earn_multiplier=Decimal(multiplier), benefits=benefits,
            )

    # Members and their backdated history --------------------------------------------------

    def _members(self, count: int, stores: dict[str, Store]) -> list[Member]:
        ids = [f"DEMO{n:05d}" for n in range(1, count + 1)]
        existing = set(Member.objects.filter(external_id__in=ids).values_list("external_id", flat=True))
        phones_taken = set(Member.objects.exclude(phone="").values_list("phone", flat=True))
        referral_codes: list[str] = list(
            Member.objects.filter(external_id__in=existing).values_list("referral_code", flat=True)
        )
        created: list[Member] = []
        for external_id in ids:
            # Draw the person even when they exist, so each id keeps the same person for a seed.
            person = self._person(phones_taken)
            if external_id in existing:
                continue
            referrer = self.rng.choice(referral_codes) if referral_codes and self.rng.random() < 0.08 else None
            outcome = self.tally.attempt(
                "members", member_register, external_id=external_id, referrer_code=referrer, **person
            )
            if outcome is None:
                continue
            member = outcome.member
            referral_codes.append(member.referral_code)
            self._history(member, stores)
            created.append(member)
        return created

    def _person(self, phones_taken: set[str]) -> dict[str, Any]:
        rng = self.rng
        surname, given = rng.choice(SURNAMES), rng.choice(GIVEN_NAMES)
        while True:
            phone = f"010{rng.randrange(2000, 9999):04d}{rng.randrange(0, 10000):04d}"
            if phone not in phones_taken:
                phones_taken.add(phone)
                break
        birth_year = rng.choices(range(1960, 2007), weights=[1 + (y > 1975) * 2 + (y > 1985) * 3 for y in
                                                            range(1960, 2007)])[0]
        birthday = date(birth_year, rng.randrange(1, 13), rng.randrange(1, 29))
        offline = rng.random() < 0.35
        email = ""
        if not offline or rng.random() < 0.4:
            handle = rng.choice([
                f"{ROMAN_SURNAMES.get(surname, 'user')}{rng.randrange(10, 99)}",
                f"{ROMAN_SURNAMES.get(surname, 'user')}.{birth_year % 100:02d}{rng.randrange(0, 999):03d}",
                f"dangol{rng.randrange(1000, 99999)}",
            ])
            email = f"{handle}@{rng.choice(EMAIL_DOMAINS)}"
        return {
            "name": surname + given,
            "phone": f"{phone[:3]}-{phone[3:7]}-{phone[7:]}",
            "email": email,
            "birthday": birthday if rng.random() < 0.85 else None,
            "channel": Channel.OFFLINE if offline else Channel.ONLINE,
            "store_code": rng.choice(OFFLINE_STORES) if offline else "ONLINE",
            "marketing_sms": rng.random() < 0.55,
            "marketing_email": bool(email) and rng.random() < 0.45,
        }

    def _history(self, member: Member, stores: dict[str, Store]) -> None:
        """Backdated purchases and activities in time order, and an opening balance for some
        offline members, then the join date moved to before the first of them."""
        rng = self.rng
        joined = self.now - timedelta(days=rng.triangular(0, HISTORY_DAYS, HISTORY_DAYS * 0.8),
                                      minutes=rng.randrange(0, 24 * 60))
        span = (self.now - joined).total_seconds()
        # How often this member buys, per year: most a few times, a few very often.
        profile = rng.choices(["dormant", "light", "regular", "heavy", "top"], weights=[14, 40, 30, 12, 4])[0]
        per_year = {"dormant": 0, "light": 2, "regular": 6, "heavy": 14, "top": 24}[profile]
        purchases = round(per_year * span / (365 * 86400) * rng.uniform(0.6, 1.4))
        if profile != "dormant":
            purchases = max(purchases, 1)

        def moment(after: datetime = joined) -> datetime:
            at = after + timedelta(seconds=rng.uniform(0, (self.now - after).total_seconds()))
            return at.replace(hour=rng.randrange(10, 22), minute=rng.randrange(0, 60))

        events = [Event(moment(), "purchase") for _ in range(purchases)]
        if member.channel == Channel.ONLINE and rng.random() < 0.5:
            events.append(Event(moment(), "app_install"))
        if rng.random() < 0.3:
            events.append(Event(moment(), "sns_share"))
        if rng.random() < 0.1:
            events.append(Event(moment(), "survey"))
        if member.channel == Channel.OFFLINE and rng.random() < 0.5:
            # Points carried over from the stores' old system, on the day it was switched off:
            # 340 days ago, so with 365 days' validity they show up as "expiring soon".
            migrated = self.now - timedelta(days=340)
            joined = min(joined, migrated - timedelta(days=rng.randrange(30, 400)))
            events.append(Event(migrated, "opening"))
        events = [event for event in events if event.at <= self.now]
        events.sort(key=lambda event: event.at)
        if events:
            joined = min(joined, events[0].at - timedelta(hours=rng.randrange(1, 72)))
        # The join date is identity, not points; member_register stamps "now", the demo wants the past.
        Member.objects.filter(pk=member.pk).update(joined_at=joined)

        home = stores.get(member.home_store.code if member.home_store else "ONLINE")
        for number, event in enumerate(events, start=1):
            ref = f"{member.external_id}-{number:03d}"
            if event.kind == "purchase":
                store = home if rng.random() < 0.8 else rng.choice(list(stores.values()))
                order_id = f"DEMO-{event.at:%y%m%d}-{ref}"
                items = self._basket(big=profile == "top")
                outcome = self.tally.attempt(
                    "purchases", purchase_record, member=member, order_id=order_id, occurred_at=event.at,
                    amount=sum(Decimal(item["amount"]) for item in items), store=store, items=items, actor=ACTOR,
                )
                if outcome and store and store.channel == Channel.OFFLINE and rng.random() < 0.5:
                    self.tally.attempt("activities", activity_record, member=member, type="visit",
                                       reference=f"{member.external_id}:{event.at:%Y-%m-%d}",
                                       occurred_at=event.at, actor=ACTOR)
                if outcome and rng.random() < 0.25:
                    self.tally.attempt("activities", activity_record, member=member, type="review",
                                       reference=order_id,
                                       occurred_at=min(event.at + timedelta(days=rng.randrange(2, 9)), self.now),
                                       actor=ACTOR)
            elif event.kind == "opening":
                self.tally.attempt(
                    "opening balances", points_import_opening, member=member,
                    points=rng.choice([500, 1200, 2000, 3500, 5000, 8000, 15000]),
                    source_label="매장 POS 이전", occurred_at=event.at, actor=ACTOR,
                )
            else:
                self.tally.attempt("activities", activity_record, member=member, type=event.kind,
                                   reference=ref, occurred_at=event.at, actor=ACTOR)

    def _basket(self, *, big: bool = False) -> list[dict[str, Any]]:
        lines = self.rng.choices([1, 1, 1, 2, 2, 3, 4], k=1)[0] + (2 if big else 0)
        items = []
        for sku, category, price in self.rng.sample(CATALOGUE, k=min(lines, len(CATALOGUE))):
            quantity = self.rng.choices([1, 2, 3], weights=[80, 15, 5])[0]
            items.append({"sku": sku, "category": category, "amount": str(price * quantity), "quantity": quantity})
        return items

    # Today: what the services do not backdate (redemptions, refunds, adjustments) -------------

    def _today(self, members: list[Member], stores: dict[str, Store]) -> None:
        """Checkouts paid partly with points, a few cancelled, a few orders returned, and
        staff adjustments: the services stamp these now, so they happen at the end."""
        rng = self.rng
        for member in members:
            member.refresh_from_db(fields=["tier"])
            if rng.random() < 0.45:
                self._checkout_with_points(member, stores)
            if rng.random() < 0.06:
                points, reason = rng.choice(ADJUSTMENTS)
                self.tally.attempt("adjustments", points_adjust, member=member, points=points, reason=reason,
                                   key=f"demo-{member.external_id}", actor=ACTOR,
                                   internal_note="데모 데이터")
        # Returns: mostly recent orders (a return window is short), some partial.
        recent = list(
            Purchase.objects.filter(member__in=members, occurred_at__gte=self.now - timedelta(days=30))
            .exclude(order_id__endswith="-PAY")
            .order_by("id")
            .values_list("order_id", "amount")
        )
        for order_id, amount in recent:
            if rng.random() < 0.12:
                share = rng.choice([Decimal("1"), Decimal("1"), Decimal("0.5"), Decimal("0.3")])
                refund = (amount * share).quantize(Decimal("1"))
                if refund > 0:
                    self.tally.attempt("refunds", purchase_refund, order_id=order_id, refund_id=f"R-{order_id}",
                                       amount=refund, actor=ACTOR)

    def _checkout_with_points(self, member: Member, stores: dict[str, Store]) -> None:
        """Redeem at checkout, then record the paid part of the order as a purchase (or, now
        and then, cancel the redemption because the payment failed)."""
        rng = self.rng
        items = self._basket()
        order_amount = sum(Decimal(item["amount"]) for item in items)
        available = balance_summary(member.account, self.now.date()).available
        if available < 1000 and rng.random() > 0.1:
            return  # now and then a member tries with too few points, and is refused
        wanted = rng.choice([1000, 1500, 2000, 3000, 5000, 10000])
        points = max(1000, min(wanted, available, int(order_amount * Decimal("0.5"))) // 10 * 10)
        order_id = f"DEMO-{self.now:%y%m%d}-{member.external_id}-PAY"
        outcome = self.tally.attempt("redemptions", points_redeem, member=member, points=points, order_id=order_id,
                                     order_amount=order_amount, items=items, actor=ACTOR)
        if outcome is None:
            return
        if rng.random() < 0.1:
            self.tally.attempt("cancelled redemptions", redemption_cancel, redemption_id=outcome.data["id"],
                               actor=ACTOR)
            return
        store = stores.get(member.home_store.code if member.home_store else "ONLINE")
        paid = self.tally.attempt("purchases", purchase_record, member=member, order_id=order_id,
                                  amount=order_amount - points, store=store, items=items, actor=ACTOR)
        if paid and rng.random() < 0.08:
            self.tally.attempt("refunds", purchase_refund, order_id=order_id, refund_id=f"R-{order_id}",
                               amount=order_amount - points, actor=ACTOR)
