"""Campaign write paths: the life cycle, the simulation, segment counts and grant runs.

Each is a durable transaction of its own that locks the campaign row and checks the status
it starts from, so two clicks (or the beat and an operator) cannot move one campaign twice.
Saving a campaign bumps loyalty's programme version (a trigger), which is how every process's
cache of applicable campaigns learns of the change.

Life cycle: draft → (launch, needs ``campaigns.launch_campaign``) → scheduled or running →
ended; scheduled/running ⇄ paused; anything not ended → cancelled. Whether a campaign *pays*
is decided at the purchase (window and status); :func:`campaigns_advance` only moves the status
the admin shows when the window opens or closes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.errors import InvalidRequest
from loyalty.models import Purchase
from loyalty.policy import PURCHASE_KINDS, items_parse, programme_at
from loyalty.rules import Order, purchase_earning

from .budget import slices_create
from .models import Campaign, CampaignKind, CampaignStatus, Segment
from .provider import campaign_spec
from .targeting import campaign_members, held_out, segment_members

P = ParamSpec("P")
R = TypeVar("R")


def durable(func: Callable[P, R]) -> Callable[P, R]:
    """A top-level service: its own transaction, never nested in a caller's."""
    return transaction.atomic(durable=True)(func)


class CampaignStateError(InvalidRequest):
    """The campaign is not in a status this transition starts from."""


class NotAllowed(InvalidRequest):
    """The user lacks the permission this transition needs."""


LAUNCH_PERMISSION = "campaigns.launch_campaign"


def _locked(campaign_id: int) -> Campaign:
    return Campaign.objects.select_for_update().get(pk=campaign_id)


def _require(campaign: Campaign, *statuses: str) -> None:
    if campaign.status not in statuses:
        raise CampaignStateError(
            _("The campaign is %(status)s; this needs it to be %(wanted)s.")
            % {"status": campaign.get_status_display(),
               "wanted": ", ".join(str(CampaignStatus(s).label) for s in statuses)}
        )


def _status_by_time(campaign: Campaign, now: datetime) -> str:
    if now >= campaign.ends_at:
        return CampaignStatus.ENDED
    return CampaignStatus.RUNNING if now >= campaign.starts_at else CampaignStatus.SCHEDULED


def campaign_problems(campaign: Campaign, now: datetime) -> list[str]:
    """What stops this campaign from being launched (empty: nothing)."""
    problems = []
    if campaign.ends_at <= now:
        problems.append(_("Its window is already over."))
    if campaign.kind == CampaignKind.MULTIPLIER and campaign.multiplier <= 1:
        problems.append(_("A multiplier campaign needs a multiplier above 1."))
    if campaign.kind == CampaignKind.BONUS and campaign.bonus_points <= 0 and campaign.rate_points <= 0:
        problems.append(_("A bonus campaign needs bonus points or a rate."))
    if campaign.kind == CampaignKind.MISSION and (campaign.mission_target <= 0 or campaign.bonus_points <= 0):
        problems.append(_("A mission needs a target and bonus points."))
    if campaign.kind == CampaignKind.GRANT and (campaign.bonus_points <= 0 or campaign.segment_id is None):
        problems.append(_("A grant needs points and a segment."))
    return problems


@durable
def campaign_launch(*, campaign_id: int, actor: Any) -> Campaign:
    """Approve a draft: it applies from its start (scheduled) or at once (running).

    Needs the launch permission (approvers and administrators); the budget is split into its
    slices here, in the same transaction.
    """
    if actor is None or not actor.has_perm(LAUNCH_PERMISSION):
        raise NotAllowed(_("Launching a campaign needs the approver's permission."))
    campaign = _locked(campaign_id)
    _require(campaign, CampaignStatus.DRAFT)
    now = timezone.now()
    problems = campaign_problems(campaign, now)
    if problems:
        raise InvalidRequest(" ".join(problems))
    slices_create(campaign)
    campaign.status = _status_by_time(campaign, now)
    campaign.launched_by = str(actor)
    campaign.save(update_fields=["status", "launched_by"])
    return campaign


@durable
def campaign_pause(*, campaign_id: int, actor: Any = None) -> Campaign:
    """Stop paying until resumed (the window keeps running)."""
    campaign = _locked(campaign_id)
    _require(campaign, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)
    campaign.status = CampaignStatus.PAUSED
    campaign.save(update_fields=["status"])
    return campaign


@durable
def campaign_resume(*, campaign_id: int, actor: Any = None) -> Campaign:
    campaign = _locked(campaign_id)
    _require(campaign, CampaignStatus.PAUSED)
    campaign.status = _status_by_time(campaign, timezone.now())
    campaign.save(update_fields=["status"])
    return campaign


@durable
def campaign_cancel(*, campaign_id: int, actor: Any = None) -> Campaign:
    """Stop for good; what it already paid stays paid (points are never taken back by this)."""
    campaign = _locked(campaign_id)
    _require(campaign, CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING,
             CampaignStatus.PAUSED)
    campaign.status = CampaignStatus.CANCELLED
    campaign.save(update_fields=["status"])
    return campaign


