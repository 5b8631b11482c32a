"""``{% loyalty_dashboard as dashboard %}``: the admin index's figures and charts.

A template tag rather than a custom ``AdminSite``: the index stays Django's, and the dashboard
is one include any engineer can move. Only staff who may read the ledger see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from ..dashboard.chart import BarChart, bar_chart
from ..dashboard.figures import DashboardFigures, dashboard_figures

register = template.Library()

VIEW_PERMISSION = "loyalty.view_ledgerentry"


@dataclass(frozen=True)
class Dashboard:
    figures: DashboardFigures
    monthly_chart: BarChart | None
    tier_chart: BarChart | None


def monthly_chart(figures: DashboardFigures) -> BarChart | None:
    if not figures.months:
        return None
    first, last = figures.months[0].month, figures.months[-1].month
    return bar_chart(
        slug="points-per-month",
        title=_("Points earned, redeemed and expired per month"),
        description=_("Points per month from %(first)s to %(last)s, one bar each for earned, redeemed and expired.")
        % {"first": f"{first:%Y-%m}", "last": f"{last:%Y-%m}"},
        groups=[f"{month.month:%Y-%m}" for month in figures.months],
        axis_labels=[
            (date_format(month.month, "M"), f"{month.month:%Y}" if index == 0 or month.month.month == 1 else "")
            for index, month in enumerate(figures.months)
        ],
        series=[_("Earned"), _("Redeemed"), _("Expired")],
        values=[[month.earned, month.redeemed, month.expired] for month in figures.months],
        unit="P",
    )


def tier_chart(figures: DashboardFigures) -> BarChart | None:
    if not figures.tiers:
        return None
    return bar_chart(
        slug="members-per-tier",
        title=_("Members per tier"),
        description=_("How many members hold each tier, lowest tier first."),
        groups=[tier.name for tier in figures.tiers],
        series=[_("Members")],
        values=[[tier.members] for tier in figures.tiers],
        unit=_("members"),
        width=420,
        max_bar_width=56,
    )


@register.simple_tag(takes_context=True)
def loyalty_dashboard(context: dict[str, Any]) -> Dashboard | None:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm(VIEW_PERMISSION):
        return None
    figures = dashboard_figures()
    return Dashboard(figures=figures, monthly_chart=monthly_chart(figures), tier_chart=tier_chart(figures))
