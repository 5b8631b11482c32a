"""Tiers and stores stated as one sentence each, as an operator would say them.

"Gold: 1,000,000 KRW spent in 12 months, points × 1.5". Shown in the admin's lists and on
each change page, in the reader's language; the numbers come from the row itself, so the
sentence can never disagree with what the programme does.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .models import Channel, Store, Tier, TierBasis


def number(value: Decimal | int) -> str:
    """1000000 -> "1,000,000"; 1.50 -> "1.5": no trailing zeros, thousands separated."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value.normalize():,f}"


def money(amount: Decimal | int, currency: str = "KRW") -> str:
    if currency == "KRW":
        return _("%(amount)s KRW") % {"amount": number(amount)}
    return f"{number(amount)} {currency}"


def months(count: int) -> str:
    return ngettext("%(count)d month", "%(count)d months", count) % {"count": count}


def tier_sentence(tier: Tier) -> str:
    """"Gold: 1,000,000 KRW spent in 12 months, points × 1.5" (and the grace, and inactive)."""
    if tier.threshold <= 0:
        reach = _("every member from sign-up")
    elif tier.basis == TierBasis.POINTS:
        reach = _("%(points)s P earned in %(window)s") % {"points": number(tier.threshold),
                                                         "window": months(tier.window_months)}
    else:
        reach = _("%(amount)s spent in %(window)s") % {"amount": money(tier.threshold),
                                                      "window": months(tier.window_months)}
    parts = [reach, _("points × %(factor)s") % {"factor": number(tier.earn_multiplier)}]
    if tier.grace_days:
        parts.append(ngettext("kept %(days)d day after falling below", "kept %(days)d days after falling below",
                              tier.grace_days) % {"days": tier.grace_days})
    if not tier.is_active:
        parts.append(_("inactive"))
    return _("%(name)s: %(rule)s") % {"name": tier.name, "rule": ", ".join(parts)}


def store_sentence(store: Store) -> str:
    """"강남점 (GN01): a store with a POS, active" or "온라인몰 (ONLINE): the online shop"."""
    kind = _("the online shop") if store.channel == Channel.ONLINE else _("a store with a POS")
    state = "" if store.is_active else ", " + _("inactive: no new sales or members")
    return _("%(name)s (%(code)s): %(kind)s") % {"name": store.name, "code": store.code, "kind": kind} + state
