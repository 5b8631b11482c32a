"""Earning rules and the programme policy stated as sentences, as an operator would say them.

"1 P per 100 KRW, pending 7 days, valid 365 days (12 months)". Shown in the admin's lists
and on each change page, in the reader's language. The wording follows what
:mod:`loyalty.rules` and the services do with each field (floors per line, caps per member,
pending days from the purchase, validity from the day earned), so it is the rule, not a label.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from members.sentences import money, number

from .models import EarningRule, NegativeBalancePolicy, ProgramPolicy, RuleKind


def days(count: int) -> str:
    return ngettext("%(count)d day", "%(count)d days", count) % {"count": count}


def validity(validity_days: int | None) -> str:
    if not validity_days:
        return _("never expire")
    if validity_days % 365 == 0:
        return _("valid %(days)s (%(months)d months)") % {"days": days(validity_days),
                                                          "months": validity_days // 365 * 12}
    return _("valid %(days)s") % {"days": days(validity_days)}


def _rate(rule: EarningRule, currency: str) -> str:
    return _("%(points)s P per %(amount)s") % {"points": number(rule.rate_points),
                                               "amount": money(rule.rate_amount, currency)}


def _what(rule: EarningRule, currency: str) -> str:
    fixed = _("%(points)s P") % {"points": number(rule.points)}
    if rule.kind == RuleKind.PURCHASE_RATE:
        return _rate(rule, currency)
    if rule.kind == RuleKind.PRODUCT_BONUS:
        targets = [*rule.skus, *rule.categories]
        pieces = []
        if rule.points:
            pieces.append(_("%(points)s extra per item") % {"points": fixed})
        if rule.rate_points and rule.rate_amount:
            pieces.append(_("%(rate)s of the item's amount") % {"rate": _rate(rule, currency)})
        return _("%(bonus)s on %(targets)s") % {
            "bonus": _(" and ").join(pieces) or _("no bonus"), "targets": ", ".join(map(str, targets)) or "—",
        }
    if rule.kind == RuleKind.ACTIVITY:
        return _("%(points)s for each %(activity)s") % {"points": fixed, "activity": rule.activity_type or "—"}
    if rule.kind == RuleKind.REFERRAL:
        return _("%(points)s to the referrer and to the new member on the new member's first purchase") % {
            "points": fixed}
    if rule.kind == RuleKind.SIGNUP:
        return _("%(points)s on sign-up") % {"points": fixed}
    if rule.kind == RuleKind.BIRTHDAY:
        return _("%(points)s on the birthday, once a year") % {"points": fixed}
    return fixed


def rule_sentence(rule: EarningRule, currency: str = "KRW") -> str:
    """"1 P per 100 KRW, pending 7 days, valid 365 days (12 months)" plus every limit the rule has."""
    parts = [_what(rule, currency)]
    if rule.min_amount:
        parts.append(_("on orders from %(amount)s") % {"amount": money(rule.min_amount, currency)})
    if rule.channel:
        parts.append(_("online only") if rule.channel == "online" else _("in stores only"))
    if rule.daily_cap is not None:
        parts.append(_("at most %(points)s P a day per member") % {"points": number(rule.daily_cap)})
    if rule.monthly_cap is not None:
        parts.append(_("at most %(points)s P a month per member") % {"points": number(rule.monthly_cap)})
    parts.append(_("pending %(days)s") % {"days": days(rule.pending_days)} if rule.pending_days
                 else _("available at once"))
    parts.append(validity(rule.validity_days))
    if rule.starts_on or rule.ends_on:
        parts.append(_("from %(start)s to %(end)s") % {
            "start": rule.starts_on.isoformat() if rule.starts_on else "…",
            "end": rule.ends_on.isoformat() if rule.ends_on else "…",
        })
    if not rule.is_active:
        parts.append(_("inactive"))
    return ", ".join(parts)


def policy_sentences(policy: ProgramPolicy) -> list[str]:
    """The programme policy, one sentence per concern."""
    value = money(policy.point_value, policy.currency)
    refund = (_("a refund larger than the balance leaves a debt that the next earnings repay")
              if policy.negative_balance_policy == NegativeBalancePolicy.DEBT
              else _("a refund larger than the balance stops at zero; the rest is written off"))
    excluded = [*policy.excluded_skus, *policy.excluded_categories]
    sentences = [
        _("1 P is worth %(value)s.") % {"value": value},
        _("Redeem from %(min)s P, in steps of %(unit)s P, for at most %(share)s%% of the order.") % {
            "min": number(policy.redeem_min_points), "unit": number(policy.redeem_unit),
            "share": number(policy.redeem_max_share)},
        _("On refunds, %(rule)s.") % {"rule": refund},
        _("Members are told %(days)s before points expire.") % {"days": days(policy.expiry_notice_days)},
        _("Manual adjustments of %(points)s P or more need a second person's approval.") % {
            "points": number(policy.adjustment_approval_threshold)},
    ]
    if excluded:
        sentences.insert(2, _("Points cannot pay for %(items)s.") % {"items": ", ".join(map(str, excluded))})
    return sentences


def policy_sentence(policy: ProgramPolicy) -> str:
    return " ".join(policy_sentences(policy))
