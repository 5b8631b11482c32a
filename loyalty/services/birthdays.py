"""Birthday points: the base programme's birthday rule, paid by a daily run in chunks of members.

Rules (DESIGN.md): the active birthday rule's points, once a year (the key holds the year);
a birthday entered (at sign-up) or changed within the last 30 days pays from next year, so a
member cannot collect today by typing today's date; a February 29 birthday is paid on
February 28 in the other years; only active members; the rule's pending days, validity and
caps apply as to any other earning. A running campaign may boost the rule (say, double birthday
points in December) through :func:`loyalty.boosts.fixed_points_boosted`: its line goes into the
operation's result with the campaign's name, and its award is recorded in the chunk's
transaction. Each chunk is a range of member ids in one transaction
through the ledger's batch door, independent of the others and safe to run twice at once.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member, MemberStatus

from ..boosts import BIRTHDAY, BoostContext, fixed_points_boosted
from ..ledger import CREDIT_BOOKED, CreditRow, credits_post, durable
from ..models import EntrySource, Operation, OperationKind, ProgrammeVersion, RuleEarning, RuleKind, SystemAccount
from ..policy import programme_at
from ..rules import RuleSpec, expiry_date
from .chunks import id_ranges
from .grants import ChunkResult

BIRTHDAY_CHUNK_MEMBERS = 10000
BIRTHDAY_SETTLING_DAYS = 30  # a birthday entered or changed more recently pays next year


def birthday_key(member_id: int, year: int) -> str:
    return f"birthday:{member_id}:{year}"


def birthday_rule(today: date) -> RuleSpec | None:
    """The birthday rule in force today (the first in stacking order), if it pays anything."""
    rule = next(iter(programme_at(None).rules_in_force([RuleKind.BIRTHDAY], today)), None)
    return rule if rule is not None and rule.points > 0 else None


def birthdays_on(today: date) -> Q:
    """Members whose birthday is paid on ``today``: the same month and day, and on February 28
    of a year that has no February 29, those born on February 29."""
    born = Q(birthday__month=today.month, birthday__day=today.day)
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        born |= Q(birthday__month=2, birthday__day=29)
    return born


def settled_before(today: date) -> datetime:
    """Members whose birthday was entered or changed on or after this moment are paid next year."""
    first_unsettled_day = today - timedelta(days=BIRTHDAY_SETTLING_DAYS - 1)
    return timezone.make_aware(datetime.combine(first_unsettled_day, time.min))


@durable
def birthdays_pay_chunk(*, member_id_from: int, member_id_to: int, today: date) -> ChunkResult:
    """Pay the birthday points due on ``today`` to the members with ids in ``[member_id_from,
    member_id_to)``, in one transaction; members paid this year already count as replayed."""
    rule = birthday_rule(today)
    if rule is None:
        return ChunkResult()
    settled = settled_before(today)
    members = list(
        Member.objects.filter(birthdays_on(today), pk__gte=member_id_from, pk__lt=member_id_to,
                              status=MemberStatus.ACTIVE, joined_at__lt=settled)
        .exclude(birthday_changed_at__gte=settled).order_by("pk").values_list("pk", "tier_id", "channel")
    )
    if not members:
        return ChunkResult()
    member_ids = [member_id for member_id, _tier, _channel in members]
    caps = _caps_left(rule, member_ids, today)
    # Paid this year already: left to the door to report as replayed, never offered to a campaign again.
    paid = set(Operation.objects.filter(key__in=[birthday_key(pk, today.year) for pk in member_ids])
               .values_list("key", flat=True))
    version = ProgrammeVersion.objects.values_list("version", flat=True).first()
    now = timezone.now()
    rows: list[CreditRow] = []
    rule_points: dict[int, int] = {}
    for member_id, tier_id, channel in members:
        key = birthday_key(member_id, today.year)
        if key in paid:
            points, breakdown = rule.points, None
        else:
            context = BoostContext(member_id=member_id, tier_id=tier_id, channel=channel, store_code="",
                                   occurred_at=now, earned_on=today, operation_key=key,
                                   programme_version=version, event=BIRTHDAY)
            earning = fixed_points_boosted(context, rule, caps.get(member_id))
            points = earning.points
            breakdown = [{"source": line.source, "name": line.name, "points": line.points} for line in earning.lines]
            rule_points[member_id] = sum(line.points for line in earning.lines if line.source == "rule")
        if points > 0:
            result: dict[str, Any] = {"birthday": today.year, "points": points}
            if breakdown and len(breakdown) > 1:  # a campaign added to the rule's points: say which
                result["breakdown"] = breakdown
            rows.append(CreditRow(member_id=member_id, key=key, request={"birthday": today.year, "member": member_id},
                                  points=points, result=result, reference=str(today.year)))
    credits = credits_post(
        rows, kind=OperationKind.BIRTHDAY, source=EntrySource.BIRTHDAY, counter=SystemAccount.ISSUED,
        description=_("Birthday bonus"), available_on=today + timedelta(days=rule.pending_days),
        expires_on=expiry_date(today, rule.validity_days),
    )
    earnings = []  # what the rule's caps count, as rule_earnings_record keeps it
    for credit in credits:
        if credit.status == CREDIT_BOOKED:
            assert credit.account_id is not None and credit.operation_id is not None
            earnings.append(RuleEarning(account_id=credit.account_id, rule_id=rule.id, operation_id=credit.operation_id,
                                        points=rule_points.get(credit.member_id, credit.points), earned_on=today))
    RuleEarning.objects.bulk_create(earnings)
    return ChunkResult.of(credits)


def _caps_left(rule: RuleSpec, member_ids: list[int], today: date) -> dict[int, int | None]:
    """What the rule may still pay each member today under its day and month caps (as
    ``earning.caps_left``, for a chunk in one query); no caps: nothing is looked up."""
    if rule.daily_cap is None and rule.monthly_cap is None:
        return {}
    earned = {
        row["account__member_id"]: (row["day"] or 0, row["month"] or 0)
        for row in RuleEarning.objects.filter(rule_id=rule.id, account__member_id__in=member_ids,
                                              earned_on__gte=today.replace(day=1), earned_on__lte=today)
        .values("account__member_id").annotate(day=Sum("points", filter=Q(earned_on=today)), month=Sum("points"))
    }
    left: dict[int, int | None] = {}
    for member_id in member_ids:
        day, month = earned.get(member_id, (0, 0))
        candidates = [cap - used for cap, used in ((rule.daily_cap, day), (rule.monthly_cap, month)) if cap is not None]
        left[member_id] = max(0, min(candidates))
    return left


def birthday_chunks(*, size: int = BIRTHDAY_CHUNK_MEMBERS) -> list[tuple[int, int]]:
    """The member id ranges ``[from, to)`` a birthday run is split into."""
    return id_ranges(Member.objects.all(), size)


def birthdays_pay(*, today: date, size: int = BIRTHDAY_CHUNK_MEMBERS) -> ChunkResult:
    """The day's birthday run, chunk after chunk (the scheduler may fan the chunks out instead)."""
    total = ChunkResult()
    for start, end in birthday_chunks(size=size):
        total += birthdays_pay_chunk(member_id_from=start, member_id_to=end, today=today)
    return total
