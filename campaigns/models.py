"""Campaigns: time-boxed, targeted programmes on top of the base rules.

A campaign *applies* to a purchase or an activity when the moment it happened lies in the
campaign's window and its status is scheduled or running (not draft, paused, cancelled or
ended): the check is made at the purchase itself, so a late scheduler changes nothing. The
status the beat task moves is for the operator's eyes.

Any insert, update or delete of a campaign (or its targeting) bumps loyalty's programme version
in the same transaction (a trigger, migration 0002), so the per-process cache of applicable
campaigns (:mod:`campaigns.provider`) is reloaded exactly when something changed. The budget
slices, awards, exposures and mission progress, which change on every purchase, do not bump it.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, Store, Tier


class CampaignKind(models.TextChoices):
    MULTIPLIER = "multiplier", _("Earning multiplier")
    BONUS = "bonus", _("Bonus points")
    GRANT = "grant", _("One-off grant to a segment")
    MISSION = "mission", _("Mission")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    ENDED = "ended", _("Ended")
    CANCELLED = "cancelled", _("Cancelled")


# The statuses in which a campaign applies while its window holds.
APPLYING_STATUSES = (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)


class MissionEvent(models.TextChoices):
    PURCHASE = "purchase", _("Purchase")
    REVIEW = "review", _("Review")
    VISIT = "visit", _("Visit")
    SNS_SHARE = "sns_share", _("SNS share")
    APP_INSTALL = "app_install", _("App install")


class MissionPeriod(models.TextChoices):
    MONTH = "month", _("Each calendar month")
    CAMPAIGN = "campaign", _("Once in the campaign")


class Segment(models.Model):
    """A saved member filter; :func:`campaigns.targeting.segment_members` turns it into a queryset.

    Every criterion left empty does not filter. The exact count is refreshed in the background
    (``segment_count_task``) and kept with its time; the admin shows the planner's estimate at once.
    """

    name = models.CharField(_("name"), max_length=120, unique=True)
    tiers = models.ManyToManyField(Tier, verbose_name=_("tiers"), blank=True, related_name="+")
    stores = models.ManyToManyField(Store, verbose_name=_("home stores"), blank=True, related_name="+")
    channel = models.CharField(_("channel"), max_length=16, blank=True)
    joined_from = models.DateField(_("joined from"), null=True, blank=True)
    joined_until = models.DateField(_("joined until"), null=True, blank=True)
    birthday_month = models.PositiveSmallIntegerField(
        _("birthday month"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    min_spend = models.DecimalField(_("minimum spend in the window"), max_digits=14, decimal_places=2,
                                    null=True, blank=True)
    min_points = models.BigIntegerField(_("minimum points earned in the window"), null=True, blank=True)
    window_days = models.PositiveIntegerField(_("spend/points window (days)"), default=90)
    inactive_days = models.PositiveIntegerField(
        _("inactive for (days)"), null=True, blank=True, help_text=_("No purchase in this many days")
    )
    exact_count = models.BigIntegerField(_("exact count"), null=True, blank=True)
    counted_at = models.DateTimeField(_("counted at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self) -> str:
        return self.name


class Campaign(models.Model):
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=16, choices=CampaignKind.choices)
    status = models.CharField(_("status"), max_length=16, choices=CampaignStatus.choices,
                              default=CampaignStatus.DRAFT)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    # what it pays
    multiplier = models.DecimalField(
        _("multiplier"), max_digits=5, decimal_places=2, default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("1"))], help_text=_("Multiplier: 2.00 doubles the purchase points"),
    )
    bonus_points = models.PositiveIntegerField(
        _("bonus points"), default=0,
        help_text=_("Bonus: per matching item (or per order when no product or category is named); "
                    "mission: paid on completion; grant: to each member"),
    )
    rate_points = models.PositiveIntegerField(_("rate: points"), default=0)
    rate_amount = models.DecimalField(_("rate: per amount"), max_digits=14, decimal_places=2, default=Decimal("0"))
    skus = models.JSONField(_("products (SKUs)"), default=list, blank=True)
    categories = models.JSONField(_("categories"), default=list, blank=True)
    min_amount = models.DecimalField(_("minimum spend"), max_digits=14, decimal_places=2, default=Decimal("0"))
    activity_types = models.JSONField(
        _("activity types boosted"), default=list, blank=True,
        help_text=_("Multiplier or bonus on these activities (review, visit …) or 'birthday'"),
    )
    # missions
    mission_event = models.CharField(_("mission counts"), max_length=16, choices=MissionEvent.choices, blank=True)
    mission_target = models.PositiveIntegerField(_("mission target"), default=0)
    mission_period = models.CharField(_("mission period"), max_length=16, choices=MissionPeriod.choices,
                                      default=MissionPeriod.MONTH)
    # targeting
    tiers = models.ManyToManyField(Tier, verbose_name=_("tiers"), blank=True, related_name="+")
    channels = models.JSONField(_("channels"), default=list, blank=True)
    stores = models.ManyToManyField(Store, verbose_name=_("stores"), blank=True, related_name="+")
    segment = models.ForeignKey(Segment, verbose_name=_("segment"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="campaigns")
    # money
    budget_points = models.PositiveBigIntegerField(_("budget (points)"), null=True, blank=True,
                                                   help_text=_("Empty: no limit"))
    member_cap = models.PositiveIntegerField(_("per-member cap (points)"), null=True, blank=True)
    point_value = models.DecimalField(_("money value of a point"), max_digits=10, decimal_places=2,
                                      default=Decimal("1"))
    holdout_percent = models.DecimalField(
        _("holdout share (%)"), max_digits=4, decimal_places=1, default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("50"))],
    )
    validity_days = models.PositiveIntegerField(_("validity of granted points (days)"), null=True, blank=True)
    grant_runs = models.PositiveIntegerField(_("grant runs"), default=0)
    # simulation
    simulation = models.JSONField(_("last simulation"), null=True, blank=True)
    created_by = models.CharField(_("created by"), max_length=150, blank=True)
    launched_by = models.CharField(_("launched by"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-starts_at", "-id"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        permissions = [("launch_campaign", _("Can launch a campaign"))]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")),
                                   name="campaign_window_forward"),
            models.CheckConstraint(condition=models.Q(holdout_percent__gte=0, holdout_percent__lte=50),
                                   name="campaign_holdout_at_most_half"),
        ]
        indexes = [models.Index(fields=["status", "ends_at"], name="campaign_status_end")]

    def __str__(self) -> str:
        return self.name


class BudgetSlice(models.Model):
    """A share of a campaign's budget: purchases reserve from one slice (picked by member id,
    skipping locked ones), so concurrent purchases do not queue on a single row."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="slices")
    number = models.PositiveSmallIntegerField(_("number"))
    remaining = models.BigIntegerField(_("remaining points"))

    class Meta:
        verbose_name = _("budget slice")
        verbose_name_plural = _("budget slices")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "number"], name="budget_slice_once"),
            models.CheckConstraint(condition=models.Q(remaining__gte=0), name="budget_slice_not_negative"),
        ]