@durable
def campaign_end(*, campaign_id: int, actor: Any = None) -> Campaign:
    """End now: the window closes at this moment (an early end), or is recorded as over."""
    campaign = _locked(campaign_id)
    _require(campaign, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED)
    now = timezone.now()
    campaign.status = CampaignStatus.ENDED
    fields = ["status"]
    if campaign.ends_at > now:
        campaign.ends_at = max(now, campaign.starts_at + timedelta(microseconds=1))
        fields.append("ends_at")
    campaign.save(update_fields=fields)
    return campaign


@durable
def campaign_advance(*, campaign_id: int) -> str:
    """Move one campaign's status to what its window says (scheduled → running → ended)."""
    campaign = _locked(campaign_id)
    if campaign.status not in (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING):
        return str(campaign.status)
    status = _status_by_time(campaign, timezone.now())
    if status != campaign.status:
        campaign.status = status
        campaign.save(update_fields=["status"])
    return status


def campaigns_due() -> list[int]:
    """The campaigns whose status lags their window (what the beat task moves)."""
    now = timezone.now()
    starting = Campaign.objects.filter(status=CampaignStatus.SCHEDULED, starts_at__lte=now)
    ending = Campaign.objects.filter(status=CampaignStatus.RUNNING, ends_at__lte=now)
    return sorted({*starting.values_list("pk", flat=True), *ending.values_list("pk", flat=True)})


def campaigns_advance() -> int:
    """Each campaign due, in its own transaction; returns how many moved."""
    return sum(1 for pk in campaigns_due() if campaign_advance(campaign_id=pk) != "")


# --- simulation -------------------------------------------------------------------------

SIMULATION_PURCHASE_LIMIT = 200_000  # purchases read at most; beyond, the figures are scaled


@durable
def campaign_simulate(*, campaign_id: int) -> dict[str, Any]:
    """What the campaign would have cost over last month's activity, stored on the campaign.

    Targeted members are counted by the same queryset a grant uses; last month's purchases of
    those members are put through the same pure rules (:func:`loyalty.rules.purchase_earning`)
    with the campaign's boost, and each member's extra points are cut to the per-member cap.
    A holdout share pays nothing to the control group. Money = points × the point's value.
    """
    campaign = Campaign.objects.select_related("segment").get(pk=campaign_id)
    now = timezone.now()
    first_of_month = timezone.localdate(now).replace(day=1)
    last_month_start = (first_of_month - timedelta(days=1)).replace(day=1)
    start = timezone.make_aware(datetime.combine(last_month_start, datetime.min.time()))
    end = timezone.make_aware(datetime.combine(first_of_month, datetime.min.time()))
    members = campaign_members(campaign, now=now)
    targeted = members.count()
    held = Decimal(campaign.holdout_percent) / 100
    if campaign.kind == CampaignKind.GRANT:
        paid = int(targeted * (1 - held))
        points = paid * campaign.bonus_points
        purchases = 0
    else:
        spec = campaign_spec(campaign)
        rules = programme_at(None).rules_in_force(PURCHASE_KINDS, last_month_start)
        per_member: dict[int, int] = {}
        rows = (Purchase.objects.filter(member__in=members, occurred_at__gte=start, occurred_at__lt=end)
                .values_list("member_id", "amount", "channel", "items")[:SIMULATION_PURCHASE_LIMIT])
        purchases = 0
        by_member_count: dict[int, int] = {}
        for member_id, amount, channel, items in rows.iterator(chunk_size=5000):
            purchases += 1
            if held_out(campaign.pk, member_id, campaign.holdout_percent):
                continue
            if campaign.kind == CampaignKind.MISSION:
                by_member_count[member_id] = by_member_count.get(member_id, 0) + 1
                continue
            order = Order(amount=amount, channel=channel, items=items_parse(items))
            earning = purchase_earning(order, rules, (), None, (spec.boost,))
            extra = sum(line.points for line in earning.lines if line.campaign_id == campaign.pk)
            per_member[member_id] = per_member.get(member_id, 0) + extra
        if campaign.kind == CampaignKind.MISSION:
            done = sum(1 for n in by_member_count.values() if n >= max(campaign.mission_target, 1))
            per_member = dict.fromkeys(range(done), campaign.bonus_points)
        cap = campaign.member_cap
        points = sum(min(p, cap) if cap is not None else p for p in per_member.values())
        if purchases >= SIMULATION_PURCHASE_LIMIT:
            total = Purchase.objects.filter(member__in=members, occurred_at__gte=start, occurred_at__lt=end).count()
            points = int(points * total / max(purchases, 1))
            purchases = total
    cost = Decimal(points) * campaign.point_value
    result = {
        "at": now.isoformat(), "month": last_month_start.isoformat(), "targeted": targeted,
        "purchases": purchases, "points": points, "cost": str(cost),
        "budget": campaign.budget_points,
        "over_budget": campaign.budget_points is not None and points > campaign.budget_points,
    }
    Campaign.objects.filter(pk=campaign.pk).update(simulation=result)
    return result


# --- segments -----------------------------------------------------------------------------


@durable
def segment_count(*, segment_id: int) -> int:
    """Count a segment exactly and keep the figure with its time (a background task)."""
    segment = Segment.objects.get(pk=segment_id)
    now = timezone.now()
    count = segment_members(segment, now=now).count()
    Segment.objects.filter(pk=segment_id).update(exact_count=count, counted_at=now)
    return count
