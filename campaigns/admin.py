"""The campaigns admin: drafts are edited on Django's form; every change of status, the
simulation and the exact segment count are buttons that call a service (never ``save_model``:
the transitions are durable transactions, which Django's change form would wrap).

A launched campaign's page shows its results as last measured in the background (members
reached, points issued and returned, cost, redemption rate, for a holdout campaign treatment
against control with Welch's 95 % interval, and a server-drawn SVG chart of the points issued
and returned by refunds per day: no script, no CDN) with the time they were measured and a
button to measure them now; only the budget used and left is read live (16 slice rows). So
the page costs the same queries after a grant to a million members as before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty.dashboard.chart import bar_chart
from loyalty.errors import LoyaltyError
from loyalty.outbox import outbox_enqueue

from .forms import CampaignForm
from .models import Campaign, CampaignStatus, Segment
from .results import campaign_budget, campaign_results
from .selectors import grant_runs, segment_estimate
from .services import (
    LAUNCH_PERMISSION,
    campaign_cancel,
    campaign_end,
    campaign_launch,
    campaign_pause,
    campaign_problems,
    campaign_resume,
    campaign_simulate,
)

TRANSITIONS = {
    "launch": (campaign_launch, _("Launched.")),
    "pause": (campaign_pause, _("Paused: it pays nothing until resumed.")),
    "resume": (campaign_resume, _("Resumed.")),
    "end": (campaign_end, _("Ended.")),
    "cancel": (campaign_cancel, _("Cancelled.")),
}
# Which buttons each status shows.
ACTIONS = {
    CampaignStatus.DRAFT: ("launch", "cancel"),
    CampaignStatus.SCHEDULED: ("pause", "end", "cancel"),
    CampaignStatus.RUNNING: ("pause", "end", "cancel"),
    CampaignStatus.PAUSED: ("resume", "end", "cancel"),
}
ACTION_LABELS = {
    "launch": _("Launch"), "pause": _("Pause"), "resume": _("Resume"), "end": _("End now"), "cancel": _("Cancel"),
}
STATUS_COLOURS = {"draft": "#666", "scheduled": "#1f5fa8", "running": "#1b7a35", "paused": "#b26a00",
                  "ended": "#444", "cancelled": "#a12020"}


LIST_FIELDS = ("skus", "categories", "activity_types", "channels")  # edited with campaigns.forms.ListField


def launched(campaign: Campaign | None) -> bool:
    return campaign is not None and campaign.status != CampaignStatus.DRAFT


def list_shown(field_name: str) -> Callable[[Any, Campaign], str]:
    """A launched campaign's list field as the form takes it (comma-separated), not as JSON."""

    field = Campaign._meta.get_field(field_name)
    assert isinstance(field, models.Field)

    @admin.display(description=field.verbose_name)
    def shown(model_admin: Any, campaign: Campaign) -> str:
        return ", ".join(str(item) for item in getattr(campaign, field_name) or ()) or "—"

    return shown


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ("name", "estimate", "exact", "counted_at")
    search_fields = ("name",)
    filter_horizontal = ("tiers", "stores")
    readonly_fields = ("estimate", "exact_count", "counted_at")
    fieldsets = (
        (None, {"fields": ("name",)}),
        (_("Who"), {"fields": ("tiers", "stores", "channel", "joined_from", "joined_until", "birthday_month")}),
        (_("Activity"), {"fields": ("window_days", "min_spend", "min_points", "inactive_days")}),
        (_("Size"), {"fields": ("estimate", "exact_count", "counted_at")}),
    )
    actions = ["count_exactly"]

    def has_delete_permission(self, request: HttpRequest, obj: Segment | None = None) -> bool:
        return False

    @admin.display(description=_("estimated members"))
    def estimate(self, segment: Segment) -> str:
        if segment.pk is None:
            return "—"
        found = segment_estimate(segment)
        return "—" if found is None else gettext("about %(count)s") % {"count": f"{found:,}"}

    @admin.display(description=_("exact count"), ordering="exact_count")
    def exact(self, segment: Segment) -> str:
        return "—" if segment.exact_count is None else f"{segment.exact_count:,}"

    @admin.action(description=_("Count the selected segments exactly (in the background)"))
    def count_exactly(self, request: HttpRequest, queryset: Any) -> None:
        queued = 0
        for pk in queryset.values_list("pk", flat=True):  # through the outbox: a broker outage only delays it
            outbox_enqueue("campaigns.segment_count_task", segment_id=pk)
            queued += 1
        if queued:
            self.message_user(request, gettext("%(count)d segments will be counted shortly.") % {"count": queued})
        else:
            self.message_user(request, gettext("The task queue is unavailable; the hourly count will do it."),
                              messages.WARNING)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ("name", "kind", "status_badge", "starts_at", "ends_at", "budget_points")
    list_filter = ("status", "kind")
    search_fields = ("name",)
    filter_horizontal = ("tiers", "stores")
    autocomplete_fields = ("segment",)
    change_form_template = "admin/campaigns/campaign/change_form.html"
    fieldsets = (
        (None, {"fields": ("name", "kind", "status", "starts_at", "ends_at")}),
        (_("What it pays"), {"fields": ("multiplier", "bonus_points", "rate_points", "rate_amount", "skus",
                                        "categories", "min_amount", "activity_types", "validity_days")}),
        (_("Mission"), {"fields": ("mission_event", "mission_target", "mission_period")}),
        (_("Who"), {"fields": ("tiers", "channels", "stores", "segment", "holdout_percent")}),
        (_("Budget"), {"fields": ("budget_points", "member_cap", "point_value")}),
    )

    skus_shown = list_shown("skus")
    categories_shown = list_shown("categories")
    activity_types_shown = list_shown("activity_types")
    channels_shown = list_shown("channels")

    def get_fieldsets(self, request: HttpRequest, obj: Campaign | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if not launched(obj):
            return fieldsets
        return [(title, {**options, "fields": [f"{name}_shown" if name in LIST_FIELDS else name
                                               for name in options["fields"]]})
                for title, options in fieldsets]

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> Any:
        if launched(obj):  # what it promised holds; lists read as typed, not as JSON
            return [name for _title, options in self.get_fieldsets(request, obj) for name in options["fields"]]
        return ("status",)

    def has_delete_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = str(request.user)
        super().save_model(request, obj, form, change)

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, campaign: Campaign) -> str:
        return format_html('<strong style="color:{}">{}</strong>', STATUS_COLOURS[campaign.status],
                           campaign.get_status_display())

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:campaign_id>/simulate/", wrap(self.simulate_view), name="campaigns_campaign_simulate"),
            path("<int:campaign_id>/measure/", wrap(self.measure_view), name="campaigns_campaign_measure"),
            path("<int:campaign_id>/status/<slug:action>/", wrap(self.transition_view),
                 name="campaigns_campaign_transition"),
            *super().get_urls(),
        ]

    def _back(self, campaign_id: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[campaign_id]))

    def simulate_view(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        if request.method != "POST":
            return self._back(campaign_id)
        if not self.has_view_permission(request):
            raise PermissionDenied
        get_object_or_404(Campaign, pk=campaign_id)
        result = campaign_simulate(campaign_id=campaign_id)
        self.message_user(request, gettext("Simulated over %(month)s's activity.") % {"month": result["month"][:7]})
        return self._back(campaign_id)

    def measure_view(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        """Queue a measurement of the results now (through the outbox: seconds at a million
        awards or members, so never in the request; a broker outage only delays it)."""
        if request.method != "POST":
            return self._back(campaign_id)
        if not self.has_view_permission(request):
            raise PermissionDenied
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        if launched(campaign):
            outbox_enqueue("campaigns.campaign_results_measure_task", campaign_id=campaign.pk)
            self.message_user(request, gettext("The results will be measured shortly: reload the page in a moment."))
        return self._back(campaign_id)

    def transition_view(self, request: HttpRequest, campaign_id: int, action: str) -> HttpResponse:
        if request.method != "POST" or action not in TRANSITIONS:
            return self._back(campaign_id)
        if not self.has_change_permission(request) and not request.user.has_perm(LAUNCH_PERMISSION):
            raise PermissionDenied
        get_object_or_404(Campaign, pk=campaign_id)
        service, done = TRANSITIONS[action]
        try:
            service(campaign_id=campaign_id, actor=request.user)
        except LoyaltyError as exc:
            self.message_user(request, str(exc.detail), messages.ERROR)
        else:
            self.message_user(request, str(done))
        return self._back(campaign_id)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        campaign = self.get_object(request, object_id)
        extra: dict[str, Any] = {}
        if campaign is not None:
            extra = campaign_panel(request, campaign)
        return super().change_view(request, object_id, form_url, extra_context={**extra, **(extra_context or {})})


def campaign_panel(request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
    """What the campaign page shows above its form: the buttons, the simulation, the results."""
    from django.utils import timezone

    can_launch = request.user.has_perm(LAUNCH_PERMISSION)
    actions = [
        {"name": name, "label": ACTION_LABELS[name],
         "url": reverse("admin:campaigns_campaign_transition", args=[campaign.pk, name])}
        for name in ACTIONS.get(CampaignStatus(campaign.status), ())
        if name != "launch" or can_launch
    ]
    context: dict[str, Any] = {
        "campaign": campaign, "campaign_actions": actions,
        "simulate_url": reverse("admin:campaigns_campaign_simulate", args=[campaign.pk]),
        "measure_url": reverse("admin:campaigns_campaign_measure", args=[campaign.pk]),
        "simulation": campaign.simulation,
        "launch_problems": campaign_problems(campaign, timezone.now()) if campaign.status == "draft" else [],
        "needs_approver": campaign.status == CampaignStatus.DRAFT and not can_launch,
    }
    context["grant_runs"] = grant_run_rows(request, campaign)
    context["launched"] = launched(campaign)
    if context["launched"]:
        context["budget"] = campaign_budget(campaign)
        results = context["results"] = campaign_results(campaign)
        if results is not None and results.days:
            context["chart"] = bar_chart(
                slug="campaign-points", title=gettext("Points issued per day"),
                description=gettext("Points this campaign added, and those refunds took back, day by day."),
                groups=[day for day, _issued, _returned in results.days],
                series=[gettext("points issued"), gettext("points returned by refunds")],
                values=[[issued, returned] for _day, issued, returned in results.days], unit="P",
                axis_labels=[(day[5:], "") for day, _issued, _returned in results.days],
            )
    return context


def grant_run_rows(request: HttpRequest, campaign: Campaign) -> list[dict[str, Any]]:
    """The grant's runs for its page, linked to the task run's page for those who may see it.

    A member credited by an earlier attempt of a chunk (a worker that died after booking) is
    counted by the run as ``replayed``: still granted in this run, at the campaign's points."""
    can_see_runs = request.user.has_perm("loyalty.view_taskrun")
    rows = []
    for run in grant_runs(campaign):
        counts = run.counts or {}
        granted = counts.get("members", 0) + counts.get("replayed", 0)
        rows.append({
            "run": run, "url": reverse("admin:loyalty_taskrun_change", args=[run.pk]) if can_see_runs else "",
            "granted": granted, "points": counts.get("points", 0) + counts.get("replayed", 0) * campaign.bonus_points,
            "held_out": counts.get("held_out", 0), "budget_skipped": counts.get("budget_skipped", 0),
        })
    return rows
