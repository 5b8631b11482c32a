"""A grant campaign: the same points to every targeted member on its date, in chunks.

:func:`campaign_grant_plan` (once the window has opened) fixes the run number and cuts the
member table into id ranges; each range is an independent task calling
:func:`campaign_grant_chunk`, which

1. the first time only, in one transaction, picks the range's targeted members, records the
   holdout draw (exposures) and reserves their points from the budget (members beyond what
   the budget holds are left out), storing the members it will grant (:class:`GrantChunk`);
2. grants them through loyalty's batch door (``points_grant_chunk``, key prefix
   ``campaign:{id}:run:{n}``: one credit per member, whatever the replays);
3. records an award for each member whose grant is booked (read back by operation key).

Running a chunk twice, or two workers at once, credits each member once and reserves the
budget once.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.models import Operation
from loyalty.services.chunks import id_ranges
from loyalty.services.grants import grant_key, points_grant_chunk
from members.models import Member

from .budget import budget_reserve
from .models import BudgetSlice, Campaign, CampaignAward, CampaignKind, CampaignStatus, Exposure, GrantChunk
from .services import CampaignStateError, durable
from .targeting import campaign_members, held_out

GRANT_CHUNK = 5000


def grant_prefix(campaign_id: int, run: int) -> str:
    return f"campaign:{campaign_id}:run:{run}"


@dataclass(frozen=True)
class GrantPlan:
    campaign_id: int
    run: int
    ranges: list[tuple[int, int]]


@durable
def campaign_grant_plan(*, campaign_id: int) -> GrantPlan:
    """The run and the id ranges of a grant whose date has come (run 1, fixed the first time)."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
    if campaign.kind != CampaignKind.GRANT or campaign.status not in (CampaignStatus.SCHEDULED,
                                                                      CampaignStatus.RUNNING):
        raise CampaignStateError(_("Only a launched grant campaign is granted."))
    if campaign.starts_at > timezone.now():
        return GrantPlan(campaign_id, 0, [])
    if campaign.grant_runs == 0:
        campaign.grant_runs = 1
        campaign.save(update_fields=["grant_runs"])
    return GrantPlan(campaign_id, campaign.grant_runs, id_ranges(Member.objects.all(), GRANT_CHUNK))


def grants_due() -> list[int]:
    """Launched grants whose date has come and that have no run yet."""
    return list(Campaign.objects.filter(
        kind=CampaignKind.GRANT, status__in=(CampaignStatus.SCHEDULED, CampaignStatus.RUNNING),
        starts_at__lte=timezone.now(), grant_runs=0,
    ).values_list("pk", flat=True))


def campaign_grant_chunk(*, campaign_id: int, run: int, id_from: int, id_to: int) -> int:
    """Grant one id range of a run; returns the members credited by this call."""
    chunk = _chunk_fixed(campaign_id, run, id_from, id_to)
    campaign = Campaign.objects.get(pk=campaign_id)
    if not chunk.member_ids:
        return 0
    prefix = grant_prefix(campaign_id, run)
    result = points_grant_chunk(member_ids=chunk.member_ids, points=campaign.bonus_points, key_prefix=prefix,
                                description=campaign.name, validity_days=campaign.validity_days)
    keys = {grant_key(prefix, member_id): member_id for member_id in chunk.member_ids}
    booked = Operation.objects.filter(key__in=list(keys)).values_list("key", flat=True)
    CampaignAward.objects.bulk_create(
        [CampaignAward(campaign_id=campaign_id, member_id=keys[key], operation_key=key,
                       points=campaign.bonus_points) for key in booked],
        ignore_conflicts=True,
    )
    return result.members


def _chunk_fixed(campaign_id: int, run: int, id_from: int, id_to: int) -> GrantChunk:
    found = GrantChunk.objects.filter(campaign_id=campaign_id, run=run, id_from=id_from).first()
    if found is not None:
        return found
    try:
        return _chunk_fix(campaign_id=campaign_id, run=run, id_from=id_from, id_to=id_to)
    except IntegrityError:  # a twin fixed it first: use theirs
        return GrantChunk.objects.get(campaign_id=campaign_id, run=run, id_from=id_from)


@durable
def _chunk_fix(*, campaign_id: int, run: int, id_from: int, id_to: int) -> GrantChunk:
    campaign = Campaign.objects.select_related("segment").get(pk=campaign_id)
    targeted = list(campaign_members(campaign, now=timezone.now())
                    .filter(pk__gte=id_from, pk__lt=id_to).order_by("pk").values_list("pk", flat=True))
    control = {pk for pk in targeted if held_out(campaign_id, pk, campaign.holdout_percent)}
    if campaign.holdout_percent > 0:
        Exposure.objects.bulk_create([Exposure(campaign_id=campaign_id, member_id=pk, control=pk in control)
                                      for pk in targeted], ignore_conflicts=True)
    treated = [pk for pk in targeted if pk not in control]
    points = campaign.bonus_points
    if campaign.budget_points is not None and treated:
        taken = budget_reserve(campaign_id, id_from, len(treated) * points)
        granted = taken // points
        if taken % points:  # a part of a member's points: back to the budget
            BudgetSlice.objects.filter(campaign_id=campaign_id, number=0).update(
                remaining=F("remaining") + taken % points)
        treated = treated[:granted]
    return GrantChunk.objects.create(campaign_id=campaign_id, run=run, id_from=id_from, id_to=id_to,
                                     member_ids=treated, held_out=len(control), points=len(treated) * points)
