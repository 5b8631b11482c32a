"""A grant campaign: the same points to every targeted member on its date, in chunks.

A grant is scheduled work like loyalty's nightly runs, on the same machinery
(:mod:`loyalty.task_runs`): :func:`campaign_grant_plan` (once the window has opened) fixes the
run number, and the plan task creates the :class:`~loyalty.models.TaskRun` keyed
``campaign_grant:{campaign}:{run}`` with one chunk per range of member ids. Each chunk task
calls :func:`campaign_grant_chunk` through ``chunk_run`` (done once per chunk, retried,
failures recorded), and its counts sum onto the run the admin shows. The chunk

1. the first time only, in one transaction, picks the range's targeted members, records the
   holdout draw (exposures) and reserves their points from the budget (members beyond what
   the budget holds are left out), storing the members it will grant (:class:`GrantChunk`:
   domain state, not bookkeeping: the members a replay must grant, and the budget taken);
2. grants them through loyalty's batch door (``points_grant_chunk``, key prefix
   ``campaign:{id}:run:{n}``: one credit per member, whatever the replays);
3. records an award for each member credited, in the grant's own transaction (the award
   commits with the points or not at all).

Running the plan twice, a chunk twice, or two workers at once credits each member once and
reserves the budget once.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.models import TaskRun
from loyalty.services.grants import grant_key, points_grant_chunk
from loyalty.task_runs import member_id_range

from .budget import budget_reserve
from .models import Campaign, CampaignAward, CampaignKind, CampaignStatus, Exposure, GrantChunk
from .services import CampaignStateError, durable
from .targeting import campaign_members, held_out

GRANT_CHUNK = settings.DANGOL_CHUNK_SIZE
GRANT_TASK = "campaigns.campaign_grant_plan_task"
LAUNCHED = (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)


def grant_prefix(campaign_id: int, run: int) -> str:
    """The key prefix of the run's credits in the ledger (one operation per member)."""
    return f"campaign:{campaign_id}:run:{run}"


def grant_run_key(campaign_id: int, run: int) -> str:
    """The key of the run's :class:`~loyalty.models.TaskRun` (found again by a replayed plan)."""
    return f"campaign_grant:{campaign_id}:{run}"


@dataclass(frozen=True)
class GrantPlan:
    """A grant's run (0: its date has not come) and how to cut the members into chunks."""

    campaign_id: int
    run: int
    id_range: tuple[int | None, int | None] = (None, None)
    chunk_size: int = GRANT_CHUNK

    @property
    def key(self) -> str:
        return grant_run_key(self.campaign_id, self.run)


@dataclass(frozen=True)
class GrantChunkResult:
    """What a grant chunk did, summed onto the run: members credited now and their points,
    members credited by an earlier attempt (replayed), members refused (cannot hold points),
    members held out (control group) and members left out because the budget ran dry."""

    members: int = 0
    points: int = 0
    replayed: int = 0
    refused: int = 0
    held_out: int = 0
    budget_skipped: int = 0


@durable
def campaign_grant_plan(*, campaign_id: int) -> GrantPlan:
    """The run of a grant whose date has come (run 1, fixed the first time) and the member id
    range its chunks cover (the run's chunks are cut once, when its task run is created)."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
    if campaign.kind != CampaignKind.GRANT or campaign.status not in LAUNCHED:
        raise CampaignStateError(_("Only a launched grant campaign is granted."))
    if campaign.starts_at > timezone.now():
        return GrantPlan(campaign_id, 0)
    if campaign.grant_runs == 0:
        campaign.grant_runs = 1
        campaign.save(update_fields=["grant_runs"])
    return GrantPlan(campaign_id, campaign.grant_runs, member_id_range(), GRANT_CHUNK)


def grants_due() -> list[int]:
    """Launched grants whose date has come and whose run was never fanned out: no run number
    yet, or a number without its task run (the plan task died between the two steps)."""
    candidates = list(Campaign.objects.filter(kind=CampaignKind.GRANT, status__in=LAUNCHED,
                                              starts_at__lte=timezone.now()).values_list("pk", "grant_runs"))
    started = set(TaskRun.objects.filter(
        key__in=[grant_run_key(pk, run) for pk, run in candidates if run]).values_list("key", flat=True))
    return [pk for pk, run in candidates if not run or grant_run_key(pk, run) not in started]


def campaign_grant_chunk(*, campaign_id: int, run: int, id_from: int, id_to: int) -> GrantChunkResult:
    """Grant one id range of a run: the members fixed for it the first time (a replay credits
    nobody twice and reserves nothing again)."""
    chunk = _chunk_fixed(campaign_id, run, id_from, id_to)
    fixed = GrantChunkResult(held_out=chunk.held_out, budget_skipped=chunk.budget_skipped)
    if not chunk.member_ids:
        return fixed
    campaign = Campaign.objects.get(pk=campaign_id)
    prefix = grant_prefix(campaign_id, run)

    def awards_record(members: list[int]) -> None:
        CampaignAward.objects.bulk_create(
            [CampaignAward(campaign_id=campaign_id, member_id=member_id, operation_key=grant_key(prefix, member_id),
                           points=campaign.bonus_points) for member_id in members],
            ignore_conflicts=True,
        )

    result = points_grant_chunk(member_ids=chunk.member_ids, points=campaign.bonus_points, key_prefix=prefix,
                                description=campaign.name, validity_days=campaign.validity_days,
                                then=awards_record)
    return GrantChunkResult(members=result.members, points=result.points, replayed=result.replayed,
                            refused=result.refused, held_out=chunk.held_out, budget_skipped=chunk.budget_skipped)


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
    wanted = len(treated)
    if campaign.budget_points is not None and treated:
        treated = treated[:budget_reserve(campaign_id, id_from, len(treated) * points, unit=points) // points]
    return GrantChunk.objects.create(campaign_id=campaign_id, run=run, id_from=id_from, id_to=id_to,
                                     member_ids=treated, held_out=len(control), points=len(treated) * points,
                                     budget_skipped=wanted - len(treated))