class CampaignAward(models.Model):
    """Points a campaign added to one operation, written in that operation's transaction.

    A refund of that operation writes its share back as a negative award under the refund's own
    key (the purchase's award is never rewritten), so a campaign's sum of awards is what it
    issued and kept, per member and in all. Looked up by operation key when a refund comes.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="awards")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+", db_index=False)
    operation_key = models.CharField(_("operation key"), max_length=200)
    points = models.BigIntegerField(_("points"))
    awarded_at = models.DateTimeField(_("awarded at"), default=timezone.now)

    class Meta:
        verbose_name = _("campaign award")
        verbose_name_plural = _("campaign awards")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "operation_key"], name="campaign_award_once"),
        ]
        indexes = [
            models.Index(fields=["campaign", "member"], name="campaign_award_member"),
            models.Index(fields=["operation_key"], name="campaign_award_operation"),
        ]


class Exposure(models.Model):
    """A member the campaign reached (treatment) or held out (control), first seen at."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="exposures")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+", db_index=False)
    control = models.BooleanField(_("control group"))
    first_at = models.DateTimeField(_("first seen at"), default=timezone.now)

    class Meta:
        verbose_name = _("exposure")
        verbose_name_plural = _("exposures")
        constraints = [models.UniqueConstraint(fields=["campaign", "member"], name="exposure_once")]


class MissionProgress(models.Model):
    """How far a member is in a mission in one period; paid once when ``count`` reaches the target."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="progress")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+", db_index=False)
    period = models.DateField(_("period"))
    count = models.PositiveIntegerField(_("count"), default=0)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("mission progress")
        verbose_name_plural = _("mission progress")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "member", "period"], name="mission_progress_once"),
        ]


class GrantChunk(models.Model):
    """One chunk of a grant run: the members of an id range it grants to, fixed (with their
    budget reserved) the first time the chunk runs, so a replay grants exactly the same members.

    Domain state only: the run's progress, attempts and errors are its task run's
    (:class:`loyalty.models.TaskChunk`, run key ``campaign_grant:{campaign}:{run}``)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="grant_chunks")
    run = models.PositiveIntegerField(_("run"))
    id_from = models.BigIntegerField(_("from member id"))
    id_to = models.BigIntegerField(_("to member id"))
    member_ids = models.JSONField(_("members granted"), default=list)
    held_out = models.PositiveIntegerField(_("members held out"), default=0)
    points = models.BigIntegerField(_("points reserved"), default=0)
    budget_skipped = models.PositiveIntegerField(_("members left out by the budget"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("grant chunk")
        verbose_name_plural = _("grant chunks")
        constraints = [models.UniqueConstraint(fields=["campaign", "run", "id_from"], name="grant_chunk_once")]


class ResultsReading(models.Model):
    """A launched campaign's last measured results, kept for its admin page.

    Every figure that aggregates the campaign's awards (members reached, points issued and
    returned, members who redeemed since, the per-day series) or its targeted members (the
    holdout's treatment and control: count, mean and sample variance of spend per member) is
    measured in the background (:func:`campaigns.results.results_measure`): after a grant to a
    million members these read a million award rows, far more than an admin page may spend, so
    the page reads this row and says when it was measured. ``window_until`` is where the
    window was measured to (the end once it has closed: then the campaign is no longer due).
    """

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="results_reading")
    window_until = models.DateTimeField(_("window measured until"))
    measured_at = models.DateTimeField(_("measured at"))
    members = models.BigIntegerField(_("members reached"), default=0)
    points_issued = models.BigIntegerField(_("points issued"), default=0)
    points_returned = models.BigIntegerField(_("points returned by refunds"), default=0)
    redeemed_members = models.BigIntegerField(_("members who redeemed"), default=0)
    days = models.JSONField(_("points per day"), default=list, blank=True)  # [[day, issued, returned], ...]
    treatment = models.JSONField(_("treatment group"), null=True, blank=True)  # [count, mean, variance]
    control = models.JSONField(_("control group"), null=True, blank=True)

    class Meta:
        verbose_name = _("results reading")
        verbose_name_plural = _("results readings")
