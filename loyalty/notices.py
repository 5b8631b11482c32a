"""Notices to members by email: "points expiring soon" and "your tier will drop on <date> unless…".

Who gets them: members who consented to email (``Member.marketing_email``) with an address, active
or dormant. Under PIPA both notices are informational (about the member's own points), which the
law lets a programme send without advertising consent; the issue asks for consent anyway, and a
notice that urges spending reads as promotion, so we send only with consent.

Language: the member's ``language`` if the model has one (it has none yet), else Korean.

Exactly once: each notice has a key (``points_expiring:<member>:<first expiry date>``,
``tier_drop:<member>:<drop date>``) unique in :class:`~loyalty.models.NoticeLog`. The row is
written before the mail goes and stamped ``sent_at`` after; a mail the backend refuses deletes
its row (the next run tries again); a worker killed between sending and stamping leaves the row
unstamped, and the notice is not sent again (a missing notice beats a duplicate one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Min, Sum
from django.template.loader import render_to_string
from django.utils import timezone, translation

from members.models import Member, MemberStatus, Tier, TierBasis

from .models import Lot, NoticeKind, NoticeLog, ProgramPolicy
from .services.tier_evaluation import floor_holds, tier_drop_date, tier_qualified, window_totals_for

NOTICE_LANGUAGES = ("ko", "en")
NOTICE_STATUSES = (MemberStatus.ACTIVE, MemberStatus.DORMANT)


@dataclass(frozen=True)
class NoticeResult:
    members: int
    sent: int
    failed: int


@dataclass(frozen=True)
class Notice:
    member_id: int
    email: str
    language: str
    kind: str
    key: str
    context: dict[str, Any]


def consenting_members(member_id_from: int, member_id_to: int) -> Any:
    """The members of the range a notice may go to."""
    return (Member.objects.filter(pk__gte=member_id_from, pk__lt=member_id_to, marketing_email=True,
                                  status__in=NOTICE_STATUSES)
            .exclude(email=""))


def member_language(member: Any) -> str:
    language = getattr(member, "language", "") or "ko"
    return language if language in NOTICE_LANGUAGES else "ko"


def points_expiring_notices(*, member_id_from: int, member_id_to: int, today: date,
                            policy: ProgramPolicy) -> list[Notice]:
    """Members with points expiring within ``expiry_notice_days`` after today: what expires by when."""
    until = today + timedelta(days=policy.expiry_notice_days)
    lots = (Lot.objects.filter(account__member_id__gte=member_id_from, account__member_id__lt=member_id_to,
                               remaining__gt=0, expires_on__gt=today, expires_on__lte=until)
            .order_by().values("account__member_id")
            .annotate(points=Sum("remaining"), first=Min("expires_on")))
    expiring = {row["account__member_id"]: row for row in lots}
    if not expiring:
        return []
    notices = []
    members = consenting_members(member_id_from, member_id_to).filter(pk__in=list(expiring)).order_by("pk")
    for member in members.only("pk", "name", "email"):
        row = expiring[member.pk]
        notices.append(Notice(
            member_id=member.pk, email=member.email, language=member_language(member),
            kind=NoticeKind.POINTS_EXPIRING, key=f"points_expiring:{member.pk}:{row['first'].isoformat()}",
            context={"name": member.name, "points": row["points"], "first_date": row["first"], "until": until,
                     "days": policy.expiry_notice_days},
        ))
    return notices


def tier_drop_notices(*, member_id_from: int, member_id_to: int, today: date, policy: ProgramPolicy,
                      tiers: list[Tier]) -> list[Notice]:
    """Members whose tier drops on its downgrade day ``tier_notice_days`` from now unless their
    window grows: what they have, and how much more keeps the tier."""
    drops = {tier.pk: day for tier in tiers if (day := tier_drop_date(tier, today, policy)) is not None}
    if not drops:
        return []
    by_id = {tier.pk: tier for tier in tiers}
    high_first = sorted(tiers, key=lambda tier: -tier.rank)
    members = list(consenting_members(member_id_from, member_id_to).filter(tier_id__in=list(drops))
                   .order_by("pk").only("pk", "name", "email", "tier_id", "tier_floor_id", "tier_floor_until"))
    notices = []
    for drop_on in sorted(set(drops.values())):
        # The window as it will stand on the drop date, counting what is already recorded.
        totals = window_totals_for(tiers, drop_on, member_id_from=member_id_from, member_id_to=member_id_to)
        for member in members:
            tier = by_id[member.tier_id]
            if drops[tier.pk] != drop_on:
                continue
            floor = by_id.get(member.tier_floor_id or 0)
            if floor is not None and floor.rank >= tier.rank and floor_holds(member.tier_floor_until, drop_on):
                continue
            target = tier_qualified(member.pk, high_first, totals)
            if target is not None and target.rank >= tier.rank:
                continue
            have = totals[(tier.basis, tier.window_months)].get(member.pk, Decimal("0"))
            notices.append(Notice(
                member_id=member.pk, email=member.email, language=member_language(member),
                kind=NoticeKind.TIER_DROP, key=f"tier_drop:{member.pk}:{drop_on.isoformat()}",
                context={"name": member.name, "tier": tier.name, "drop_on": drop_on,
                         "to_tier": target.name if target else "", "by_points": tier.basis == TierBasis.POINTS,
                         "shortfall": tier.threshold - have, "currency": policy.currency},
            ))
    return notices


def notices_send(notices: list[Notice]) -> NoticeResult:
    """Send each notice not sent before (its key unique in the log), over one mail connection."""
    sent = failed = 0
    connection = get_connection()
    try:
        for notice in notices:
            try:
                with transaction.atomic():
                    log = NoticeLog.objects.create(member_id=notice.member_id, kind=notice.kind, key=notice.key,
                                                   email=notice.email, language=notice.language)
            except IntegrityError:
                continue  # sent by an earlier run
            try:
                connection.send_messages([notice_email(notice)])
            except Exception:
                NoticeLog.objects.filter(pk=log.pk).delete()
                failed += 1
                continue
            NoticeLog.objects.filter(pk=log.pk).update(sent_at=timezone.now())
            sent += 1
    finally:
        connection.close()
    return NoticeResult(members=len(notices), sent=sent, failed=failed)


def notice_email(notice: Notice) -> EmailMessage:
    """The notice in the member's language, from ``templates/emails/<kind>/<language>/``."""
    with translation.override(notice.language):
        folder = f"emails/{notice.kind}/{notice.language}"
        subject = render_to_string(f"{folder}/subject.txt", notice.context).strip()
        body = render_to_string(f"{folder}/body.txt", notice.context)
    return EmailMessage(subject=" ".join(subject.split()), body=body, from_email=settings.DEFAULT_FROM_EMAIL,
                        to=[notice.email])
