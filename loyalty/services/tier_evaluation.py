"""Tier evaluation: the periodic check that lowers tiers (and raises any a purchase missed).

The rules (DESIGN.md, "Tiers"):

* **Upgrades at once.** A purchase raises the tier when the window crosses a threshold; the
  evaluation also raises anyone it finds qualified for more (a tier whose threshold was
  lowered, points reported late).
* **Downgrades only on the evaluation date**, ``ProgramPolicy.tier_evaluation_day`` of every
  ``tier_evaluation_every_months``-th month (counted from January), **plus the tier's grace
  days**: a Gold member with 14 grace days is checked 14 days after the evaluation date, on the
  window as it stands that day, so what they buy in the grace period counts.
* A member drops to the highest tier their window qualifies for, never below a tier set by
  hand (``tier_floor``) whose end date has not passed.
* Withdrawn and merged members are left alone.

Each chunk of members is one transaction: their windows read with one grouped statement per
window, the changes written through :func:`members.services.member_tiers_evaluate` (which skips
anyone whose tier changed meanwhile), so a rerun finds nothing left to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from members.models import Member, MemberStatus, Tier
from members.services import member_tiers_evaluate

from ..models import ProgramPolicy
from ..windows import Window, local_midnight, months_before, window_totals

SKIPPED_STATUSES = (MemberStatus.WITHDRAWN, MemberStatus.MERGED)


@dataclass(frozen=True)
class TierEvaluationResult:
    members: int
    upgraded: int
    downgraded: int


def is_evaluation_date(day: date, policy: ProgramPolicy) -> bool:
    return day.day == policy.tier_evaluation_day and (day.month - 1) % policy.tier_evaluation_every_months == 0


def tiers_lowered_on(day: date, tiers: list[Tier], policy: ProgramPolicy) -> list[Tier]:
    """The tiers whose members may drop on ``day``: an evaluation date plus the tier's grace days."""
    return [tier for tier in tiers if is_evaluation_date(day - timedelta(days=tier.grace_days), policy)]


def evaluation_due(day: date, tiers: list[Tier], policy: ProgramPolicy) -> bool:
    """Whether anything may change on ``day`` (else the daily task records no run)."""
    return is_evaluation_date(day, policy) or bool(tiers_lowered_on(day, tiers, policy))


def window_totals_for(tiers: list[Tier], as_of: date, *, member_id_from: int, member_id_to: int
                      ) -> dict[Window, dict[int, Decimal]]:
    """Each window the tiers count, as of ``as_of``, for every member of the range."""
    windows = sorted({(tier.basis, tier.window_months) for tier in tiers})
    return {
        (basis, months): window_totals(basis, local_midnight(months_before(as_of, months)),
                                       member_id_from=member_id_from, member_id_to=member_id_to)
        for basis, months in windows
    }


def tier_qualified(member_id: int, tiers_high_first: list[Tier], totals: dict[Window, dict[int, Decimal]]
                   ) -> Tier | None:
    """The highest tier the member's windows reach (the entry tier has threshold 0)."""
    for tier in tiers_high_first:
        amount = totals[(tier.basis, tier.window_months)].get(member_id, Decimal("0"))
        if amount >= tier.threshold:
            return tier
    return None


def floor_holds(floor_until: date | None, day: date) -> bool:
    return floor_until is None or floor_until >= day


def tiers_evaluate_chunk(*, member_id_from: int, member_id_to: int, today: date,
                         tiers: list[Tier], policy: ProgramPolicy) -> TierEvaluationResult:
    """Evaluate the members with ids in ``[member_id_from, member_id_to)`` as of ``today``."""
    by_id = {tier.pk: tier for tier in tiers}
    high_first = sorted(tiers, key=lambda tier: -tier.rank)
    lowered = {tier.pk for tier in tiers_lowered_on(today, tiers, policy)}
    upgrades_due = is_evaluation_date(today, policy)
    with transaction.atomic(durable=True):
        totals = window_totals_for(tiers, today, member_id_from=member_id_from, member_id_to=member_id_to)
        members = (Member.objects.filter(pk__gte=member_id_from, pk__lt=member_id_to)
                   .exclude(status__in=SKIPPED_STATUSES)
                   .values_list("pk", "tier_id", "tier_floor_id", "tier_floor_until"))
        changes: dict[int, tuple[int, int]] = {}
        seen = 0
        for member_id, tier_id, floor_id, floor_until in members.iterator(chunk_size=2000):
            seen += 1
            current = by_id.get(tier_id)
            target = tier_qualified(member_id, high_first, totals)
            floor = by_id.get(floor_id) if floor_id and floor_holds(floor_until, today) else None
            if floor is not None and (target is None or floor.rank > target.rank):
                target = floor
            if target is None or current is None or target.pk == current.pk:
                continue  # an inactive current tier is left for staff to move
            if (target.rank > current.rank and upgrades_due) or (target.rank < current.rank and current.pk in lowered):
                changes[member_id] = (current.pk, target.pk)
        applied = member_tiers_evaluate(changes=changes, note=_("Tier evaluation of %(date)s") % {
            "date": today.isoformat()})
    upgraded = sum(1 for member_id in applied if by_id[changes[member_id][1]].rank > by_id[changes[member_id][0]].rank)
    return TierEvaluationResult(members=seen, upgraded=upgraded, downgraded=len(applied) - upgraded)


def tier_drop_date(tier: Tier, today: date, policy: ProgramPolicy) -> date | None:
    """When a member of ``tier`` told today about a drop would drop: today + notice days, if that
    is the tier's downgrade day."""
    day = today + timedelta(days=policy.tier_notice_days)
    return day if is_evaluation_date(day - timedelta(days=tier.grace_days), policy) else None
